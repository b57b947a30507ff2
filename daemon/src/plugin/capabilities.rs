//! Host capabilities offered to plugins, one module per WIT interface. Every sensitive
//! function checks the plugin's [`Grants`](crate::plugin::grants::Grants) first and
//! returns a WIT error value on denial, never a trap; every I/O has a timeout and a size cap.

pub mod audio;
pub mod http;
pub mod model;
pub mod platform;
pub mod progress;
pub mod sqlite;
pub mod websocket;
