//! A finished session's transcript in the shape of Deepgram's pre-recorded answer
//! (docs/protocols/deepgram.md §2.3): `metadata` (the session id as `request_id`, the
//! file's SHA-256, the plugin as the model), one channel with one alternative (`transcript`, `confidence`,
//! `words` with `punctuated_word` and `speaker` when known) and, when asked, `utterances`.

use serde_json::{Value, json};

use crate::clients::library::Word;
use crate::sinks::export::SessionExport;

fn seconds(ms: u64) -> f64 {
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
    words.iter().map(|w| if punctuate { w.punctuated.as_str() } else { w.text.as_str() }).collect::<Vec<_>>().join(" ")
}

/// The answer for `export`; `punctuate` is `punctuate` or `smart_format`, `utterances` asks
/// for the utterances (one speaker's sentences, as the export cuts them).
pub fn response(export: &SessionExport, sha256: &str, punctuate: bool, utterances: bool) -> Value {
    let session = &export.session;
    let plugin = session.provider.clone().unwrap_or_default();
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(session.created_ms).unwrap_or(0));
    let duration_ms = export.duration_ms();
    let words: Vec<Value> = export.words.iter().map(|w| word(w, punctuate)).collect();
    let mut results = json!({"channels": [{"alternatives": [{
        "transcript": text(&export.words, punctuate),
        "confidence": SessionExport::confidence(&export.words),
        "words": words,
    }]}]});
    if utterances {
        let list: Vec<Value> = export
            .transcript()
            .segments_with_words()
            .into_iter()
            .enumerate()
            .map(|(i, (segment, words))| {
                json!({
                    "id": format!("{}-{i}", session.id),
                    "start": seconds(segment.start_ms),
                    "end": seconds(segment.end_ms),
                    "confidence": SessionExport::confidence(words),
                    "channel": 0,
                    "transcript": text(words, punctuate),
                    "words": words.iter().map(|w| word(w, punctuate)).collect::<Vec<_>>(),
                    "speaker": segment.speaker,
                })
            })
            .collect();
        results["utterances"] = list.into();
    }
    json!({
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": session.id,
            "sha256": sha256,
            "created": humantime::format_rfc3339_millis(created).to_string(),
            "duration": seconds(duration_ms),
            "channels": 1,
            "models": [plugin],
            "model_info": {plugin.clone(): {"name": plugin, "version": env!("CARGO_PKG_VERSION"), "arch": "scribed"}},
        },
        "results": results,
    })
}
