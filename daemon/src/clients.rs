//! Typed clients of the plugins the stages call: each turns a world's exports into plain
//! Rust calls and hides the bindings and the handle.
//!
//! - [`diarizer`]: diarizer plugins, who spoke when in a session's audio;
//! - [`library`]: the store plugin, the daemon's only way to read or write sessions;
//! - [`stt`]: speech-to-text plugins, batch (files) and live (streams);
//! - [`summarizer`]: summarizer plugins.

pub mod diarizer;
pub mod library;
pub mod stt;
pub mod summarizer;
