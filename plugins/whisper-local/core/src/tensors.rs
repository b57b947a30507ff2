//! A tensor's values as a plain slice, for the loops written here rather than in candle: read
//! in place when the tensor is contiguous, copied only when it is not.

use candle_core::{Storage, Tensor};

/// Runs `f` on the f32 values of `x` in row-major order.
pub fn with_f32s<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    {
        let (storage, layout) = x.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            return Ok(f(&cpu.as_slice::<f32>()?[start..end]));
        }
    }
    Ok(f(&x.flatten_all()?.to_vec1::<f32>()?))
}
