//! Parsing Deepgram's pre-recorded response into our words.

use scribe_plugin_api::stt_batch::BatchTranscript;
use scribe_plugin_api::stt_batch::scribe::plugin::types::{PluginError, Word};
use serde::Deserialize;

#[derive(Deserialize)]
struct ListenResponse {
    #[serde(default)]
    metadata: Option<Metadata>,
    results: Results,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    duration: Option<f64>,
}

#[derive(Deserialize)]
struct Results {
    channels: Vec<Channel>,
}

#[derive(Deserialize)]
struct Channel {
    alternatives: Vec<Alternative>,
    #[serde(default)]
    detected_language: Option<String>,
}

#[derive(Deserialize)]
struct Alternative {
    #[serde(default)]
    words: Vec<DgWord>,
}

#[derive(Deserialize)]
struct DgWord {
    word: String,
    #[serde(default)]
    punctuated_word: Option<String>,
    start: f64,
    end: f64,
    #[serde(default)]
    confidence: f32,
    #[serde(default)]
    speaker: Option<u32>,
}

/// Seconds (as Deepgram reports them) to whole milliseconds; negative or non-finite
/// values, which a broken server could send, become 0.
fn to_ms(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 { (seconds * 1000.0).round() as u64 } else { 0 }
}

/// Parses a `200` body. Words come from the first channel's best alternative.
pub fn parse(body: &[u8], requested_language: Option<String>) -> Result<BatchTranscript, PluginError> {
    let response: ListenResponse = serde_json::from_slice(body)
        .map_err(|err| PluginError::Other(format!("Deepgram sent a response we could not read: {err}")))?;
    let channel = response.results.channels.into_iter().next();
    let language = channel.as_ref().and_then(|c| c.detected_language.clone()).or(requested_language);
    let words = channel
        .and_then(|c| c.alternatives.into_iter().next())
        .map(|a| a.words)
        .unwrap_or_default()
        .into_iter()
        .map(|w| {
            let start_ms = to_ms(w.start);
            Word {
                punctuated: w.punctuated_word.unwrap_or_else(|| w.word.clone()),
                text: w.word,
                start_ms,
                end_ms: to_ms(w.end).max(start_ms),
                confidence: w.confidence.clamp(0.0, 1.0),
                speaker: w.speaker,
            }
        })
        .collect();
    Ok(BatchTranscript {
        words,
        language,
        duration_ms: response.metadata.and_then(|m| m.duration).map(to_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded response of provider-protocols.md §2.3 (words truncated there too).
    const RECORDED: &str = r#"{"metadata":{"transaction_key":"deprecated","request_id":"b9c2dec0-9239-4d80-8a53-75bb357a05b1","sha256":"5324da68ede209a16ac69a38e8cd29cee4d754434a041166cda3a1f5e0b24566","created":"2025-07-22T16:56:41.450Z","duration":17.566313,"channels":1,"models":["3b3aabe4-608a-46ac-9585-7960a25daf1a"],"model_info":{"3b3aabe4-608a-46ac-9585-7960a25daf1a":{"name":"general-nova-3","version":"2024-12-20.0","arch":"nova-3"}}},"results":{"channels":[{"alternatives":[{"transcript":"Yep. I said it before","confidence":0.9991429,"words":[{"word":"yep","start":5.52,"end":6.2400002,"confidence":0.92344034,"punctuated_word":"Yep."},{"word":"i","start":6.96,"end":7.2799997,"confidence":0.5774878,"punctuated_word":"I"}]}]}]}}"#;

    #[test]
    fn recorded_response() {
        let t = parse(RECORDED.as_bytes(), Some("en".into())).expect("parses");
        assert_eq!(t.duration_ms, Some(17_566));
        assert_eq!(t.language.as_deref(), Some("en"));
        let got: Vec<(&str, &str, u64, u64)> =
            t.words.iter().map(|w| (w.text.as_str(), w.punctuated.as_str(), w.start_ms, w.end_ms)).collect();
        assert_eq!(got, vec![("yep", "Yep.", 5_520, 6_240), ("i", "I", 6_960, 7_280)]);
        assert_eq!(t.words[0].speaker, None);
    }

    #[test]
    fn diarized_and_odd_values() {
        let body = r#"{"results":{"channels":[{"detected_language":"de","alternatives":[{"words":[
            {"word":"four","start":0.41874,"end":0.85742,"confidence":0.58,"speaker":1,"punctuated_word":"Four"},
            {"word":"x","start":-1,"end":-2,"confidence":7}]}]}]}}"#;
        let t = parse(body.as_bytes(), None).expect("parses");
        assert_eq!(t.language.as_deref(), Some("de"));
        assert_eq!(t.words[0].speaker, Some(1));
        assert_eq!((t.words[0].start_ms, t.words[0].end_ms), (419, 857));
        assert_eq!((t.words[1].start_ms, t.words[1].end_ms, t.words[1].confidence), (0, 0, 1.0));
        assert_eq!(t.duration_ms, None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(parse(b"<html>", None), Err(PluginError::Other(_))));
        assert!(parse(br#"{"results":{"channels":[]}}"#, None).is_ok_and(|t| t.words.is_empty()));
    }
}
