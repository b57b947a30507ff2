//! Finding a Rust toolchain that can build `wasm32-unknown-unknown`.
//!
//! In order: the active toolchain when it has the target; `rustup target add` with a short
//! timeout; a toolchain root named by `SCRIBE_WASM_TOOLCHAIN` (for machines where rustup cannot
//! download, e.g. the root printed by `../shared/tools/offline-wasm-toolchain.sh`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

pub const TARGET: &str = "wasm32-unknown-unknown";
/// Environment variable naming a toolchain root (`bin/cargo`, `bin/rustc`, wasm32 std).
pub const ROOT_ENV: &str = "SCRIBE_WASM_TOOLCHAIN";
/// rustup either finds its download server quickly or not at all; do not hang a build on it.
const RUSTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A toolchain able to build the wasm target.
pub enum WasmToolchain {
    /// The toolchain that runs the host build.
    Active,
    /// A separate root with `bin/cargo` and `bin/rustc`.
    Root(PathBuf),
}

impl WasmToolchain {
    /// A `cargo` command that builds with this toolchain.
    pub fn cargo(&self) -> Command {
        match self {
            WasmToolchain::Active => {
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            }
            WasmToolchain::Root(root) => {
                let mut cmd = Command::new(root.join("bin/cargo"));
                // Without these, the root's cargo would call the rustup proxies on PATH and
                // silently build with the host toolchain, which lacks the target.
                cmd.env("RUSTC", root.join("bin/rustc"))
                    .env("RUSTDOC", root.join("bin/rustdoc"))
                    .env_remove("RUSTUP_TOOLCHAIN");
                cmd
            }
        }
    }
}

/// Finds a wasm-capable toolchain or explains exactly what to install.
pub fn find() -> Result<WasmToolchain> {
    if active_has_target() {
        return Ok(WasmToolchain::Active);
    }
    if rustup_target_add() && active_has_target() {
        return Ok(WasmToolchain::Active);
    }
    if let Some(root) = std::env::var_os(ROOT_ENV).map(PathBuf::from) {
        if root_has_target(&root) {
            return Ok(WasmToolchain::Root(root));
        }
        bail!(
            "{ROOT_ENV}={} is not a Rust toolchain with the {TARGET} standard library \
             (expected bin/cargo, bin/rustc and lib/rustlib/{TARGET}/lib)",
            root.display()
        );
    }
    bail!(
        "no Rust toolchain can build {TARGET}, which the plugins need.\n\
         Install the target with `rustup target add {TARGET}`, or, where rustup cannot \
         download, install a toolchain that has it and point {ROOT_ENV} at its root, e.g.\n  \
         export {ROOT_ENV}=$(../shared/tools/offline-wasm-toolchain.sh)"
    )
}

fn active_has_target() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .stderr(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            has_std(Path::new(&dir))
        }
        _ => false,
    }
}

fn root_has_target(root: &Path) -> bool {
    root.join("bin/cargo").is_file()
        && root.join("bin/rustc").is_file()
        && has_std(&root.join("lib/rustlib").join(TARGET).join("lib"))
}

fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir)
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libstd-") && name.ends_with(".rlib")
            })
        })
        .unwrap_or(false)
}

/// Tries `rustup target add`, giving up after [`RUSTUP_TIMEOUT`].
fn rustup_target_add() -> bool {
    eprintln!("xtask: {TARGET} missing from the active toolchain; trying `rustup target add`");
    let Ok(mut child) = Command::new("rustup")
        .args(["target", "add", TARGET])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + RUSTUP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!("xtask: `rustup target add` did not finish in {RUSTUP_TIMEOUT:?}");
                return false;
            }
        }
    }
}
