//! Runs the fake Deepgram by hand, so Scribe can be tried without keys:
//!
//! ```sh
//! cargo run -p scribe-tests --bin fake-deepgram -- 127.0.0.1:4010 any-key
//! ```
//!
//! Then set `base_url = "http://127.0.0.1:4010"` in `[plugins.deepgram-batch.settings]`,
//! grant that origin in `allow_outbound`, and give it a credential `Token any-key` (for
//! `deepgram-live`, the same with `ws://127.0.0.1:4010`). Every file gets the same short
//! scripted transcript, and every live stream hears it over its first seconds of speech.

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};

const DEFAULT_ADDR: &str = "127.0.0.1:4010";
const DEFAULT_KEY: &str = "fake-deepgram-key";
const SCRIPT: &str = "This transcript comes from the fake Deepgram server. Nothing left this machine.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| DEFAULT_ADDR.into()).parse()?;
    let key = args.next().unwrap_or_else(|| DEFAULT_KEY.into());
    let fake = FakeDeepgram::start(addr, &key).await?;
    fake.default_script(Script::from_text(SCRIPT, 6.0));
    // Live streams hear the same words over their first six seconds of speech.
    fake.live_default(Script::from_text(SCRIPT, 6.0));
    println!("fake Deepgram on {} (key {key:?}); Ctrl-C to stop", fake.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
