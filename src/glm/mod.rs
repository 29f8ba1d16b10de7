//! Generalised linear models on tabular data — linear regression (Ridge, Lasso, ElasticNet) and
//! logistic/softmax regression — on one core, laid out like linfa's algorithm crates: the CSV
//! becomes a design matrix ([`data`]); hyper-parameters are checked before any fitting (each
//! family's `config`, the shared [`penalty`] mapping and [`solver`] settings); the solvers
//! ([`solver`], [`learner`]) produce one [`Fit`]; reports are written the same way for every
//! family ([`report`]); cross-validation over the penalty strength is shared ([`cv`]).

pub mod bench;
pub mod cv;
pub mod data;
pub mod export;
pub mod learner;
pub mod linear;
pub mod logistic;
pub mod penalty;
pub mod predict;
pub mod report;
pub mod solver;

use nalgebra::{DMatrix, DVector};

/// A fitted linear predictor `η = X·coef + intercept`: the prediction of a linear regression,
/// the log-odds of a binary logistic regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub intercept: f64,
    pub coef: DVector<f64>,
    /// Iterations (gd, Newton), sweeps (coordinate descent) or steps (mini-batch); 0 for a
    /// closed form.
    pub iterations: usize,
    /// False when the iteration limit ran out before the tolerance was met.
    pub converged: bool,
}

impl Fit {
    /// `η = X·coef + intercept` for each row of `x`.
    pub fn predict(&self, x: &DMatrix<f64>) -> DVector<f64> {
        x * &self.coef + DVector::from_element(x.nrows(), self.intercept)
    }

    /// `θ = [intercept, coef…]`.
    pub(crate) fn theta(&self) -> DVector<f64> {
        DVector::from_iterator(
            self.coef.len() + 1,
            std::iter::once(self.intercept).chain(self.coef.iter().copied()),
        )
    }

    /// The fit whose `θ = [intercept, coef…]` is `theta`.
    pub(crate) fn from_theta(theta: DVector<f64>, iterations: usize, converged: bool) -> Self {
        Fit {
            intercept: theta[0],
            coef: theta.rows(1, theta.len() - 1).into_owned(),
            iterations,
            converged,
        }
    }

    /// Coefficients that are not exactly zero (the intercept not counted).
    pub(crate) fn nonzero(&self) -> usize {
        self.coef.iter().filter(|c| **c != 0.0).count()
    }
}
