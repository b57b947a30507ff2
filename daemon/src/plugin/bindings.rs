//! Host bindings of the `scribe:plugin@0.1.0` worlds, and of 0.2.0's `stt-batch` and
//! `diarizer` (the worlds 0.2.0 changes or adds; its other worlds are 0.1.0's, so those
//! bindings serve both), and of 0.3.0's `stt-batch` and `store` (whose `postgres` is new).
//! 0.2.0's `upload` is generated with its `stt-batch` and shared by 0.3.0's.
//!
//! Each interface is generated once, in the first world that imports it (`types`, `log`,
//! `config`, `sqlite` with `store`; `http`, `audio`, `model` with `stt-batch`; `progress` with
//! `summarizer`; `websocket` with `stt-live`); later worlds reuse it with `with`, so every
//! host trait is implemented once, by its capability (see [`super::capabilities`]). The two
//! resources are represented by capability types that use no generated type.

pub mod store {
    wasmtime::component::bindgen!({
        world: "store",
        path: "../plugin-api/wit/0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub mod stt_batch {
    wasmtime::component::bindgen!({
        world: "stt-batch",
        path: "../plugin-api/wit/0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "scribe:plugin/types": super::store::scribe::plugin::types,
            "scribe:plugin/log": super::store::scribe::plugin::log,
            "scribe:plugin/config": super::store::scribe::plugin::config,
            "scribe:plugin/http.incoming-body": crate::plugin::capabilities::http::body::IncomingBody,
        },
    });
}

pub mod summarizer {
    wasmtime::component::bindgen!({
        world: "summarizer",
        path: "../plugin-api/wit/0.1.0",
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
        path: "../plugin-api/wit/0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "scribe:plugin/types": super::store::scribe::plugin::types,
            "scribe:plugin/log": super::store::scribe::plugin::log,
            "scribe:plugin/config": super::store::scribe::plugin::config,
            "scribe:plugin/http": super::stt_batch::scribe::plugin::http,
            "scribe:plugin/model": super::stt_batch::scribe::plugin::model,
            "scribe:plugin/websocket.connection": crate::plugin::capabilities::websocket::connection::WsConnection,
        },
    });
}

/// The 0.2.0 `diarizer` world: who spoke when.
pub mod diarizer {
    wasmtime::component::bindgen!({
        world: "scribe:plugin/diarizer@0.2.0",
        path: ["../plugin-api/wit/0.1.0", "../plugin-api/wit/0.2.0"],
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "scribe:plugin/types@0.1.0": super::store::scribe::plugin::types,
            "scribe:plugin/log@0.1.0": super::store::scribe::plugin::log,
            "scribe:plugin/config@0.1.0": super::store::scribe::plugin::config,
            "scribe:plugin/audio@0.1.0": super::stt_batch::scribe::plugin::audio,
            "scribe:plugin/model@0.1.0": super::stt_batch::scribe::plugin::model,
        },
    });
}

/// 0.3.0's `store`: 0.1.0's, with `postgres`. Only its `postgres` import is used from here: a
/// 0.3.0 store exports exactly what a 0.1.0 store does, under the same names, so
/// [`store::Store`] instantiates and calls both.
pub mod store_0_3 {
    wasmtime::component::bindgen!({
        world: "scribe:plugin/store@0.3.0",
        path: ["../plugin-api/wit/0.1.0", "../plugin-api/wit/0.2.0", "../plugin-api/wit/0.3.0"],
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "scribe:plugin/types@0.1.0": super::store::scribe::plugin::types,
            "scribe:plugin/log@0.1.0": super::store::scribe::plugin::log,
            "scribe:plugin/config@0.1.0": super::store::scribe::plugin::config,
            "scribe:plugin/sqlite@0.1.0": super::store::scribe::plugin::sqlite,
        },
    });
}

pub use store::scribe::plugin::types;
pub use store::exports::scribe::plugin::library;
pub use stt_batch::scribe::plugin::http;
pub use stt_live::scribe::plugin::websocket;
pub use store::scribe::plugin::sqlite;
pub use store_0_3::scribe::plugin0_3_0::postgres;

/// The bindings of a later `stt-batch` world, whose 0.1.0 imports are the ones generated above
/// (the same capabilities serve every version; see [`super::batch_world`]), and any more
/// interfaces it shares with other versions.
macro_rules! later_stt_batch {
    ($world:literal, [$($path:literal),+], { $($shared:tt)* }) => {
        wasmtime::component::bindgen!({
            world: $world,
            path: [$($path),+],
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "scribe:plugin/types@0.1.0": super::store::scribe::plugin::types,
                "scribe:plugin/log@0.1.0": super::store::scribe::plugin::log,
                "scribe:plugin/config@0.1.0": super::store::scribe::plugin::config,
                "scribe:plugin/http@0.1.0": super::stt_batch::scribe::plugin::http,
                "scribe:plugin/audio@0.1.0": super::stt_batch::scribe::plugin::audio,
                "scribe:plugin/model@0.1.0": super::stt_batch::scribe::plugin::model,
                $($shared)*
            },
        });
    };
}

/// 0.2.0's `stt-batch`: a prompt, notes, and `upload`, which the http capability serves too.
pub mod stt_batch_0_2 {
    later_stt_batch!("scribe:plugin/stt-batch@0.2.0", ["../plugin-api/wit/0.1.0", "../plugin-api/wit/0.2.0"], {});
}

/// 0.3.0's `stt-batch`: 0.2.0's with the task of a request (transcribe, or translate into
/// English), and 0.2.0's very `upload`.
pub mod stt_batch_0_3 {
    later_stt_batch!(
        "scribe:plugin/stt-batch@0.3.0",
        ["../plugin-api/wit/0.1.0", "../plugin-api/wit/0.2.0", "../plugin-api/wit/0.3.0"],
        { "scribe:plugin/upload@0.2.0": super::stt_batch_0_2::scribe::plugin0_2_0::upload, }
    );
}
