//! The three ways to minimise `(1/2n)·‖y − Xw − b‖² + l1·‖w‖₁ + (l2/2)·‖w‖²`.
//! `normal_equations` and `coordinate_descent` work in f64 on the CPU on centred data (so the
//! intercept is never penalised: `b = ȳ − x̄ᵀw`); `gd` trains a Burn `Linear` module through
//! autodiff on any backend, as the course teaches (the GLMs' shared `gradient_descent`).

use nalgebra::{DMatrix, DVector};

use super::config::Solver;
use crate::error::{Error, Result};
use crate::glm::Fit;
use crate::glm::penalty::PenaltyWeights;
use crate::glm::solver::{
    Engine, Loss, SolverConfig, coordinate_descent_quadratic, gradient_descent,
};

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
pub(crate) fn l1_max(x: &DMatrix<f64>, y: &DVector<f64>) -> f64 {
    centre(x, y).correlations().amax()
}

/// The concrete solver for `auto`: the closed form when there is no L1 term.
pub(crate) fn resolve(solver: Solver, weights: PenaltyWeights) -> Solver {
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
    engine: &Engine,
) -> Result<Fit> {
    match resolve(solver, weights) {
        Solver::NormalEquations => normal_equations(x, y, weights),
        Solver::CoordinateDescent => Ok(coordinate_descent(x, y, weights, options, warm)),
        Solver::Gd => gradient_descent(x, y, weights, options, &engine.device()?, Loss::Squared),
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

/// Cyclic coordinate descent for the least-squares objective (see `coordinate_descent_quadratic`)
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
