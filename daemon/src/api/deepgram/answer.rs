//! A finished session's transcript in the shape of Deepgram's pre-recorded answer
//! (docs/protocols/deepgram.md §2.3): `metadata` (the session id as `request_id`, the
//! file's SHA-256, the plugin as the model), one channel with one alternative (`transcript`, `confidence`,
//! `words` with `punctuated_word` and `speaker` when known) and, when asked, `utterances`.
//! The live socket's messages ([`super::stream`]) are built from the same parts.

use serde_json::{Value, json};

use crate::clients::library::Word;
use crate::sinks::export::SessionExport;

pub(super) fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn word(w: &Word, punctuate: bool) -> Value {
    let mut out = json!({"word": w.text, "start": seconds(w.start_ms), "end": seconds(w.end_ms), "confidence": w.confidence});
    if punctuate {
        out["punctuated_word"] = w.punctuated.clone().into();
    }
    if let Some(speaker) = w.speaker {
        out["speaker"] = speaker.into();
    }
    out
}

/// `words` as Deepgram writes a transcript: displayed, or lower case without punctuation.
fn text(words: &[Word], punctuate: bool) -> String {
    match punctuate {
        true => SessionExport::displayed(words),
        false => words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "),
    }
}

/// An alternative: the transcript of `words`, their mean confidence, and each word.
pub(super) fn alternative(words: &[Word], punctuate: bool) -> Value {
    json!({
        "transcript": text(words, punctuate),
        "confidence": SessionExport::confidence(words),
        "words": words.iter().map(|w| word(w, punctuate)).collect::<Vec<_>>(),
    })
}

/// Which plugin transcribed, as Deepgram names its model.
pub(super) fn model_info(plugin: &str) -> Value {
    json!({"name": plugin, "version": env!("CARGO_PKG_VERSION"), "arch": "scribed"})
}

/// The `metadata` of an answer (and of the live socket's last message).
pub(super) fn metadata(request_id: &str, sha256: &str, created: std::time::SystemTime, duration_ms: u64, plugin: &str) -> Value {
    json!({
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": humantime::format_rfc3339_millis(created).to_string(),
        "duration": seconds(duration_ms),
        "channels": 1,
        "models": [plugin],
        "model_info": {plugin: model_info(plugin)},
    })
}

/// The answer for `export`; `punctuate` is `punctuate` or `smart_format`, `utterances` asks
/// for the utterances (one speaker's sentences, as the export cuts them).
pub fn response(export: &SessionExport, sha256: &str, punctuate: bool, utterances: bool) -> Value {
    let session = &export.session;
    let plugin = session.provider.clone().unwrap_or_default();
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(session.created_ms).unwrap_or(0));
    let mut results = json!({"channels": [{"alternatives": [alternative(&export.words, punctuate)]}]});
    if utterances {
        let list: Vec<Value> = export
            .transcript()
            .segments_with_words()
            .into_iter()
            .enumerate()
            .map(|(i, (segment, words))| {
                let mut utterance = alternative(words, punctuate);
                utterance["id"] = format!("{}-{i}", session.id).into();
                utterance["start"] = seconds(segment.start_ms).into();
                utterance["end"] = seconds(segment.end_ms).into();
                utterance["channel"] = 0.into();
                utterance["speaker"] = segment.speaker.into();
                utterance
            })
            .collect();
        results["utterances"] = list.into();
    }
    json!({"metadata": metadata(&session.id, sha256, created, export.duration_ms(), &plugin), "results": results})
}
