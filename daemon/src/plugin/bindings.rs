//! Host bindings of the `scribe:plugin@0.1.0` worlds.
//!
//! The `store` world is generated first and owns the shared interfaces (`types`, `log`,
//! `config`); the other worlds reuse them with `with`, so every host trait is implemented once
//! on [`PluginState`](super::state::PluginState) whichever world a plugin speaks.

pub mod store {
    wasmtime::component::bindgen!({
        world: "store",
        path: "../plugin-api/wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub mod stt_batch {
    wasmtime::component::bindgen!({
        world: "stt-batch",
        path: "../plugin-api/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "scribe:plugin/types": super::store::scribe::plugin::types,
            "scribe:plugin/log": super::store::scribe::plugin::log,
            "scribe:plugin/config": super::store::scribe::plugin::config,
            "scribe:plugin/http.incoming-body": crate::plugin::capabilities::http::IncomingBody,
        },
    });
}

pub mod summarizer {
    wasmtime::component::bindgen!({
        world: "summarizer",
        path: "../plugin-api/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "scribe:plugin/types": super::store::scribe::plugin::types,
            "scribe:plugin/log": super::store::scribe::plugin::log,
            "scribe:plugin/config": super::store::scribe::plugin::config,
            "scribe:plugin/http": super::stt_batch::scribe::plugin::http,
        },
    });
}

pub mod stt_live {
    wasmtime::component::bindgen!({
        world: "stt-live",
        path: "../plugin-api/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "scribe:plugin/types": super::store::scribe::plugin::types,
            "scribe:plugin/log": super::store::scribe::plugin::log,
            "scribe:plugin/config": super::store::scribe::plugin::config,
            "scribe:plugin/http": super::stt_batch::scribe::plugin::http,
            "scribe:plugin/model": super::stt_batch::scribe::plugin::model,
            "scribe:plugin/websocket.connection": crate::plugin::capabilities::websocket::WsConnection,
        },
    });
}

pub use store::scribe::plugin::types;
pub use store::exports::scribe::plugin::library;
pub use stt_batch::scribe::plugin::http;
pub use stt_live::scribe::plugin::websocket;
pub use store::scribe::plugin::sqlite;
