//! Transcript exports: plain text, SRT, WebVTT, JSON and Markdown.
//!
//! Subtitles are split into cues a viewer can read: a cue ends when the speaker changes, at a
//! pause, when it grows past [`MAX_CUE_MS`] or [`MAX_CUE_CHARS`], or at the end of a sentence
//! once it is long enough to stand alone. Speaker names (after renaming) are kept; every time
//! is the word's own, so exports line up with the audio.

pub mod format;

use std::fmt::Write as _;

use serde_json::json;

pub use format::ExportFormat;

use crate::clients::library::{Library, LibraryError, Session, Speaker, StoredSummary, TranscriptVersion, Word};

/// Words fetched per library call while loading a whole transcript (the store's page limit).
const WORDS_PER_PAGE: u32 = 10_000;

/// Longest cue on screen: subtitle guidelines keep a cue under about 6-7 s.
const MAX_CUE_MS: u64 = 6_000;
/// Two lines of 42 characters, the common broadcast limit.
const MAX_CUE_CHARS: usize = 84;
/// A silence longer than this starts a new cue.
const MAX_GAP_MS: u64 = 1_000;
/// A silence this long starts a new paragraph even without a speaker change: in prose
/// exports, and in the web UI, which reads it from the words API.
pub const PARAGRAPH_GAP_MS: u64 = 3_000;
/// A cue may end at a sentence end once it holds this many characters.
const SENTENCE_BREAK_CHARS: usize = 40;
/// A segment given to a summarizer ends at a sentence end once it holds this many
/// characters (a few sentences: context for the model, few line prefixes)...
const SEGMENT_SENTENCE_CHARS: usize = 160;
/// ...and in any case after this long, so an action item's time lands within half a minute
/// of what was said.
const MAX_SEGMENT_MS: u64 = 30_000;

/// What an export is made of.
pub struct Transcript<'a> {
    pub title: &'a str,
    pub words: &'a [Word],
    pub speakers: &'a [Speaker],
    pub summary: Option<&'a StoredSummary>,
}

/// A session with everything an export shows, loaded from the library.
pub struct SessionExport {
    pub session: Session,
    pub words: Vec<Word>,
    pub speakers: Vec<Speaker>,
    pub summary: Option<StoredSummary>,
}

impl SessionExport {
    /// Loads `session` with all words of `version` (none: an empty transcript).
    pub async fn load(library: &Library, session: Session, version: Option<&TranscriptVersion>) -> Result<SessionExport, LibraryError> {
        let mut words = Vec::new();
        if let Some(version) = version {
            while (words.len() as u64) < version.word_count {
                let page = library.get_words(version.id, words.len() as u64, WORDS_PER_PAGE).await?;
                if page.is_empty() {
                    break;
                }
                words.extend(page);
            }
        }
        let speakers = library.list_speakers(session.id.clone()).await?;
        let summary = library.get_summary(session.id.clone()).await?;
        Ok(SessionExport { session, words, speakers, summary })
    }

    /// Loads the session's newest version; `None` when there is no such session.
    pub async fn load_latest(library: &Library, id: &str) -> Result<Option<SessionExport>, LibraryError> {
        let Some(session) = library.get_session(id.to_string()).await? else {
            return Ok(None);
        };
        let versions = library.list_versions(id.to_string()).await?;
        Ok(Some(SessionExport::load(library, session, versions.last()).await?))
    }

    pub fn render(&self, format: ExportFormat) -> String {
        Transcript { title: &self.session.title, words: &self.words, speakers: &self.speakers, summary: self.summary.as_ref() }
            .render(format)
    }

    /// A file name for this export: the title made safe for any filesystem, and the id so
    /// two sessions never share a name.
    pub fn file_name(&self, format: ExportFormat) -> String {
        file_name(&self.session.title, &self.session.id, format)
    }
}

/// Bytes of the title kept in an export's file name. File systems allow 255 bytes a name;
/// the rest is left for the id, the extension and the writer's `.NAME.partial`.
const MAX_FILE_TITLE_BYTES: usize = 160;

/// `<safe title>-<id>.<ext>`, the title cut at a character boundary within
/// [`MAX_FILE_TITLE_BYTES`] (a title in Cyrillic or CJK is 2-4 bytes a character).
fn file_name(title: &str, id: &str, format: ExportFormat) -> String {
    let mut safe = String::new();
    for c in title.chars().map(|c| if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_') { c } else { '_' }) {
        if safe.len() + c.len_utf8() > MAX_FILE_TITLE_BYTES {
            break;
        }
        safe.push(c);
    }
    let title = safe.trim();
    let id = safe_id(id);
    if title.is_empty() { format!("{id}.{}", format.extension()) } else { format!("{title}-{id}.{}", format.extension()) }
}

/// A session id reduced to characters safe in file names and headers.
pub fn safe_id(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// A run of words shown together.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub speaker: Option<u32>,
    pub text: String,
    /// Words it holds.
    pub words: usize,
}

impl Transcript<'_> {
    /// A speaker's display name: the name given, else "Speaker N".
    pub fn speaker_name(&self, speaker: Option<u32>) -> Option<String> {
        let number = speaker?;
        Some(
            self.speakers
                .iter()
                .find(|s| s.speaker == number)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("Speaker {}", number + 1)),
        )
    }

    /// Subtitle cues.
    pub fn cues(&self) -> Vec<Cue> {
        split(self.words, |cue, word| {
            let gap = word.start_ms.saturating_sub(cue.end_ms);
            let ends_sentence = cue.text.ends_with(['.', '?', '!']);
            word.speaker != cue.speaker
                || gap > MAX_GAP_MS
                || word.end_ms.saturating_sub(cue.start_ms) > MAX_CUE_MS
                || cue.text.chars().count() + 1 + word.punctuated.chars().count() > MAX_CUE_CHARS
                || (ends_sentence && cue.text.chars().count() >= SENTENCE_BREAK_CHARS)
        })
    }

    /// Runs of one speaker's sentences, for summarizers and the search index.
    pub fn segments(&self) -> Vec<Cue> {
        split(self.words, segment_break)
    }

    /// The words of each of [`Transcript::segments`].
    pub fn segment_words(&self) -> Vec<&[Word]> {
        let mut out = Vec::new();
        let mut start = 0;
        for cue in self.segments() {
            let count = cue.words;
            out.push(&self.words[start..start + count]);
            start += count;
        }
        out
    }

    /// Speaker turns, for the prose formats.
    fn turns(&self) -> Vec<Cue> {
        split(self.words, |cue, word| word.speaker != cue.speaker || word.start_ms.saturating_sub(cue.end_ms) > PARAGRAPH_GAP_MS)
    }

    pub fn render(&self, format: ExportFormat) -> String {
        match format {
            ExportFormat::Txt => self.txt(),
            ExportFormat::Srt => self.srt(),
            ExportFormat::Vtt => self.vtt(),
            ExportFormat::Json => self.json(),
            ExportFormat::Md => self.md(),
        }
    }

    fn txt(&self) -> String {
        let mut out = String::new();
        for turn in self.turns() {
            let who = self.speaker_name(turn.speaker).map(|n| format!(" {n}:")).unwrap_or_default();
            let _ = writeln!(out, "[{}]{who} {}\n", clock(turn.start_ms, ':'), turn.text);
        }
        out
    }

    fn srt(&self) -> String {
        let mut out = String::new();
        for (index, cue) in self.cues().iter().enumerate() {
            let who = self.speaker_name(cue.speaker).map(|n| format!("{n}: ")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{}\n{} --> {}\n{who}{}\n",
                index + 1,
                timestamp(cue.start_ms, ','),
                timestamp(cue.end_ms, ','),
                cue.text
            );
        }
        out
    }

    fn vtt(&self) -> String {
        let mut out = String::from("WEBVTT\n\n");
        for cue in self.cues() {
            let voice = self.speaker_name(cue.speaker).map(|n| format!("<v {}>", vtt_escape(&n))).unwrap_or_default();
            let _ = writeln!(
                out,
                "{} --> {}\n{voice}{}\n",
                timestamp(cue.start_ms, '.'),
                timestamp(cue.end_ms, '.'),
                vtt_escape(&cue.text)
            );
        }
        out
    }

    fn json(&self) -> String {
        let words: Vec<_> = self
            .words
            .iter()
            .map(|w| {
                json!({
                    "text": w.text, "punctuated": w.punctuated, "start_ms": w.start_ms, "end_ms": w.end_ms,
                    "confidence": w.confidence, "speaker": w.speaker,
                })
            })
            .collect();
        let speakers: Vec<_> = self.speakers.iter().map(|s| json!({ "speaker": s.speaker, "name": s.name })).collect();
        let summary = self.summary.map(|s| {
            json!({
                "title": s.summary.title, "overview": s.summary.overview, "key_points": s.summary.key_points,
                "decisions": s.summary.decisions, "model": s.model,
                "action_items": s.summary.action_items.iter().map(|a| json!({ "text": a.text, "owner": a.owner, "at_ms": a.at_ms })).collect::<Vec<_>>(),
            })
        });
        let doc = json!({ "title": self.title, "speakers": speakers, "words": words, "summary": summary });
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
    }

    fn md(&self) -> String {
        let mut out = format!("# {}\n\n", md_escape(self.title));
        if let Some(stored) = self.summary {
            let s = &stored.summary;
            let _ = writeln!(out, "## Summary\n\n{}\n", md_escape(&s.overview));
            let list = |out: &mut String, heading: &str, items: &[String]| {
                if !items.is_empty() {
                    let _ = writeln!(out, "### {heading}\n");
                    for item in items {
                        let _ = writeln!(out, "- {}", md_escape(item));
                    }
                    out.push('\n');
                }
            };
            list(&mut out, "Key points", &s.key_points);
            list(&mut out, "Decisions", &s.decisions);
            if !s.action_items.is_empty() {
                out.push_str("### Action items\n\n");
                for item in &s.action_items {
                    let owner = item.owner.as_deref().map(|o| format!(" ({})", md_escape(o))).unwrap_or_default();
                    let at = item.at_ms.map(|ms| format!(" [{}]", clock(ms, ':'))).unwrap_or_default();
                    let _ = writeln!(out, "- [ ] {}{owner}{at}", md_escape(&item.text));
                }
                out.push('\n');
            }
        }
        out.push_str("## Transcript\n\n");
        for turn in self.turns() {
            let who = self.speaker_name(turn.speaker).map(|n| format!("**{}** ", md_escape(&n))).unwrap_or_default();
            let _ = writeln!(out, "{who}[{}]: {}\n", clock(turn.start_ms, ':'), md_escape(&turn.text));
        }
        out
    }
}

/// Where a summarizer's or the index's segment ends.
fn segment_break(cue: &Cue, word: &Word) -> bool {
    word.speaker != cue.speaker
        || word.start_ms.saturating_sub(cue.end_ms) > PARAGRAPH_GAP_MS
        || word.end_ms.saturating_sub(cue.start_ms) > MAX_SEGMENT_MS
        || (cue.text.ends_with(['.', '?', '!']) && cue.text.chars().count() >= SEGMENT_SENTENCE_CHARS)
}

/// Groups consecutive words; `breaks(cue, next)` says whether `next` starts a new group.
fn split(words: &[Word], breaks: impl Fn(&Cue, &Word) -> bool) -> Vec<Cue> {
    let mut cues: Vec<Cue> = Vec::new();
    for word in words {
        match cues.last_mut() {
            Some(cue) if !breaks(cue, word) => {
                cue.text.push(' ');
                cue.text.push_str(&word.punctuated);
                cue.end_ms = cue.end_ms.max(word.end_ms);
                cue.words += 1;
            }
            _ => cues.push(Cue {
                start_ms: word.start_ms,
                end_ms: word.end_ms.max(word.start_ms),
                speaker: word.speaker,
                text: word.punctuated.clone(),
                words: 1,
            }),
        }
    }
    cues
}

/// `HH:MM:SS<sep>mmm`.
fn timestamp(ms: u64, sep: char) -> String {
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// `H:MM:SS` for prose.
fn clock(ms: u64, sep: char) -> String {
    format!("{}{sep}{:02}{sep}{:02}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60)
}

/// WebVTT cue text treats `<` and `&` as markup.
fn vtt_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Keeps transcript text from turning into Markdown structure or raw HTML.
fn md_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::library::{ActionItem, Summary};

    fn w(text: &str, start_ms: u64, end_ms: u64, speaker: Option<u32>) -> Word {
        Word {
            text: text.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase(),
            punctuated: text.into(),
            start_ms,
            end_ms,
            confidence: 0.9,
            speaker,
        }
    }

    /// A minimal SRT reader: (index, start, end, text) per cue.
    fn parse_srt(srt: &str) -> Vec<(usize, String, String, String)> {
        srt.split("\n\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut lines = block.lines();
                let index = lines.next().and_then(|l| l.parse().ok()).expect("index line");
                let (start, end) = lines.next().and_then(|l| l.split_once(" --> ")).expect("time line");
                let text = lines.collect::<Vec<_>>().join("\n");
                (index, start.to_string(), end.to_string(), text)
            })
            .collect()
    }

    #[test]
    fn file_names_fit_a_file_system_whatever_the_script() {
        let id = "f3935eec7f4a8f7f8c0d1e2f";
        for title in ["é".repeat(200), "会議の議事録".repeat(40), "🎙️ podcast ".repeat(30), "a/b\\c:d".repeat(60), String::new()] {
            let name = file_name(&title, id, ExportFormat::Md);
            let partial = format!(".{name}.partial");
            assert!(partial.len() <= 255, "{} bytes: {name}", partial.len());
            assert!(name.ends_with(&format!("{id}.md")), "{name}");
            assert!(!name.contains('/') && !name.contains('\\'), "{name}");
        }
        assert_eq!(file_name("Team sync", id, ExportFormat::Txt), format!("Team sync-{id}.txt"));
    }

    #[test]
    fn cue_breaks() {
        let words = vec![
            w("Hello", 0, 400, Some(0)),
            w("there.", 450, 900, Some(0)),
            w("Hi!", 1_000, 1_300, Some(1)),            // speaker change
            w("Long", 3_000, 3_200, Some(1)),           // pause > 1 s
            w("pause", 3_300, 3_600, Some(1)),
            w("then", 3_700, 9_000, Some(1)),           // exactly 6 s from the cue start: kept
            w("more", 9_100, 9_500, Some(1)),           // past 6 s: new cue
        ];
        let t = Transcript { title: "t", words: &words, speakers: &[], summary: None };
        let cues: Vec<(u64, u64, String)> = t.cues().into_iter().map(|c| (c.start_ms, c.end_ms, c.text)).collect();
        assert_eq!(
            cues,
            vec![
                (0, 900, "Hello there.".to_string()),
                (1_000, 1_300, "Hi!".to_string()),
                (3_000, 9_000, "Long pause then".to_string()),
                (9_100, 9_500, "more".to_string()),
            ]
        );
    }

    #[test]
    fn long_runs_split_by_length_and_sentences() {
        let sentence: Vec<Word> = (0..40u64).map(|i| w(if i % 10 == 9 { "word." } else { "word" }, i * 100, i * 100 + 80, None)).collect();
        let t = Transcript { title: "t", words: &sentence, speakers: &[], summary: None };
        for cue in t.cues() {
            assert!(cue.text.chars().count() <= MAX_CUE_CHARS, "{cue:?}");
            assert!(cue.end_ms - cue.start_ms <= MAX_CUE_MS, "{cue:?}");
        }
        assert!(t.cues()[0].text.ends_with("word."), "breaks at a sentence end once long enough");
    }

    #[test]
    fn srt_parses_back_with_names_and_times() {
        let words = vec![w("Good", 61_000, 61_400, Some(0)), w("morning.", 61_500, 62_000, Some(0)), w("Hi.", 62_100, 62_500, Some(1))];
        let speakers = vec![Speaker { speaker: 0, name: "Ada".into() }];
        let t = Transcript { title: "t", words: &words, speakers: &speakers, summary: None };
        let cues = parse_srt(&t.render(ExportFormat::Srt));
        assert_eq!(
            cues,
            vec![
                (1, "00:01:01,000".into(), "00:01:02,000".into(), "Ada: Good morning.".into()),
                (2, "00:01:02,100".into(), "00:01:02,500".into(), "Speaker 2: Hi.".into()),
            ]
        );
    }

    #[test]
    fn vtt_and_md_escape_user_text() {
        let words = vec![w("<script>alert(1)</script>", 0, 500, Some(0))];
        let speakers = vec![Speaker { speaker: 0, name: "<b>Eve</b>".into() }];
        let summary = StoredSummary {
            summary: Summary {
                title: None,
                overview: "We met.".into(),
                key_points: vec!["# not a heading".into()],
                action_items: vec![ActionItem { text: "Ship".into(), owner: Some("Ada".into()), at_ms: Some(65_000) }],
                decisions: vec![],
            },
            model: "m".into(),
            template: None,
            created_ms: 0,
            input_tokens: None,
            output_tokens: None,
        };
        let t = Transcript { title: "Weekly *sync*", words: &words, speakers: &speakers, summary: Some(&summary) };
        let vtt = t.render(ExportFormat::Vtt);
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:00.500\n"), "{vtt}");
        assert!(vtt.contains("<v &lt;b&gt;Eve&lt;/b&gt;>&lt;script&gt;alert(1)&lt;/script&gt;"), "{vtt}");
        let md = t.render(ExportFormat::Md);
        assert!(md.starts_with("# Weekly \\*sync\\*\n"), "{md}");
        assert!(md.contains("- \\# not a heading"), "{md}");
        assert!(md.contains("- [ ] Ship (Ada) [0:01:05]"), "{md}");
        assert!(md.contains("\\<script\\>"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&t.render(ExportFormat::Json)).expect("json");
        assert_eq!(json["words"][0]["punctuated"], "<script>alert(1)</script>");
        assert_eq!(json["summary"]["action_items"][0]["at_ms"], 65_000);
        assert_eq!(t.render(ExportFormat::Txt), "[0:00:00] <b>Eve</b>: <script>alert(1)</script>\n\n");
    }

    #[test]
    fn formats_parse() {
        for (name, format) in [("txt", ExportFormat::Txt), ("SRT", ExportFormat::Srt), ("vtt", ExportFormat::Vtt), ("json", ExportFormat::Json), ("md", ExportFormat::Md)] {
            assert_eq!(name.parse::<ExportFormat>(), Ok(format));
            assert_eq!(format.extension(), name.to_ascii_lowercase());
        }
        assert!("docx".parse::<ExportFormat>().is_err());
    }
}
