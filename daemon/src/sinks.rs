//! Where finished work goes after the library has it:
//!
//! - [`export`]: a whole session read back and rendered as text, SRT, WebVTT, JSON or
//!   Markdown;
//! - [`outbox`]: those exports written into a folder for other tools;
//! - [`search`]: the tantivy index, which follows the library's change sequence;
//! - [`events`]: the hub that numbers what happened and fans it out to UI clients;
//! - [`webhooks`]: what happened, signed and delivered to the operator's receivers.

pub mod events;
pub mod export;
pub mod outbox;
pub mod search;
pub mod webhooks;
