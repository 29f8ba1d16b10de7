//! Binary logistic regression: maximum likelihood by Newton–Raphson (IRLS), proximal Newton with
//! an L1 part, and the report with statistical inference for unpenalised fits — standard errors
//! from the inverse Fisher information, z, p-values, 95 % intervals, log-likelihood, deviance,
//! AIC — and the classification metrics.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use super::config::{LogisticConfig, LogisticSolver};
use crate::error::{Error, Result};
use crate::glm::Fit;
use crate::glm::data::Design;
use crate::glm::penalty::PenaltyWeights;
use crate::glm::report::{Coefficient, StoredCoefficient, cell, coefficients, write_dropped_rows};
use crate::glm::solver::{
    NEWTON_MAX_STEPS, SolverConfig, coordinate_descent_quadratic, halving_step,
};
use crate::metrics::BinaryMetrics;
use crate::numeric::{sigmoid, softplus};

/// `P(y = 1 | x) = σ(η)` of each row, `η` the fit's log-odds.
pub fn probabilities(fit: &Fit, x: &DMatrix<f64>) -> DVector<f64> {
    fit.predict(x).map(sigmoid)
}

/// `Σᵢ log P(yᵢ | xᵢ)`, computed from log-odds with softplus (no `log(0)`).
pub fn log_likelihood(eta: &DVector<f64>, y: &DVector<f64>) -> f64 {
    eta.iter()
        .zip(y.iter())
        .map(|(&e, &t)| t * e - softplus(e))
        .sum()
}

/// `[1, X]`.
fn with_intercept(x: &DMatrix<f64>) -> DMatrix<f64> {
    x.clone().insert_column(0, 1.0)
}

/// `(1/n)·NLL + l1‖w‖₁ + (l2/2)‖w‖²` at `θ = [b, w]`.
fn objective(
    xt: &DMatrix<f64>,
    y: &DVector<f64>,
    theta: &DVector<f64>,
    weights: PenaltyWeights,
) -> f64 {
    let w = theta.rows(1, theta.len() - 1);
    -log_likelihood(&(xt * theta), y) / y.len() as f64
        + weights.l1 * w.lp_norm(1)
        + weights.l2 / 2.0 * w.norm_squared()
}

/// The minimiser of Newton's quadratic model `½θ'ᵀHθ' − rhsᵀθ' + penalty(θ')`: in closed form
/// without L1 (IRLS), by coordinate descent with L1 (proximal Newton). `None` when the
/// Hessian is singular.
fn newton_target(
    hessian: &DMatrix<f64>,
    rhs: &DVector<f64>,
    theta: &DVector<f64>,
    weights: PenaltyWeights,
    options: &SolverConfig,
) -> Option<DVector<f64>> {
    if weights.l1 > 0.0 {
        let penalised = |j| j > 0;
        let start = theta.clone();
        return Some(
            coordinate_descent_quadratic(hessian, rhs, penalised, weights, options, start).0,
        );
    }
    let mut penalised = hessian.clone();
    for j in 1..hessian.ncols() {
        penalised[(j, j)] += weights.l2;
    }
    penalised.cholesky().map(|c| c.solve(rhs))
}

/// Newton–Raphson on the penalised negative log-likelihood. Each step minimises the quadratic
/// model `½θ'ᵀHθ' − (Hθ − g)ᵀθ' + penalty(θ')` with `H = X̃ᵀWX̃/n`, `g = X̃ᵀ(p − y)/n`,
/// `W = diag(p(1 − p))`, then halves the step until the objective decreases.
pub fn newton(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    weights: PenaltyWeights,
    options: &SolverConfig,
) -> Result<Fit> {
    let n = y.len() as f64;
    let xt = with_intercept(x);
    let k = xt.ncols();
    let mut theta = DVector::zeros(k);
    let mut value = objective(&xt, y, &theta, weights);
    for step in 1..=NEWTON_MAX_STEPS {
        let p = (&xt * &theta).map(sigmoid);
        let w = p.map(|p| (p * (1.0 - p)).max(1e-300));
        let gradient = xt.tr_mul(&(&p - y)) / n;
        let mut hessian = xt.tr_mul(&DMatrix::from_fn(xt.nrows(), k, |i, j| xt[(i, j)] * w[i])) / n;
        hessian.fill_lower_triangle_with_upper_triangle();
        let rhs = &hessian * &theta - &gradient;
        let target = match newton_target(&hessian, &rhs, &theta, weights, options) {
            Some(target) => target,
            // Fitted probabilities at 0 or 1 zero the weights: the data are separated and
            // the estimate runs off to infinity. Stop here; the report flags it.
            None if (&xt * &theta).amax() > 30.0 => return Ok(Fit::from_theta(theta, step, false)),
            None => {
                return Err(Error::Data(
                    "the Hessian is singular: a feature is constant or a linear combination of others".into(),
                ));
            }
        };
        let (next, next_value) = halving_step(&theta, &(target - &theta), value, |t| {
            objective(&xt, y, t, weights)
        });
        let moved = (&next - &theta).amax();
        let scale = next.amax();
        theta = next;
        value = next_value;
        if moved <= options.tol * scale.max(1e-300) || moved == 0.0 {
            return Ok(Fit::from_theta(theta, step, true));
        }
    }
    Ok(Fit::from_theta(theta, NEWTON_MAX_STEPS, false))
}

/// Inference of one coefficient at the maximum-likelihood estimate (unpenalised fits only); a
/// value that cannot be computed (not finite) is absent from the file, not `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ZTest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_error: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
}

/// Everything `neurona train` reports for a binary logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticReport {
    /// `[negative, positive]` class labels.
    pub classes: [String; 2],
    pub l1: f64,
    pub l2: f64,
    pub solver: LogisticSolver,
    pub iterations: usize,
    pub converged: bool,
    pub rows_dropped_missing_target: usize,
    /// Every level of each one-hot encoded column (the first is the reference).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categorical_levels: BTreeMap<String, Vec<String>>,
    pub coefficients: Vec<Coefficient<ZTest>>,
    pub nonzero: usize,
    pub log_likelihood: f64,
    pub null_log_likelihood: f64,
    pub deviance: f64,
    pub aic: f64,
    /// Set when some observations are fitted with probability 0 or 1 (quasi-separation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separation: Option<String>,
    pub train: BinaryMetrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<BinaryMetrics>,
}

/// The fitted model in a binary logistic run's `coefficients.json` (a [`LogisticReport`]), as
/// `neurona predict` and `export` read it back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct BinaryModelFile {
    /// `[negative, positive]` class labels (two; checked by the reader).
    pub classes: Vec<String>,
    /// Absent in runs written before the levels were recorded.
    #[serde(default)]
    pub categorical_levels: BTreeMap<String, Vec<String>>,
    /// `(intercept)` first, then one per feature.
    pub coefficients: Vec<StoredCoefficient>,
}

/// Two-sided 95 % normal quantile.
const Z_975: f64 = 1.959_963_984_540_054;

impl LogisticReport {
    pub fn new(config: &LogisticConfig, classes: [String; 2], design: &Design, fit: &Fit) -> Self {
        let n = design.y.len();
        let weights = config.model.weights(n);
        let eta = fit.predict(&design.x);
        let ll = log_likelihood(&eta, &design.y);
        let ybar = design.y.mean();
        let null = n as f64 * (ybar * ybar.ln() + (1.0 - ybar) * (1.0 - ybar).ln());
        let k = fit.coef.len() + 1;
        // p-values need the sampling distribution of the MLE; a penalised estimate is biased and
        // its Hessian does not give valid standard errors.
        let se = weights
            .is_none()
            .then(|| fisher_std_errors(&design.x, &eta))
            .flatten();
        let normal = Normal::standard();
        let theta = fit.theta();
        let coefficients = coefficients(design, fit, |i| {
            let s = se.as_ref().map(|se| se[i]);
            let z = s.map(|s| theta[i] / s);
            ZTest {
                std_error: s,
                z,
                p_value: z.map(|z| 2.0 * normal.sf(z.abs())),
                ci_low: s.map(|s| theta[i] - Z_975 * s),
                ci_high: s.map(|s| theta[i] + Z_975 * s),
            }
        });
        LogisticReport {
            classes,
            l1: weights.l1,
            l2: weights.l2,
            solver: config.model.solver,
            iterations: fit.iterations,
            converged: fit.converged,
            rows_dropped_missing_target: design.dropped_rows,
            categorical_levels: design.levels.clone(),
            coefficients,
            nonzero: fit.nonzero(),
            log_likelihood: ll,
            null_log_likelihood: null,
            deviance: -2.0 * ll,
            aic: -2.0 * ll + 2.0 * k as f64,
            separation: separation(&eta, fit.converged, config.model.solver),
            train: BinaryMetrics::new(
                &probabilities(fit, &design.x),
                &design.y,
                config.model.threshold,
            ),
            valid: None,
        }
    }
}

/// The warning for fitted probabilities of 0 or 1 (or a solver that did not converge).
fn separation(eta: &DVector<f64>, converged: bool, solver: LogisticSolver) -> Option<String> {
    let certain = eta.iter().filter(|e| e.abs() > 36.0).count();
    (certain > 0 || !converged).then(|| {
        format!(
            "quasi-separation: {certain} of {} observations are fitted with probability 0 or 1{}; \
             the maximum-likelihood estimate is at infinity, so coefficients and standard errors are \
             not meaningful — add an L2 penalty or drop the separating feature",
            eta.len(),
            if converged {
                String::new()
            } else {
                format!(" and {solver:?} did not converge")
            }
        )
    })
}

/// `sqrt(diag((X̃ᵀWX̃)⁻¹))`, `W = diag(p(1 − p))`: the inverse Fisher information.
fn fisher_std_errors(x: &DMatrix<f64>, eta: &DVector<f64>) -> Option<Vec<f64>> {
    let xt = with_intercept(x);
    let w = eta.map(|e| {
        let p = sigmoid(e);
        p * (1.0 - p)
    });
    let weighted = DMatrix::from_fn(xt.nrows(), xt.ncols(), |i, j| xt[(i, j)] * w[i]);
    let inverse = xt.tr_mul(&weighted).cholesky()?.inverse();
    Some((0..xt.ncols()).map(|i| inverse[(i, i)].sqrt()).collect())
}

impl std::fmt::Display for LogisticReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "logistic regression: P({:?}) vs {:?}; l1 = {:.3e}, l2 = {:.3e}, solver {:?}, {} iterations{}",
            self.classes[1],
            self.classes[0],
            self.l1,
            self.l2,
            self.solver,
            self.iterations,
            if self.converged {
                ""
            } else {
                " (NOT converged)"
            }
        )?;
        if let Some(warning) = &self.separation {
            writeln!(f, "WARNING: {warning}")?;
        }
        write_dropped_rows(f, self.rows_dropped_missing_target)?;
        writeln!(
            f,
            "{:<14} {:>13} {:>13} {:>11} {:>8} {:>10} {:>23}",
            "term", "coef", "original", "std err", "z", "p", "95% CI"
        )?;
        for c in &self.coefficients {
            let ci = match (c.inference.ci_low, c.inference.ci_high) {
                (Some(l), Some(h)) => format!("[{l:.4e}, {h:.4e}]"),
                _ => "-".into(),
            };
            writeln!(
                f,
                "{:<14} {:>13.6e} {:>13} {:>11} {:>8} {:>10} {:>23}",
                c.name,
                c.coef,
                cell(c.coef_original, 6),
                c.inference
                    .std_error
                    .map_or("-".into(), |v| format!("{v:.4e}")),
                cell(c.inference.z, 3),
                c.inference
                    .p_value
                    .map_or("-".into(), |v| format!("{v:.3e}")),
                ci
            )?;
        }
        writeln!(
            f,
            "log-likelihood {:.4}  null {:.4}  deviance {:.4}  AIC {:.4}  non-zero {}/{}",
            self.log_likelihood,
            self.null_log_likelihood,
            self.deviance,
            self.aic,
            self.nonzero,
            self.coefficients.len() - 1
        )?;
        for (split, m) in [("train", Some(&self.train)), ("valid", self.valid.as_ref())] {
            if let Some(m) = m {
                write!(f, "{split}: {m}")?;
            }
        }
        Ok(())
    }
}

crate::fit_report!(LogisticReport, BinaryMetrics);
