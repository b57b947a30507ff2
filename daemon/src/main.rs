//! The `scribed` command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use scribed::{Config, Daemon};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "scribed", version, about = "Scribe: speech to a searchable, summarized library")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        /// Config file; without it the embedded defaults (config/scribed.toml) apply.
        #[arg(long, env = "SCRIBE_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// State directory, overriding data_dir.
        #[arg(long, env = "SCRIBE_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Plugins directory, overriding plugins_dir.
        #[arg(long, env = "SCRIBE_PLUGINS_DIR")]
        plugins_dir: Option<PathBuf>,
    },
    /// Print the embedded default configuration.
    DefaultConfig,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match cli.command {
        Command::DefaultConfig => {
            print!("{}", scribed::config::DEFAULT_CONFIG);
            Ok(())
        }
        Command::Serve { config, listen, data_dir, plugins_dir } => {
            let mut config = match config {
                Some(path) => Config::load(&path)?,
                None => Config::defaults()?,
            };
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            if data_dir.is_some() {
                config.data_dir = data_dir;
            }
            if plugins_dir.is_some() {
                config.plugins_dir = plugins_dir;
            }
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(config))
        }
    }
}

async fn serve(config: Config) -> Result<()> {
    let daemon = Daemon::start(config).await?;
    if let Some(token) = &daemon.new_token {
        println!("API token (shown once; also in {}/api-token): {}", daemon.data_dir().display(), token.expose());
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
