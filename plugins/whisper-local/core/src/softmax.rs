//! The attention softmax, fused: one pass for the maximum, one for the exponentials and their
//! sum, one to scale, with an exponential that vectorizes. The encoder takes 54 million
//! exponentials per 30 s window with tiny; through candle's element-wise operations and libm's
//! scalar `expf` they were a fifth of the sandboxed recogniser's time.

use candle_core::{Device, Tensor};

use crate::tensors::with_f32s;

/// ln 2, split so that `n * LN2_HI` is exact for the `n` that occur (Cephes).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Below this, e^x is under f32's smallest normal number: the result is 0 within 1e-38.
const EXP_MIN: f32 = -87.3;

/// e^x for x ≤ 0, within 2 ulp (Cephes' `expf` polynomial on x - n·ln 2, then 2^n from the
/// exponent bits). Branch-free with comparisons rather than `f32::max`, whose NaN rule makes
/// it a call in wasm, so a loop over it becomes SIMD.
fn exp_non_positive(x: f32) -> f32 {
    let x = if x < EXP_MIN { EXP_MIN } else { x };
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let e = p * r * r + r + 1.0;
    // n lies in -126..=0 here, so the biased exponent is a normal one.
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Independent partial results of a reduction: a float reduction in one accumulator is a
/// chain the compiler may not reorder into SIMD lanes; eight chains it can.
const LANES: usize = 8;

/// `values` folded with `op` from `start`, in [`LANES`] independent lanes.
fn reduce(values: &[f32], start: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [start; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder().iter().fold(start, |a, &v| op(a, v));
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, v);
        }
    }
    lanes.into_iter().fold(rest, op)
}

/// Softmax over the last axis of `x`.
pub fn softmax_last(x: &Tensor) -> candle_core::Result<Tensor> {
    let width = x.dims().last().copied().unwrap_or(1).max(1);
    let out = with_f32s(x, |values| {
        let mut out = vec![0f32; values.len()];
        for (row, dst) in values.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
            let max = reduce(row, f32::NEG_INFINITY, |m, v| if v > m { v } else { m });
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = exp_non_positive(v - max);
            }
            let scale = 1.0 / reduce(dst, 0.0, |a, v| a + v);
            dst.iter_mut().for_each(|d| *d *= scale);
        }
        out
    })?;
    Tensor::from_vec(out, x.shape(), &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exponential_and_the_softmax_match_the_exact_ones() {
        // Every 0.005 from 0 down to the clamp.
        for i in 0..=17_460 {
            let x = -(i as f32) * 0.005;
            let (exact, got) = (x.exp(), exp_non_positive(x));
            assert!((exact - got).abs() <= 3.0 * f32::EPSILON * exact.max(f32::MIN_POSITIVE), "e^{x}: {exact} against {got}");
        }
        assert_eq!(exp_non_positive(f32::NEG_INFINITY), exp_non_positive(EXP_MIN));
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, -1e9, 0.5, 0.5, f32::NEG_INFINITY, 0.0], (2, 4), &Device::Cpu).expect("x");
        let exact = candle_core::Tensor::exp(&x.broadcast_sub(&x.max_keepdim(1).expect("max")).expect("sub")).expect("exp");
        let exact = exact.broadcast_div(&exact.sum_keepdim(1).expect("sum")).expect("div").to_vec2::<f32>().expect("vec");
        let got = softmax_last(&x).expect("softmax").to_vec2::<f32>().expect("vec");
        for (e, g) in exact.iter().flatten().zip(got.iter().flatten()) {
            assert!((e - g).abs() < 1e-6, "{e} against {g}");
        }
    }
}
