//! Live audio on disk as it arrives: raw 16 kHz mono s16le in `<data>/live/<session>.pcm`,
//! forced to disk every few seconds, so a crash loses at most that much. When the session
//! ends (or, after a crash, at the next start) the raw file becomes a WAV in the
//! content-addressed audio store, where playback and re-transcription find it.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::frames::SAMPLES_PER_MS;
use crate::audio::TARGET_RATE;
use crate::audio::peaks::Peaks;
use crate::audio::store::{AudioStore, Stored, mime_for, sha256_file};
use crate::clients::library::{AudioFile, now_ms};
use crate::clients::stt::AudioEncoding;

/// Extension of raw recordings in progress.
const RAW_EXTENSION: &str = "pcm";
/// Samples read per step when converting to WAV.
const CONVERT_CHUNK: usize = 64 * 1024;

/// A recording in progress.
pub struct Recording {
    path: PathBuf,
    writer: BufWriter<std::fs::File>,
    samples: u64,
    last_sync: Instant,
    sync_every: Duration,
}

impl Recording {
    /// Starts `<dir>/<session_id>.pcm`.
    pub fn create(dir: &Path, session_id: &str, sync_every: Duration) -> std::io::Result<Recording> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{session_id}.{RAW_EXTENSION}"));
        let file = std::fs::OpenOptions::new().create_new(true).write(true).open(&path)?;
        Ok(Recording { path, writer: BufWriter::new(file), samples: 0, last_sync: Instant::now(), sync_every })
    }

    /// Appends samples; forces them to disk when the last sync is old enough.
    pub fn append(&mut self, samples: &[i16]) -> std::io::Result<()> {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.writer.write_all(&bytes)?;
        self.samples += samples.len() as u64;
        if self.last_sync.elapsed() >= self.sync_every {
            self.sync()?;
        }
        Ok(())
    }

    /// Writes buffered audio and waits until it is on disk.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_data()?;
        self.last_sync = Instant::now();
        Ok(())
    }

    pub fn duration_ms(&self) -> u64 {
        self.samples / SAMPLES_PER_MS
    }

    /// Syncs and closes; returns the raw file for [`store`].
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        self.sync()?;
        Ok(self.path)
    }
}

/// A recording in the audio store.
#[derive(Debug, Clone)]
pub struct StoredRecording {
    pub stored: Stored,
    pub duration_ms: u64,
    pub peaks: Vec<u8>,
}

impl StoredRecording {
    /// The library's record of it.
    pub fn audio_file(&self) -> AudioFile {
        AudioFile {
            sha256: self.stored.sha256.clone(),
            mime: mime_for(AudioEncoding::Wav).into(),
            size_bytes: self.stored.size,
            created_ms: now_ms(),
            peaks: self.peaks.clone(),
        }
    }
}

/// Makes the raw recording `pcm` a WAV in `audio` and removes it. A trailing half sample
/// (a crash mid-write) is dropped.
pub async fn store(pcm: &Path, audio: &AudioStore) -> Result<StoredRecording> {
    let raw = pcm.to_path_buf();
    let wav = pcm.with_extension("wav");
    let target = wav.clone();
    let (samples, peaks) = tokio::task::spawn_blocking(move || to_wav(&raw, &target)).await??;
    let sha = {
        let wav = wav.clone();
        tokio::task::spawn_blocking(move || sha256_file(&wav)).await??
    };
    let stored = audio.put(&wav, &sha, "wav", true).await.context("storing the recording")?;
    tokio::fs::remove_file(pcm).await.with_context(|| format!("removing {}", pcm.display()))?;
    Ok(StoredRecording { stored, duration_ms: samples / SAMPLES_PER_MS, peaks })
}

fn to_wav(pcm: &Path, wav: &Path) -> Result<(u64, Vec<u8>)> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: TARGET_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut reader = std::io::BufReader::new(std::fs::File::open(pcm).with_context(|| format!("opening {}", pcm.display()))?);
    let mut writer = hound::WavWriter::create(wav, spec).with_context(|| format!("creating {}", wav.display()))?;
    let mut peaks = Peaks::default();
    let mut buffer = vec![0u8; CONVERT_CHUNK * 2];
    let mut carry: Option<u8> = None;
    let mut samples = 0u64;
    loop {
        let start = usize::from(carry.is_some());
        if let Some(byte) = carry.take() {
            buffer[0] = byte;
        }
        let read = reader.read(&mut buffer[start..])?;
        if read == 0 {
            break;
        }
        let filled = start + read;
        let whole = filled - filled % 2;
        if whole < filled {
            carry = Some(buffer[whole]);
        }
        let chunk: Vec<i16> = buffer[..whole].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        let mut writer16 = writer.get_i16_writer(chunk.len() as u32);
        for &sample in &chunk {
            writer16.write_sample(sample);
        }
        writer16.flush()?;
        peaks.push(&chunk);
        samples += chunk.len() as u64;
    }
    writer.finalize()?;
    std::fs::File::open(wav)?.sync_all()?;
    Ok((samples, peaks.finish()))
}

/// Raw recordings a crash left in `dir`: (session id, path).
pub fn leftovers(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(RAW_EXTENSION))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.clone())))
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raw_recording_becomes_a_playable_wav_even_when_cut_mid_sample() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live");
        let mut recording = Recording::create(&live, "s1", Duration::ZERO).expect("create");
        let samples: Vec<i16> = (0..16_000).map(|i| ((i % 100) * 300 - 15_000) as i16).collect();
        recording.append(&samples).expect("append");
        assert_eq!(recording.duration_ms(), 1000);
        let pcm = recording.finish().expect("finish");
        // A crash in the middle of a write leaves half a sample.
        std::fs::OpenOptions::new().append(true).open(&pcm).and_then(|mut f| f.write_all(&[7])).expect("append byte");
        assert_eq!(leftovers(&live), vec![("s1".to_string(), pcm.clone())]);

        let audio = AudioStore::new(dir.path().join("audio"));
        let stored = store(&pcm, &audio).await.expect("stored");
        assert_eq!(stored.duration_ms, 1000);
        assert_eq!(stored.peaks.len(), 10);
        assert!(!pcm.exists() && leftovers(&live).is_empty());
        let mut reader = hound::WavReader::open(&stored.stored.path).expect("a valid WAV");
        assert_eq!(reader.spec().sample_rate, 16_000);
        let back: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
        assert_eq!(back, samples);
    }
}
