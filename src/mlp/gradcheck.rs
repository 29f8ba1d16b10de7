//! `neurona gradcheck`: the gradients of a small batch three ways — explicit back-propagation,
//! Burn's autodiff, and central finite differences `(L(θ+ε) − L(θ−ε))/2ε` — in f64, compared per
//! parameter tensor. The error of a tensor is `max|a − b| / max(max|a|, max|b|)`, i.e. relative to
//! the tensor's scale, so tiny individual entries do not dominate.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::mlp::backprop::{Targets, loss_and_gradients};
use crate::mlp::config::MlpConfig;
use crate::mlp::data::batcher::ImageBatcher;
use crate::mlp::data::{MnistData, NUM_CLASSES};
use crate::mlp::model::{Mlp, cross_entropy, half_squared_error};
use crate::numeric::to_f64s as host;

/// The comparison for one parameter tensor.
#[derive(Debug, Clone, Serialize)]
pub struct TensorCheck {
    pub name: String,
    pub elements: usize,
    pub manual_vs_autodiff: f64,
    /// Over `finite_difference_elements` entries (a seeded sample when the tensor is large).
    pub manual_vs_finite_difference: f64,
    pub finite_difference_elements: usize,
}

fn relative(a: &[f64], b: &[f64]) -> f64 {
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = a.iter().chain(b).map(|v| v.abs()).fold(0.0, f64::max);
    if scale == 0.0 { diff } else { diff / scale }
}

/// Replaces the parameter `id` by `value` (same shape).
struct Replace {
    id: ParamId,
    value: Vec<f64>,
}

impl ModuleMapper for Replace {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.id != self.id {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let value = Tensor::from_data(
            TensorData::new(self.value.clone(), tensor.shape()),
            &tensor.device(),
        );
        Param::from_mapped_value(id, value, mapper)
    }
}

/// The mean loss through the module's own forward pass (what autodiff differentiates).
fn loss_tensor(model: &Mlp, x: &Tensor<2>, targets: &Targets) -> Tensor<1> {
    let z = model.forward(x.clone());
    match targets {
        Targets::Classes(t) => cross_entropy(model.class_scores(z), t.clone()),
        Targets::Values(y) => half_squared_error(z, y.clone()),
    }
}

fn loss(model: &Mlp, x: &Tensor<2>, targets: &Targets) -> f64 {
    host(loss_tensor(model, x, targets))[0]
}

/// Compares manual, autodiff and finite-difference gradients of `model` (on an f64 autodiff
/// device) at `x`/`targets`; at most `max_fd_elements` entries per tensor get finite differences.
pub fn check(
    model: &Mlp,
    x: Tensor<2>,
    targets: &Targets,
    max_fd_elements: usize,
    seed: u64,
) -> Vec<TensorCheck> {
    let (_, _, manual) = loss_and_gradients(model, x.clone(), targets);
    let autodiff = GradientsParams::from_grads(loss_tensor(model, &x, targets).backward(), model);
    let mut checks = Vec::new();
    for (l, (layer, g)) in model.layers().zip(manual).enumerate() {
        // (name, parameter, value, manual gradient, autodiff gradient)
        let mut tensors = vec![(
            format!("layer {} weight", l + 1),
            layer.weight.id,
            host(layer.weight.val()),
            host(g.weight),
            host(autodiff.get::<2>(layer.weight.id).expect("weight gradient")),
        )];
        if let (Some(b), Some(gb)) = (&layer.bias, g.bias) {
            let auto = host(autodiff.get::<1>(b.id).expect("bias gradient"));
            tensors.push((
                format!("layer {} bias", l + 1),
                b.id,
                host(b.val()),
                host(gb),
                auto,
            ));
        }
        for (name, id, value, manual, auto) in tensors {
            let mut picks: Vec<usize> = (0..value.len()).collect();
            if picks.len() > max_fd_elements {
                crate::sampling::shuffle(&mut picks, seed.wrapping_add(l as u64));
                picks.truncate(max_fd_elements);
            }
            let eps = 1e-6;
            let finite: Vec<f64> = picks
                .iter()
                .map(|&i| {
                    let at = |delta: f64| {
                        let mut v = value.clone();
                        v[i] += delta;
                        let moved = model.clone().map(&mut Replace { id, value: v });
                        loss(&moved, &x, targets)
                    };
                    (at(eps) - at(-eps)) / (2.0 * eps)
                })
                .collect();
            let manual_picked: Vec<f64> = picks.iter().map(|&i| manual[i]).collect();
            checks.push(TensorCheck {
                name,
                elements: value.len(),
                manual_vs_autodiff: relative(&manual, &auto),
                manual_vs_finite_difference: relative(&manual_picked, &finite),
                finite_difference_elements: picks.len(),
            });
        }
    }
    checks
}

/// Tolerances of `neurona gradcheck` (f64): manual vs autodiff, manual vs finite differences.
pub const TOLERANCE_AUTODIFF: f64 = 1e-10;
pub const TOLERANCE_FINITE_DIFFERENCE: f64 = 1e-6;

/// `neurona gradcheck <config>`: the configured network (seeded init) on the first `batch`
/// training images, in f64 whatever the config's precision. Prints a table; an error above the
/// tolerances is a failed check (exit code 1).
pub fn run(config: &MlpConfig, batch: usize, max_fd_elements: usize) -> Result<Vec<TensorCheck>> {
    let device = crate::backend::device(config.backend, crate::backend::Precision::F64)?.autodiff();
    device.seed(config.seed);
    let data = MnistData::load(&config.data, config.seed)?;
    let batcher = ImageBatcher {
        images: data.train.clone(),
        normalization: data.normalization,
    };
    let rows: Vec<usize> = data
        .train_indices
        .iter()
        .copied()
        .take(batch.max(1))
        .collect();
    let images = batcher.make(&rows, &device);
    let model = config
        .model
        .init(data.train.pixels_per_image(), NUM_CLASSES, &device);
    let checks = check(
        &model,
        images.inputs,
        &Targets::Classes(images.targets),
        max_fd_elements,
        config.seed,
    );
    println!(
        "{:<16} {:>9} {:>20} {:>26}",
        "tensor", "elements", "manual vs autodiff", "manual vs finite diff (n)"
    );
    for c in &checks {
        println!(
            "{:<16} {:>9} {:>20.3e} {:>19.3e} ({})",
            c.name,
            c.elements,
            c.manual_vs_autodiff,
            c.manual_vs_finite_difference,
            c.finite_difference_elements
        );
    }
    let worst_auto = checks
        .iter()
        .map(|c| c.manual_vs_autodiff)
        .fold(0.0, f64::max);
    let worst_fd = checks
        .iter()
        .map(|c| c.manual_vs_finite_difference)
        .fold(0.0, f64::max);
    if worst_auto > TOLERANCE_AUTODIFF || worst_fd > TOLERANCE_FINITE_DIFFERENCE {
        return Err(Error::CheckFailed(format!(
            "gradient check failed: manual vs autodiff {worst_auto:.3e} (tolerance {TOLERANCE_AUTODIFF:e}), \
             vs finite differences {worst_fd:.3e} (tolerance {TOLERANCE_FINITE_DIFFERENCE:e})"
        )));
    }
    println!(
        "gradient check passed (tolerances {TOLERANCE_AUTODIFF:e} and {TOLERANCE_FINITE_DIFFERENCE:e})"
    );
    Ok(checks)
}
