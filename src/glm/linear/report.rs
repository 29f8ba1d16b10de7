//! What `neurona train` reports for a linear model (`coefficients.json` + `metrics.json`):
//! coefficients with classical OLS inference when unpenalised, and R², MSE, RMSE per split.

use std::collections::BTreeMap;
use std::fmt;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::config::{LinearConfig, Solver};
use super::least_squares;
use crate::glm::Fit;
use crate::glm::data::Design;
use crate::glm::penalty::Penalty;
use crate::glm::report::{Coefficient, StoredCoefficient, cell, coefficients, write_dropped_rows};

/// OLS inference of one coefficient: standard error, t statistic, two-sided p-value; one that
/// does not exist (a perfect fit has no sampling distribution) is absent from the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TTest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_error: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
}

/// Goodness of fit on a set of rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitMetrics {
    pub n: usize,
    pub r2: f64,
    pub mse: f64,
    pub rmse: f64,
}

impl FitMetrics {
    pub fn of(fit: &Fit, x: &DMatrix<f64>, y: &DVector<f64>) -> Self {
        let residual = y - fit.predict(x);
        let n = y.len();
        let rss = residual.norm_squared();
        let mean = y.mean();
        let tss: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
        let mse = rss / n as f64;
        FitMetrics {
            n,
            r2: 1.0 - rss / tss,
            mse,
            rmse: mse.sqrt(),
        }
    }
}

/// Everything `neurona train` reports for a linear model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearReport {
    pub penalty: Penalty,
    pub lambda: f64,
    pub l1_ratio: f64,
    /// The canonical weights actually minimised: `(1/2n)‖r‖² + l1‖w‖₁ + (l2/2)‖w‖²`.
    pub l1: f64,
    pub l2: f64,
    pub solver: Solver,
    pub iterations: usize,
    pub converged: bool,
    pub rows_dropped_missing_target: usize,
    /// Every level of each one-hot encoded column (the first is the reference).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categorical_levels: BTreeMap<String, Vec<String>>,
    /// Named `(intercept)`; never penalised.
    pub intercept: Coefficient<TTest>,
    pub coefficients: Vec<Coefficient<TTest>>,
    pub nonzero: usize,
    pub train: FitMetrics,
    /// On the held-out rows of `data.validation_fraction`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<FitMetrics>,
}

/// The fitted model in a linear run's `coefficients.json` (a [`LinearReport`]), as `neurona
/// predict` and `export` read it back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct LinearModelFile {
    /// Absent in runs written before the levels were recorded.
    #[serde(default)]
    pub categorical_levels: BTreeMap<String, Vec<String>>,
    pub intercept: StoredCoefficient,
    pub coefficients: Vec<StoredCoefficient>,
}

impl LinearReport {
    pub fn new(config: &LinearConfig, design: &Design, fit: &Fit) -> Self {
        let weights = config.model.weights(design.y.len());
        let inference = weights
            .is_none()
            .then(|| ols_inference(&design.x, &design.y, fit))
            .flatten();
        let mut rows = coefficients(design, fit, |i| match &inference {
            Some(inf) => TTest {
                std_error: Some(inf.std_error[i]),
                t: Some(inf.t[i]),
                p_value: Some(inf.p[i]),
            },
            None => TTest::default(),
        });
        let intercept = rows.remove(0);
        LinearReport {
            penalty: config.model.penalty,
            lambda: config.model.lambda,
            l1_ratio: config.model.l1_ratio,
            l1: weights.l1,
            l2: weights.l2,
            solver: least_squares::resolve(config.model.solver, weights),
            iterations: fit.iterations,
            converged: fit.converged,
            rows_dropped_missing_target: design.dropped_rows,
            categorical_levels: design.levels.clone(),
            intercept,
            coefficients: rows,
            nonzero: fit.nonzero(),
            train: FitMetrics::of(fit, &design.x, &design.y),
            valid: None,
        }
    }

    /// Adds metrics on held-out rows.
    pub(crate) fn with_validation(mut self, fit: &Fit, valid: &Design) -> Self {
        self.valid = (!valid.y.is_empty()).then(|| FitMetrics::of(fit, &valid.x, &valid.y));
        self
    }
}

struct Inference {
    std_error: Vec<f64>,
    t: Vec<f64>,
    p: Vec<f64>,
}

/// Classical OLS inference, intercept first: `Cov = σ̂²(X̃ᵀX̃)⁻¹` with `σ̂² = RSS/(n − p − 1)`,
/// `t = θ/se`, p-values from Student's t with `n − p − 1` degrees of freedom.
/// None when there are no residual degrees of freedom or X̃ᵀX̃ is singular.
fn ols_inference(x: &DMatrix<f64>, y: &DVector<f64>, fit: &Fit) -> Option<Inference> {
    let (n, p) = (x.nrows(), x.ncols());
    let df = n.checked_sub(p + 1).filter(|&d| d > 0)? as f64;
    let design = x.clone().insert_column(0, 1.0);
    let inverse = design.tr_mul(&design).cholesky()?.inverse();
    let sigma2 = (y - fit.predict(x)).norm_squared() / df;
    // A perfect fit (σ̂² = 0) has no sampling distribution to speak of: t would be ±∞.
    if !(sigma2.is_finite() && sigma2 > 0.0) {
        return None;
    }
    let theta = fit.theta();
    let student = StudentsT::new(0.0, 1.0, df).ok()?;
    let std_error: Vec<f64> = (0..=p).map(|i| (sigma2 * inverse[(i, i)]).sqrt()).collect();
    let t: Vec<f64> = theta.iter().zip(&std_error).map(|(c, s)| c / s).collect();
    let p_values = t.iter().map(|t| 2.0 * student.sf(t.abs())).collect();
    Some(Inference {
        std_error,
        t,
        p: p_values,
    })
}

impl fmt::Display for LinearReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:?} penalty, λ = {} (canonical l1 = {:.6e}, l2 = {:.6e}), solver {:?}, {} iterations{}",
            self.penalty,
            self.lambda,
            self.l1,
            self.l2,
            self.solver,
            self.iterations,
            if self.converged {
                ""
            } else {
                " (NOT converged: raise solver.max_iter)"
            }
        )?;
        write_dropped_rows(f, self.rows_dropped_missing_target)?;
        writeln!(
            f,
            "{:<16} {:>14} {:>14} {:>12} {:>9} {:>9}",
            "term", "coef", "original", "std err", "t", "p"
        )?;
        for c in std::iter::once(&self.intercept).chain(&self.coefficients) {
            writeln!(
                f,
                "{:<16} {:>14.6} {:>14} {:>12} {:>9} {:>9}",
                c.name,
                c.coef,
                cell(c.coef_original, 6),
                cell(c.inference.std_error, 6),
                c.inference.t.map_or("-".into(), |v| format!("{v:.3}")),
                c.inference
                    .p_value
                    .map_or("-".into(), |v| format!("{v:.4}"))
            )?;
        }
        writeln!(
            f,
            "non-zero coefficients {}/{}",
            self.nonzero,
            self.coefficients.len()
        )?;
        for (split, m) in [("train", Some(&self.train)), ("valid", self.valid.as_ref())] {
            if let Some(m) = m {
                writeln!(
                    f,
                    "{split:<5}  R² {:.6}   MSE {:.4}   RMSE {:.4}   (n = {})",
                    m.r2, m.mse, m.rmse, m.n
                )?;
            }
        }
        Ok(())
    }
}

crate::fit_report!(LinearReport, FitMetrics);
