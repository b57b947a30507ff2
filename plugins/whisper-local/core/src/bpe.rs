//! Text to token ids, the way round [`crate::vocab`] does not go: GPT-2's byte-level BPE
//! with the merges of the model's Hugging Face `tokenizer.json`, for a prompt (the words said
//! before the audio, which Whisper reads after `<|startofprev|>`).
//!
//! Text is split as GPT-2's pre-tokenizer pattern splits it, each piece's UTF-8 bytes are
//! written as byte-level characters, and the lowest-ranked adjacent pair is merged until no
//! merge applies, as `tokenizers` does for these models.

use std::collections::HashMap;

use serde::Deserialize;

use crate::vocab::byte_to_unicode;

/// Endings GPT-2's pattern splits off a word (`'s|'t|'re|'ve|'m|'ll|'d`), longest first.
const CONTRACTIONS: [&str; 7] = ["'re", "'ve", "'ll", "'s", "'t", "'m", "'d"];

/// The parts of `tokenizer.json` encoding needs.
#[derive(Deserialize)]
struct File {
    model: Model,
}

#[derive(Deserialize)]
struct Model {
    vocab: HashMap<String, u32>,
    merges: Vec<Merge>,
}

/// A merge as `"a b"` (older files) or `["a", "b"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Joined(String),
    Pair(String, String),
}

/// The encoder of one model.
pub struct Encoder {
    vocab: HashMap<String, u32>,
    /// Rank of each merge: lower merges first.
    ranks: HashMap<(String, String), usize>,
    /// Each byte's byte-level character.
    chars: [char; 256],
}

/// How GPT-2's pattern classes a character.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_numeric() {
        Class::Number
    } else if c.is_alphabetic() {
        Class::Letter
    } else {
        Class::Other
    }
}

/// Splits `text` as GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` does.
fn pieces(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(text.len(), |&(offset, _)| offset);
    let run = |from: usize, kind: Class| (from..chars.len()).find(|&j| class(chars[j].1) != kind).unwrap_or(chars.len());
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let rest = &text[at(i)..];
        let end = if let Some(ending) = CONTRACTIONS.iter().find(|e| rest.starts_with(**e)) {
            i + ending.chars().count()
        } else {
            let c = chars[i].1;
            let next = chars.get(i + 1).map(|&(_, n)| class(n));
            match class(c) {
                // A space joins the word, number or symbols after it.
                Class::Space if c == ' ' && next.is_some_and(|n| n != Class::Space) => run(i + 1, next.unwrap_or(Class::Other)),
                Class::Space => {
                    // Whitespace before a non-space leaves its last character to that piece
                    // (or, alone, is a piece of its own).
                    let end = run(i, Class::Space);
                    if end < chars.len() && end - i > 1 { end - 1 } else { end }
                }
                kind => run(i, kind),
            }
        };
        pieces.push(&text[at(i)..at(end)]);
        i = end;
    }
    pieces
}

impl Encoder {
    /// Parses `tokenizer.json`; `file` names it in errors.
    pub fn parse(file: &str, json: &str) -> Result<Encoder, String> {
        let parsed: File = serde_json::from_str(json).map_err(|err| format!("{file}: {err}"))?;
        let ranks = parsed
            .model
            .merges
            .into_iter()
            .enumerate()
            .map(|(rank, merge)| {
                let pair = match merge {
                    Merge::Pair(a, b) => (a, b),
                    Merge::Joined(joined) => {
                        let (a, b) = joined.split_once(' ').ok_or_else(|| format!("{file}: the merge {joined:?} is not two symbols"))?;
                        (a.to_string(), b.to_string())
                    }
                };
                Ok((pair, rank))
            })
            .collect::<Result<_, String>>()?;
        Ok(Encoder { vocab: parsed.model.vocab, ranks, chars: byte_to_unicode() })
    }

    /// The token ids of `text`. A symbol the vocabulary lacks (a damaged file) is left out.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        pieces(text).into_iter().flat_map(|piece| self.piece(piece)).collect()
    }

    fn piece(&self, piece: &str) -> Vec<u32> {
        let mut symbols: Vec<String> = piece.bytes().map(|b| self.chars[usize::from(b)].to_string()).collect();
        loop {
            let best = (1..symbols.len())
                .filter_map(|i| self.ranks.get(&(symbols[i - 1].clone(), symbols[i].clone())).map(|&rank| (rank, i)))
                .min();
            let Some((_, i)) = best else { break };
            let (a, b) = (symbols[i - 1].clone(), symbols[i].clone());
            // Every occurrence of the pair, left to right.
            let mut merged = Vec::with_capacity(symbols.len());
            let mut j = 0;
            while j < symbols.len() {
                if j + 1 < symbols.len() && symbols[j] == a && symbols[j + 1] == b {
                    merged.push(format!("{a}{b}"));
                    j += 2;
                } else {
                    merged.push(std::mem::take(&mut symbols[j]));
                    j += 1;
                }
            }
            symbols = merged;
        }
        symbols.iter().filter_map(|s| self.vocab.get(s).copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_splits_as_gpt2s_pattern_does() {
        assert_eq!(pieces(" It was the best of times, it's"), [" It", " was", " the", " best", " of", " times", ",", " it", "'s"]);
        assert_eq!(pieces(" 1984 and  two  spaces\n new line  "), [" 1984", " and", " ", " two", " ", " spaces", "\n", " new", " line", "  "]);
        assert_eq!(pieces("don't—you?"), ["don", "'t", "—", "you", "?"]);
        assert!(pieces("").is_empty());
    }

    #[test]
    fn text_encodes_to_the_ids_hugging_faces_tokenizers_gives() {
        let json = std::fs::read_to_string(crate::testdata::model_dir().join("tokenizer.json")).expect("tiny.en's tokenizer.json");
        let encoder = Encoder::parse("tokenizer.json", &json).expect("parses");
        // Ids from `tokenizers` 0.22.1, `Tokenizer.from_file(...).encode(text, add_special_tokens=False)`.
        let cases: [(&str, &[u32]); 4] = [
            (" It was the best of times, it was the worst of times.", &[632, 373, 262, 1266, 286, 1661, 11, 340, 373, 262, 5290, 286, 1661, 13]),
            (" We're all going direct to Heaven—don't you think?", &[775, 821, 477, 1016, 1277, 284, 11225, 960, 9099, 470, 345, 892, 30]),
            (" 1984 and  two  spaces\n new line", &[12844, 290, 220, 734, 220, 9029, 198, 649, 1627]),
            (" Ünïcödé naïve café 😀", &[49363, 77, 26884, 66, 9101, 67, 2634, 41492, 40304, 30325, 222]),
        ];
        for (text, ids) in cases {
            assert_eq!(encoder.encode(text), ids, "{text:?}");
        }
    }

    #[test]
    fn a_malformed_file_is_an_error() {
        assert!(Encoder::parse("t.json", "{}").is_err_and(|e| e.starts_with("t.json: ")));
        let bad_merge = r#"{"model": {"vocab": {"a": 0}, "merges": ["ab"]}}"#;
        assert!(Encoder::parse("t.json", bad_merge).is_err_and(|e| e.contains("\"ab\" is not two symbols")));
        let pairs = r#"{"model": {"vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}"#;
        assert_eq!(Encoder::parse("t.json", pairs).expect("parses").encode("abab"), [2, 2]);
    }
}
