//! The diarizer: its engine against the reference implementations and on conversations with
//! known turns ([`diarize`]), and speakers through the daemon ([`speakers`]). Run with
//! `cargo xtask test`.

mod diarize;
mod speakers;
