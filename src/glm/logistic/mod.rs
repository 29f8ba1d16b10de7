//! Logistic regression (`task = "logistic_regression"`): binary models by maximum likelihood
//! with statistical inference ([`binary`]), one-vs-rest and softmax regression for more classes
//! ([`multiclass`]), L1/L2/ElasticNet penalties (intercept unpenalised), full-batch or
//! mini-batch gradient descent through Burn, and cross-validation of the penalty ([`cv`]).

pub mod binary;
pub mod config;
pub mod cv;
pub mod multiclass;

use crate::error::{Error, Result};
use crate::glm::Fit;
use crate::glm::data::Design;
use crate::glm::learner::{self, MiniBatchSettings};
use crate::glm::report::{announce, write_run};
use crate::glm::solver::{Loss, gradient_descent};
use crate::metrics::BinaryMetrics;
use crate::numeric::sigmoid;
use crate::run_dir::{RunKind, RunLayout, Start};
use binary::{LogisticReport, newton, probabilities};
use config::{LogisticConfig, LogisticSolver, Strategy};

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

/// Fits the configured binary model.
pub fn fit(config: &LogisticConfig, design: &Design) -> Result<Fit> {
    let weights = config.model.weights(design.y.len());
    match config.model.solver {
        LogisticSolver::Newton => newton(&design.x, &design.y, weights, &config.solver),
        LogisticSolver::Gd if config.solver.batch_size.is_some() => {
            let run = MiniBatchSettings {
                loss: Loss::Logistic,
                weights,
                solver: &config.solver,
                engine: config.engine(),
            };
            let no_rows = design.select(&[]);
            learner::fit(&run, design, &no_rows, &config.output.run_dir())
        }
        LogisticSolver::Gd => {
            let device = config.engine().device()?;
            gradient_descent(
                &design.x,
                &design.y,
                weights,
                &config.solver,
                &device,
                Loss::Logistic,
            )
        }
    }
}

/// What a logistic regression run holds: the coefficients, the cross-validation and the plots
/// (regions, probability curve, ROC), mini-batch training's log and checkpoints, exports.
pub(crate) const RUN: RunLayout = RunLayout {
    kind: RunKind::LogisticRegression,
    files: &[
        "coefficients.json",
        "cv.json",
        "training.json",
        crate::run_dir::LIVE_FILE,
        "path.svg",
        "cv.svg",
        "decision.svg",
        "probability.svg",
        "roc.svg",
        "model.safetensors",
        "model.onnx",
        "experiment.log",
    ],
    dirs: &["checkpoint", "train", "valid"],
};

/// `neurona train` for a logistic model: fit, print, write `config.toml`, `coefficients.json`,
/// `metrics.json` (and for two classes `roc.svg`, plus `decision.svg` or `probability.svg`)
/// into the run directory.
pub fn train(config: &LogisticConfig, start: Start) -> Result<()> {
    let run_dir = config.output.run_dir();
    let _claim = crate::run_dir::claim(&run_dir, &RUN, start)?;
    let (mut design, targets) = crate::glm::data::load_labelled(&config.data)?;
    if config.model.weights(design.y.len()).is_none() {
        design.check_full_rank()?;
    }
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
            &probabilities(&fit, &valid.x),
            &valid.y,
            config.model.threshold,
        )
    });
    write_run(&run_dir, config, &report)?;
    crate::plot::roc(
        &run_dir.join("roc.svg"),
        &report.train.roc,
        report.train.auc,
    )?;
    plot_fit(&run_dir, &train, &fit, config.model.threshold)?;
    announce(&run_dir, &report);
    Ok(())
}

/// `decision.svg` for a model of two raw numeric features, `probability.svg` for one (both also
/// with their polynomial powers); nothing for other models.
fn plot_fit(run_dir: &std::path::Path, design: &Design, fit: &Fit, threshold: f64) -> Result<()> {
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
