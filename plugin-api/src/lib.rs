//! Guest SDK for Scribe plugins.
//!
//! A plugin is a `cdylib` crate built for `wasm32-unknown-unknown` and turned into a
//! WebAssembly component by `cargo xtask build-plugins`. It depends on this crate with the
//! feature of its world (`stt-live`, `stt-batch`, `summarizer` or `store`), implements the
//! generated `Guest` trait(s) of that world and registers the type:
//!
//! ```ignore
//! use scribe_plugin_api::stt_batch::{self, Guest};
//! struct MyPlugin;
//! impl Guest for MyPlugin { /* describe, transcribe */ }
//! scribe_plugin_api::register_plugin!(stt_batch, MyPlugin);
//! ```
//!
//! Plugins are synchronous state machines: the host owns all I/O and time. Host services are
//! under `<world>::scribe::plugin::*` (log, config, http, websocket, sqlite); shared records are
//! in `<world>::scribe::plugin::types`. The WIT in `wit/` is the contract, documented item by
//! item; this crate adds nothing the host does not check itself.

/// The WIT package version these bindings speak.
pub const API_VERSION: &str = "0.1.0";

#[cfg(feature = "stt-live")]
pub mod stt_live {
    //! Bindings for the `stt-live` world.
    wit_bindgen::generate!({
        world: "stt-live",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export_stt_live",
        default_bindings_module: "scribe_plugin_api::stt_live",
    });
}

#[cfg(feature = "stt-batch")]
pub mod stt_batch {
    //! Bindings for the `stt-batch` world.
    wit_bindgen::generate!({
        world: "stt-batch",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export_stt_batch",
        default_bindings_module: "scribe_plugin_api::stt_batch",
    });
}

#[cfg(feature = "summarizer")]
pub mod summarizer {
    //! Bindings for the `summarizer` world.
    // The generated glue passes a flattened `summary-output` as separate arguments.
    #![allow(clippy::too_many_arguments)]
    wit_bindgen::generate!({
        world: "summarizer",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export_summarizer",
        default_bindings_module: "scribe_plugin_api::summarizer",
    });
}

#[cfg(feature = "store")]
pub mod store {
    //! Bindings for the `store` world.
    wit_bindgen::generate!({
        world: "store",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export_store",
        default_bindings_module: "scribe_plugin_api::store",
    });
}

/// Registers `$ty` as the implementation of world `$world` (`stt_live`, `stt_batch`,
/// `summarizer` or `store`).
#[macro_export]
macro_rules! register_plugin {
    (stt_live, $ty:ident) => { $crate::stt_live::export_stt_live!($ty); };
    (stt_batch, $ty:ident) => { $crate::stt_batch::export_stt_batch!($ty); };
    (summarizer, $ty:ident) => { $crate::summarizer::export_summarizer!($ty); };
    (store, $ty:ident) => { $crate::store::export_store!($ty); };
}
