//! Rate conversion to [`TARGET_RATE`](super::TARGET_RATE) with rubato, in fixed chunks.

use rubato::{FftFixedIn, Resampler};

use super::{AudioError, TARGET_RATE};

/// Input frames per resampler call: ~23 ms at 44.1 kHz, small enough to keep latency and
/// memory low, large enough for the FFT resampler to be efficient.
const CHUNK: usize = 1024;
/// FFT sub-chunks per chunk (rubato's recommended small value).
const SUB_CHUNKS: usize = 2;
/// Silent chunks pushed through at the end to drain the resampler; two always suffice for
/// the block sizes above, the rest is a safety margin.
const MAX_FLUSHES: usize = 4;

/// Streams mono `f32` at any rate into 16 kHz `i16`.
pub struct ToCanonical {
    resampler: Option<FftFixedIn<f32>>,
    source_rate: u32,
    pending: Vec<f32>,
    /// The resampler's delay in output frames: dropped at the start so audio stays aligned.
    delay: usize,
    /// Output frames still to drop.
    skip: usize,
    /// Input frames received and raw output frames produced, to know where the real audio
    /// ends when the last, zero-padded chunks are flushed.
    input_total: u64,
    raw_output_total: u64,
    out: Vec<i16>,
}

fn to_i16(x: f32) -> i16 {
    (x.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

impl ToCanonical {
    pub fn new(source_rate: u32) -> Result<ToCanonical, AudioError> {
        let resampler = if source_rate == TARGET_RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(source_rate as usize, TARGET_RATE as usize, CHUNK, SUB_CHUNKS, 1)
                    .map_err(|err| AudioError::Unsupported(format!("cannot resample from {source_rate} Hz: {err}")))?,
            )
        };
        let skip = resampler.as_ref().map_or(0, |r| r.output_delay());
        Ok(ToCanonical {
            resampler,
            source_rate,
            pending: Vec::with_capacity(CHUNK),
            delay: skip,
            skip,
            input_total: 0,
            raw_output_total: 0,
            out: Vec::new(),
        })
    }

    fn emit(
        &mut self,
        samples: &[f32],
        sink: &mut dyn FnMut(&[i16]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let dropped = self.skip.min(samples.len());
        self.skip -= dropped;
        self.out.clear();
        self.out.extend(samples[dropped..].iter().copied().map(to_i16));
        if self.out.is_empty() { Ok(()) } else { sink(&self.out) }
    }

    pub fn push(
        &mut self,
        mut input: &[f32],
        sink: &mut dyn FnMut(&[i16]) -> std::io::Result<()>,
    ) -> Result<(), AudioError> {
        if self.resampler.is_none() {
            self.emit(input, sink)?;
            return Ok(());
        }
        self.input_total += input.len() as u64;
        while !input.is_empty() {
            let take = (CHUNK - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == CHUNK {
                let output = self.run(false)?;
                self.pending.clear();
                self.emit(&output, sink)?;
            }
        }
        Ok(())
    }

    fn run(&mut self, partial: bool) -> Result<Vec<f32>, AudioError> {
        let Some(resampler) = self.resampler.as_mut() else { return Ok(Vec::new()) };
        let result = if partial {
            resampler.process_partial(Some(&[&self.pending[..]]), None)
        } else {
            resampler.process(&[&self.pending[..]], None)
        };
        let mut channels = result.map_err(|err| AudioError::Corrupt(format!("resampling failed: {err}")))?;
        let output = channels.pop().unwrap_or_default();
        self.raw_output_total += output.len() as u64;
        Ok(output)
    }

    /// Flushes what is buffered, including the resampler's delay line.
    pub fn finish(mut self, sink: &mut dyn FnMut(&[i16]) -> std::io::Result<()>) -> Result<(), AudioError> {
        if self.resampler.is_none() {
            return Ok(());
        }
        let produced_before = self.raw_output_total;
        // A partial call needs at least one frame: input whose length is a multiple of
        // [`CHUNK`] (every 8th MP3: 1,152 frames a packet) leaves nothing pending, and the
        // flushes below drain the delay line alone.
        let mut rest = if self.pending.is_empty() { Vec::new() } else { self.run(true)? };
        self.pending.clear();
        // The partial calls pad with silence: keep only what the real input produced. The
        // FFT resampler holds up to one FFT block plus its delay, which may take more than
        // one flush to come out.
        let wanted = self.delay as u64
            + (self.input_total * u64::from(TARGET_RATE)).div_ceil(u64::from(self.source_rate));
        let keep = wanted.saturating_sub(produced_before) as usize;
        for _ in 0..MAX_FLUSHES {
            if rest.len() >= keep {
                break;
            }
            let Some(resampler) = self.resampler.as_mut() else { break };
            let flushed = resampler
                .process_partial(None::<&[&[f32]]>, None)
                .map_err(|err| AudioError::Corrupt(format!("resampling failed: {err}")))?
                .pop()
                .unwrap_or_default();
            rest.extend(flushed);
        }
        rest.truncate(keep);
        self.emit(&rest, sink)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resamples `frames` frames of a 440 Hz tone at `rate`, pushed in pieces of `piece`.
    fn convert(rate: u32, frames: usize, piece: usize) -> Result<Vec<i16>, AudioError> {
        let tone: Vec<f32> =
            (0..frames).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5).collect();
        let mut resampler = ToCanonical::new(rate)?;
        let mut out = Vec::new();
        let mut sink = |chunk: &[i16]| -> std::io::Result<()> {
            out.extend_from_slice(chunk);
            Ok(())
        };
        for part in tone.chunks(piece) {
            resampler.push(part, &mut sink)?;
        }
        resampler.finish(&mut sink)?;
        Ok(out)
    }

    #[test]
    fn every_length_and_rate_converts_to_the_exact_duration() {
        // Lengths that are whole multiples of the chunk left nothing pending at the end,
        // which the resampler refused ("Insufficient buffer size 0").
        let rates = [8_000, 22_050, 44_100, 48_000, 16_000];
        let lengths = [CHUNK, 3 * CHUNK, 48 * CHUNK, 1_152 * 8, 1_152 * 8 * 5, 1, CHUNK - 1, CHUNK + 1, 44_100];
        for rate in rates {
            for frames in lengths {
                for piece in [CHUNK, 1_152, 333] {
                    let out = convert(rate, frames, piece).unwrap_or_else(|err| panic!("{rate} Hz, {frames} frames: {err}"));
                    let want = (frames as u64 * u64::from(TARGET_RATE)).div_ceil(u64::from(rate)) as usize;
                    assert_eq!(out.len(), want, "{rate} Hz, {frames} frames in pieces of {piece}");
                }
            }
        }
    }

    #[test]
    fn the_tail_of_a_whole_number_of_chunks_is_kept() {
        // 48 chunks at 48 kHz: the last output samples are the tone, not silence.
        let out = convert(48_000, 48 * CHUNK, CHUNK).expect("converts");
        let tail = &out[out.len() - 100..];
        let peak = tail.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak > 10_000, "tail peak {peak}");
    }
}
