//! The client side of the command line: `transcribe`, `sessions`, `export`, `reindex`,
//! `retention`, `backup`; `restore`; and
//! `models` and `pair`, which work on the data dir.
//!
//! Every command talks to the API. When a daemon already runs on the configured data dir
//! (its lock file names its URL), the command uses it; otherwise it starts one in-process on
//! the same config, on a private loopback port and without the inbox watcher, and stops it
//! afterwards. Both ways the library, queue and audio store are the same files.

pub mod backup;
pub mod client;
pub mod models;
pub mod pair;
pub mod retention;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::cli::client::{Client, JobEvent};
use crate::sinks::export::ExportFormat;
use crate::{Config, Daemon, data_dir_lock};

/// The environment variable holding an API token for a daemon that requires one.
pub const TOKEN_ENV: &str = "SCRIBE_TOKEN";
/// Redraws per second of the progress bars; more is wasted on a terminal.
const PROGRESS_HZ: u8 = 10;
/// Spinner step while a file waits for its transcript.
const SPINNER_TICK: Duration = Duration::from_millis(120);
/// Sessions per API page while listing.
const PAGE: u32 = 500;

/// A connection to a daemon, and the daemon itself when this process started it.
pub struct Connection {
    pub client: Client,
    standalone: Option<Daemon>,
}

impl Connection {
    /// Connects to `url` when given, else to the daemon running on the config's data dir,
    /// else starts one in-process.
    pub async fn open(config: Config, url: Option<&str>) -> Result<Connection> {
        let data_dir = config.data_dir()?;
        let token = || std::env::var(TOKEN_ENV).ok().or_else(|| read_token(&data_dir));
        if let Some(url) = url {
            let client = Client::new(url, token());
            client.health().await.with_context(|| format!("no daemon answers at {url}"))?;
            return Ok(Connection { client, standalone: None });
        }
        if let Some(url) = data_dir_lock::running_url(&data_dir)? {
            let client = Client::new(&url, token());
            client.health().await.with_context(|| {
                format!("a daemon holds {} but does not answer at {url}; is it stuck?", data_dir.display())
            })?;
            return Ok(Connection { client, standalone: None });
        }
        let mut config = config;
        config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        // A one-off command transcribes what it is given, not what lies in the inbox.
        config.inbox.enabled = false;
        let daemon = Daemon::start(config).await.context("starting a daemon for this command")?;
        let client = Client::new(&daemon.url(), token());
        Ok(Connection { client, standalone: Some(daemon) })
    }

    /// Stops the in-process daemon, if there is one.
    pub async fn close(self) -> Result<()> {
        match self.standalone {
            Some(daemon) => daemon.shutdown().await,
            None => Ok(()),
        }
    }
}

fn read_token(data_dir: &Path) -> Option<String> {
    let token = std::fs::read_to_string(data_dir.join(crate::daemon::TOKEN_FILE)).ok()?;
    Some(token.trim().to_string()).filter(|t| !t.is_empty())
}

/// Where transcripts go.
#[derive(Debug, Clone)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// `<dir>/<file stem>.<format>`.
    Dir(PathBuf),
}

/// One file's line on screen: a progress bar on a terminal, plain lines otherwise.
struct Line {
    name: String,
    bar: ProgressBar,
}

impl Line {
    fn say(&self, message: String) {
        if self.bar.is_hidden() {
            eprintln!("{}: {message}", self.name);
        }
        self.bar.set_message(message);
    }

    fn waiting(&self, message: &str) {
        self.bar.set_style(ProgressStyle::with_template("{spinner} {prefix} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        self.bar.enable_steady_tick(SPINNER_TICK);
        self.say(message.to_string());
    }

    /// A bar of the chunks of speech transcribed, with the time left.
    fn chunks(&self, done: u64, total: u64, eta_secs: Option<u64>) {
        let left = eta_secs.map(|s| format!(", about {} left", humantime::format_duration(Duration::from_secs(s)))).unwrap_or_default();
        let message = format!("transcribing: {done}/{total} chunks of speech{left}");
        if self.bar.is_hidden() {
            eprintln!("{}: {message}", self.name);
        }
        self.bar.disable_steady_tick();
        self.bar.set_style(ProgressStyle::with_template("{prefix} [{bar:30}] {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar.set_message(message);
    }

    fn end(&self, message: String) {
        if self.bar.is_hidden() {
            eprintln!("{}: {message}", self.name);
        }
        self.bar.finish_with_message(message);
    }
}

/// Transcribes `files`, showing progress per file, and writes each transcript. Returns
/// whether every file succeeded.
pub async fn transcribe(client: &Client, files: &[PathBuf], format: ExportFormat, output: &Output) -> Result<bool> {
    for file in files {
        anyhow::ensure!(file.is_file(), "{} is not a readable file", file.display());
    }
    if let Output::Dir(dir) = output {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Subscribed before the first upload, so no event is missed.
    let mut events = client.job_events().await?;
    let target = if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr_with_hz(PROGRESS_HZ) } else { ProgressDrawTarget::hidden() };
    let screen = MultiProgress::with_draw_target(target);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");

    // By session: the same bytes given twice are one session, and both files get its transcript.
    let mut pending: HashMap<String, Vec<(PathBuf, Line)>> = HashMap::new();
    let mut all_ok = true;
    for file in files {
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bar = screen.add(ProgressBar::new(size).with_style(style.clone()).with_prefix(name.clone()));
        let line = Line { name, bar };
        line.say("uploading".into());
        let progress = line.bar.clone();
        match client.upload(file, move |sent| progress.set_position(sent)).await {
            Ok(uploaded) => {
                line.waiting(if uploaded.duplicate { "already known; checking its transcript" } else { "queued" });
                pending.entry(uploaded.session_id).or_default().push((file.clone(), line));
            }
            Err(err) => {
                line.end(format!("failed: {err:#}"));
                all_ok = false;
            }
        }
    }

    // Sessions that finished before anyone listened (known files) are settled by asking.
    let ids: Vec<String> = pending.keys().cloned().collect();
    for id in ids {
        let session = client.session(&id).await?;
        let status = session["session"]["status"].as_str().unwrap_or_default().to_string();
        let message = session["session"]["error"].as_str().map(str::to_string);
        if (status == "complete" || status == "error")
            && let Some(files) = pending.remove(&id)
        {
            let event = JobEvent { session_id: id.clone(), status, message, progress: None };
            for (file, line) in files {
                all_ok &= finish(client, &id, &event, &file, &line, format, output).await;
            }
        }
    }
    while !pending.is_empty() {
        let event = events.recv().await.context("the daemon closed its event stream")?;
        let Some(files) = pending.get(&event.session_id) else { continue };
        let progress = match event.status.as_str() {
            "complete" | "error" => {
                for (file, line) in pending.remove(&event.session_id).unwrap_or_default() {
                    all_ok &= finish(client, &event.session_id, &event, &file, &line, format, output).await;
                }
                continue;
            }
            "processing" => match (event.progress, &event.message) {
                (Some((done, total, eta)), _) => {
                    for (_, line) in files {
                        line.chunks(done, total, eta);
                    }
                    continue;
                }
                (None, Some(message)) => message.clone(),
                (None, None) => "transcribing".to_string(),
            },
            status => match &event.message {
                Some(message) => format!("{status}: {message}"),
                None => status.to_string(),
            },
        };
        for (_, line) in files {
            line.say(progress.clone());
        }
    }
    Ok(all_ok)
}

/// Writes a finished session's transcript, or reports why there is none.
async fn finish(client: &Client, id: &str, event: &JobEvent, file: &Path, line: &Line, format: ExportFormat, output: &Output) -> bool {
    if event.status == "error" {
        line.end(format!("failed: {}", event.message.as_deref().unwrap_or("the transcription failed")));
        return false;
    }
    let written = async {
        let text = client.export(id, format).await?;
        match output {
            Output::Stdout => {
                print!("{text}");
                Ok(format!("done (session {id})"))
            }
            Output::Dir(dir) => {
                let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| id.to_string());
                let path = dir.join(format!("{stem}.{}", format.extension()));
                tokio::fs::write(&path, text).await.with_context(|| format!("writing {}", path.display()))?;
                Ok::<_, anyhow::Error>(format!("done → {} (session {id})", path.display()))
            }
        }
    }
    .await;
    match written {
        Ok(message) => {
            line.end(message);
            true
        }
        Err(err) => {
            line.end(format!("transcribed, but the export failed: {err:#}"));
            false
        }
    }
}

/// Filters of `scribed sessions`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub limit: u32,
    pub json: bool,
}

/// Prints sessions, newest first: a table, or one JSON object per line.
pub async fn sessions(client: &Client, options: &ListOptions) -> Result<()> {
    let mut query = Vec::new();
    if let Some(status) = &options.status {
        query.push(("status", status.clone()));
    }
    if let Some(kind) = &options.kind {
        query.push(("kind", kind.clone()));
    }
    let mut shown = 0u32;
    let mut cursor: Option<String> = None;
    if !options.json {
        println!("{:<18} {:<11} {:>8}  {:<20} TITLE", "ID", "STATUS", "LENGTH", "CREATED (UTC)");
    }
    while shown < options.limit {
        let mut page_query = query.clone();
        page_query.push(("limit", (options.limit - shown).min(PAGE).to_string()));
        if let Some(cursor) = &cursor {
            page_query.push(("cursor", cursor.clone()));
        }
        let page = client.sessions(&page_query).await?;
        let list = page["sessions"].as_array().cloned().unwrap_or_default();
        for session in &list {
            if options.json {
                println!("{session}");
            } else {
                println!("{}", table_row(session));
            }
        }
        shown += list.len() as u32;
        match page["next_cursor"].as_str() {
            Some(next) if !list.is_empty() => cursor = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(())
}

fn table_row(session: &Value) -> String {
    let length = session["duration_ms"].as_u64().map_or_else(|| "-".to_string(), |ms| {
        let s = ms / 1000;
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    });
    let created = session["created_ms"]
        .as_i64()
        .and_then(|ms| u64::try_from(ms).ok())
        .map(|ms| std::time::UNIX_EPOCH + Duration::from_millis(ms))
        .map(|t| humantime::format_rfc3339_seconds(t).to_string().replace('T', " ").trim_end_matches('Z').to_string())
        .unwrap_or_default();
    // Titles are user text: control characters would rewrite the terminal.
    let title: String = session["title"].as_str().unwrap_or_default().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!(
        "{:<18} {:<11} {:>8}  {:<20} {title}",
        session["id"].as_str().unwrap_or_default(),
        session["status"].as_str().unwrap_or_default(),
        length,
        created
    )
}

/// How often `reindex` asks whether the rebuild is done.
const REINDEX_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Rebuilds the search index from the library, showing the documents indexed so far.
pub async fn reindex(client: &Client) -> Result<u64> {
    client.reindex().await?;
    let bar = indicatif::ProgressBar::new_spinner();
    loop {
        let (documents, done) = client.search_status().await?;
        bar.set_message(format!("{documents} documents indexed"));
        if done {
            bar.finish_and_clear();
            return Ok(documents);
        }
        tokio::time::sleep(REINDEX_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::table_row;

    #[test]
    fn rows_are_aligned_and_safe() {
        let row = table_row(&serde_json::json!({
            "id": "f0011223344556677", "status": "complete", "duration_ms": 3_723_000,
            "created_ms": 1_764_331_200_000i64, "title": "Stand-up\u{1b}[2J",
        }));
        assert_eq!(row, "f0011223344556677  complete     1:02:03  2025-11-28 12:00:00  Stand-up [2J");
    }
}
