//! Runs the fake Anthropic by hand, so summaries can be tried without a key:
//!
//! ```sh
//! cargo run -p scribe-tests --bin fake-anthropic -- 127.0.0.1:4011 any-key
//! ```
//!
//! Then set `base_url = "http://127.0.0.1:4011"` in `[plugins.claude-summary.settings]`,
//! grant that origin in `allow_outbound`, and give it a credential: header `x-api-key`,
//! value `any-key`. Summaries are built from the transcript's own lines.

use scribe_tests::fake_anthropic::FakeAnthropic;

const DEFAULT_ADDR: &str = "127.0.0.1:4011";
const DEFAULT_KEY: &str = "fake-anthropic-key";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| DEFAULT_ADDR.into()).parse()?;
    let key = args.next().unwrap_or_else(|| DEFAULT_KEY.into());
    let fake = FakeAnthropic::start(addr, &key).await?;
    println!("fake Anthropic on {} (key {key:?}); Ctrl-C to stop", fake.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
