//! How often a local recogniser re-reads a live session's buffer, from how long its readings
//! take. A machine under load makes readings slow; the pace then gives way in three steps,
//! each cheaper than the last, and never by dropping audio:
//!
//! 1. a step that comes while a reading is still running is skipped, not queued;
//! 2. after [`SLOW_READINGS`] readings longer than the step, the step doubles until the
//!    last reading fits it, up to [`MAX_STEP`];
//! 3. when readings outlast even that (or one reading does, by far), only pauses are read:
//!    finals, no interim text.
//!
//! Fast readings undo the steps in the same order. Each change comes with a sentence for the
//! session's `live` events.

use std::time::Duration;

/// Readings in a row longer than the step before the step grows: one slow reading is a
/// hiccup (a page fault, a compaction), two are load.
const SLOW_READINGS: u32 = 2;
/// Readings in a row under half the step before the step shrinks again.
const FAST_READINGS: u32 = 2;
/// Longest step between interim readings: past it, interim text is too late to be worth
/// its cost, and finals at pauses are all that is read.
pub const MAX_STEP: Duration = Duration::from_secs(4);
/// An utterance read this many times faster than it was said shows a recogniser with time
/// to spare (tiny.en reads about 6 times faster on an idle core).
const FAST_RATE: u32 = 4;

/// How a reading relates to the pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Interim readings every step.
    Interim(Duration),
    /// Readings at pauses only.
    FinalsOnly,
}

/// The pace of one session's readings.
#[derive(Debug)]
pub struct Pace {
    base: Duration,
    mode: Mode,
    slow: u32,
    fast: u32,
}

impl Pace {
    /// Interim readings every `base` (at least 100 ms).
    pub fn new(base: Duration) -> Pace {
        let base = base.max(Duration::from_millis(100));
        Pace { base, mode: Mode::Interim(base), slow: 0, fast: 0 }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A reading of `audio` took `took`; returns what changed, to be told to the user.
    pub fn reading(&mut self, took: Duration, audio: Duration) -> Option<String> {
        match self.mode {
            Mode::Interim(step) if took > step => {
                self.fast = 0;
                self.slow += 1;
                // A reading slower than the speech and far longer than any step is load, not
                // a hiccup.
                let far_behind = took > MAX_STEP * 2 && took > audio;
                if self.slow < SLOW_READINGS && !far_behind {
                    return None;
                }
                self.slow = 0;
                // The step doubles until a reading like this one fits it; a reading longer
                // than the longest step leaves interim text at once.
                let mut longer = step * 2;
                while longer < took && longer < MAX_STEP {
                    longer *= 2;
                }
                if step < MAX_STEP && took <= MAX_STEP {
                    let longer = longer.min(MAX_STEP);
                    self.mode = Mode::Interim(longer);
                    Some(format!("falling behind: interim text every {:.1} s", longer.as_secs_f64()))
                } else {
                    self.mode = Mode::FinalsOnly;
                    Some("falling behind: finals only, at pauses".to_string())
                }
            }
            Mode::Interim(step) if took * 2 <= step && step > self.base => {
                self.slow = 0;
                self.fast += 1;
                if self.fast < FAST_READINGS {
                    return None;
                }
                self.fast = 0;
                let shorter = (step / 2).max(self.base);
                self.mode = Mode::Interim(shorter);
                Some(format!("catching up: interim text every {:.1} s", shorter.as_secs_f64()))
            }
            Mode::Interim(_) => {
                self.slow = 0;
                self.fast = 0;
                None
            }
            // A reading at a pause covers a whole utterance: when even that takes under half
            // the longest step, or reads the speech many times faster than it was said,
            // interim readings of a buffer no longer than it fit that step again.
            Mode::FinalsOnly if took * 2 <= MAX_STEP || took * FAST_RATE <= audio => {
                self.fast += 1;
                if self.fast < FAST_READINGS {
                    return None;
                }
                self.fast = 0;
                self.mode = Mode::Interim(MAX_STEP);
                Some(format!("catching up: interim text again, every {:.1} s", MAX_STEP.as_secs_f64()))
            }
            Mode::FinalsOnly => {
                self.fast = 0;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    /// A buffer's length between trims.
    const AUDIO: Duration = Duration::from_secs(10);

    #[test]
    fn slow_readings_lengthen_the_step_then_leave_finals_only() {
        let mut pace = Pace::new(SECOND);
        assert_eq!(pace.reading(SECOND * 3 / 2, AUDIO), None, "one slow reading is a hiccup");
        assert!(pace.reading(SECOND * 3 / 2, AUDIO).is_some_and(|m| m.contains("every 2.0 s")));
        assert_eq!(pace.mode(), Mode::Interim(SECOND * 2));
        pace.reading(SECOND * 3, AUDIO);
        assert!(pace.reading(SECOND * 3, AUDIO).is_some_and(|m| m.contains("every 4.0 s")));
        pace.reading(SECOND * 5, AUDIO);
        assert!(pace.reading(SECOND * 5, AUDIO).is_some_and(|m| m.contains("finals only")));
        assert_eq!(pace.mode(), Mode::FinalsOnly);
    }

    #[test]
    fn readings_far_behind_skip_the_steps_between() {
        let mut pace = Pace::new(SECOND);
        pace.reading(SECOND * 3, AUDIO);
        assert!(pace.reading(SECOND * 3, AUDIO).is_some_and(|m| m.contains("every 4.0 s")), "the step grows to fit a 3 s reading");
        let mut pace = Pace::new(SECOND);
        assert_eq!(pace.reading(SECOND * 6, SECOND * 20), None, "a long utterance read faster than it was said is a hiccup");
        let mut pace = Pace::new(SECOND);
        assert_eq!(pace.reading(SECOND * 6, SECOND * 2), None, "a reading within twice the longest step may be a hiccup");
        let mut pace = Pace::new(SECOND);
        assert!(pace.reading(SECOND * 9, SECOND * 2).is_some_and(|m| m.contains("finals only")), "no step fits a 9 s reading of 2 s");
        assert_eq!(pace.mode(), Mode::FinalsOnly);
    }

    #[test]
    fn fast_readings_come_back_the_same_way() {
        let mut pace = Pace::new(SECOND);
        for took in [5, 5, 5, 5, 5, 5] {
            pace.reading(SECOND * took, AUDIO);
        }
        assert_eq!(pace.mode(), Mode::FinalsOnly);
        assert_eq!(pace.reading(SECOND * 3, AUDIO), None, "a pause of 10 s read in 3 s is not yet fast");
        assert_eq!(pace.reading(SECOND * 3, SECOND * 14), None, "one fast reading is not yet a recovery");
        assert_eq!(pace.reading(SECOND * 5, AUDIO), None);
        pace.reading(SECOND, AUDIO);
        assert!(pace.reading(SECOND, AUDIO).is_some_and(|m| m.contains("interim text again")));
        assert_eq!(pace.mode(), Mode::Interim(MAX_STEP));
        pace.reading(SECOND / 2, AUDIO);
        pace.reading(SECOND / 2, AUDIO);
        assert_eq!(pace.mode(), Mode::Interim(SECOND * 2));
        pace.reading(SECOND / 2, AUDIO);
        assert!(pace.reading(SECOND / 2, AUDIO).is_some_and(|m| m.contains("every 1.0 s")));
        assert_eq!(pace.mode(), Mode::Interim(SECOND), "never below the configured step");
        assert_eq!(pace.reading(SECOND / 10, AUDIO), None);
        assert_eq!(pace.mode(), Mode::Interim(SECOND));
    }

    #[test]
    fn readings_that_fit_the_step_change_nothing() {
        let mut pace = Pace::new(SECOND);
        for _ in 0..10 {
            assert_eq!(pace.reading(SECOND * 9 / 10, AUDIO), None);
        }
        pace.reading(SECOND * 2, AUDIO);
        pace.reading(SECOND / 2, AUDIO);
        assert_eq!(pace.reading(SECOND * 2, AUDIO), None, "slow readings must come in a row");
        assert_eq!(pace.mode(), Mode::Interim(SECOND));
    }
}
