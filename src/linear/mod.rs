//! Linear regression with optional Ridge, Lasso or ElasticNet penalties (`task = "linear_regression"`):
//! exact objectives in either the course's or scikit-learn's scaling, three solvers, statistical
//! inference for OLS, k-fold cross-validation over a λ grid and regularisation paths.

pub mod config;
pub mod cv;
pub mod learner;
pub mod solvers;

use std::fmt;
use std::path::Path;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::error::{Error, Result};
use crate::tabular::Design;
use config::{LinearConfig, Penalty, PenaltyWeights, Solver};
use solvers::Fit;

/// One row of the coefficient table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    pub name: String,
    /// On the scale the model was fitted on (standardised features when `standardize = true`).
    pub coef: f64,
    /// On the original feature scale (only when standardised).
    pub coef_original: Option<f64>,
    /// OLS only: standard error, t statistic, two-sided p-value.
    pub std_error: Option<f64>,
    pub t: Option<f64>,
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

/// Everything `neurona train` reports for a linear model (`coefficients.json` + `metrics.json`).
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
    /// Named `(intercept)`; never penalised.
    pub intercept: Coefficient,
    pub coefficients: Vec<Coefficient>,
    pub nonzero: usize,
    pub train: FitMetrics,
    /// On the held-out rows of `data.validation_fraction`, if any.
    pub valid: Option<FitMetrics>,
}

impl LinearReport {
    pub fn new(config: &LinearConfig, design: &Design, fit: &Fit) -> Self {
        let weights = weights(config, design.y.len());
        let inference = (weights.l1 == 0.0 && weights.l2 == 0.0)
            .then(|| ols_inference(&design.x, &design.y, fit))
            .flatten();
        let original = design
            .scaling
            .as_ref()
            .map(|s| s.unscale(fit.intercept, &fit.coef));
        // Row 0 is the intercept, row j + 1 feature j.
        let row = |i: usize, name: &str, coef: f64, coef_original: Option<f64>| Coefficient {
            name: name.to_string(),
            coef,
            coef_original,
            std_error: inference.as_ref().map(|inf| inf.std_error[i]),
            t: inference.as_ref().map(|inf| inf.t[i]),
            p_value: inference.as_ref().map(|inf| inf.p[i]),
        };
        let intercept = row(
            0,
            "(intercept)",
            fit.intercept,
            original.as_ref().map(|(b, _)| *b),
        );
        let coefficients = design
            .feature_names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                row(
                    j + 1,
                    name,
                    fit.coef[j],
                    original.as_ref().map(|(_, c)| c[j]),
                )
            })
            .collect();
        LinearReport {
            penalty: config.model.penalty,
            lambda: config.model.lambda,
            l1_ratio: config.model.l1_ratio,
            l1: weights.l1,
            l2: weights.l2,
            solver: solvers::resolve(config.model.solver, weights),
            iterations: fit.iterations,
            converged: fit.converged,
            rows_dropped_missing_target: design.dropped_rows,
            intercept,
            coefficients,
            nonzero: fit.coef.iter().filter(|c| **c != 0.0).count(),
            train: FitMetrics::of(fit, &design.x, &design.y),
            valid: None,
        }
    }

    /// Adds metrics on held-out rows.
    pub fn with_validation(mut self, fit: &Fit, valid: &Design) -> Self {
        self.valid = (!valid.y.is_empty()).then(|| FitMetrics::of(fit, &valid.x, &valid.y));
        self
    }
}

/// The canonical penalty weights of `config` for `n` rows.
pub fn weights(config: &LinearConfig, n: usize) -> PenaltyWeights {
    let m = &config.model;
    PenaltyWeights::new(m.penalty, m.objective, m.lambda, m.l1_ratio, n)
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
    let theta: Vec<f64> = std::iter::once(fit.intercept)
        .chain(fit.coef.iter().copied())
        .collect();
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

/// The `gd` solver's device, built only when that solver runs.
pub fn device_for(config: &LinearConfig) -> impl Fn() -> Result<burn::prelude::Device> + '_ {
    move || {
        let device = crate::backend::device(config.backend, config.precision)?;
        device.seed(config.seed);
        Ok(device)
    }
}

/// The mini-batch learner's settings for `config` on `n` training rows.
pub fn mini_batch(config: &LinearConfig, n: usize) -> learner::MiniBatch<'_> {
    learner::MiniBatch {
        loss: solvers::Loss::Squared,
        weights: weights(config, n),
        solver: &config.solver,
        backend: config.backend,
        precision: config.precision,
        seed: config.seed,
    }
}

/// Fits the configured model on the whole data set.
pub fn fit_design(config: &LinearConfig, design: &Design) -> Result<Fit> {
    let weights = weights(config, design.y.len());
    solvers::fit(
        &design.x,
        &design.y,
        weights,
        config.model.solver,
        &config.solver,
        None,
        &device_for(config),
    )
}

/// `neurona train` for a linear model: fit, print the coefficient table, write
/// `config.toml`, `coefficients.json` and `metrics.json` into the run directory.
pub fn train(config: &LinearConfig) -> Result<LinearReport> {
    let design = crate::tabular::load(&config.data)?;
    let (train, valid) = design.split(config.data.validation_fraction, config.seed);
    let run_dir = config.output.run_dir();
    let fit = match (config.model.solver, config.solver.batch_size) {
        (Solver::Gd, Some(_)) => {
            learner::fit(&mini_batch(config, train.y.len()), &train, &valid, &run_dir)?
        }
        _ => fit_design(config, &train)?,
    };
    let report = LinearReport::new(config, &train, &fit).with_validation(&fit, &valid);
    write_run(&run_dir, config, &report)?;
    print!("{report}");
    println!("wrote {}", run_dir.display());
    Ok(report)
}

fn write_run(run_dir: &Path, config: &LinearConfig, report: &LinearReport) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(Error::io(run_dir))?;
    crate::report::write_atomic(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    crate::report::write_json(&run_dir.join("coefficients.json"), report)?;
    crate::report::write_json(
        &run_dir.join("metrics.json"),
        &serde_json::json!({ "train": report.train, "valid": report.valid }),
    )
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.6}"))
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
        if self.rows_dropped_missing_target > 0 {
            writeln!(
                f,
                "{} rows without a target dropped",
                self.rows_dropped_missing_target
            )?;
        }
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
                cell(c.coef_original),
                cell(c.std_error),
                c.t.map_or("-".into(), |v| format!("{v:.3}")),
                c.p_value.map_or("-".into(), |v| format!("{v:.4}"))
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
