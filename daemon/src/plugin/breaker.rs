//! Circuit breaker of one plugin: after N consecutive traps or timeouts the plugin is paused
//! for a cool-down that doubles on every new trip, so a broken plugin costs little and a
//! recovered one comes back by itself.

use std::time::{Duration, Instant};

/// Breaker state.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    base: Duration,
    max: Duration,
    consecutive: u32,
    trips: u32,
    open_until: Option<Instant>,
    last_error: Option<String>,
}

/// What the API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerView {
    Closed { consecutive_failures: u32, last_error: Option<String> },
    Open { retry_in: Duration, consecutive_failures: u32, last_error: Option<String>, trips: u32 },
}

impl Breaker {
    pub fn new(threshold: u32, base: Duration, max: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            base,
            max,
            consecutive: 0,
            trips: 0,
            open_until: None,
            last_error: None,
        }
    }

    /// Whether a call may go ahead now; when not, how long until it may.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        match self.open_until {
            Some(until) if now < until => Err(until - now),
            _ => Ok(()),
        }
    }

    pub fn success(&mut self) {
        self.consecutive = 0;
        self.trips = 0;
        self.open_until = None;
    }

    /// Records a failure. After a cool-down the next call is a trial: since the count stays
    /// at the threshold, one more failure re-opens the breaker at once with a longer wait.
    pub fn failure(&mut self, now: Instant, error: String) {
        self.consecutive = self.consecutive.saturating_add(1);
        self.last_error = Some(error);
        if self.consecutive >= self.threshold {
            let factor = 1u32.checked_shl(self.trips.min(16)).unwrap_or(u32::MAX);
            let wait = self.base.saturating_mul(factor).min(self.max);
            self.open_until = Some(now + wait);
            self.trips = self.trips.saturating_add(1);
        }
    }

    /// Remembers an error that does not count toward opening the breaker.
    pub fn note(&mut self, error: String) {
        self.last_error = Some(error);
    }

    pub fn view(&self, now: Instant) -> BreakerView {
        match self.open_until {
            Some(until) if now < until => BreakerView::Open {
                retry_in: until - now,
                consecutive_failures: self.consecutive,
                last_error: self.last_error.clone(),
                trips: self.trips,
            },
            _ => BreakerView::Closed {
                consecutive_failures: self.consecutive,
                last_error: self.last_error.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_backs_off() {
        let base = Duration::from_secs(10);
        let mut b = Breaker::new(3, base, Duration::from_secs(25));
        let t0 = Instant::now();
        // (step, failure?, expected admit at that moment)
        b.failure(t0, "a".into());
        b.failure(t0, "b".into());
        assert!(b.admit(t0).is_ok(), "two failures keep it closed");
        b.failure(t0, "c".into());
        assert_eq!(b.admit(t0), Err(base), "third failure opens it for the base wait");
        let t1 = t0 + base;
        assert!(b.admit(t1).is_ok(), "trial call allowed after the wait");
        b.failure(t1, "d".into());
        assert_eq!(b.admit(t1), Err(Duration::from_secs(20)), "re-opens at once, doubled");
        let t2 = t1 + Duration::from_secs(20);
        b.failure(t2, "e".into());
        assert_eq!(b.admit(t2), Err(Duration::from_secs(25)), "capped at max");
        b.success();
        assert!(b.admit(t2).is_ok());
        assert!(matches!(b.view(t2), BreakerView::Closed { consecutive_failures: 0, .. }));
    }
}
