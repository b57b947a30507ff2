//! Integration tests: the real daemon on `127.0.0.1:0`, real SQLite files, the real plugin
//! components. Run with `cargo xtask test`.

mod audio;
mod backup;
mod browser;
mod chunked;
mod cli;
mod cluster;
mod config;
mod crash;
mod deepgram_api;
mod deepgram_batch;
mod disk_guard;
mod fuzz_audio;
mod inbox;
mod languages;
mod library_api;
mod live;
mod models;
mod openai_api;
mod openai_summary;
mod openai_transcribe;
mod plugin_sdk;
mod postgres_store;
mod retention;
mod sandbox;
mod search;
mod security;
mod shared_model;
mod soak;
mod speech;
mod store;
mod summaries;
mod uploads;
mod webhooks;
mod whisper_local;
mod wyoming;
