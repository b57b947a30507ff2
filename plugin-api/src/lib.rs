//! Guest SDK for Scribe plugins.
//!
//! A plugin is a `cdylib` crate built for `wasm32-unknown-unknown` and turned into a
//! WebAssembly component by `cargo xtask build-plugins`. It depends on this crate with the
//! feature of its world (`stt-live`, `stt-batch`, `summarizer` or `store`; `stt-batch-0-2` for
//! the batch world of 0.2.0, whose requests carry a prompt; `stt-batch-0-3` for 0.3.0's,
//! whose requests say whether to translate; `store-0-3` for 0.3.0's store, which may use
//! PostgreSQL; `diarizer`, a 0.2.0 world),
//! implements the generated `Guest` trait(s) of that world and registers the type:
//!
//! ```ignore
//! use scribe_plugin_api::stt_batch::{self, Guest};
//! struct MyPlugin;
//! impl Guest for MyPlugin { /* describe, transcribe */ }
//! scribe_plugin_api::register_plugin!(stt_batch, MyPlugin);
//! ```
//!
//! Plugins are synchronous state machines: the host owns all I/O and time. Each world module
//! re-exports the interfaces it imports under short paths (`stt_batch::http`,
//! `stt_batch::types::PluginError`, …) and adds getters of the plugin's settings and, where
//! the world has `http`, the mapping of the host's HTTP errors. World-free helpers are here:
//! [`headers`] (lookup, `retry-after`), [`settings`] (parsers that name the key) and [`text`].
//! The WIT in `wit/` is the contract, documented item by item; this crate adds nothing the
//! host does not check itself. `README.md` beside this crate is the plugin author's guide.

pub mod headers;
pub mod refusal;
pub mod settings;
pub mod text;

/// The WIT package version of the world modules without a version in their name (the
/// `*_0_2` modules speak 0.2.0, `*_0_3` 0.3.0).
/// [`register_plugin!`] stamps a component with the version of its world (custom section
/// [`API_VERSION_SECTION`]) and the host refuses a component whose stamp it does not speak.
pub const API_VERSION: &str = "0.1.0";

/// The name of the custom section that carries [`API_VERSION`].
pub const API_VERSION_SECTION: &str = "scribe:plugin-api-version";

/// Getters of the plugin's settings through the world's `config` import.
// Unused when the crate is built with no world feature.
#[allow(unused_macros)]
macro_rules! settings_getters {
    () => {
        /// The plugin's setting `key`, if the operator set it.
        pub fn setting(key: &str) -> Option<String> {
            config::get(key)
        }

        /// A `true`/`false` setting; the error names the key.
        pub fn flag_setting(key: &str, default: bool) -> Result<bool, types::PluginError> {
            $crate::settings::flag(&setting, key, default).map_err(types::PluginError::Other)
        }

        /// A setting that must be set; the error names the key.
        pub fn required_setting(key: &str) -> Result<String, types::PluginError> {
            $crate::settings::required(&setting, key).map_err(types::PluginError::Other)
        }
    };
}

/// What batch worlds share beyond their imports.
// Unused when no batch world is enabled.
#[allow(unused_macros)]
macro_rules! batch_helpers {
    () => {
        /// Every encoding of the contract, for a plugin whose provider decodes them all.
        pub fn every_encoding() -> Vec<types::AudioEncoding> {
            use types::AudioEncoding as E;
            vec![E::Linear16, E::Wav, E::Flac, E::Mp3, E::OggVorbis, E::OggOpus, E::WebmOpus, E::Aac]
        }
    };
}

/// The host's HTTP errors as the plugin's errors, for worlds that import `http`.
// Unused when only worlds without `http` (stt-live, store) are enabled.
#[allow(unused_macros)]
macro_rules! http_errors {
    () => {
        /// A failure of the host's HTTP capability, as this plugin's error: a denial stays a
        /// denial, a timeout or a broken connection is `unavailable` (the host retries), the
        /// rest is `other`. `provider` names the service in the message.
        pub fn host_error(provider: &str, err: http::HttpError) -> types::PluginError {
            use types::PluginError;
            match err {
                http::HttpError::Denied(m) => PluginError::Denied(m),
                http::HttpError::Timeout => PluginError::Unavailable(format!("{provider} did not answer in time")),
                http::HttpError::Connection(m) => PluginError::Unavailable(format!("could not reach {provider}: {m}")),
                http::HttpError::TooLarge(n) => PluginError::Other(format!("{provider}'s answer exceeded {n} bytes")),
                http::HttpError::InvalidRequest(m) => PluginError::Other(format!("invalid request: {m}")),
            }
        }

        /// An error's case, as WIT names it, and its message: for logs and tests.
        pub fn error_parts(err: &types::PluginError) -> (&'static str, &str) {
            use types::PluginError;
            match err {
                PluginError::Unauthorized(m) => ("unauthorized", m),
                PluginError::RateLimited(l) => ("rate-limited", &l.message),
                PluginError::BadInput(m) => ("bad-input", m),
                PluginError::Unavailable(m) => ("unavailable", m),
                PluginError::Denied(m) => ("denied", m),
                PluginError::Other(m) => ("other", m),
            }
        }

        /// A refusing status as this plugin's error (see [`crate::refusal::classify`]):
        /// `message` says who refused and why, `retry_after_ms` is the provider's wait.
        pub fn status_error(status: u16, message: String, retry_after_ms: Option<u64>) -> types::PluginError {
            use $crate::refusal::StatusClass;
            use types::PluginError;
            match $crate::refusal::classify(status) {
                StatusClass::Unauthorized => PluginError::Unauthorized(message),
                StatusClass::RateLimited => PluginError::RateLimited(types::RateLimit { message, retry_after_ms }),
                StatusClass::BadInput => PluginError::BadInput(message),
                StatusClass::Unavailable => PluginError::Unavailable(message),
                StatusClass::Other => PluginError::Other(message),
            }
        }
    };
}

#[cfg(feature = "stt-live")]
pub mod stt_live {
    //! Bindings for the `stt-live` world.
    wit_bindgen::generate!({
        world: "stt-live",
        path: "wit/0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_stt_live",
        default_bindings_module: "scribe_plugin_api::stt_live",
    });
    pub use self::scribe::plugin::{config, log, model, types, websocket};
    settings_getters!();
}

#[cfg(feature = "stt-batch")]
pub mod stt_batch {
    //! Bindings for the `stt-batch` world.
    wit_bindgen::generate!({
        world: "stt-batch",
        path: "wit/0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_stt_batch",
        default_bindings_module: "scribe_plugin_api::stt_batch",
    });
    pub use self::scribe::plugin::{audio, config, http, log, model, types};
    settings_getters!();
    http_errors!();
    batch_helpers!();
}

#[cfg(feature = "stt-batch-0-2")]
pub mod stt_batch_0_2 {
    //! Bindings for the `stt-batch` world of 0.2.0: [`stt_batch`](crate::stt_batch) with the
    //! text said before the audio in `BatchRequest::prompt`, notes on the transcript, and
    //! [`upload`] (the audio posted as a form's file). The other interfaces are 0.1.0's.
    // The generated glue passes a flattened `batch-request` as separate arguments.
    #![allow(clippy::too_many_arguments)]
    wit_bindgen::generate!({
        world: "scribe:sdk/stt-batch-0-2",
        path: ["wit/0.1.0", "wit/0.2.0", "wit/0.3.0", "wit/sdk"],
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_stt_batch_0_2",
        default_bindings_module: "scribe_plugin_api::stt_batch_0_2",
    });
    pub use self::scribe::plugin0_1_0::{audio, config, http, log, model, types};
    pub use self::scribe::plugin0_2_0::upload;
    settings_getters!();
    http_errors!();
    batch_helpers!();
}

#[cfg(feature = "stt-batch-0-3")]
pub mod stt_batch_0_3 {
    //! Bindings for the `stt-batch` world of 0.3.0: [`stt_batch_0_2`](crate::stt_batch_0_2)
    //! with the task of a request in `BatchRequest::task` (transcribe, or translate into
    //! English). The other interfaces are 0.2.0's and 0.1.0's.
    // The generated glue passes a flattened `batch-request` as separate arguments.
    #![allow(clippy::too_many_arguments)]
    wit_bindgen::generate!({
        world: "scribe:sdk/stt-batch-0-3",
        path: ["wit/0.1.0", "wit/0.2.0", "wit/0.3.0", "wit/sdk"],
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_stt_batch_0_3",
        default_bindings_module: "scribe_plugin_api::stt_batch_0_3",
    });
    pub use self::scribe::plugin0_1_0::{audio, config, http, log, model, types};
    pub use self::scribe::plugin0_2_0::upload;
    settings_getters!();
    http_errors!();
    batch_helpers!();
}

#[cfg(feature = "diarizer")]
pub mod diarizer {
    //! Bindings for the `diarizer` world of 0.2.0: who spoke when in the call's audio.
    wit_bindgen::generate!({
        world: "scribe:plugin/diarizer@0.2.0",
        path: ["wit/0.1.0", "wit/0.2.0"],
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_diarizer",
        default_bindings_module: "scribe_plugin_api::diarizer",
    });
    pub use self::scribe::plugin0_1_0::{audio, config, log, model, types};
    pub use self::scribe::plugin0_2_0::work_progress;
    settings_getters!();
}

#[cfg(feature = "summarizer")]
pub mod summarizer {
    //! Bindings for the `summarizer` world.
    // The generated glue passes a flattened `summary-output` as separate arguments.
    #![allow(clippy::too_many_arguments)]
    wit_bindgen::generate!({
        world: "summarizer",
        path: "wit/0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_summarizer",
        default_bindings_module: "scribe_plugin_api::summarizer",
    });
    pub use self::scribe::plugin::{config, http, log, progress, types};
    settings_getters!();
    http_errors!();
}

#[cfg(feature = "store")]
pub mod store {
    //! Bindings for the `store` world.
    wit_bindgen::generate!({
        world: "store",
        path: "wit/0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_store",
        default_bindings_module: "scribe_plugin_api::store",
    });
    pub use self::exports::scribe::plugin::library;
    pub use self::scribe::plugin::{config, log, sqlite, types};
    settings_getters!();
}

#[cfg(feature = "store-0-3")]
pub mod store_0_3 {
    //! Bindings for the `store` world of 0.3.0: [`store`](crate::store)'s exports, with the
    //! `postgres` import beside `sqlite`.
    wit_bindgen::generate!({
        world: "scribe:sdk/store-0-3",
        path: ["wit/0.1.0", "wit/0.2.0", "wit/0.3.0", "wit/sdk"],
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_store_0_3",
        default_bindings_module: "scribe_plugin_api::store_0_3",
    });
    pub use self::exports::scribe::plugin0_1_0::library;
    pub use self::scribe::plugin0_1_0::{config, log, sqlite, types};
    pub use self::scribe::plugin0_3_0::postgres;
    settings_getters!();
}

/// Registers `$ty` as the implementation of world `$world` (`stt_live`, `stt_batch`,
/// `stt_batch_0_2`, `stt_batch_0_3`, `diarizer`, `summarizer`, `store` or `store_0_3`), and stamps the component with the API version
/// of that world.
#[macro_export]
macro_rules! register_plugin {
    (stt_live, $ty:ident) => { $crate::stt_live::export_stt_live!($ty); $crate::stamp_api_version!(b"0.1.0"); };
    (stt_batch, $ty:ident) => { $crate::stt_batch::export_stt_batch!($ty); $crate::stamp_api_version!(b"0.1.0"); };
    (stt_batch_0_2, $ty:ident) => { $crate::stt_batch_0_2::export_stt_batch_0_2!($ty); $crate::stamp_api_version!(b"0.2.0"); };
    (stt_batch_0_3, $ty:ident) => { $crate::stt_batch_0_3::export_stt_batch_0_3!($ty); $crate::stamp_api_version!(b"0.3.0"); };
    (diarizer, $ty:ident) => { $crate::diarizer::export_diarizer!($ty); $crate::stamp_api_version!(b"0.2.0"); };
    (summarizer, $ty:ident) => { $crate::summarizer::export_summarizer!($ty); $crate::stamp_api_version!(b"0.1.0"); };
    (store, $ty:ident) => { $crate::store::export_store!($ty); $crate::stamp_api_version!(b"0.1.0"); };
    (store_0_3, $ty:ident) => { $crate::store_0_3::export_store_0_3!($ty); $crate::stamp_api_version!(b"0.3.0"); };
}

/// The custom section naming the API version; `register_plugin!` emits it.
#[doc(hidden)]
#[macro_export]
macro_rules! stamp_api_version {
    ($version:literal) => {
        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "scribe:plugin-api-version")]
        #[used]
        static __SCRIBE_PLUGIN_API_VERSION: [u8; $version.len()] = *$version;
    };
}
