//! `scribed retention [--dry-run]`: the `[retention]` rules applied now, or listed.

use anyhow::Result;
use indicatif::HumanBytes;
use serde_json::Value;

use super::client::Client;

/// Runs the rules (or with `dry_run` asks what they would do) and writes the report.
pub async fn retention(client: &Client, dry_run: bool) -> Result<String> {
    let report = client.post_json("/api/v1/retention", &serde_json::json!({ "dry_run": dry_run })).await?;
    Ok(render(&report))
}

fn bytes(value: &Value) -> HumanBytes {
    HumanBytes(value.as_u64().unwrap_or(0))
}

/// One session's line: id, size, why, title.
fn line(item: &Value, size: HumanBytes, why: &str) -> String {
    // Titles are user text: control characters would rewrite the terminal.
    let title: String = item["title"].as_str().unwrap_or_default().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("{:<18} {:>10}  {why:<40} {title}\n", item["session_id"].as_str().unwrap_or_default(), size.to_string())
}

fn render(report: &Value) -> String {
    let dry_run = report["dry_run"].as_bool().unwrap_or(true);
    let empty = Vec::new();
    let removals = report["removals"].as_array().unwrap_or(&empty);
    let reductions = report["reductions"].as_array().unwrap_or(&empty);
    let mut out = String::new();
    for removal in removals {
        out += &line(removal, bytes(&removal["bytes"]), removal["reason"].as_str().unwrap_or_default());
    }
    for reduction in reductions {
        let why = format!("original; {} as 16 kHz WAV", bytes(&reduction["canonical_bytes"]));
        out += &line(reduction, bytes(&reduction["original_bytes"]), &why);
    }
    let verb = if dry_run { "would free" } else { "freed" };
    out += &format!(
        "{} audio file(s) {}, {} original(s) {}: {verb} {} of {} stored\n",
        removals.len(),
        if dry_run { "would be removed" } else { "removed" },
        reductions.len(),
        if dry_run { "would be replaced by their 16 kHz copy" } else { "replaced by their 16 kHz copy" },
        bytes(&report["freed_bytes"]),
        bytes(&report["stored_bytes"]),
    );
    for skipped in report["skipped"].as_array().unwrap_or(&empty) {
        out += &format!("left alone: {}\n", skipped.as_str().unwrap_or_default());
    }
    out
}
