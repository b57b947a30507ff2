//! `log`, `config` and the type-only `types` interface: what every world imports. Per plugin
//! they need its id and its settings; nothing per instance.

use std::collections::BTreeMap;

use wasmtime::component::HasData;

use crate::plugin::bindings::store::scribe::plugin::{config, log, types};

/// Longest log message kept; a plugin cannot flood the log with one call.
const MAX_LOG_BYTES: usize = 4096;

/// What `log` and `config` see of one plugin.
pub struct PlatformView<'a> {
    pub plugin: &'a str,
    pub settings: &'a BTreeMap<String, String>,
}

/// Links `types`, `log` and `config` through [`PlatformView`].
pub struct PlatformCapability;

impl HasData for PlatformCapability {
    type Data<'a> = PlatformView<'a>;
}

impl types::Host for PlatformView<'_> {}

impl log::Host for PlatformView<'_> {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }
}

impl config::Host for PlatformView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.settings.get(&key).cloned())
    }
}
