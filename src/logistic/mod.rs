//! Logistic regression (`task = "logistic_regression"`): maximum likelihood by Newton–Raphson with
//! statistical inference (standard errors from the inverse Fisher information, z, p-values, 95 %
//! intervals, log-likelihood, deviance, AIC), L1/L2/ElasticNet penalties (intercept unpenalised),
//! full-batch gradient descent through Burn's autodiff, and the classification metrics.

pub mod config;
pub mod metrics;
pub mod multiclass;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::error::{Error, Result};
use crate::linear::config::{PenaltyWeights, SolverConfig};
use crate::linear::solvers::{Loss, coordinate_descent_quadratic, gradient_descent};
use crate::tabular::Design;
use config::{LogisticConfig, LogisticSolver, Strategy};
use metrics::BinaryMetrics;

/// `log(1 + eᶻ)` without overflow.
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// `1 / (1 + e⁻ᶻ)` without overflow.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `softmax(z)ᵢ = e^(zᵢ − max z) / Σⱼ e^(zⱼ − max z)`: subtracting the maximum changes nothing
/// mathematically and keeps every exponent ≤ 0, so large scores cannot overflow.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// A fitted binary model: `P(y = 1 | x) = σ(intercept + x·coef)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticFit {
    pub intercept: f64,
    pub coef: DVector<f64>,
    pub iterations: usize,
    pub converged: bool,
}

impl LogisticFit {
    /// Log-odds `η = b + x·w` of each row.
    pub fn log_odds(&self, x: &DMatrix<f64>) -> DVector<f64> {
        x * &self.coef + DVector::from_element(x.nrows(), self.intercept)
    }

    pub fn probabilities(&self, x: &DMatrix<f64>) -> DVector<f64> {
        self.log_odds(x).map(sigmoid)
    }

    fn theta(&self) -> DVector<f64> {
        DVector::from_iterator(
            self.coef.len() + 1,
            std::iter::once(self.intercept).chain(self.coef.iter().copied()),
        )
    }
}

impl From<crate::linear::solvers::Fit> for LogisticFit {
    /// The iterative solvers are shared with the linear model; their result is the same shape.
    fn from(f: crate::linear::solvers::Fit) -> Self {
        LogisticFit {
            intercept: f.intercept,
            coef: f.coef,
            iterations: f.iterations,
            converged: f.converged,
        }
    }
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

/// Newton iterations are few (quadratic convergence); a run that needs more than this is
/// heading to infinity (separation) rather than converging.
pub(crate) const NEWTON_MAX_STEPS: usize = 200;

/// Newton–Raphson on the penalised negative log-likelihood. Each step minimises the quadratic
/// model `½θ'ᵀHθ' − (Hθ − g)ᵀθ' + penalty(θ')` with `H = X̃ᵀWX̃/n`, `g = X̃ᵀ(p − y)/n`,
/// `W = diag(p(1 − p))` — in closed form without L1 (IRLS), by coordinate descent with L1
/// (proximal Newton) — then halves the step until the objective decreases.
pub fn newton(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    weights: PenaltyWeights,
    options: &SolverConfig,
) -> Result<LogisticFit> {
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
        let target = if weights.l1 == 0.0 {
            let mut penalised = hessian.clone();
            for j in 1..k {
                penalised[(j, j)] += weights.l2;
            }
            match penalised.cholesky() {
                Some(c) => c.solve(&rhs),
                // Fitted probabilities at 0 or 1 zero the weights: the data are separated and
                // the estimate runs off to infinity. Stop here; the report flags it.
                None if (&xt * &theta).amax() > 30.0 => return Ok(split(theta, step, false)),
                None => {
                    return Err(Error::Data(
                        "the Hessian is singular: a feature is constant or a linear combination of others".into(),
                    ));
                }
            }
        } else {
            coordinate_descent_quadratic(&hessian, &rhs, |j| j > 0, weights, options, theta.clone())
                .0
        };
        let (next, next_value) = halving_step(&theta, &(target - &theta), value, |t| {
            objective(&xt, y, t, weights)
        });
        let moved = (&next - &theta).amax();
        let scale = next.amax();
        theta = next;
        value = next_value;
        if moved <= options.tol * scale.max(1e-300) || moved == 0.0 {
            return Ok(split(theta, step, true));
        }
    }
    Ok(split(theta, NEWTON_MAX_STEPS, false))
}

/// `θ + t·d` for the largest `t` in 1, ½, ¼, … whose objective is no worse than `value` (the
/// last one tried, `t ≈ 1e-12`, if none is): the safeguard of both Newton solvers.
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

fn split(theta: DVector<f64>, iterations: usize, converged: bool) -> LogisticFit {
    LogisticFit {
        intercept: theta[0],
        coef: theta.rows(1, theta.len() - 1).into_owned(),
        iterations,
        converged,
    }
}

/// One row of the coefficient table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticCoefficient {
    pub name: String,
    pub coef: f64,
    /// On the original feature scale (only when standardised).
    pub coef_original: Option<f64>,
    /// Unpenalised fits only: inference at the maximum-likelihood estimate.
    pub std_error: Option<f64>,
    pub z: Option<f64>,
    pub p_value: Option<f64>,
    pub ci_low: Option<f64>,
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
    pub coefficients: Vec<LogisticCoefficient>,
    pub nonzero: usize,
    pub log_likelihood: f64,
    pub null_log_likelihood: f64,
    pub deviance: f64,
    pub aic: f64,
    /// Set when some observations are fitted with probability 0 or 1 (quasi-separation).
    pub separation: Option<String>,
    pub train: BinaryMetrics,
    pub valid: Option<BinaryMetrics>,
}

/// Two-sided 95 % normal quantile.
const Z_975: f64 = 1.959_963_984_540_054;

impl LogisticReport {
    pub fn new(
        config: &LogisticConfig,
        classes: [String; 2],
        design: &Design,
        fit: &LogisticFit,
    ) -> Self {
        let n = design.y.len();
        let weights = config.model.weights(n);
        let eta = fit.log_odds(&design.x);
        let ll = log_likelihood(&eta, &design.y);
        let ybar = design.y.mean();
        let null = n as f64 * (ybar * ybar.ln() + (1.0 - ybar) * (1.0 - ybar).ln());
        let k = fit.coef.len() + 1;
        // p-values need the sampling distribution of the MLE; a penalised estimate is biased and
        // its Hessian does not give valid standard errors.
        let se = (weights.l1 == 0.0 && weights.l2 == 0.0)
            .then(|| fisher_std_errors(&design.x, &eta))
            .flatten();
        let normal = Normal::standard();
        let theta = fit.theta();
        let original = design.scaling.as_ref().map(|s| {
            let (b, w) = s.unscale(fit.intercept, &fit.coef);
            std::iter::once(b).chain(w).collect::<Vec<_>>()
        });
        let names =
            std::iter::once("(intercept)".to_string()).chain(design.feature_names.iter().cloned());
        let coefficients = names
            .enumerate()
            .map(|(i, name)| {
                let s = se.as_ref().map(|se| se[i]);
                let z = s.map(|s| theta[i] / s);
                LogisticCoefficient {
                    name,
                    coef: theta[i],
                    coef_original: original.as_ref().map(|o| o[i]),
                    std_error: s,
                    z,
                    p_value: z.map(|z| 2.0 * normal.sf(z.abs())),
                    ci_low: s.map(|s| theta[i] - Z_975 * s),
                    ci_high: s.map(|s| theta[i] + Z_975 * s),
                }
            })
            .collect();
        let certain = eta.iter().filter(|e| e.abs() > 36.0).count();
        let separation = (certain > 0 || !fit.converged).then(|| {
            format!(
                "quasi-separation: {certain} of {n} observations are fitted with probability 0 or 1{}; \
                 the maximum-likelihood estimate is at infinity, so coefficients and standard errors are \
                 not meaningful — add an L2 penalty or drop the separating feature",
                if fit.converged { "" } else { " and Newton did not converge" }
            )
        });
        LogisticReport {
            classes,
            l1: weights.l1,
            l2: weights.l2,
            solver: config.model.solver,
            iterations: fit.iterations,
            converged: fit.converged,
            rows_dropped_missing_target: design.dropped_rows,
            coefficients,
            nonzero: fit.coef.iter().filter(|c| **c != 0.0).count(),
            log_likelihood: ll,
            null_log_likelihood: null,
            deviance: -2.0 * ll,
            aic: -2.0 * ll + 2.0 * k as f64,
            separation,
            train: BinaryMetrics::new(
                &fit.probabilities(&design.x),
                &design.y,
                config.model.threshold,
            ),
            valid: None,
        }
    }
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

/// Codes the target as 0/1: exactly two classes, the positive one configured or the second in
/// sorted order. Returns `[negative, positive]`.
pub fn binary_target(
    config: &LogisticConfig,
    design: &mut Design,
    targets: &[(usize, String)],
) -> Result<[String; 2]> {
    let mut levels: Vec<&str> = targets.iter().map(|(_, v)| v.as_str()).collect();
    levels.sort_unstable();
    levels.dedup();
    let target = &config.data.target;
    let positive = match &config.model.positive {
        Some(p) if levels.contains(&p.as_str()) => p.clone(),
        Some(p) => {
            return Err(Error::Data(format!(
                "model.positive = {p:?} is not a value of {target:?} (its values: {})",
                levels.join(", ")
            )));
        }
        None => levels.get(1).map(|s| s.to_string()).unwrap_or_default(),
    };
    match levels.len() {
        0 | 1 => {
            return Err(Error::Data(format!(
                "{target:?} has a single class ({}): a classifier needs both",
                levels.first().unwrap_or(&"")
            )));
        }
        2 => {}
        k => {
            return Err(Error::Data(format!(
                "{target:?} has {k} classes ({}): a binary model needs two; use strategy \"ovr\" or \"softmax\"",
                levels.join(", ")
            )));
        }
    }
    let negative = levels
        .iter()
        .find(|l| **l != positive)
        .expect("two levels")
        .to_string();
    for (i, (_, v)) in targets.iter().enumerate() {
        design.y[i] = f64::from(u8::from(*v == positive));
    }
    Ok([negative, positive])
}

/// Fits the configured model.
pub fn fit(config: &LogisticConfig, design: &Design) -> Result<LogisticFit> {
    let weights = config.model.weights(design.y.len());
    match config.model.solver {
        LogisticSolver::Newton => newton(&design.x, &design.y, weights, &config.solver),
        LogisticSolver::Gd if config.solver.batch_size.is_some() => {
            let run = crate::linear::learner::MiniBatch {
                loss: Loss::Logistic,
                weights,
                solver: &config.solver,
                backend: config.backend,
                precision: config.precision,
                seed: config.seed,
            };
            let f = crate::linear::learner::fit(
                &run,
                design,
                &design.select(&[]),
                &config.output.run_dir(),
            )?;
            Ok(f.into())
        }
        LogisticSolver::Gd => {
            let device = crate::backend::device(config.backend, config.precision)?;
            device.seed(config.seed);
            let f = gradient_descent(
                &design.x,
                &design.y,
                weights,
                &config.solver,
                &device,
                Loss::Logistic,
            )?;
            Ok(f.into())
        }
    }
}

/// `neurona train` for a logistic model: fit, print, write `config.toml`, `coefficients.json`,
/// `metrics.json` (and for two classes `roc.svg`, plus `decision.svg` or `probability.svg`)
/// into the run directory.
pub fn train(config: &LogisticConfig) -> Result<()> {
    let (mut design, targets) = crate::tabular::load_labelled(&config.data)?;
    if config.model.strategy != Strategy::Binary {
        multiclass::train(config, design, &targets)?;
        return Ok(());
    }
    let classes = binary_target(config, &mut design, &targets)?;
    let (train, valid) = design.split(config.data.validation_fraction, config.seed);
    let fit = fit(config, &train)?;
    let mut report = LogisticReport::new(config, classes, &train, &fit);
    report.valid = (!valid.y.is_empty()).then(|| {
        BinaryMetrics::new(
            &fit.probabilities(&valid.x),
            &valid.y,
            config.model.threshold,
        )
    });
    let run_dir = write_run(
        config,
        &report,
        serde_json::json!({ "train": report.train, "valid": report.valid }),
    )?;
    crate::plot::roc(
        &run_dir.join("roc.svg"),
        &report.train.roc,
        report.train.auc,
    )?;
    plot_fit(&run_dir, &train, &fit, config.model.threshold)?;
    print!("{report}");
    println!("wrote {}", run_dir.display());
    Ok(())
}

/// `decision.svg` for a model of two raw numeric features, `probability.svg` for one (both also
/// with their polynomial powers); nothing for other models.
fn plot_fit(
    run_dir: &std::path::Path,
    design: &Design,
    fit: &LogisticFit,
    threshold: f64,
) -> Result<()> {
    let Some(columns) = design.numeric_columns() else {
        return Ok(());
    };
    let raw: Vec<Vec<f64>> = columns.iter().map(|c| design.raw_column(c)).collect();
    let p = |values: &[f64]| {
        sigmoid(fit.intercept + design.features_for(&columns, values).dot(&fit.coef))
    };
    match raw.as_slice() {
        [a] => {
            let points: Vec<(f64, f64)> = a.iter().copied().zip(design.y.iter().copied()).collect();
            crate::plot::probability_curve(
                &run_dir.join("probability.svg"),
                &columns[0],
                &points,
                |x| p(&[x]),
            )
        }
        [a, b] => {
            let points: Vec<(f64, f64)> = a.iter().copied().zip(b.iter().copied()).collect();
            let positive: Vec<bool> = design.y.iter().map(|&v| v == 1.0).collect();
            let axes = [columns[0].as_str(), columns[1].as_str()];
            crate::plot::decision_regions(
                &run_dir.join("decision.svg"),
                axes,
                &points,
                &positive,
                |x, y| p(&[x, y]),
                threshold,
            )
        }
        _ => Ok(()),
    }
}

/// Writes the resolved config, the report as `coefficients.json` and `metrics`; returns the run directory.
fn write_run(
    config: &LogisticConfig,
    report: &impl Serialize,
    metrics: serde_json::Value,
) -> Result<std::path::PathBuf> {
    let run_dir = config.output.run_dir();
    std::fs::create_dir_all(&run_dir).map_err(Error::io(&run_dir))?;
    crate::report::write_atomic(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    crate::report::write_json(&run_dir.join("coefficients.json"), report)?;
    crate::report::write_json(&run_dir.join("metrics.json"), &metrics)?;
    Ok(run_dir)
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
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
        if self.rows_dropped_missing_target > 0 {
            writeln!(
                f,
                "{} rows without a target dropped",
                self.rows_dropped_missing_target
            )?;
        }
        writeln!(
            f,
            "{:<14} {:>13} {:>13} {:>11} {:>8} {:>10} {:>23}",
            "term", "coef", "original", "std err", "z", "p", "95% CI"
        )?;
        for c in &self.coefficients {
            let ci = match (c.ci_low, c.ci_high) {
                (Some(l), Some(h)) => format!("[{l:.4e}, {h:.4e}]"),
                _ => "-".into(),
            };
            writeln!(
                f,
                "{:<14} {:>13.6e} {:>13} {:>11} {:>8} {:>10} {:>23}",
                c.name,
                c.coef,
                cell(c.coef_original, 6),
                c.std_error.map_or("-".into(), |v| format!("{v:.4e}")),
                cell(c.z, 3),
                c.p_value.map_or("-".into(), |v| format!("{v:.3e}")),
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
