//! When a failed call is tried again: exponential back-off from a base, capped, unless the
//! provider said how long to wait. File jobs and summaries each take theirs from the config.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
