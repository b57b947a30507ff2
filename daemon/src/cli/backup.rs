//! `scribed backup DEST` and `scribed restore SRC --data-dir DIR`, with progress bars.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::client::Client;
use crate::backup::restore::{self, Phase, Restored};

/// A byte bar on a terminal; nothing elsewhere (a systemd timer's log wants the last line).
fn byte_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Has the daemon back up its data dir into `dest` and follows it to the end; returns a line
/// saying what the backup holds.
pub async fn backup(client: &Client, dest: &Path) -> Result<String> {
    let dest = std::path::absolute(dest).with_context(|| format!("{} is not a usable path", dest.display()))?;
    // Subscribed first, so no progress is missed.
    let mut events = client.events("backup").await?;
    let started = client.post_json("/api/v1/backup", &serde_json::json!({ "dest": dest })).await?;
    let dest = started["dest"].clone();
    let bar = byte_bar();
    while let Some(event) = events.recv().await {
        if event["dest"] != dest {
            continue;
        }
        let (done, total) = (event["done_bytes"].as_u64().unwrap_or(0), event["total_bytes"].as_u64().unwrap_or(0));
        match event["stage"].as_str().unwrap_or_default() {
            "done" => {
                bar.finish_and_clear();
                return Ok(describe(&event["summary"], dest.as_str().unwrap_or_default()));
            }
            "failed" => {
                bar.abandon();
                anyhow::bail!("the backup failed: {}", event["message"].as_str().unwrap_or("no details"));
            }
            stage => {
                bar.set_message(stage.to_string());
                bar.set_length(total);
                bar.set_position(done);
            }
        }
    }
    anyhow::bail!("the daemon stopped before the backup finished")
}

fn describe(summary: &Value, dest: &str) -> String {
    let n = |key: &str| summary[key].as_u64().unwrap_or(0);
    format!(
        "backed up {} sessions in {} files ({}) to {dest} in {:.1} s: {} written; audio {} copied, {} hard-linked, {} already there\n",
        n("sessions"),
        n("files"),
        HumanBytes(n("bytes")),
        summary["seconds"].as_f64().unwrap_or(0.0),
        HumanBytes(n("copied_bytes")),
        n("audio_copied"),
        n("audio_linked"),
        n("audio_present"),
    )
}

/// Restores the backup at `src` into `data_dir` with a progress bar.
pub fn restore(src: &Path, data_dir: &Path) -> Result<Restored> {
    let bar = byte_bar();
    let restored = restore::restore(src, data_dir, |phase, done, total| {
        bar.set_message(match phase {
            Phase::Verifying => "verifying",
            Phase::Copying => "copying",
        });
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    restored
}
