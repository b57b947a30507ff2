//! Integration tests that time the daemon's answers or load the whole machine, in a binary of
//! their own so that no other test shares the machine with them. Run with `cargo xtask test`.

mod live_local;
