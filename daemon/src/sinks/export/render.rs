//! The export formats: plain text and Markdown by speaker turn, SRT and WebVTT by cue, JSON
//! with every word. Speaker names (after renaming) are kept; user text is escaped for the
//! formats that treat characters as markup.

use std::fmt::Write as _;

use serde_json::json;

use super::ExportFormat;
use super::cues::Transcript;

impl Transcript<'_> {
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
