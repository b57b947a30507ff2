//! Parsing Deepgram's pre-recorded response into our words.

use scribe_plugin_api::stt_batch::BatchTranscript;
use scribe_plugin_api::stt_batch::types::{
    Paragraph, PluginError, Sentence, TranscriptStructure, Utterance, Word,
};
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
    /// Present with `utterances=true`.
    #[serde(default)]
    utterances: Vec<DgUtterance>,
}

#[derive(Deserialize)]
struct DgUtterance {
    start: f64,
    end: f64,
    #[serde(default)]
    confidence: f32,
    transcript: String,
    #[serde(default)]
    speaker: Option<u32>,
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
    /// Present with `paragraphs=true` (and implied by `smart_format=true`).
    #[serde(default)]
    paragraphs: Option<DgParagraphs>,
}

#[derive(Deserialize)]
struct DgParagraphs {
    #[serde(default)]
    paragraphs: Vec<DgParagraph>,
}

#[derive(Deserialize)]
struct DgParagraph {
    #[serde(default)]
    sentences: Vec<DgSentence>,
    start: f64,
    end: f64,
    #[serde(default)]
    speaker: Option<u32>,
}

#[derive(Deserialize)]
struct DgSentence {
    text: String,
    start: f64,
    end: f64,
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

/// A start and end in ms, the end never before the start.
fn span(start: f64, end: f64) -> (u64, u64) {
    let start_ms = to_ms(start);
    (start_ms, to_ms(end).max(start_ms))
}

fn paragraph(p: DgParagraph) -> Paragraph {
    let (start_ms, end_ms) = span(p.start, p.end);
    let sentences = p
        .sentences
        .into_iter()
        .map(|s| {
            let (start_ms, end_ms) = span(s.start, s.end);
            Sentence { text: s.text, start_ms, end_ms }
        })
        .collect();
    Paragraph { sentences, start_ms, end_ms, speaker: p.speaker }
}

fn utterance(u: DgUtterance) -> Utterance {
    let (start_ms, end_ms) = span(u.start, u.end);
    Utterance { text: u.transcript, start_ms, end_ms, confidence: u.confidence.clamp(0.0, 1.0), speaker: u.speaker }
}

/// Parses a `200` body. Words and paragraphs come from the first channel's best alternative.
pub fn parse(body: &[u8], requested_language: Option<String>) -> Result<BatchTranscript, PluginError> {
    let response: ListenResponse = serde_json::from_slice(body)
        .map_err(|err| PluginError::Other(format!("Deepgram sent a response we could not read: {err}")))?;
    let utterances = response.results.utterances.into_iter().map(utterance).collect();
    let channel = response.results.channels.into_iter().next();
    let language = channel.as_ref().and_then(|c| c.detected_language.clone()).or(requested_language);
    let alternative = channel.and_then(|c| c.alternatives.into_iter().next());
    let (words, paragraphs) = alternative.map(|a| (a.words, a.paragraphs)).unwrap_or_default();
    let paragraphs = paragraphs.map(|p| p.paragraphs).unwrap_or_default().into_iter().map(paragraph).collect();
    let words = words
        .into_iter()
        .map(|w| {
            let (start_ms, end_ms) = span(w.start, w.end);
            Word {
                punctuated: w.punctuated_word.unwrap_or_else(|| w.word.clone()),
                text: w.word,
                start_ms,
                end_ms,
                confidence: w.confidence.clamp(0.0, 1.0),
                speaker: w.speaker,
            }
        })
        .collect();
    Ok(BatchTranscript {
        words,
        language,
        duration_ms: response.metadata.and_then(|m| m.duration).map(to_ms),
        structure: TranscriptStructure { paragraphs, utterances },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded response of docs/protocols/deepgram.md §2.3 (words truncated there too).
    const RECORDED: &str = r#"{"metadata":{"transaction_key":"deprecated","request_id":"b9c2dec0-9239-4d80-8a53-75bb357a05b1","sha256":"5324da68ede209a16ac69a38e8cd29cee4d754434a041166cda3a1f5e0b24566","created":"2025-07-22T16:56:41.450Z","duration":17.566313,"channels":1,"models":["3b3aabe4-608a-46ac-9585-7960a25daf1a"],"model_info":{"3b3aabe4-608a-46ac-9585-7960a25daf1a":{"name":"general-nova-3","version":"2024-12-20.0","arch":"nova-3"}}},"results":{"channels":[{"alternatives":[{"transcript":"Yep. I said it before, and I'll say it again. Life moves pretty fast. You don't stop and look around once in a while, you could miss it.","confidence":0.9991429,"words":[{"word":"yep","start":5.52,"end":6.2400002,"confidence":0.92344034,"punctuated_word":"Yep."},{"word":"i","start":6.96,"end":7.2799997,"confidence":0.5774878,"punctuated_word":"I"}],"paragraphs":{"transcript":"\nYep. I said it before, and I'll say it again. Life moves pretty fast. You don't stop and look around once in a while, you could miss it.","paragraphs":[{"sentences":[{"text":"Yep.","start":5.52,"end":6.2400002},{"text":"I said it before, and I'll say it again.","start":6.96,"end":8.96},{"text":"Life moves pretty fast.","start":10.071313,"end":11.671312},{"text":"You don't stop and look around once in a while, you could miss it.","start":12.071312,"end":15.5113125}],"start":5.52,"end":15.5113125,"num_words":28}]}}]}]}}"#;

    /// The `utterances=true` document of docs/protocols/deepgram.md §2.3.
    const UTTERANCES: &str = r#"{"metadata":{"transaction_key":"deprecated","request_id":"a847f427-4ad5-4d67-9b95-db801e58251c","sha256":"154e291ecfa8be6ab8343560bcc109008fa7853eb5372533e8efdefc9b504c33","created":"2024-05-12T18:57:13.000Z","duration":5.5,"channels":1,"models":["3b3aabe4-608a-46ac-9585-7960a25daf1a"],"model_info":{"3b3aabe4-608a-46ac-9585-7960a25daf1a":{"name":"general-nova-3","version":"2024-12-20.0","arch":"nova-3"}}},"results":{"channels":[{"alternatives":[{"transcript":"four score and seven years ago, our fathers brought forth on this continent a new nation","confidence":0.88211584,"words":[{"word":"four","start":0.41874,"end":0.85742,"confidence":0.5821198,"speaker":0,"speaker_confidence":0.9,"punctuated_word":"four"}]}]}],"utterances":[{"start":0.41874,"end":5.42518,"confidence":0.88211584,"channel":0,"transcript":"four score and seven years ago, our fathers brought forth on this continent a new nation","words":[{"word":"four","start":0.41874,"end":0.85742,"confidence":0.5821198,"speaker":0,"speaker_confidence":0.9,"punctuated_word":"four"}],"speaker":0,"id":"ec11ce4b-2d5c-4b95-9183-ba102bea1d62"}]}}"#;

    #[test]
    fn recorded_paragraphs_and_utterances() {
        let t = parse(RECORDED.as_bytes(), None).expect("parses");
        assert!(t.structure.utterances.is_empty());
        let [paragraph] = t.structure.paragraphs.as_slice() else { panic!("one paragraph: {:?}", t.structure.paragraphs) };
        assert_eq!((paragraph.start_ms, paragraph.end_ms, paragraph.speaker), (5_520, 15_511, None));
        let sentences: Vec<(&str, u64, u64)> = paragraph.sentences.iter().map(|s| (s.text.as_str(), s.start_ms, s.end_ms)).collect();
        assert_eq!(sentences[2], ("Life moves pretty fast.", 10_071, 11_671));
        assert_eq!(sentences.len(), 4);

        let t = parse(UTTERANCES.as_bytes(), None).expect("parses");
        assert!(t.structure.paragraphs.is_empty());
        let [utterance] = t.structure.utterances.as_slice() else { panic!("one utterance") };
        assert_eq!((utterance.start_ms, utterance.end_ms, utterance.speaker), (419, 5_425, Some(0)));
        assert!(utterance.text.starts_with("four score and seven years ago, our fathers"));
        assert!((utterance.confidence - 0.882).abs() < 0.001);
    }

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
