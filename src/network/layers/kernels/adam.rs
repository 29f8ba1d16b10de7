//! Adam's step for one parameter as one pass over its values, where Burn's `Adam` makes about a
//! dozen (each scalar multiply, add, square, square root and division a pass of its own, each
//! allocating): for the 784-512-10 MLP's 407,050 parameters that was ≈ 15 % of a training step
//! (BENCHMARKS.md).
//!
//! The arithmetic is Burn 0.22.1's, term for term and in the same order (f32, no fused
//! multiply-add), so both paths give the same bits:
//! - `g ← g + λ·p` with weight decay `λ`;
//! - `m ← β₁·m + (1 − β₁)·g`, `v ← β₂·v + (1 − β₂)·g²`, `t ← t + 1`;
//! - `p ← p − η·(m·c)/(√v + ε·√b₂)` with `b₂ = 1 − β₂ᵗ`, `c = √b₂/(1 − β₁ᵗ)` — the
//!   bias-corrected `m̂/(√v̂ + ε)` written as Burn writes it.
//!
//! The first step starts from `m = v = 0`, which gives Burn's first-step moments exactly
//! (`β·0 + x = x`). The state is Burn's own `AdamState`, so an optimizer checkpoint written by
//! either path resumes on the other. Parameters that are not flex f32 (wgpu, remote, f64) take
//! Burn's `Adam`.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::optim::{Adam, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::prelude::*;
use rayon::prelude::*;

use crate::backend::Kernels;

/// Adam's constants: what the config gives and the step's bias corrections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamSettings {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// L2 penalty `λ` added to the gradient (0: none).
    pub weight_decay: f32,
}

#[backend_extension(Flex)]
pub trait AdamKernel: Backend {
    /// One step: the parameter, its first and second moments after it.
    #[allow(clippy::too_many_arguments)]
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        learning_rate: f64,
        time: usize,
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        weight_decay: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Burn's `Adam` for any parameter, this module's one pass for those on flex in f32.
#[derive(Clone)]
pub(crate) struct FusedAdam {
    settings: AdamSettings,
    generic: Adam,
}

impl FusedAdam {
    /// `generic` is Burn's Adam built from the same `settings`: the path of every other tensor.
    pub(crate) fn new(settings: AdamSettings, generic: Adam) -> Self {
        Self { settings, generic }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        if !Kernels::Fused.use_fused(&tensor) || !Kernels::Fused.use_fused(&grad) {
            return self.generic.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(AdamState { momentum }) => (momentum.time, momentum.moment_1, momentum.moment_2),
            None => (0, tensor.zeros_like(), tensor.zeros_like()),
        };
        let s = self.settings;
        let (param, moment_1, moment_2) = <burn::backend::Dispatch as AdamKernel>::adam_step(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            lr,
            time + 1,
            s.beta_1,
            s.beta_2,
            s.epsilon,
            s.weight_decay,
        );
        let momentum = AdaptiveMomentumState::new(
            time + 1,
            Tensor::from_dispatch(moment_1),
            Tensor::from_dispatch(moment_2),
        );
        (Tensor::from_dispatch(param), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: AdamState<D>, device: &Device) -> AdamState<D> {
        Adam::to_device(state, device)
    }
}

impl AdamKernel for Flex {
    fn adam_step(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        learning_rate: f64,
        time: usize,
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        weight_decay: f32,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let settings = AdamSettings {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
        };
        let (mut param, mut moment_1, mut moment_2) =
            (owned(param), owned(moment_1), owned(moment_2));
        let grad = super::values(&grad);
        let step = Step::new(settings, learning_rate, time);
        param
            .storage_mut::<f32>()
            .par_chunks_mut(CHUNK)
            .zip(moment_1.storage_mut::<f32>().par_chunks_mut(CHUNK))
            .zip(moment_2.storage_mut::<f32>().par_chunks_mut(CHUNK))
            .zip(grad.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| update(p, m, v, g, step));
        (param, moment_1, moment_2)
    }
}

/// Elements per task: large enough that a task outweighs its scheduling.
const CHUNK: usize = 1 << 14;

/// `t` laid out with exactly its values in its storage, row-major, so it can be updated in place
/// (the storage is copied first only if another tensor shares it).
fn owned(t: FlexTensor) -> FlexTensor {
    let exact = t
        .as_slice::<f32>()
        .is_some_and(|values| values.len() == t.storage::<f32>().len());
    if exact { t } else { t.to_contiguous() }
}

/// The constants of one step, computed once as Burn computes them.
#[derive(Clone, Copy)]
struct Step {
    s: AdamSettings,
    learning_rate: f32,
    /// `c = √b₂/(1 − β₁ᵗ)`.
    factor: f32,
    /// `ε·√b₂`.
    epsilon: f32,
}

impl Step {
    fn new(s: AdamSettings, learning_rate: f64, time: usize) -> Self {
        let time = time as i32;
        let b2 = (1.0 - s.beta_2.powi(time)).sqrt();
        Self {
            s,
            learning_rate: learning_rate as f32,
            factor: b2 / (1.0 - s.beta_1.powi(time)),
            epsilon: s.epsilon * b2,
        }
    }
}

vectorised! {
    /// One chunk of a parameter's step, in place.
    fn update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], step: Step) {
        let Step { s, learning_rate, factor, epsilon } = step;
        let (keep_1, keep_2) = (1.0 - s.beta_1, 1.0 - s.beta_2);
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let g = if s.weight_decay != 0.0 { *p * s.weight_decay + g } else { g };
            *m = *m * s.beta_1 + g * keep_1;
            *v = *v * s.beta_2 + g * g * keep_2;
            *p -= *m * factor / (v.sqrt() + epsilon) * learning_rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::AdamConfig;
    use burn::optim::decay::WeightDecayConfig;

    use super::*;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_fused_step_gives_burns_adam_bit_for_bit() {
        let device = Device::flex();
        // Odd sizes (not a multiple of a vector or a chunk), values over many scales.
        let shape = [37, 1001];
        let n = shape[0] * shape[1];
        let wave = |k: f32| {
            Tensor::<1>::from_floats(
                (0..n)
                    .map(|i| (i as f32 * k).sin() * 10f32.powi(i % 7 - 3))
                    .collect::<Vec<_>>()
                    .as_slice(),
                &device,
            )
            .reshape(shape)
        };
        for weight_decay in [0.0, 0.01] {
            let settings = AdamSettings {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
                weight_decay,
            };
            let burn = AdamConfig::new()
                .with_beta_1(settings.beta_1)
                .with_beta_2(settings.beta_2)
                .with_epsilon(settings.epsilon)
                .with_weight_decay(
                    (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay)),
                )
                .build();
            let fused = FusedAdam::new(settings, burn.clone());
            let (mut p_burn, mut p_fused) = (wave(0.37), wave(0.37));
            let (mut s_burn, mut s_fused) = (None, None);
            for step in 0..4 {
                let grad = wave(1.3 + step as f32);
                let lr = 1e-3 * (step + 1) as f64;
                (p_burn, s_burn) = burn.step(lr, p_burn, grad.clone(), s_burn);
                (p_fused, s_fused) = fused.step(lr, p_fused, grad, s_fused);
                assert_eq!(
                    values(p_fused.clone()),
                    values(p_burn.clone()),
                    "step {step}"
                );
                let (a, b) = (
                    &s_fused.as_ref().unwrap().momentum,
                    &s_burn.as_ref().unwrap().momentum,
                );
                assert_eq!(a.time, b.time);
                assert_eq!(values(a.moment_1.clone()), values(b.moment_1.clone()));
                assert_eq!(values(a.moment_2.clone()), values(b.moment_2.clone()));
            }
        }
    }
}
