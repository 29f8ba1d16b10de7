//! `neurona gradcheck`: the gradients of a small batch compared per parameter tensor, in f64:
//! Burn's autodiff against central finite differences `(L(θ+ε) − L(θ−ε))/2ε` for every layer
//! kind, and for dense networks also the explicit back-propagation against both. The error of a
//! tensor is `max|a − b| / max(max|a|, max|b|)`, i.e. relative to the tensor's scale, so tiny
//! individual entries do not dominate. Dropout layers are switched off for the check: a random
//! mask drawn afresh on every forward pass has no finite differences (its own derivative, the
//! mask scaled by `1/(1 − p)`, is tested on its own).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::Serialize;

use crate::classifier::config::MlpConfig;
use crate::classifier::data::batcher::ImageBatcher;
use crate::classifier::data::{MnistData, NUM_CLASSES};
use crate::error::{Error, Result};
use crate::network::backprop::{Targets, loss_and_gradients, to_params};
use crate::network::model::{Network, cross_entropy, half_squared_error};
use crate::numeric::to_f64s as host;

/// The comparison for one parameter tensor.
#[derive(Debug, Clone, Serialize)]
pub struct TensorCheck {
    /// The parameter's path in the module (`layers.0.Dense.linear.weight`, `output.bias`, …).
    pub name: String,
    pub elements: usize,
    /// Over `finite_difference_elements` entries (a seeded sample when the tensor is large).
    pub autodiff_vs_finite_difference: f64,
    pub finite_difference_elements: usize,
    /// Of those entries, the ones where the loss has a kink within the finite-difference step
    /// (a ReLU at 0, a max-pool tie): there the two one-sided differences disagree, autodiff
    /// matches one of them, and the central difference matches neither — no error of the
    /// gradient. They are counted here and left out of the error.
    pub kinks: usize,
    /// Dense networks only: the explicit back-propagation against autodiff and against the
    /// finite differences.
    pub manual_vs_autodiff: Option<f64>,
    pub manual_vs_finite_difference: Option<f64>,
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

/// One parameter tensor: its path, id, values, autodiff gradient and manual one (if any).
struct Parameter {
    name: String,
    id: ParamId,
    value: Vec<f64>,
    autodiff: Vec<f64>,
    manual: Option<Vec<f64>>,
}

/// Lists every float parameter with its path and gradients.
struct Collect<'a> {
    path: Vec<String>,
    autodiff: &'a GradientsParams,
    manual: Option<&'a GradientsParams>,
    found: Vec<Parameter>,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let autodiff = self
            .autodiff
            .get::<D>(param.id)
            .map(host)
            .unwrap_or_else(|| vec![0.0; param.val().shape().num_elements()]);
        let manual = self.manual.and_then(|m| m.get::<D>(param.id)).map(host);
        self.found.push(Parameter {
            name: self.path.join("."),
            id: param.id,
            value: host(param.val()),
            autodiff,
            manual,
        });
    }
}

/// The mean loss through the module's own forward pass (what autodiff differentiates).
fn loss_tensor(model: &Network, x: &Tensor<2>, targets: &Targets) -> Tensor<1> {
    let z = model.forward(x.clone());
    match targets {
        Targets::Classes(t) => cross_entropy(model.class_scores(z), t.clone()),
        Targets::Values(y) => half_squared_error(z, y.clone()),
    }
}

/// Compares autodiff and finite-difference gradients of `model` (on an f64 autodiff device) at
/// `x`/`targets`, and the explicit back-propagation's when the network is dense (`manual`); at
/// most `max_fd_elements` entries per tensor get finite differences.
pub fn check(
    model: &Network,
    x: Tensor<2>,
    targets: &Targets,
    max_fd_elements: usize,
    seed: u64,
) -> Vec<TensorCheck> {
    let model = &model.clone().without_dropout();
    let autodiff = GradientsParams::from_grads(loss_tensor(model, &x, targets).backward(), model);
    let manual = model.is_dense().then(|| {
        let (_, _, gradients) = loss_and_gradients(model, x.clone(), targets);
        to_params(model, gradients)
    });
    let mut collect = Collect {
        path: Vec::new(),
        autodiff: &autodiff,
        manual: manual.as_ref(),
        found: Vec::new(),
    };
    model.visit(&mut collect);
    // The finite differences evaluate the loss with untracked parameters: nothing is recorded
    // for a backward pass (tracked, every pass kept its graph: ≈ 100 MB per checked entry for
    // the CNN), and the network still computes as it trains (batch statistics), which an
    // inference copy would not.
    let plain = model.clone().no_grad();
    let loss = |m: &Network| host(loss_tensor(m, &x, targets))[0];
    let at_start = loss(&plain);
    collect
        .found
        .into_iter()
        .enumerate()
        .map(|(t, p)| {
            let mut picks: Vec<usize> = (0..p.value.len()).collect();
            if picks.len() > max_fd_elements {
                crate::sampling::shuffle(&mut picks, seed.wrapping_add(t as u64));
                picks.truncate(max_fd_elements);
            }
            let eps = 1e-6;
            // Per entry: the central difference, and the two one-sided ones.
            let differences: Vec<[f64; 3]> = picks
                .iter()
                .map(|&i| {
                    let at = |delta: f64| {
                        let mut v = p.value.clone();
                        v[i] += delta;
                        loss(&plain.clone().map(&mut Replace { id: p.id, value: v }))
                    };
                    let (up, down) = (at(eps), at(-eps));
                    [
                        (up - down) / (2.0 * eps),
                        (up - at_start) / eps,
                        (at_start - down) / eps,
                    ]
                })
                .collect();
            let smooth: Vec<usize> = (0..picks.len())
                .filter(|&k| {
                    let [_, forward, backward] = differences[k];
                    !at_kink(p.autodiff[picks[k]], forward, backward)
                })
                .collect();
            let finite: Vec<f64> = smooth.iter().map(|&k| differences[k][0]).collect();
            let picked = |g: &[f64]| smooth.iter().map(|&k| g[picks[k]]).collect::<Vec<_>>();
            let manual = p.manual.as_deref();
            TensorCheck {
                elements: p.value.len(),
                autodiff_vs_finite_difference: relative(&picked(&p.autodiff), &finite),
                finite_difference_elements: picks.len(),
                kinks: picks.len() - smooth.len(),
                manual_vs_autodiff: manual.map(|m| relative(m, &p.autodiff)),
                manual_vs_finite_difference: manual.map(|m| relative(&picked(m), &finite)),
                name: p.name,
            }
        })
        .collect()
}

/// Whether a gradient entry sits at a kink of the loss within the step: autodiff's `gradient`
/// agrees with one of the one-sided differences ten times better than they agree with each
/// other. A wrong gradient at a smooth point has both sides agreeing (to `ε·L''`) and autodiff
/// far from both, so it is never taken for a kink.
fn at_kink(gradient: f64, forward: f64, backward: f64) -> bool {
    let nearest = (gradient - forward).abs().min((gradient - backward).abs());
    (forward - backward).abs() > 10.0 * nearest
}

/// Tolerances of `neurona gradcheck` (f64): manual vs autodiff, either vs finite differences.
pub(crate) const TOLERANCE_AUTODIFF: f64 = 1e-10;
pub(crate) const TOLERANCE_FINITE_DIFFERENCE: f64 = 1e-6;

/// `neurona gradcheck <config>`: the configured network (seeded init) on the first `batch`
/// training images, in f64 whatever the config's precision. Prints a table; an error above the
/// tolerances is a failed check (exit code 1).
pub fn run(config: &MlpConfig, batch: usize, max_fd_elements: usize) -> Result<Vec<TensorCheck>> {
    // The batch's values and gradients in f64 must fit in memory (a batch of 10⁸ aborted).
    let mut sized = config.clone();
    sized.training.batch_size = batch.max(1);
    sized.precision = crate::backend::Precision::F64;
    crate::classifier::training::check_memory(&sized)?;
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
    // Real images have flat backgrounds, so neighbouring units often tie exactly, and a max-pool
    // window of tied values is not differentiable: autodiff routes the gradient to one of them,
    // a finite difference sees whichever moves. A little seeded noise (±0.001, far above the
    // finite-difference step) separates the ties without changing what is checked.
    let noise = Tensor::<2>::random(
        images.inputs.dims(),
        burn::tensor::Distribution::Uniform(-1e-3, 1e-3),
        &device,
    );
    let images = crate::network::model::Batch {
        inputs: images.inputs + noise,
        targets: images.targets,
    };
    let model = config
        .model
        .init(config.input_shape(), NUM_CLASSES, &device);
    let checks = check(
        &model,
        images.inputs,
        &Targets::Classes(images.targets),
        max_fd_elements,
        config.seed,
    );
    let width = checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!(
        "{:<width$} {:>9} {:>30} {:>6} {:>20} {:>22}",
        "tensor",
        "elements",
        "autodiff vs finite diff (n)",
        "kinks",
        "manual vs autodiff",
        "manual vs finite diff"
    );
    let optional = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| format!("{v:.3e}"));
    for c in &checks {
        println!(
            "{:<width$} {:>9} {:>21.3e} ({:>6}) {:>6} {:>20} {:>22}",
            c.name,
            c.elements,
            c.autodiff_vs_finite_difference,
            c.finite_difference_elements,
            c.kinks,
            optional(c.manual_vs_autodiff),
            optional(c.manual_vs_finite_difference)
        );
    }
    let worst =
        |f: &dyn Fn(&TensorCheck) -> Option<f64>| checks.iter().filter_map(f).fold(0.0, f64::max);
    let worst_auto = worst(&|c| c.manual_vs_autodiff);
    let worst_fd = worst(&|c| Some(c.autodiff_vs_finite_difference))
        .max(worst(&|c| c.manual_vs_finite_difference));
    if worst_auto > TOLERANCE_AUTODIFF || worst_fd > TOLERANCE_FINITE_DIFFERENCE {
        return Err(Error::CheckFailed(format!(
            "gradient check failed: manual vs autodiff {worst_auto:.3e} (tolerance {TOLERANCE_AUTODIFF:e}), \
             vs finite differences {worst_fd:.3e} (tolerance {TOLERANCE_FINITE_DIFFERENCE:e})"
        )));
    }
    let kinks: usize = checks.iter().map(|c| c.kinks).sum();
    if kinks > 0 {
        println!(
            "{kinks} checked entries sit at a kink of the loss (a ReLU at 0, a max-pool tie) within \
             the step ±1e-6: autodiff matched one side there, as it should; left out of the errors"
        );
    }
    println!(
        "gradient check passed (tolerances {TOLERANCE_AUTODIFF:e} and {TOLERANCE_FINITE_DIFFERENCE:e})"
    );
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::at_kink;

    #[test]
    fn a_kink_is_one_sided_agreement_and_a_wrong_gradient_never_is() {
        // ReLU at 0: the sides are 0 and 1, autodiff takes one of them.
        assert!(at_kink(0.0, 1.0, 0.0));
        assert!(at_kink(1.0, 1.0, 1e-9));
        // Smooth, right: the sides agree to ε·L''; not a kink (and the central check passes).
        assert!(!at_kink(0.5, 0.5 + 1e-7, 0.5 - 1e-7));
        // Smooth, wrong by 50 %: both sides agree, autodiff is far from both.
        assert!(!at_kink(1.5, 1.0 + 1e-7, 1.0 - 1e-7));
        // A wrong gradient halfway between two sides of a kink is not excused either.
        assert!(!at_kink(0.5, 1.0, 0.0));
    }
}
