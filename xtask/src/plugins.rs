//! Building plugin crates into components.
//!
//! Each crate is compiled on its own (`cargo build -p <crate>`): the SDK's world features
//! must not be unified across plugins, since a module may carry one world only. The core
//! module is then wrapped into a component by `wit-component` from the component type that
//! `wit-bindgen` embedded in it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::toolchain::{self, WasmToolchain};

/// Where built plugins land.
pub struct PluginDirs {
    /// First-party plugins: `<id>/<id>.wasm` + `<id>/plugin.toml`.
    pub plugins: PathBuf,
    /// Test plugins: `<name>.wasm`, used by the test suite with manifests it writes itself.
    pub test_plugins: PathBuf,
}

#[derive(Deserialize)]
struct CargoManifest {
    package: CargoPackage,
}

#[derive(Deserialize)]
struct CargoPackage {
    name: String,
}

#[derive(Deserialize)]
struct PluginManifest {
    id: String,
}

/// Builds every plugin under `plugins/` and `tests/test-plugins/`.
pub fn build_all(root: &Path, target: &Path) -> Result<PluginDirs> {
    let toolchain = toolchain::find()?;
    let dirs = PluginDirs {
        plugins: target.join("plugins"),
        test_plugins: target.join("test-plugins"),
    };
    // A plugin directory may hold further plugin crates beside its own (whisper-local/live)
    // and library crates they share (whisper-local/core), which are not plugins; so is a
    // library of its own that several plugins share (summarizer-kit).
    let mut plugin_crates = Vec::new();
    for crate_dir in crate_dirs(&root.join("plugins"))? {
        let nested = crate_dirs(&crate_dir)?.into_iter().filter(|d| d.join("plugin.toml").is_file());
        plugin_crates.push(crate_dir.clone());
        plugin_crates.extend(nested);
    }
    for crate_dir in plugin_crates {
        // A library the plugins share (summarizer-kit) is linked into them, not built alone.
        if !fs::read_to_string(crate_dir.join("Cargo.toml"))?.contains("cdylib") {
            continue;
        }
        // A plugin crate without a manifest is still being built: its library is tested
        // with the workspace, but it is not shipped as a plugin.
        if !crate_dir.join("plugin.toml").is_file() {
            eprintln!("xtask: {} has no plugin.toml yet; not built as a plugin", crate_dir.display());
            continue;
        }
        let manifest: PluginManifest = read_toml(&crate_dir.join("plugin.toml"))?;
        let component = build_component(&toolchain, root, target, &crate_dir)?;
        let out = dirs.plugins.join(&manifest.id);
        fs::create_dir_all(&out)?;
        write_if_changed(&out.join(format!("{}.wasm", manifest.id)), &component)?;
        fs::copy(crate_dir.join("plugin.toml"), out.join("plugin.toml"))?;
    }
    fs::create_dir_all(&dirs.test_plugins)?;
    for crate_dir in crate_dirs(&root.join("tests/test-plugins"))? {
        let name = dir_name(&crate_dir)?;
        let component = build_component(&toolchain, root, target, &crate_dir)?;
        write_if_changed(&dirs.test_plugins.join(format!("{name}.wasm")), &component)?;
    }
    eprintln!(
        "xtask: plugins in {}, test plugins in {}",
        dirs.plugins.display(),
        dirs.test_plugins.display()
    );
    Ok(dirs)
}

fn crate_dirs(parent: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(parent)
        .with_context(|| format!("reading {}", parent.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn dir_name(dir: &Path) -> Result<String> {
    dir.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no usable name", dir.display()))
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Cargo profile of plugin builds (see the workspace's `Cargo.toml`).
const PROFILE: &str = "plugin";

/// Compiles one crate for wasm32 with the plugin profile and returns its component bytes.
fn build_component(
    toolchain: &WasmToolchain,
    root: &Path,
    target: &Path,
    crate_dir: &Path,
) -> Result<Vec<u8>> {
    let package: CargoManifest = read_toml(&crate_dir.join("Cargo.toml"))?;
    let name = package.package.name;
    // A separate target dir: the wasm toolchain may differ from the host's, and sharing one
    // directory would make each invalidate the other's build cache.
    let wasm_target = target.join("wasm");
    eprintln!("xtask: building plugin {name}");
    let mut cmd = toolchain.cargo();
    cmd.current_dir(root)
        .args(["build", "--profile", PROFILE, "--quiet", "--target", toolchain::TARGET, "--package"])
        .arg(&name)
        .env("CARGO_TARGET_DIR", &wasm_target);
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("building plugin {name} failed: {status}");
    }
    let module_path = wasm_target
        .join(toolchain::TARGET)
        .join(PROFILE)
        .join(format!("{}.wasm", name.replace('-', "_")));
    let module = fs::read(&module_path)
        .with_context(|| format!("reading {}", module_path.display()))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| format!("{name}: reading the component type embedded by wit-bindgen"))?
        .validate(true)
        .encode()
        .with_context(|| format!("{name}: encoding the component"))
}

/// Leaves unchanged outputs untouched so the daemon's component cache and file watchers do
/// not see spurious changes.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
