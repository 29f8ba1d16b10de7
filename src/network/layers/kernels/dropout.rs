//! Dropout as one pass: `y = x·m/(1 − p)` with `m` a keep mask drawn by a counter-based
//! generator — element `i` is kept when `hash(i, seed) < (1 − p)·2³²` — so the mask needs no
//! memory: the backward pass (`∂x = ∂y·m/(1 − p)`) draws it again from the same seed, and any
//! split of the work over threads draws the same mask. The seed is drawn from the device's
//! generator, which training seeds from the run's seed and reseeds at each epoch: the same run
//! draws the same masks, and a resumed run the masks the uninterrupted one drew.
//!
//! The hash is 32-bit integer arithmetic (a multiply by the golden ratio, then a
//! xor-shift-multiply finaliser), which vectorises; for `p` the kept share differs from `1 − p`
//! by at most 2⁻³² per element.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::{Distribution, Int};
use rayon::prelude::*;

use super::{flex_tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait DropoutKernel: Backend {
    /// `x` with each value kept and scaled by `1/(1 − p)` or zeroed, by the mask `seed` draws.
    fn dropout_masked(x: FloatTensor<Self>, p: f64, seed: u64) -> FloatTensor<Self>;
}

/// Dropout of `x` with probability `p`, its mask seeded from the device's generator.
pub(crate) fn dropout<const D: usize>(x: Tensor<D>, p: f64) -> Tensor<D> {
    // Burn draws integers as i32 through an f32 (whose value nearest to 2³¹ − 1 is 2³¹, out of
    // range): two draws of 30 bits.
    let words = Tensor::<1, Int>::random(
        [2],
        Distribution::Uniform(0.0, 1_073_741_824.0),
        &x.device(),
    )
    .into_data()
    .convert::<i64>()
    .iter::<i64>()
    .collect::<Vec<_>>();
    let seed = ((words[0] as u64) << 30) ^ words[1] as u64;
    Tensor::from_dispatch(<burn::backend::Dispatch as DropoutKernel>::dropout_masked(
        x.into_dispatch(),
        p,
        seed,
    ))
}

impl DropoutKernel for Flex {
    fn dropout_masked(x: FlexTensor, p: f64, seed: u64) -> FlexTensor {
        masked(&x, p, seed)
    }
}

impl<C: CheckpointStrategy> DropoutKernel for Autodiff<Flex, C> {
    fn dropout_masked(x: FloatTensor<Self>, p: f64, seed: u64) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DropoutBackward;

        impl Backward<Flex, 1> for DropoutBackward {
            type State = (f64, u64);

            fn backward(
                self,
                ops: Ops<(f64, u64), 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [parent] = ops.parents;
                let grad = grads.consume::<Flex>(&ops.node);
                let (p, seed) = ops.state;
                if let Some(parent) = parent {
                    grads.register::<Flex>(parent.id, masked(&grad, p, seed));
                }
            }
        }

        match DropoutBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((p, seed), masked(x.primitive(), p, seed)),
            OpsKind::UnTracked(prep) => prep.finish(masked(x.primitive(), p, seed)),
        }
    }
}

/// Elements per task: large enough that a task outweighs its scheduling.
const CHUNK: usize = 1 << 14;

/// `x·m/(1 − p)` for the mask `seed` draws.
fn masked(x: &FlexTensor, p: f64, seed: u64) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let input = values(x);
    let mut output = vec![0.0f32; input.len()];
    let threshold = ((1.0 - p) * 4_294_967_296.0).round() as u64;
    let scale = (1.0 / (1.0 - p)) as f32;
    let key = (seed ^ (seed >> 32)) as u32;
    output
        .par_chunks_mut(CHUNK)
        .zip(input.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(chunk, (out, x))| apply(out, x, (chunk * CHUNK) as u32, key, threshold, scale));
    flex_tensor(output, shape)
}

vectorised! {
    /// One chunk of the mask applied: `start` is the chunk's first element's index.
    fn apply(out: &mut [f32], x: &[f32], start: u32, key: u32, threshold: u64, scale: f32) {
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            let keep = (hash(start.wrapping_add(i as u32), key) as u64) < threshold;
            *o = if keep { v * scale } else { 0.0 };
        }
    }
}

/// A 32-bit integer hash of the element's index under `key`: a bijection of `i` for each key.
#[inline(always)]
fn hash(i: u32, key: u32) -> u32 {
    let mut h = i.wrapping_mul(0x9e37_79b9) ^ key;
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_keeps_the_share_it_should_and_depends_on_the_seed() {
        let n = 1 << 20;
        let x = flex_tensor(vec![1.0; n], [n]);
        for p in [0.1, 0.5, 0.9] {
            let y = masked(&x, p, 42);
            let kept = values(&y).iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
            // Binomial: the kept share's deviation is √(p(1−p)/n) ≤ 5e-4; allow 5 of them.
            assert!((kept - (1.0 - p)).abs() < 2.5e-3, "p {p}: kept {kept}");
            let scale = 1.0 / (1.0 - p) as f32;
            assert!(values(&y).iter().all(|&v| v == 0.0 || v == scale));
        }
        let (a, b) = (masked(&x, 0.5, 1), masked(&x, 0.5, 2));
        let same = values(&a)
            .iter()
            .zip(values(&b).iter())
            .filter(|(u, v)| u == v)
            .count();
        // Two independent masks agree on about half the elements.
        assert!((same as f64 / n as f64 - 0.5).abs() < 2.5e-3);
        assert_eq!(values(&masked(&x, 0.5, 1)), values(&a));
    }

    #[test]
    fn the_gradient_passes_where_the_forward_pass_kept() {
        let device = Device::flex().autodiff();
        let n = 5000;
        let x = Tensor::<1>::from_floats(
            (1..=n)
                .map(|i| i as f32 / 100.0)
                .collect::<Vec<_>>()
                .as_slice(),
            &device,
        )
        .require_grad();
        let w = Tensor::<1>::from_floats(
            (0..n)
                .map(|i| (i % 7) as f32 - 3.0)
                .collect::<Vec<_>>()
                .as_slice(),
            &device,
        );
        let y = dropout(x.clone(), 0.3);
        let grads = (y.clone() * w.clone()).sum().backward();
        let gx = x
            .grad(&grads)
            .expect("x is tracked")
            .to_data()
            .try_to_vec::<f32>()
            .unwrap();
        let (x, y, w) = (
            x.to_data().try_to_vec::<f32>().unwrap(),
            y.to_data().try_to_vec::<f32>().unwrap(),
            w.to_data().try_to_vec::<f32>().unwrap(),
        );
        // ∂(Σ w·y)/∂x = w·m/(1 − p) = w·y/x, with the mask the forward pass drew.
        for i in 0..n {
            let expected = w[i] * y[i] / x[i];
            assert!(
                (gx[i] - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                "{i}"
            );
        }
    }
}
