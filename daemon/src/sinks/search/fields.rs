//! The index schema: one `meta` document per session (title and summary) and one `segment`
//! document per stretch of one speaker's speech (its words, their start times, the speaker),
//! each carrying the session's filters (kind, status, creation time) so any hit can be
//! filtered without a join.

use tantivy::schema::{
    FAST, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, WhitespaceTokenizer};
use tantivy::{Index, schema::Field};

/// Name of the analyzer of every full-text field.
pub const ANALYZER: &str = "scribe";
/// Name of the analyzer of `pairs`, whose text is already tokens.
const PAIRS_ANALYZER: &str = "scribe_pairs";
/// Joins the two tokens of a pair; the analyzer never puts it inside a token.
const PAIR_JOINER: char = '_';
/// Tokens longer than this are dropped: no word is that long, a pasted blob is.
const MAX_TOKEN_BYTES: usize = 40;

/// `doc_type` of a session's title and summary document.
pub const META: &str = "meta";
/// `doc_type` of a transcript segment document.
pub const SEGMENT: &str = "segment";

/// The fields.
#[derive(Clone, Copy)]
pub struct Fields {
    /// The session id: deleting by it removes a session's documents.
    pub session_id: Field,
    /// A 64-bit hash of the session id, as a fast field, for grouping hits by session.
    pub session_key: Field,
    pub doc_type: Field,
    pub kind: Field,
    pub status: Field,
    pub created_ms: Field,
    /// The session's title: indexed on the meta document, stored on every document.
    pub title: Field,
    pub display_title: Field,
    /// The summary's text (meta document).
    pub summary: Field,
    /// The segment's words, as displayed, joined by spaces.
    pub text: Field,
    /// Every two adjacent tokens of `text` as one term (`freeze_hiring`): a phrase of
    /// common words is then a lookup rather than a merge of two huge position lists.
    pub pairs: Field,
    /// The segment's speaker display name, lower-cased, for filtering; stored as shown.
    pub speaker: Field,
    pub speaker_name: Field,
    pub start_ms: Field,
    /// Start time of every word of `text`, u32 little-endian, ms.
    pub times: Field,
}

impl Fields {
    pub fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let text = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let fields = Fields {
            session_id: builder.add_text_field("session_id", STRING | STORED),
            session_key: builder.add_u64_field("session_key", FAST),
            doc_type: builder.add_text_field("doc_type", STRING | STORED),
            kind: builder.add_text_field("kind", STRING | STORED),
            status: builder.add_text_field("status", STRING | STORED),
            created_ms: builder.add_i64_field("created_ms", INDEXED | FAST | STORED),
            title: builder.add_text_field("title", text.clone()),
            display_title: builder.add_text_field("display_title", STORED),
            summary: builder.add_text_field("summary", text.clone()),
            text: builder.add_text_field("text", text),
            pairs: builder.add_text_field(
                "pairs",
                TextOptions::default().set_indexing_options(
                    TextFieldIndexing::default().set_tokenizer(PAIRS_ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
                ),
            ),
            speaker: builder.add_text_field("speaker", STRING),
            speaker_name: builder.add_text_field("speaker_name", STORED),
            start_ms: builder.add_u64_field("start_ms", STORED),
            times: builder.add_bytes_field("times", STORED),
        };
        (builder.build(), fields)
    }
}

/// Words split on anything but letters and digits, lower-cased, accents folded: "Café" and
/// "cafe" match, as people type them.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The tokens of `text`, as the index holds them.
pub fn tokens(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Registers the analyzers on an opened index.
pub fn register(index: &Index) {
    index.tokenizers().register(ANALYZER, analyzer());
    index.tokenizers().register(PAIRS_ANALYZER, TextAnalyzer::builder(WhitespaceTokenizer::default()).build());
}

/// The term of two adjacent tokens.
pub fn pair(first: &str, second: &str) -> String {
    format!("{first}{PAIR_JOINER}{second}")
}

/// The `pairs` text of some text: its adjacent token pairs, space-separated.
pub fn pairs_of(text: &str) -> String {
    tokens(text).windows(2).map(|w| pair(&w[0], &w[1])).collect::<Vec<_>>().join(" ")
}

/// The grouping key of a session id (FNV-1a: stable across runs and builds, unlike the
/// standard library's hasher).
pub fn session_key(id: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    id.bytes().fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_fold_case_accents_and_punctuation() {
        let cases = [
            ("Café, au LAIT!", vec!["cafe", "au", "lait"]),
            ("e-mail's 2nd", vec!["e", "mail", "s", "2nd"]),
            ("<script>alert(1)</script>", vec!["script", "alert", "1", "script"]),
            ("", vec![]),
        ];
        for (text, want) in cases {
            assert_eq!(tokens(text), want, "{text}");
        }
        assert!(tokens(&"x".repeat(100)).is_empty(), "a blob is not a word");
        assert_eq!(pairs_of("Freeze hiring, until June."), "freeze_hiring hiring_until until_june");
        assert_ne!(session_key("a"), session_key("b"));
        assert_eq!(session_key("f0123"), session_key("f0123"));
    }
}
