//! Transcript exports: plain text, SRT, WebVTT, JSON and Markdown, in three steps:
//! [`session`] reads a whole session from the library, [`cues`] cuts its words into cues,
//! turns and segments, [`render`] writes a format ([`format`] names them).

pub mod cues;
pub mod format;
mod render;
pub mod session;

pub use cues::{Cue, PARAGRAPH_GAP_MS, Transcript};
pub use format::ExportFormat;
pub use session::{SessionExport, safe_id};

#[cfg(test)]
mod tests {
    use super::cues::{MAX_CUE_CHARS, MAX_CUE_MS};
    use super::session::file_name;
    use super::*;
    use crate::clients::library::{ActionItem, Speaker, StoredSummary, Summary, Word};

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
