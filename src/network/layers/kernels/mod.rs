//! Fused CPU kernels: a layer's whole forward step (and its backward), or Adam's step for a
//! parameter, as one operation on Burn's flex backend in f32, where the generic path composes
//! many small Burn operations — each a pass over memory, several of them serial or scalar in
//! flex (its scatter-add, its libm `tanh`, its dropout sampler; see BENCHMARKS.md for the
//! profile).
//!
//! Each op is a Burn backend extension (`#[backend_extension(Flex, Autodiff)]`): a forward on the
//! flex tensor, and for `Autodiff<Flex>` the same forward registered with a hand-written
//! backward. The parameters stay in the layers' own Burn modules, so checkpoints, export and
//! import do not change: a kernel reads the module's weights and hands their gradients back
//! through autodiff like any other op.
//!
//! The generic Burn path stays, for every other backend (wgpu, ndarray, remote) and for f64, and
//! as the reference the kernels are tested against: [`crate::backend::Kernels::Generic`]
//! selects it everywhere (`[training] kernels` or `--kernels`), and
//! [`crate::backend::Kernels::use_fused`] decides per tensor.

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::prelude::*;

#[macro_use]
pub(crate) mod simd;
pub(crate) mod adam;
pub(crate) mod conv;
pub(crate) mod dropout;
mod packed;
pub(crate) mod pool;
pub(crate) mod recurrent;

/// A flex tensor's values in row-major order: borrowed when it is laid out so, else copied.
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("contiguous")
                .to_vec(),
        ),
    }
}

/// A flex tensor holding `values` (row-major) in `shape`.
pub(crate) fn flex_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// What the kernels' tests compare with: the same checks, one definition.
#[cfg(test)]
pub(crate) mod testing {
    use burn::prelude::*;

    /// A tensor's values as f32.
    pub(crate) fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// The largest difference between `a` and the reference `b`, relative to `b`'s largest
    /// magnitude (at least 1).
    pub(crate) fn difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        a.iter()
            .zip(b)
            .fold(0.0f32, |m, (u, v)| m.max((u - v).abs()))
            / scale
    }
}
