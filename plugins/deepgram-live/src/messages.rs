//! Deepgram's server messages (docs/protocols/deepgram.md §1.5) as our transcript updates.

use scribe_plugin_api::stt_live::types::{TranscriptUpdate, Word};
use serde::Deserialize;

/// A text frame from Deepgram, decoded.
#[derive(Debug, Clone)]
pub enum ServerMessage {
    /// Interim or final words.
    Results(TranscriptUpdate),
    /// A gap after the last word (`utterance_end_ms`).
    UtteranceEnd { last_word_end_ms: u64 },
    /// Speech began (`vad_events`).
    SpeechStarted { at_ms: u64 },
    /// The stream's summary, sent after CloseStream.
    Metadata { request_id: String, duration_ms: u64 },
    /// A type this plugin does not know; SDKs skip these too.
    Unknown(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Results {
    start: f64,
    duration: f64,
    #[serde(default)]
    is_final: bool,
    #[serde(default)]
    speech_final: bool,
    channel: Channel,
}

#[derive(Deserialize)]
struct Channel {
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    words: Vec<DgWord>,
}

#[derive(Deserialize)]
struct DgWord {
    word: String,
    start: f64,
    end: f64,
    confidence: f32,
    punctuated_word: Option<String>,
    speaker: Option<u32>,
}

#[derive(Deserialize)]
struct UtteranceEnd {
    last_word_end: f64,
}

#[derive(Deserialize)]
struct SpeechStarted {
    timestamp: f64,
}

#[derive(Deserialize)]
struct Metadata {
    request_id: String,
    duration: f64,
}

/// Seconds (Deepgram's unit) as whole ms; negative or NaN becomes 0.
fn ms(seconds: f64) -> u64 {
    (seconds * 1000.0).round().max(0.0) as u64
}

fn word(w: DgWord) -> Word {
    let start_ms = ms(w.start);
    Word {
        punctuated: w.punctuated_word.unwrap_or_else(|| w.word.clone()),
        text: w.word,
        start_ms,
        end_ms: ms(w.end).max(start_ms),
        confidence: w.confidence.clamp(0.0, 1.0),
        speaker: w.speaker,
    }
}

/// Decodes one text frame.
pub fn parse(text: &str) -> Result<ServerMessage, String> {
    let bad = |err: serde_json::Error| format!("Deepgram sent a message this plugin cannot read: {err}");
    let envelope: Envelope = serde_json::from_str(text).map_err(bad)?;
    Ok(match envelope.kind.as_str() {
        "Results" => {
            let results: Results = serde_json::from_str(text).map_err(bad)?;
            let words = results
                .channel
                .alternatives
                .into_iter()
                .next()
                .map(|a| a.words.into_iter().map(word).collect())
                .unwrap_or_default();
            let start_ms = ms(results.start);
            ServerMessage::Results(TranscriptUpdate {
                words,
                is_final: results.is_final,
                speech_final: results.speech_final,
                start_ms,
                end_ms: ms(results.start + results.duration).max(start_ms),
            })
        }
        "UtteranceEnd" => {
            let end: UtteranceEnd = serde_json::from_str(text).map_err(bad)?;
            ServerMessage::UtteranceEnd { last_word_end_ms: ms(end.last_word_end) }
        }
        "SpeechStarted" => {
            let started: SpeechStarted = serde_json::from_str(text).map_err(bad)?;
            ServerMessage::SpeechStarted { at_ms: ms(started.timestamp) }
        }
        "Metadata" => {
            let metadata: Metadata = serde_json::from_str(text).map_err(bad)?;
            ServerMessage::Metadata { request_id: metadata.request_id, duration_ms: ms(metadata.duration) }
        }
        other => ServerMessage::Unknown(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A final result as Deepgram's Python SDK recorded it (docs/protocols/deepgram.md §1.5.1).
    const RECORDED_FINAL: &str = r#"{"channel":{"alternatives":[{"transcript":"For the United States of America.","confidence":0.9990865,"words":[{"word":"for","start":17.56,"end":17.72,"confidence":0.9873626,"punctuated_word":"For"},{"word":"the","start":17.72,"end":17.88,"confidence":0.9990865,"punctuated_word":"the"},{"word":"united","start":17.88,"end":17.96,"confidence":0.99964666,"punctuated_word":"United"},{"word":"states","start":17.96,"end":18.12,"confidence":0.9992742,"punctuated_word":"States"},{"word":"of","start":18.12,"end":18.2,"confidence":0.99879324,"punctuated_word":"of"},{"word":"america","start":18.2,"end":18.66,"confidence":0.96024,"punctuated_word":"America."}]}]},"metadata":{"model_info":{"name":"2-general-nova","version":"2024-01-18.26916","arch":"nova-3"},"request_id":"e1985d01-b8bc-42ab-a16a-e7a8419c07f2","model_uuid":"c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c"},"type":"Results","channel_index":[0,1],"duration":1.6599998,"start":17.0,"is_final":true,"from_finalize":false,"speech_final":true}"#;
    /// RECORDED empty result.
    const RECORDED_EMPTY: &str = r#"{"channel": {"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]}, "metadata": {"model_info": {"name": "general", "version": "2024-01-26.8851", "arch": "base"}, "request_id": "699ace2f-5c81-4cf7-ae95-81e39557d10f", "model_uuid": "1ed36bac-f71c-4f3f-a31f-02fd6525c489"}, "type": "Results", "channel_index": [0, 1], "duration": 0.74, "start": 0.0, "is_final": true, "from_finalize": false, "speech_final": true}"#;

    #[test]
    fn recorded_results() {
        let ServerMessage::Results(update) = parse(RECORDED_FINAL).expect("parses") else { panic!("results") };
        assert!(update.is_final && update.speech_final);
        assert_eq!((update.start_ms, update.end_ms), (17_000, 18_660));
        let texts: Vec<&str> = update.words.iter().map(|w| w.punctuated.as_str()).collect();
        assert_eq!(texts, ["For", "the", "United", "States", "of", "America."]);
        assert_eq!((update.words[5].text.as_str(), update.words[5].start_ms, update.words[5].end_ms), ("america", 18_200, 18_660));

        let ServerMessage::Results(empty) = parse(RECORDED_EMPTY).expect("parses") else { panic!("results") };
        assert!(empty.words.is_empty() && empty.is_final);
        assert_eq!((empty.start_ms, empty.end_ms), (0, 740));
    }

    #[test]
    fn other_messages() {
        let utterance_end = parse(r#"{"channel":[0,1],"last_word_end":2.395,"type":"UtteranceEnd"}"#);
        assert!(matches!(utterance_end, Ok(ServerMessage::UtteranceEnd { last_word_end_ms: 2395 })), "{utterance_end:?}");
        let started = parse(r#"{"type":"SpeechStarted","channel":[0,1],"timestamp":9.54}"#);
        assert!(matches!(started, Ok(ServerMessage::SpeechStarted { at_ms: 9540 })), "{started:?}");
        let metadata = parse(
            r#"{"type":"Metadata","transaction_key":"deprecated","request_id":"8c8e","sha256":"e3b0","created":"2024-08-29T22:37:55.202Z","duration":0.0,"channels":0}"#,
        );
        assert!(matches!(&metadata, Ok(ServerMessage::Metadata { request_id, duration_ms: 0 }) if request_id == "8c8e"), "{metadata:?}");
        let unknown = parse(r#"{"type":"Warning","description":"x"}"#);
        assert!(matches!(&unknown, Ok(ServerMessage::Unknown(kind)) if kind == "Warning"), "{unknown:?}");
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"type":"Results"}"#).is_err());
    }
}
