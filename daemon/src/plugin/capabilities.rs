//! Host capabilities offered to plugins, one module per WIT interface. Each module owns all
//! of its capability: the per-plugin part (built once when the plugin loads), the
//! per-instance state, the grant checks, and the host trait, implemented on a small view
//! that borrows just those parts. [`crate::plugin::linker`] projects an instance's
//! [`PluginState`](crate::plugin::state::PluginState) onto each view when it links a world,
//! so a capability knows nothing of the plugin state and adding one costs one module here,
//! one field in the state and one line in the linker.
//!
//! Every sensitive function checks the plugin's grants first and returns a WIT error value on
//! denial, never a trap; every I/O has a timeout and a size cap, and runs off the guest's CPU
//! budget.

pub mod audio;
pub mod http;
pub mod model;
pub mod platform;
pub mod postgres;
pub mod progress;
pub mod work_progress;
pub mod sqlite;
pub mod websocket;

/// Host resources (sockets, response bodies) one instance may hold open at once.
pub const MAX_RESOURCES: usize = 256;

/// An error with its sources, for messages; a top-level text alone (reqwest's, tungstenite's)
/// says little.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        text.push_str(": ");
        text.push_str(&e.to_string());
        current = e.source();
    }
    text
}
