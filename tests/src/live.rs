//! Helpers for live-session tests: known speech as PCM, dither, and a client of the
//! browser ingest socket.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::Events;
use crate::fake_deepgram::{Script, ScriptWord};

/// `text` spoken by espeak-ng, as 16-bit PCM at `rate` with `channels`.
pub fn speech(dir: &Path, name: &str, text: &str, rate: u32, channels: u16) -> Vec<i16> {
    let (wav, raw) = (dir.join(format!("{name}.wav")), dir.join(format!("{name}.raw")));
    let spoke = Command::new("espeak-ng").arg("-w").arg(&wav).arg(text).status().expect("espeak-ng runs");
    assert!(spoke.success(), "espeak-ng failed");
    let converted = Command::new("sox")
        .arg(&wav)
        .args(["-r", &rate.to_string(), "-c", &channels.to_string(), "-b", "16", "-e", "signed-integer", "-t", "raw"])
        .arg(&raw)
        .status()
        .expect("sox runs");
    assert!(converted.success(), "sox failed");
    std::fs::read(raw).expect("raw audio").chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

/// Adds ±2 LSB of deterministic noise, so every stretch of audio (silence too) is unique
/// and the fake can locate replayed frames; far below the silence threshold.
pub fn dither(samples: &mut [i16], seed: u64) {
    let mut state = seed.max(1);
    for sample in samples {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *sample = sample.saturating_add((state % 5) as i16 - 2);
    }
}

/// 16 kHz mono: sentences, each after its ms of (dithered) silence, then `tail_ms` more; and
/// the script of what is said where: each sentence's words spread over its speech.
pub fn spoken_script(dir: &Path, parts: &[(usize, &str)], tail_ms: usize) -> (Vec<i16>, Script) {
    let mut pcm = Vec::new();
    let mut words = Vec::new();
    for (i, (gap_ms, sentence)) in parts.iter().enumerate() {
        pcm.extend(std::iter::repeat_n(0i16, gap_ms * 16));
        let start = pcm.len() as f64 / 16_000.0;
        let voice = speech(dir, &format!("sentence{i}"), sentence, 16_000, 1);
        let length = voice.len() as f64 / 16_000.0;
        pcm.extend(voice);
        // espeak leaves ~0.1 s of silence at both ends.
        let mut script = Script::from_text(sentence, length - 0.2);
        for word in &mut script.words {
            word.start += start + 0.1;
            word.end += start + 0.1;
        }
        words.extend(script.words);
    }
    pcm.extend(std::iter::repeat_n(0i16, tail_ms * 16));
    dither(&mut pcm, 7);
    let duration = pcm.len() as f64 / 16_000.0;
    (pcm, Script { words, duration })
}

/// Words of a script as displayed.
pub fn script_text(words: &[ScriptWord]) -> Vec<String> {
    words.iter().map(|w| w.punctuated.clone()).collect()
}

/// Little-endian bytes of samples.
pub fn bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client of `/api/v1/live/ingest`.
pub struct Ingest {
    socket: Socket,
    pub session_id: String,
    /// The daemon's `started` message.
    pub started: Value,
    /// Everything the daemon sent after `started`, in order.
    pub received: Vec<Value>,
}

impl Ingest {
    /// Connects to the daemon at `base` (`http://host:port`) and starts a session.
    pub async fn start(base: &str, sample_rate: u32, channels: u16, title: &str) -> Result<Ingest> {
        let url = format!("{}/api/v1/live/ingest", base.replacen("http", "ws", 1));
        // Browsers send WebSocket frames without Nagle's delay; so does this client.
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await.context("ingest socket")?;
        let start = json!({"type": "start", "sample_rate": sample_rate, "channels": channels, "title": title});
        socket.send(Message::Text(start.to_string().into())).await?;
        let first = next_json(&mut socket).await?.context("the daemon closed before starting")?;
        if first["type"] != "started" {
            bail!("expected started, got {first}");
        }
        let session_id = first["session_id"].as_str().context("session id")?.to_string();
        Ok(Ingest { socket, session_id, started: first, received: Vec::new() })
    }

    /// Sends `pcm` in frames of `frame_ms`; with `pace`, in real time.
    pub async fn send(&mut self, pcm: &[i16], sample_rate: u32, channels: u16, frame_ms: u32, pace: bool) -> Result<()> {
        let speed = if pace { 1.0 } else { f64::INFINITY };
        self.send_at(pcm, sample_rate, channels, frame_ms, speed).await
    }

    /// Sends `pcm` in frames of `frame_ms` at `speed` times real time (infinite: at once).
    pub async fn send_at(&mut self, pcm: &[i16], sample_rate: u32, channels: u16, frame_ms: u32, speed: f64) -> Result<()> {
        let frame = (sample_rate as usize * frame_ms as usize / 1000) * channels as usize;
        let started = tokio::time::Instant::now();
        for (i, chunk) in pcm.chunks(frame).enumerate() {
            if speed.is_finite() {
                let due = Duration::from_millis(i as u64 * u64::from(frame_ms)).div_f64(speed);
                tokio::time::sleep_until(started + due).await;
            }
            self.socket.send(Message::Binary(bytes(chunk).into())).await?;
        }
        Ok(())
    }

    /// Says the recording is over and collects what the daemon sends until `ended`.
    pub async fn stop(&mut self, limit: Duration) -> Result<Value> {
        self.socket.send(Message::Text(json!({"type": "stop"}).to_string().into())).await?;
        tokio::time::timeout(limit, async {
            while let Some(event) = next_json(&mut self.socket).await? {
                let ended = event["type"] == "ended";
                self.received.push(event.clone());
                if ended {
                    return Ok(event);
                }
            }
            bail!("the ingest socket closed without an ended message")
        })
        .await
        .context("no end of session in time")?
    }
}

async fn next_json(socket: &mut Socket) -> Result<Option<Value>> {
    while let Some(message) = socket.next().await {
        match message? {
            Message::Text(text) => return Ok(Some(serde_json::from_str(&text)?)),
            Message::Close(_) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

/// The final words of a session's transcript events, as displayed.
pub fn final_words(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "transcript" && e["is_final"] == true)
        .flat_map(|e| e["words"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w["text"].as_str().map(String::from))
        .collect()
}

/// Events as they arrived, with when.
pub type Seen = Arc<Mutex<Vec<(Instant, Value)>>>;

/// Every `transcript` and `live` event of the daemon, with when it arrived, until a session
/// ends (or `limit` passes without one); the counter moves with each.
pub fn collect(mut events: Events, limit: Duration) -> (Seen, tokio::sync::watch::Receiver<usize>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (count_tx, count) = tokio::sync::watch::channel(0);
    let into = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok(event) = events.until(limit, |e| matches!(e["type"].as_str(), Some("transcript" | "live"))).await {
            let ended = event["type"] == "live" && matches!(event["status"].as_str(), Some("complete" | "queued" | "error"));
            // The lock is let go before the counter moves: its readers take the lock.
            let count = {
                let mut seen = into.lock().expect("lock");
                seen.push((Instant::now(), event));
                seen.len()
            };
            count_tx.send_replace(count);
            if ended {
                break;
            }
        }
    });
    (seen, count, task)
}

/// A transcript event with words, final or interim.
pub fn has_words(event: &Value, final_: bool) -> bool {
    event["type"] == "transcript" && event["is_final"] == final_ && event["words"].as_array().is_some_and(|w| !w.is_empty())
}

/// How long after its first word was said a live session first showed interim text (none
/// when it only gave finals) and final text: `seen` are the session's events, `started` when
/// its audio began streaming in real time. None without final words.
pub fn first_text(seen: &[(Instant, Value)], started: Instant) -> Option<(Option<Duration>, Duration)> {
    let first_word_ms = seen.iter().filter(|(_, e)| has_words(e, true)).filter_map(|(_, e)| e["words"][0]["start_ms"].as_u64()).min()?;
    let spoken_at = started + Duration::from_millis(first_word_ms);
    let first = |final_: bool| seen.iter().find(|(_, e)| has_words(e, final_)).map(|(at, _)| at.saturating_duration_since(spoken_at));
    Some((first(false), first(true)?))
}
