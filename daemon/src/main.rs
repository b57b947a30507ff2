//! The `scribed` command line: the daemon itself (`serve`), and client commands that use a
//! running daemon or start one for the duration of the command (see [`scribed::cli`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use scribed::cli::{self, Connection, ListOptions, Output};
use scribed::sinks::export::ExportFormat;
use scribed::{Config, Daemon};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "scribed", version, about = "Scribe: speech to a searchable, summarized library")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which configuration and state to use; shared by every command.
#[derive(Args)]
struct ConfigArgs {
    /// Config file; without it the embedded defaults (config/scribed.toml) apply.
    #[arg(long, env = "SCRIBE_CONFIG")]
    config: Option<PathBuf>,
    /// State directory, overriding data_dir.
    #[arg(long, env = "SCRIBE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Plugins directory, overriding plugins_dir.
    #[arg(long, env = "SCRIBE_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(self) -> Result<Config> {
        let mut config = match self.config {
            Some(path) => Config::load(&path)?,
            None => Config::defaults()?,
        };
        if self.data_dir.is_some() {
            config.data_dir = self.data_dir;
        }
        if self.plugins_dir.is_some() {
            config.plugins_dir = self.plugins_dir;
        }
        Ok(config)
    }
}

/// How client commands reach a daemon.
#[derive(Args)]
struct ClientArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// A daemon's URL. Default: the daemon running on the data dir, or else one started for
    /// this command. A token, when needed, comes from SCRIBE_TOKEN or <data_dir>/api-token.
    #[arg(long, env = "SCRIBE_URL")]
    url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Listen address, overriding server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Transcribe audio files and write their transcripts.
    Transcribe {
        #[command(flatten)]
        client: ClientArgs,
        /// Audio files (wav, flac, mp3, ogg, opus, webm, m4a, mp4, aac).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Transcript format.
        #[arg(long, default_value = "txt", value_parser = parse_format)]
        format: ExportFormat,
        /// Folder for the transcripts (named after each file), or "-" for standard output.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// List sessions, newest first.
    Sessions {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this status: queued, recording, processing, complete, error, interrupted.
        #[arg(long)]
        status: Option<String>,
        /// Only this kind: live or file.
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print (or write) a session's transcript.
    Export {
        #[command(flatten)]
        client: ClientArgs,
        /// Session id, as `scribed sessions` shows it.
        id: String,
        #[arg(long, value_parser = parse_format)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Offline speech models for the whisper-local plugin.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Rebuild the search index from the library (the daemon keeps serving meanwhile).
    Reindex {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove the audio the [retention] rules say goes, now (they also run daily).
    Retention {
        #[command(flatten)]
        client: ClientArgs,
        /// Only list what would go and how much space that frees.
        #[arg(long)]
        dry_run: bool,
    },
    /// Back up the library while the daemon runs: databases, audio (only new files after the
    /// first backup to DEST), configuration and token, with a manifest written last.
    Backup {
        #[command(flatten)]
        client: ClientArgs,
        /// An absolute folder outside the data dir: new, empty, or an earlier backup.
        dest: PathBuf,
    },
    /// Check a backup against its manifest, restore it into a new data dir (--data-dir) and
    /// start a daemon serving it (the search index is rebuilt).
    Restore {
        #[command(flatten)]
        config: ConfigArgs,
        /// The backup folder.
        src: PathBuf,
        /// Restore only; do not start the daemon.
        #[arg(long)]
        no_serve: bool,
    },
    /// Print a link and QR code that pair a browser with a daemon requiring a token.
    Pair {
        #[command(flatten)]
        config: ConfigArgs,
        /// The daemon's URL as the browser will reach it. Default: the daemon running on the
        /// data dir, at this machine's network address when it listens on all interfaces.
        #[arg(long)]
        url: Option<String>,
    },
    /// List the audio input devices live sessions can record from.
    Devices,
    /// Print the embedded default configuration.
    DefaultConfig,
    /// Internal: decode one file in a child process of the daemon (see
    /// `scribed::audio::isolated`), reporting JSON lines on stdout.
    #[command(name = scribed::audio::isolated::SUBCOMMAND, hide = true)]
    DecodeAudio {
        input: PathBuf,
        /// Write 16 kHz mono s16le here.
        #[arg(long)]
        pcm: Option<PathBuf>,
        /// Refuse audio longer than this.
        #[arg(long)]
        max_duration_ms: Option<u64>,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// The models that can be installed, and which are.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Download a model (checked against its published SHA-256) into <data_dir>/models/.
    Install {
        #[command(flatten)]
        config: ConfigArgs,
        /// A name from `scribed models list`, e.g. tiny.en.
        name: String,
        /// Replace an installed copy.
        #[arg(long)]
        force: bool,
    },
}

fn parse_format(s: &str) -> Result<ExportFormat, String> {
    s.parse()
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The daemon logs at info. Client commands report through their own output; a daemon
    // they start for themselves would otherwise warn about plugins they do not use.
    let default_level = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "error" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)))
        .init();
    match cli.command {
        Command::Devices => {
            let devices = scribed::sources::microphone::devices()?;
            if devices.is_empty() {
                println!("no input devices");
            }
            for device in devices {
                let default = if device.default { "  (default)" } else { "" };
                println!("{}\t{}{default}", device.id, device.name);
            }
            Ok(())
        }
        Command::DefaultConfig => {
            print!("{}", scribed::config::DEFAULT_CONFIG);
            Ok(())
        }
        Command::DecodeAudio { input, pcm, max_duration_ms } => {
            let max = max_duration_ms.map(std::time::Duration::from_millis);
            std::process::exit(scribed::audio::isolated::child_main(&input, pcm.as_deref(), max))
        }
        Command::Serve { config, listen } => {
            let mut config = config.load()?;
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            runtime()?.block_on(serve(config))
        }
        Command::Transcribe { client, files, format, out } => {
            let output = if out.as_os_str() == "-" { Output::Stdout } else { Output::Dir(out) };
            let ok = with_connection(client, async |c| cli::transcribe(&c.client, &files, format, &output).await)?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Sessions { client, status, kind, limit, json } => {
            let options = ListOptions { status, kind, limit, json };
            with_connection(client, async |c| cli::sessions(&c.client, &options).await)
        }
        Command::Reindex { client } => with_connection(client, async |c| {
            let documents = cli::reindex(&c.client).await?;
            println!("search index rebuilt: {documents} documents");
            Ok(())
        }),
        Command::Retention { client, dry_run } => with_connection(client, async |c| {
            print!("{}", cli::retention::retention(&c.client, dry_run).await?);
            Ok(())
        }),
        Command::Backup { client, dest } => with_connection(client, async |c| {
            print!("{}", cli::backup::backup(&c.client, &dest).await?);
            Ok(())
        }),
        Command::Restore { config, src, no_serve } => {
            let data_dir = config.data_dir.clone().ok_or_else(|| anyhow::anyhow!("--data-dir is required: the new folder to restore into"))?;
            let restored = cli::backup::restore(&src, &data_dir)?;
            println!(
                "restored {} sessions ({} files) from a backup of {} into {}; its configuration is {}",
                restored.manifest.sessions.len(),
                restored.manifest.files.len(),
                humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(restored.manifest.finished_ms.max(0).unsigned_abs())),
                data_dir.display(),
                restored.config.display()
            );
            if no_serve {
                return Ok(());
            }
            // The backup's configuration unless another is given; the data dir is the new one.
            let config = ConfigArgs { config: config.config.or(Some(restored.config)), ..config }.load()?;
            runtime()?.block_on(serve(config))
        }
        Command::Pair { config, url } => {
            print!("{}", cli::pair::pair(&config.load()?, url.as_deref())?);
            Ok(())
        }
        Command::Models { command: ModelsCommand::List { config } } => cli::models::list(&config.load()?),
        Command::Models { command: ModelsCommand::Install { config, name, force } } => {
            let config = config.load()?;
            runtime()?.block_on(cli::models::install(&config, &name, force))
        }
        Command::Export { client, id, format, out } => with_connection(client, async |c| {
            let text = c.client.export(&id, format).await?;
            match &out {
                Some(path) => std::fs::write(path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }),
    }
}

/// Runs `command` against a daemon, and stops the daemon afterwards if it was started here.
fn with_connection<R>(args: ClientArgs, command: impl AsyncFnOnce(&Connection) -> Result<R>) -> Result<R> {
    let config = args.config.load()?;
    runtime()?.block_on(async move {
        let connection = Connection::open(config, args.url.as_deref()).await?;
        let result = command(&connection).await;
        let closed = connection.close().await;
        let value = result?;
        closed?;
        Ok(value)
    })
}

async fn serve(config: Config) -> Result<()> {
    let daemon = Daemon::start(config).await?;
    if let Some(token) = &daemon.new_token {
        println!("API token (shown once; also in {}/api-token): {}", daemon.data_dir().display(), token.expose());
        println!("pair a browser with `scribed pair` (a link and a QR code)");
    }
    println!("scribed is serving on {}", daemon.url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    daemon.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(err) => {
                tracing::warn!("cannot listen for SIGTERM: {err}");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
