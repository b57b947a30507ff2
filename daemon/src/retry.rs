//! The one rule for a plugin's failures: whether a call is tried again ([`Failure::classify`])
//! and when ([`RetryPolicy::delay`]: exponential back-off from a base, capped, unless the
//! provider said how long to wait). File jobs, summaries and live links all use it; each takes
//! its policy from the config.

use std::time::Duration;

use crate::plugin::bindings::types::PluginError;

/// What a provider's refusal of its key tells the operator to do; the same words wherever the
/// key is used.
const BAD_KEY_HINT: &str = "check the API key in plugins.{id}.credentials and the environment variable it names";

/// A plugin's error, as whoever called it acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (rate limit, outage), after the provider's delay when it gave one.
    Retry { message: String, after: Option<Duration> },
    /// The provider refused the credentials: no retry until the operator fixes the key.
    BadCredentials(String),
    /// Will not get better by retrying (bad input, a denied capability, anything else).
    Fatal(String),
}

impl Failure {
    /// Classifies an error of plugin `plugin_id`.
    pub fn classify(err: PluginError, plugin_id: &str) -> Failure {
        match err {
            PluginError::RateLimited(limit) => {
                Failure::Retry { message: limit.message, after: limit.retry_after_ms.map(Duration::from_millis) }
            }
            PluginError::Unavailable(message) => Failure::Retry { message, after: None },
            PluginError::Unauthorized(message) => {
                Failure::BadCredentials(format!("{message} — {}", BAD_KEY_HINT.replace("{id}", plugin_id)))
            }
            PluginError::BadInput(message) | PluginError::Denied(message) | PluginError::Other(message) => {
                Failure::Fatal(message)
            }
        }
    }

    /// True when another attempt may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Failure::Retry { .. })
    }

    /// What the operator reads: the provider's message, with the hint for a refused key.
    pub fn message(&self) -> &str {
        match self {
            Failure::Retry { message, .. } | Failure::BadCredentials(message) | Failure::Fatal(message) => message,
        }
    }

    pub fn into_message(self) -> String {
        match self {
            Failure::Retry { message, .. } | Failure::BadCredentials(message) | Failure::Fatal(message) => message,
        }
    }
}

/// Retry settings (`[files]`, `[summaries]`).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Wait before attempt `attempts + 1`: exponential from `base`, capped, unless the
    /// provider said how long.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.unwrap_or_else(|| {
            let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
            self.base.saturating_mul(factor).min(self.max)
        })
    }
}

/// `wait` spread by ±50 % at random, so many retries started together do not stay in step.
pub fn jitter(wait: Duration) -> Duration {
    let mut random = [0u8; 4];
    let spread = match getrandom::fill(&mut random) {
        Ok(()) => f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    wait.mul_f64(0.5 + spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_classify_once() {
        use crate::plugin::bindings::types::RateLimit;
        let limited = PluginError::RateLimited(RateLimit { message: "slow down".into(), retry_after_ms: Some(7_000) });
        assert_eq!(
            Failure::classify(limited, "p"),
            Failure::Retry { message: "slow down".into(), after: Some(Duration::from_secs(7)) }
        );
        assert_eq!(Failure::classify(PluginError::Unavailable("503".into()), "p"), Failure::Retry { message: "503".into(), after: None });
        let refused = Failure::classify(PluginError::Unauthorized("bad key".into()), "deepgram-batch");
        assert!(!refused.retryable());
        assert_eq!(
            refused.message(),
            "bad key — check the API key in plugins.deepgram-batch.credentials and the environment variable it names"
        );
        for fatal in [PluginError::BadInput("b".into()), PluginError::Denied("d".into()), PluginError::Other("o".into())] {
            let failure = Failure::classify(fatal, "p");
            assert!(matches!(failure, Failure::Fatal(_)) && !failure.retryable(), "{failure:?}");
        }
    }

    #[test]
    fn retry_delays() {
        let policy = RetryPolicy { max_attempts: 5, base: Duration::from_secs(2), max: Duration::from_secs(10) };
        let cases = [
            (1, None, 2),
            (2, None, 4),
            (3, None, 8),
            (4, None, 10),
            (30, None, 10),
            (1, Some(7), 7),
        ];
        for (attempts, after, want) in cases {
            assert_eq!(policy.delay(attempts, after.map(Duration::from_secs)), Duration::from_secs(want), "{attempts} {after:?}");
        }
    }
}
