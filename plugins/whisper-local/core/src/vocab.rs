//! The vocabulary of a CTranslate2 Whisper model (`vocabulary.txt`, one token per line, the
//! line number is the id) and the byte-level BPE decoding back to text.
//!
//! GPT-2's byte-level BPE writes every byte as a printable character (printable ASCII and
//! Latin-1 stand for themselves, the rest are shifted to U+0100 and up); decoding maps each
//! character back to its byte and reads the bytes as UTF-8. No tokenizer library is needed to
//! go this way; [`crate::bpe`] goes the other.

use std::collections::HashMap;

/// Special tokens the decoder needs, by their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    pub end_of_text: u32,
    pub start_of_transcript: u32,
    pub no_timestamps: u32,
    /// `<|0.00|>`; timestamp `t` (in 20 ms steps) is `timestamp_begin + t`.
    pub timestamp_begin: u32,
    /// `<|nospeech|>` or, in older vocabularies, `<|nocaptions|>`.
    pub no_speech: Option<u32>,
    /// `<|transcribe|>`; absent from English-only vocabularies' prompts.
    pub transcribe: Option<u32>,
    /// `<|translate|>`, the task of translating into English (multilingual models).
    pub translate: Option<u32>,
    /// `<|startofprev|>`, before the text said ahead of the audio.
    pub start_of_prev: Option<u32>,
}

/// The vocabulary.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    tokens: Vec<String>,
    specials: Specials,
    /// Each byte-level character's byte.
    bytes: HashMap<char, u8>,
}

/// GPT-2's `bytes_to_unicode`: the printable character each byte is written as.
pub fn byte_to_unicode() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut chars = ['\0'; 256];
    let mut shifted = 0u32;
    for byte in 0..=255u8 {
        chars[usize::from(byte)] = if printable(byte) {
            char::from(byte)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or(char::REPLACEMENT_CHARACTER)
        };
    }
    chars
}

/// [`byte_to_unicode`], inverted: the byte each printable character stands for.
fn unicode_to_byte() -> HashMap<char, u8> {
    byte_to_unicode().iter().enumerate().map(|(byte, &c)| (c, byte as u8)).collect()
}

impl Vocabulary {
    /// Parses `vocabulary.txt`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Vocabulary, String> {
        let tokens: Vec<String> = text.lines().map(str::to_string).collect();
        let find = |token: &str| tokens.iter().position(|t| t == token).and_then(|i| u32::try_from(i).ok());
        let require = |token: &str| find(token).ok_or_else(|| format!("{file}: {token} is not in the vocabulary; is this a Whisper model?"));
        let specials = Specials {
            end_of_text: require("<|endoftext|>")?,
            start_of_transcript: require("<|startoftranscript|>")?,
            no_timestamps: require("<|notimestamps|>")?,
            timestamp_begin: require("<|0.00|>")?,
            no_speech: find("<|nospeech|>").or_else(|| find("<|nocaptions|>")),
            transcribe: find("<|transcribe|>"),
            translate: find("<|translate|>"),
            start_of_prev: find("<|startofprev|>"),
        };
        Ok(Vocabulary { tokens, specials, bytes: unicode_to_byte() })
    }

    pub fn specials(&self) -> Specials {
        self.specials
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token's text as stored (byte-level characters), if the id exists.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Whether `id` is a text token (not end-of-text, a language, a task or a timestamp).
    pub fn is_text(&self, id: u32) -> bool {
        id < self.specials.end_of_text
    }

    /// The bytes a text token stands for; nothing for special tokens.
    pub fn bytes(&self, id: u32) -> Vec<u8> {
        match self.token(id).filter(|_| self.is_text(id)) {
            Some(token) => token.chars().filter_map(|c| self.bytes.get(&c).copied()).collect(),
            None => Vec::new(),
        }
    }

    /// The id of a token given by its stored text (`<|en|>`).
    pub fn id(&self, token: &str) -> Option<u32> {
        self.tokens.iter().position(|t| t == token).and_then(|i| u32::try_from(i).ok())
    }

    /// Text of a run of text tokens; special tokens are skipped, invalid UTF-8 replaced.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary with the specials where Whisper's English models have them, and a few
    /// byte-level tokens: "Ġhello" is " hello", "Ã©" is the two UTF-8 bytes of "é".
    fn sample() -> Vocabulary {
        let mut lines = vec!["!".to_string(); 50_256];
        lines[0] = "Hello".into();
        lines[1] = ",".into();
        lines[2] = "Ġw".into();
        lines[3] = "orld".into();
        lines[4] = "Ġcaf".into();
        lines[5] = "Ã©".into();
        lines[6] = "Ċ".into();
        lines.extend(["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>", "<|0.00|>", "<|0.02|>"].map(String::from));
        Vocabulary::parse("vocabulary.txt", &lines.join("\n")).expect("parses")
    }

    #[test]
    fn byte_level_tokens_decode_to_text() {
        let vocab = sample();
        assert_eq!(vocab.decode(&[0, 1, 2, 3]), "Hello, world");
        assert_eq!(vocab.decode(&[4, 5, 6]), " café\n");
        // Special tokens never reach the text.
        let s = vocab.specials();
        assert_eq!(vocab.decode(&[s.start_of_transcript, 0, s.timestamp_begin + 1, s.end_of_text]), "Hello");
    }

    #[test]
    fn specials_are_found_by_name() {
        let s = sample().specials();
        assert_eq!((s.end_of_text, s.start_of_transcript, s.no_timestamps, s.timestamp_begin), (50_256, 50_257, 50_264, 50_265));
        assert_eq!((s.no_speech, s.transcribe, s.translate), (Some(50_263), Some(50_260), Some(50_259)));
        let err = Vocabulary::parse("v.txt", "a\nb\n").expect_err("not Whisper");
        assert!(err.starts_with("v.txt: <|endoftext|> is not in the vocabulary"), "{err}");
    }

    #[test]
    fn the_byte_map_covers_every_byte_once() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        let mut bytes: Vec<u8> = map.values().copied().collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        assert_eq!(map.get(&'Ġ'), Some(&b' '));
        assert_eq!(map.get(&'Ċ'), Some(&b'\n'));
    }
}
