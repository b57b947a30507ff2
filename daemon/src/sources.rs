//! Where speech enters the daemon, besides the API's front doors (browser audio over
//! `/api/v1/live/ingest` and file uploads, both in [`crate::api`]):
//!
//! - [`microphone`]: a device on this machine, captured with cpal, feeding a live session;
//! - [`inbox`]: a watched folder whose files become file jobs.

pub mod inbox;
pub mod microphone;
