//! 8-bit linear layers: a weight matrix quantized once at load, in blocks of 32 weights of
//! one output row that share an f32 scale (ggml's q8_0 layout, with the scale kept as f32),
//! and activations quantized the same way row by row at each product. The products are
//! exact integer dot products; only the scales are floating point.
//!
//! In the wasm32 build the inner loop is SIMD: each 8 weights are widened as they are loaded
//! (`i16x8.load8x8_s`) and multiplied and pair-summed against 8 activations in one
//! `i32x4.dot_i16x8_s` (`pmaddwd` on x86), four output columns at a time so each activation
//! load serves four; block sums are scaled with relaxed-simd's fused multiply-add, which
//! wasmtime lowers to the CPU's FMA where it has one. The relaxed `i8x16` dot product is not
//! used: it needs one operand within 7 unsigned bits, which would cost the activations a bit
//! of precision. Elsewhere (the native build of tests and benchmarks) the same arithmetic
//! runs as plain loops.

use candle_core::{Device, Tensor};

use crate::tensors::with_f32s;

/// Values per block; the input width of a quantized matrix is a multiple of it.
pub const BLOCK: usize = 32;

/// Largest magnitude of an 8-bit value.
const Q_MAX: f32 = 127.0;

/// Output columns computed together, sharing each load of activations.
const TILE: usize = 4;

/// A `[rows, cols]` matrix in 8-bit blocks, for `x @ matrixᵀ`.
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    values: Vec<i8>,
    /// One per block, row by row.
    scales: Vec<f32>,
}

/// Quantizes `row` (a multiple of [`BLOCK`] long) into `values` and one scale per block.
fn quantize_row<T: From<i8>>(row: &[f32], values: &mut [T], scales: &mut [f32]) {
    for ((block, out), scale) in row.chunks_exact(BLOCK).zip(values.chunks_exact_mut(BLOCK)).zip(scales.iter_mut()) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        *scale = amax / Q_MAX;
        let inverse = if amax > 0.0 { Q_MAX / amax } else { 0.0 };
        for (o, v) in out.iter_mut().zip(block) {
            // In range by construction; `as` saturates a NaN to 0.
            *o = T::from((v * inverse).round() as i8);
        }
    }
}

impl Q8Matrix {
    /// Quantizes `weight` (`[rows, cols]`, f32); `None` when `cols` is not a multiple of
    /// [`BLOCK`].
    pub fn quantize(weight: &Tensor) -> candle_core::Result<Option<Q8Matrix>> {
        let (rows, cols) = weight.dims2()?;
        if cols % BLOCK != 0 {
            return Ok(None);
        }
        let mut values = vec![0i8; rows * cols];
        let mut scales = vec![0f32; rows * cols / BLOCK];
        with_f32s(weight, |data| {
            for ((row, out), scale) in data.chunks_exact(cols).zip(values.chunks_exact_mut(cols)).zip(scales.chunks_exact_mut(cols / BLOCK)) {
                quantize_row(row, out, scale);
            }
        })?;
        Ok(Some(Q8Matrix { rows, cols, values, scales }))
    }

    /// `x @ selfᵀ` for `x` of shape `[.., cols]`: shape `[.., rows]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut shape = x.dims().to_vec();
        let (k, blocks) = (self.cols, self.cols / BLOCK);
        if shape.last() != Some(&k) {
            candle_core::bail!("a product of {:?} with a [{}, {k}] matrix", shape, self.rows);
        }
        let out = with_f32s(x, |data| {
            let mut xq = vec![0i16; k];
            let mut xs = vec![0f32; blocks];
            let mut out = vec![0f32; data.len() / k * self.rows];
            for (row, dst) in data.chunks_exact(k).zip(out.chunks_exact_mut(self.rows)) {
                quantize_row(row, &mut xq, &mut xs);
                self.row_product(&xq, &xs, dst);
            }
            out
        })?;
        if let Some(last) = shape.last_mut() {
            *last = self.rows;
        }
        Tensor::from_vec(out, shape, &Device::Cpu)
    }

    /// One quantized activation row against every weight row.
    fn row_product(&self, xq: &[i16], xs: &[f32], dst: &mut [f32]) {
        let (k, blocks) = (self.cols, self.cols / BLOCK);
        let mut j = 0;
        while j + TILE <= self.rows {
            let w: [&[i8]; TILE] = std::array::from_fn(|t| &self.values[(j + t) * k..(j + t + 1) * k]);
            let s: [&[f32]; TILE] = std::array::from_fn(|t| &self.scales[(j + t) * blocks..(j + t + 1) * blocks]);
            let sums = tile(xq, xs, w, s);
            dst[j..j + TILE].copy_from_slice(&sums);
            j += TILE;
        }
        for (jj, d) in dst.iter_mut().enumerate().skip(j) {
            *d = tile(xq, xs, [&self.values[jj * k..(jj + 1) * k]], [&self.scales[jj * blocks..(jj + 1) * blocks]])[0];
        }
    }
}

/// The dot products of one activation row with `N` weight rows.
#[cfg(not(target_arch = "wasm32"))]
fn tile<const N: usize>(xq: &[i16], xs: &[f32], w: [&[i8]; N], s: [&[f32]; N]) -> [f32; N] {
    let mut sums = [0f32; N];
    for (b, (xblock, xscale)) in xq.chunks_exact(BLOCK).zip(xs).enumerate() {
        for t in 0..N {
            let wblock = &w[t][b * BLOCK..(b + 1) * BLOCK];
            let dot: i32 = xblock.iter().zip(wblock).map(|(&x, &w)| i32::from(x) * i32::from(w)).sum();
            sums[t] += dot as f32 * xscale * s[t][b];
        }
    }
    sums
}

/// The dot products of one activation row with `N` weight rows (simd128 and relaxed-simd).
#[cfg(target_arch = "wasm32")]
// SIMD loads have no safe form; each reads within a block just sliced (see SAFETY).
#[allow(unsafe_code)]
fn tile<const N: usize>(xq: &[i16], xs: &[f32], w: [&[i8]; N], s: [&[f32]; N]) -> [f32; N] {
    use core::arch::wasm32::*;
    /// Values per 128-bit vector of i16.
    const LANES: usize = 8;
    const _: () = assert!(BLOCK == 4 * LANES, "a block is four vectors");
    let mut acc = [f32x4_splat(0.0); N];
    for (b, (xblock, xscale)) in xq.chunks_exact(BLOCK).zip(xs).enumerate() {
        // SAFETY: `xblock` is BLOCK i16 long (chunks_exact): the four loads of 8 lanes
        // (16 bytes each) stay inside it; v128 loads need no alignment.
        let xv: [v128; BLOCK / LANES] = std::array::from_fn(|l| unsafe { v128_load(xblock.as_ptr().add(l * LANES).cast()) });
        for t in 0..N {
            let wblock = &w[t][b * BLOCK..(b + 1) * BLOCK];
            // SAFETY: `wblock` is BLOCK i8 long (sliced just above): each load widens the 8
            // bytes at l * LANES < BLOCK.
            let dot = |l: usize| i32x4_dot_i16x8(unsafe { i16x8_load_extend_i8x8(wblock.as_ptr().add(l * LANES)) }, xv[l]);
            let block = i32x4_add(i32x4_add(dot(0), dot(1)), i32x4_add(dot(2), dot(3)));
            acc[t] = f32x4_relaxed_madd(f32x4_convert_i32x4(block), f32x4_splat(xscale * s[t][b]), acc[t]);
        }
    }
    acc.map(|a| f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a) + f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_f32_within_quantization_error_and_odd_widths_stay_f32() {
        // A deterministic spread of values, rows that are not a multiple of the tile.
        let (rows, cols, m) = (7, 64, 3);
        let values = |n: usize, seed: f32| (0..n).map(|i| (i as f32 * 0.37 + seed).sin() * 2.0).collect::<Vec<f32>>();
        let w = Tensor::from_vec(values(rows * cols, 0.1), (rows, cols), &Device::Cpu).expect("w");
        let x = Tensor::from_vec(values(m * cols, 1.3), (m, cols), &Device::Cpu).expect("x");
        let exact = x.matmul(&w.t().expect("t")).expect("matmul").to_vec2::<f32>().expect("vec");
        let q = Q8Matrix::quantize(&w).expect("quantize").expect("a multiple of the block");
        let got = q.forward(&x).expect("forward").to_vec2::<f32>().expect("vec");
        for (e, g) in exact.iter().flatten().zip(got.iter().flatten()) {
            // Each of 64 products carries at most half a step of both operands (2/127).
            assert!((e - g).abs() < 0.05 * e.abs().max(1.0), "{e} against {g}");
        }
        let odd = Tensor::zeros((4, 33), candle_core::DType::F32, &Device::Cpu).expect("zeros");
        assert!(Q8Matrix::quantize(&odd).expect("quantize").is_none());
    }
}
