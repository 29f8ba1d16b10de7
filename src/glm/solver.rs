//! The solvers every GLM shares, for the canonical objective `data term + l1‖w‖₁ + (l2/2)‖w‖²`
//! (see [`penalty`](super::penalty)): the `[solver]` settings with one validation, coordinate
//! descent on a penalised quadratic (least squares, and each Newton step of logistic
//! regression), the step-halving safeguard of the Newton solvers, and full-batch gradient
//! descent through Burn's autodiff on any backend, as the course teaches.

use burn::nn::{Initializer, Linear, LinearConfig as LayerConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::Fit;
use super::penalty::PenaltyWeights;
use crate::backend::{BackendChoice, Precision};
use crate::divergence::LossWatch;
use crate::error::{Error, Result};
use crate::numeric::{logistic_loss, scalar, to_f64s};

/// `[solver]` of a linear or logistic experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SolverConfig {
    /// Step size of `gd`.
    pub learning_rate: f64,
    /// Iterations of `gd`, sweeps of `coordinate_descent`.
    pub max_iter: usize,
    /// `gd`: stop when the objective changes by less than `tol` (relative);
    /// `coordinate_descent`: when no coefficient moves by more than `tol` (relative to the largest).
    pub tol: f64,
    /// `gd` only: train in mini-batches of this size through burn-train's learner (the MLP's),
    /// for `epochs` epochs; unset means full-batch gradient descent.
    pub batch_size: Option<usize>,
    pub epochs: usize,
}

impl Default for SolverConfig {
    fn default() -> Self {
        Self {
            learning_rate: 0.1,
            max_iter: 100_000,
            tol: 1e-12,
            batch_size: None,
            epochs: 100,
        }
    }
}

/// Limits beyond which an iteration count can only be a mistake (it would run for days).
pub(crate) const MAX_ITER: usize = 100_000_000;
pub(crate) const MAX_EPOCHS: usize = 1_000_000;

impl SolverConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "solver.learning_rate must be > 0, got {}",
                self.learning_rate
            ));
        }
        if !(1..=MAX_ITER).contains(&self.max_iter) {
            return Err(format!(
                "solver.max_iter must be in 1..={MAX_ITER}, got {}",
                self.max_iter
            ));
        }
        if self.batch_size == Some(0) || self.epochs == 0 {
            return Err("solver.batch_size and solver.epochs must be at least 1".into());
        }
        if self.epochs > MAX_EPOCHS {
            return Err(format!(
                "solver.epochs must be at most {MAX_EPOCHS}, got {}",
                self.epochs
            ));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(format!("solver.tol must be > 0, got {}", self.tol));
        }
        Ok(())
    }
}

/// Where the Burn-based solvers (`gd`, mini-batch) run: the experiment's backend, float
/// precision and seed. The f64 CPU solvers need none of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Engine {
    pub backend: BackendChoice,
    pub precision: Precision,
    pub seed: u64,
}

impl Engine {
    /// The seeded device; built only when a Burn-based solver runs.
    pub fn device(&self) -> Result<Device> {
        let device = crate::backend::device(self.backend, self.precision)?;
        device.seed(self.seed);
        Ok(device)
    }
}

/// `sign(z)·max(|z| − t, 0)`.
fn soft_threshold(z: f64, t: f64) -> f64 {
    z.signum() * (z.abs() - t).max(0.0)
}

/// Minimises `½θᵀGθ − bᵀθ + Σⱼ penalised(j)·(l1|θⱼ| + (l2/2)θⱼ²)` by cyclic coordinate descent:
/// each coordinate goes to its exact minimiser given the others,
/// `θⱼ = S(qⱼ + Gⱼⱼθⱼ, l1) / (Gⱼⱼ + l2)` with `q = b − Gθ` kept up to date (O(p) per update),
/// so L1 gives exact zeros. Stops when no coordinate moves by more than `tol` relative to the
/// largest; returns the solution, the sweeps used and whether it converged. Least squares and
/// each Newton step of logistic regression are both this problem.
pub(crate) fn coordinate_descent_quadratic(
    gram: &DMatrix<f64>,
    rhs: &DVector<f64>,
    penalised: impl Fn(usize) -> bool,
    weights: PenaltyWeights,
    options: &SolverConfig,
    start: DVector<f64>,
) -> (DVector<f64>, usize, bool) {
    let mut w = start;
    let mut q = rhs - gram * &w;
    for sweep in 1..=options.max_iter {
        let (mut max_step, mut max_w) = (0.0f64, 0.0f64);
        for j in 0..w.len() {
            let (old, norm) = (w[j], gram[(j, j)]);
            let (l1, l2) = if penalised(j) {
                (weights.l1, weights.l2)
            } else {
                (0.0, 0.0)
            };
            let new = if norm + l2 == 0.0 {
                0.0
            } else {
                soft_threshold(q[j] + norm * old, l1) / (norm + l2)
            };
            if new != old {
                q.axpy(old - new, &gram.column(j), 1.0);
                w[j] = new;
            }
            max_step = max_step.max((new - old).abs());
            max_w = max_w.max(new.abs());
        }
        if max_step <= options.tol * max_w || max_step == 0.0 {
            return (w, sweep, true);
        }
    }
    (w, options.max_iter, false)
}

/// Newton iterations are few (quadratic convergence); a run that needs more than this is
/// heading to infinity (separation) rather than converging.
pub(crate) const NEWTON_MAX_STEPS: usize = 200;

/// `θ + t·d` for the largest `t` in 1, ½, ¼, … whose objective is no worse than `value` (the
/// last one tried, `t ≈ 1e-12`, if none is): the safeguard of the Newton solvers.
pub(crate) fn halving_step(
    theta: &DVector<f64>,
    direction: &DVector<f64>,
    value: f64,
    objective: impl Fn(&DVector<f64>) -> f64,
) -> (DVector<f64>, f64) {
    let mut t = 1.0;
    let (mut next, mut next_value) = (theta.clone(), value);
    while t > 1e-12 {
        next = theta + direction * t;
        next_value = objective(&next);
        if next_value <= value {
            break;
        }
        t /= 2.0;
    }
    (next, next_value)
}

/// The data term of a GLM trained through Burn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// `(1/2n)·‖Xw + b − y‖²`.
    Squared,
    /// `(1/n)·Σ [log(1 + e^z) − y·z]`, `z = Xw + b`, y ∈ {0, 1}: the logistic negative log-likelihood.
    Logistic,
}

impl Loss {
    /// The loss of the all-zero start (every prediction `z = 0`), the yardstick divergence is
    /// measured against ([`crate::divergence`]): `mean(y²)/2`, or `ln 2` for the logistic loss.
    pub(crate) fn untrained(self, y: &DVector<f64>) -> f64 {
        match self {
            Loss::Squared => y.iter().map(|v| v * v).sum::<f64>() / (2.0 * y.len().max(1) as f64),
            Loss::Logistic => std::f64::consts::LN_2,
        }
    }

    /// The mean data term of predictions `z` (one column) for targets `y`.
    pub fn mean(self, z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
        match self {
            Loss::Squared => (z - y).powi_scalar(2).mean().div_scalar(2.0),
            Loss::Logistic => logistic_loss(z, y).mean(),
        }
    }

    /// The data term plus the L2 part of the penalty, `(l2/2)‖w‖²`, for `linear` on a batch:
    /// per batch, the canonical objective without its L1 part.
    pub fn penalised(
        self,
        linear: &Linear,
        x: Tensor<2>,
        y: Tensor<2>,
        l2: f64,
    ) -> (Tensor<2>, Tensor<1>) {
        let z = linear.forward(x);
        let mut loss = self.mean(z.clone(), y);
        if l2 > 0.0 {
            loss = loss
                + linear
                    .weight
                    .val()
                    .powi_scalar(2)
                    .sum()
                    .mul_scalar(l2 / 2.0);
        }
        (z, loss)
    }
}

/// A fresh `Linear(p → 1)` with zero weights: where both Burn-trained GLMs start.
pub(crate) fn zero_linear(p: usize, device: &Device) -> Linear {
    LayerConfig::new(p, 1)
        .with_initializer(Initializer::Zeros)
        .init(device)
}

/// The fit held by a trained `Linear(p → 1)`.
pub(crate) fn read_linear(linear: &Linear, iterations: usize, converged: bool) -> Fit {
    Fit {
        intercept: linear.bias.as_ref().map_or(0.0, |b| scalar(b.val())),
        coef: DVector::from_vec(to_f64s(linear.weight.val())),
        iterations,
        converged,
    }
}

/// Rows of `x` in row-major order (nalgebra is column-major; Burn wants rows).
pub(crate) fn row_major(x: &DMatrix<f64>) -> Vec<f64> {
    x.row_iter()
        .flat_map(|r| r.iter().copied().collect::<Vec<_>>())
        .collect()
}

/// Full-batch gradient descent on a Burn `Linear(p → 1)` through autodiff; for an L1 term each
/// step is followed by the proximal soft-threshold of the weights (ISTA). Stops when no
/// parameter moves by more than `tol` relative to the largest; a growing or non-finite objective
/// is reported as divergence instead of returning NaN.
pub(crate) fn gradient_descent(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    weights: PenaltyWeights,
    options: &SolverConfig,
    device: &Device,
    loss: Loss,
) -> Result<Fit> {
    let (n, p) = (x.nrows(), x.ncols());
    let device = device.clone().autodiff();
    let xs = Tensor::<2>::from_data(TensorData::new(row_major(x), [n, p]), &device);
    let ys = Tensor::<2>::from_data(TensorData::new(y.as_slice().to_vec(), [n, 1]), &device);
    let mut model = zero_linear(p, &device);
    let mut optimizer = SgdConfig::new().init();
    let lr = options.learning_rate;
    let l1_norm = |model: &Linear| scalar(model.weight.val().abs().sum()) * weights.l1;
    let watch = LossWatch::new(loss.untrained(y));
    let mut current = read_linear(&model, 0, false);
    for iteration in 1..=options.max_iter {
        let (_, objective) = loss.penalised(&model, xs.clone(), ys.clone(), weights.l2);
        let value = scalar(objective.clone()) + l1_norm(&model);
        if let Some(detail) = watch.check(value) {
            return Err(Error::Config(format!(
                "solver \"gd\" diverged at iteration {iteration}: the objective {detail}; \
                 lower solver.learning_rate (now {lr})"
            )));
        }
        let grads = GradientsParams::from_grads(objective.backward(), &model);
        model = optimizer.step(lr, model, grads);
        if weights.l1 > 0.0 {
            let threshold = lr * weights.l1;
            model.weight = model.weight.map(|w| {
                let w = w.inner();
                (w.clone().sign() * w.abs().sub_scalar(threshold).clamp_min(0.0))
                    .autodiff()
                    .require_grad()
            });
        }
        // Converged when no parameter moved by more than `tol` relative to the largest one: the
        // objective's own change is too flat a signal along poorly conditioned directions.
        let next = read_linear(&model, iteration, true);
        let step = (next.intercept - current.intercept)
            .abs()
            .max((&next.coef - &current.coef).amax());
        let size = next.intercept.abs().max(next.coef.amax());
        current = next;
        if step <= options.tol * size {
            return Ok(current);
        }
    }
    current.converged = false;
    Ok(current)
}
