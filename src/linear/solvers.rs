//! The three ways to minimise `(1/2n)·‖y − Xw − b‖² + l1·‖w‖₁ + (l2/2)·‖w‖²`.
//! `normal_equations` and `coordinate_descent` work in f64 on the CPU on centred data (so the
//! intercept is never penalised: `b = ȳ − x̄ᵀw`); `gd` trains a Burn `Linear` module through
//! autodiff on any backend, as the course teaches.

use burn::nn::{Initializer, Linear, LinearConfig as LayerConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use nalgebra::{DMatrix, DVector};

use super::config::{PenaltyWeights, Solver, SolverConfig};
use crate::error::{Error, Result};

/// A fitted linear model `ŷ = X·coef + intercept`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub intercept: f64,
    pub coef: DVector<f64>,
    /// Iterations (gd) or sweeps (coordinate descent); 0 for the closed form.
    pub iterations: usize,
    /// False when `max_iter` ran out before the tolerance was met.
    pub converged: bool,
}

impl Fit {
    pub fn predict(&self, x: &DMatrix<f64>) -> DVector<f64> {
        x * &self.coef + DVector::from_element(x.nrows(), self.intercept)
    }
}

/// `X` and `y` with their column means removed.
struct Centred {
    x: DMatrix<f64>,
    y: DVector<f64>,
    x_mean: DVector<f64>,
    y_mean: f64,
}

fn centre(x: &DMatrix<f64>, y: &DVector<f64>) -> Centred {
    let x_mean = DVector::from_iterator(x.ncols(), x.column_iter().map(|c| c.mean()));
    let y_mean = y.mean();
    let mut xc = x.clone();
    for (mut col, m) in xc.column_iter_mut().zip(x_mean.iter()) {
        col.add_scalar_mut(-m);
    }
    Centred {
        x: xc,
        y: y.add_scalar(-y_mean),
        x_mean,
        y_mean,
    }
}

impl Centred {
    /// `Xcᵀyc / n`: what coordinate descent starts from, and what λ_max is read from.
    fn correlations(&self) -> DVector<f64> {
        self.x.tr_mul(&self.y) / self.x.nrows() as f64
    }

    fn fit(&self, coef: DVector<f64>, iterations: usize, converged: bool) -> Fit {
        Fit {
            intercept: self.y_mean - self.x_mean.dot(&coef),
            coef,
            iterations,
            converged,
        }
    }
}

/// The smallest L1 weight at which every coefficient is zero: `max_j |xⱼᵀ(y − ȳ)|/n` on centred
/// columns, computed exactly as coordinate descent sees it.
pub fn l1_max(x: &DMatrix<f64>, y: &DVector<f64>) -> f64 {
    centre(x, y).correlations().amax()
}

/// The concrete solver for `auto`: the closed form when there is no L1 term.
pub fn resolve(solver: Solver, weights: PenaltyWeights) -> Solver {
    match solver {
        Solver::Auto if weights.l1 == 0.0 => Solver::NormalEquations,
        Solver::Auto => Solver::CoordinateDescent,
        other => other,
    }
}

/// Fits with `solver`; `warm` starts the iterative solvers from earlier coefficients (paths, CV).
pub fn fit(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    weights: PenaltyWeights,
    solver: Solver,
    options: &SolverConfig,
    warm: Option<&DVector<f64>>,
    device: &dyn Fn() -> Result<Device>,
) -> Result<Fit> {
    match resolve(solver, weights) {
        Solver::NormalEquations => normal_equations(x, y, weights),
        Solver::CoordinateDescent => Ok(coordinate_descent(x, y, weights, options, warm)),
        Solver::Gd => gradient_descent(x, y, weights, options, &device()?, Loss::Squared),
        Solver::Auto => unreachable!("resolved"),
    }
}

/// `(XcᵀXc + n·l2·I) w = Xcᵀyc` by Cholesky.
pub fn normal_equations(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    weights: PenaltyWeights,
) -> Result<Fit> {
    assert_eq!(weights.l1, 0.0, "validated: no closed form with an L1 term");
    let c = centre(x, y);
    let n = x.nrows() as f64;
    let mut gram = c.x.tr_mul(&c.x);
    for i in 0..gram.nrows() {
        gram[(i, i)] += n * weights.l2;
    }
    let rhs = c.x.tr_mul(&c.y);
    let cholesky = gram.cholesky().ok_or_else(|| {
        Error::Data(
            "XᵀX is singular: some features are constant or linear combinations of others \
             (drop them, or add an L2 penalty)"
                .into(),
        )
    })?;
    Ok(c.fit(cholesky.solve(&rhs), 0, true))
}

/// `sign(z)·max(|z| − t, 0)`.
fn soft_threshold(z: f64, t: f64) -> f64 {
    z.signum() * (z.abs() - t).max(0.0)
}

/// Cyclic coordinate descent for the least-squares objective (see [`coordinate_descent_quadratic`])
/// on centred data: `G = XcᵀXc/n`, `b = Xcᵀyc/n`, every coefficient penalised.
pub fn coordinate_descent(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    weights: PenaltyWeights,
    options: &SolverConfig,
    warm: Option<&DVector<f64>>,
) -> Fit {
    let c = centre(x, y);
    let gram = c.x.tr_mul(&c.x) / x.nrows() as f64;
    let start = warm.cloned().unwrap_or_else(|| DVector::zeros(x.ncols()));
    let (w, sweeps, converged) =
        coordinate_descent_quadratic(&gram, &c.correlations(), |_| true, weights, options, start);
    c.fit(w, sweeps, converged)
}

/// Minimises `½θᵀGθ − bᵀθ + Σⱼ penalised(j)·(l1|θⱼ| + (l2/2)θⱼ²)` by cyclic coordinate descent:
/// each coordinate goes to its exact minimiser given the others,
/// `θⱼ = S(qⱼ + Gⱼⱼθⱼ, l1) / (Gⱼⱼ + l2)` with `q = b − Gθ` kept up to date (O(p) per update),
/// so L1 gives exact zeros. Stops when no coordinate moves by more than `tol` relative to the
/// largest; returns the solution, the sweeps used and whether it converged. Least squares and
/// each Newton step of logistic regression are both this problem.
pub fn coordinate_descent_quadratic(
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

/// The data term minimised by [`gradient_descent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// `(1/2n)·‖Xw + b − y‖²`.
    Squared,
    /// `(1/n)·Σ [log(1 + e^z) − y·z]`, `z = Xw + b`, y ∈ {0, 1}: the logistic negative log-likelihood.
    Logistic,
}

/// Full-batch gradient descent on a Burn `Linear(p → 1)` through autodiff; for an L1 term each
/// step is followed by the proximal soft-threshold of the weights (ISTA). Stops when the
/// objective changes by less than `tol` (relative); a growing or non-finite objective is
/// reported as divergence instead of returning NaN.
pub fn gradient_descent(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    weights: PenaltyWeights,
    options: &SolverConfig,
    device: &Device,
    loss: Loss,
) -> Result<Fit> {
    let (n, p) = (x.nrows(), x.ncols());
    let device = device.clone().autodiff();
    // nalgebra is column-major; Burn wants rows.
    let rows: Vec<f64> = (0..n)
        .flat_map(|i| x.row(i).iter().copied().collect::<Vec<_>>())
        .collect();
    let xs = Tensor::<2>::from_data(TensorData::new(rows, [n, p]), &device);
    let ys = Tensor::<2>::from_data(TensorData::new(y.as_slice().to_vec(), [n, 1]), &device);
    let mut model: Linear = LayerConfig::new(p, 1)
        .with_initializer(Initializer::Zeros)
        .init(&device);
    let mut optimizer = SgdConfig::new().init();
    let lr = options.learning_rate;
    let objective = |model: &Linear| {
        let z = model.forward(xs.clone());
        let mut loss = match loss {
            Loss::Squared => (z - ys.clone())
                .powi_scalar(2)
                .sum()
                .div_scalar(2.0 * n as f64),
            // Binary cross-entropy on the logits: softplus(z) − y·z, with
            // softplus(z) = max(z, 0) + log(1 + e^(−|z|)) so no exponential overflows.
            Loss::Logistic => {
                let softplus = z.clone().clamp_min(0.0) + z.clone().abs().neg().exp().log1p();
                (softplus - ys.clone() * z).sum().div_scalar(n as f64)
            }
        };
        if weights.l2 > 0.0 {
            loss = loss
                + model
                    .weight
                    .val()
                    .powi_scalar(2)
                    .sum()
                    .mul_scalar(weights.l2 / 2.0);
        }
        loss
    };
    let l1_norm = |model: &Linear| scalar(model.weight.val().abs().sum()) * weights.l1;
    let mut first = None;
    let mut current = read_fit(&model, 0, false);
    for iteration in 1..=options.max_iter {
        let loss = objective(&model);
        let value = scalar(loss.clone()) + l1_norm(&model);
        let start = *first.get_or_insert(value);
        if !value.is_finite() || value > 1e3 * start.max(1e-300) {
            return Err(Error::Config(format!(
                "solver \"gd\" diverged at iteration {iteration} (objective {value:.3e}, started at {start:.3e}): \
                 lower solver.learning_rate (now {lr})"
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
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
        let next = read_fit(&model, iteration, true);
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

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("f64")[0]
}

fn read_fit(model: &Linear, iterations: usize, converged: bool) -> Fit {
    let coef = model
        .weight
        .val()
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("f64");
    let intercept = model.bias.as_ref().map_or(0.0, |b| scalar(b.val()));
    Fit {
        intercept,
        coef: DVector::from_vec(coef),
        iterations,
        converged,
    }
}
