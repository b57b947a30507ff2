//! `scribed`: the Scribe daemon.
//!
//! Speech comes in from microphones, browsers, an inbox folder and uploads; sandboxed
//! WebAssembly plugins turn it into transcripts and summaries; a store plugin keeps the
//! library; an HTTP/WebSocket API and an embedded PWA serve it.
//!
//! # Layout, in the order speech flows
//!
//! 1. [`sources`]: a microphone on this machine and the inbox folder (browser audio and
//!    uploads come in through [`api`]);
//! 2. [`audio`]: decoding (in a child process for users' files), resampling to 16 kHz mono,
//!    waveform peaks and the content-addressed audio store;
//! 3. [`live`]: a live session, from frames through recording, gating and the reliable link
//!    to the live speech-to-text plugin;
//! 4. [`files`]: the file pipeline, from a submitted file to a stored transcript, worked from
//!    the persistent [`queue`]; for a recogniser that reads samples, [`speech`] first finds
//!    the speech and cuts it into chunks the recogniser's instances take in parallel;
//! 5. [`speakers`]: for a transcript that came without speakers, the diarizer's turns laid
//!    over its words as a new version, and voice profiles naming the voices it knows;
//! 6. [`finish`]: once a session is complete, whichever pipeline made it: the outbox, the
//!    automatic summary, the exports again when the summary lands;
//! 7. [`sinks`]: exports and the outbox folder, the search index, events for clients;
//! 8. [`summaries`]: summaries of complete sessions, from their own persistent queue;
//! 9. [`retention`]: the end of stored audio, removed by age or size (the transcript stays);
//! 10. [`plugin`] (the sandbox host and the capabilities plugins import) and [`clients`] (the
//!     typed clients of the store, speech-to-text, diarizer and summarizer plugins);
//! 11. [`api`]: the HTTP/WebSocket API and the embedded web UI, and [`wyoming`]: Home
//!     Assistant's speech-to-text protocol, served beside it;
//! 12. [`cli`]: the command line.
//!
//! Around them: [`daemon`] starts and stops the whole; [`config`] and [`secret`] are the
//! operator's settings; [`retry`] is the one rule for failed plugin calls; [`models`]
//! installs speech models; [`data_dir_lock`] keeps one daemon per data dir; [`disk`] keeps
//! new work off a nearly full disk; [`backup`] copies the data dir while the daemon runs and
//! restores it; [`panics`] logs the panics that are caught; [`cluster`] makes the daemon a
//! node of several that share one library, and [`pg`] makes the PostgreSQL connections it
//! and the `postgres` capability use.

// A panic must never take the daemon down: requests, plugin calls and decoding catch theirs,
// which an abort-on-panic build would silently undo.
#[cfg(panic = "abort")]
compile_error!("scribed must be built with panic = \"unwind\" (see [profile.release] in the workspace Cargo.toml)");

pub mod api;
pub mod audio;
pub mod backup;
pub mod cli;
pub mod clients;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod data_dir_lock;
pub mod disk;
pub mod files;
pub mod finish;
pub mod live;
pub mod models;
pub mod panics;
pub mod pg;
pub mod plugin;
pub mod queue;
pub mod retention;
pub mod retry;
pub mod secret;
pub mod sinks;
pub mod sources;
pub mod speakers;
pub mod speech;
pub mod summaries;
pub mod wyoming;

#[cfg(test)]
mod import_cycles;

pub use config::Config;
pub use daemon::Daemon;
