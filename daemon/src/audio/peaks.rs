//! A small waveform summary: the peak level of every [`WINDOW_MS`] of converted audio.

use super::TARGET_RATE;

/// Width of one peak. 100 ms gives 36,000 bytes for an hour: enough for a zoomable
/// waveform, small enough to store with the session.
pub const WINDOW_MS: u64 = 100;
const WINDOW_SAMPLES: usize = (TARGET_RATE as u64 * WINDOW_MS / 1000) as usize;

/// Accumulates peaks over a stream of samples.
#[derive(Default)]
pub struct Peaks {
    peaks: Vec<u8>,
    current: u16,
    filled: usize,
}

impl Peaks {
    pub fn push(&mut self, samples: &[i16]) {
        for &s in samples {
            self.current = self.current.max(s.unsigned_abs());
            self.filled += 1;
            if self.filled == WINDOW_SAMPLES {
                self.close();
            }
        }
    }

    fn close(&mut self) {
        self.peaks.push((u32::from(self.current) * 255 / u32::from(i16::MAX.unsigned_abs() + 1)) as u8);
        self.current = 0;
        self.filled = 0;
    }

    pub fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.close();
        }
        self.peaks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peak_per_window() {
        let mut peaks = Peaks::default();
        let mut loud = vec![0i16; WINDOW_SAMPLES];
        loud[10] = i16::MIN;
        peaks.push(&loud);
        peaks.push(&vec![i16::MAX / 2; WINDOW_SAMPLES / 2]);
        peaks.push(&vec![0; WINDOW_SAMPLES / 2]);
        peaks.push(&[100]);
        assert_eq!(peaks.finish(), vec![255, 127, 0]);
    }
}
