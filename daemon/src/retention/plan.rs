//! Which audio goes: the retention rules applied to a list of sessions, with no I/O, so the
//! dry run and the real run decide the same way.

use serde::Serialize;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The rules, from `[retention]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub audio_days: Option<u32>,
    pub max_audio_bytes: Option<u64>,
}

/// A session with stored audio.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub session_id: String,
    pub title: String,
    pub created_ms: i64,
    pub bytes: u64,
    /// Exempt: pinned, or its audio is being recorded, transcribed or played.
    pub keep: bool,
}

/// One removal the rules call for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removal {
    pub session_id: String,
    pub title: String,
    pub created_ms: i64,
    pub bytes: u64,
    pub reason: String,
}

/// The removals `limits` call for among `candidates` at `now_ms`: first every unexempt
/// session older than `audio_days`, then, while the audio left is above `max_audio_bytes`,
/// the oldest unexempt ones. Exempt audio counts towards the total but never goes.
pub fn plan(mut candidates: Vec<Candidate>, limits: Limits, now_ms: i64) -> Vec<Removal> {
    candidates.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then_with(|| a.session_id.cmp(&b.session_id)));
    let mut total: u64 = candidates.iter().map(|c| c.bytes).sum();
    let cutoff = limits.audio_days.map(|days| now_ms - i64::from(days) * DAY_MS);
    let mut removals = Vec::new();
    for candidate in candidates.into_iter().filter(|c| !c.keep) {
        let reason = if cutoff.is_some_and(|cutoff| candidate.created_ms < cutoff) {
            format!("older than {} days", limits.audio_days.unwrap_or_default())
        } else if let Some(max) = limits.max_audio_bytes.filter(|max| total > *max) {
            format!("all audio took more than {}", decimal_size(max))
        } else {
            continue;
        };
        total = total.saturating_sub(candidate.bytes);
        removals.push(Removal {
            session_id: candidate.session_id,
            title: candidate.title,
            created_ms: candidate.created_ms,
            bytes: candidate.bytes,
            reason,
        });
    }
    removals
}

/// Bytes in the units `max_audio_gb` is given in (10^9), or MB below one.
fn decimal_size(bytes: u64) -> String {
    if bytes >= 1_000_000_000 { format!("{:.2} GB", bytes as f64 / 1e9) } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, age_days: i64, bytes: u64, keep: bool) -> Candidate {
        Candidate { session_id: id.into(), title: id.into(), created_ms: NOW - age_days * DAY_MS, bytes, keep }
    }

    const NOW: i64 = 1_000 * DAY_MS;

    fn ids(removals: &[Removal]) -> Vec<&str> {
        removals.iter().map(|r| r.session_id.as_str()).collect()
    }

    #[test]
    fn age_removes_old_unexempt_audio() {
        let sessions = vec![candidate("old", 40, 10, false), candidate("pinned", 50, 10, true), candidate("new", 5, 10, false)];
        let limits = Limits { audio_days: Some(30), max_audio_bytes: None };
        let removals = plan(sessions, limits, NOW);
        assert_eq!(ids(&removals), ["old"]);
        assert_eq!(removals[0].reason, "older than 30 days");
    }

    #[test]
    fn size_removes_oldest_first_until_under_the_limit() {
        let sessions = vec![
            candidate("c", 3, 40, false),
            candidate("a", 9, 40, false),
            candidate("kept", 10, 40, true),
            candidate("b", 6, 40, false),
        ];
        // 160 stored, at most 90: "kept" cannot go, so "a" then "b" go, leaving 80.
        let removals = plan(sessions, Limits { audio_days: None, max_audio_bytes: Some(90) }, NOW);
        assert_eq!(ids(&removals), ["a", "b"]);
        assert_eq!(removals[0].reason, "all audio took more than 0.0 MB");
        assert_eq!(decimal_size(50_000_000_000), "50.00 GB");
    }

    #[test]
    fn nothing_goes_without_rules_or_under_them() {
        let sessions = vec![candidate("a", 400, 10, false)];
        assert!(plan(sessions.clone(), Limits::default(), NOW).is_empty());
        assert!(plan(sessions, Limits { audio_days: Some(500), max_audio_bytes: Some(10) }, NOW).is_empty());
    }
}
