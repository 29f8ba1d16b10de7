//! Linear regression with optional Ridge, Lasso or ElasticNet penalties (`task = "linear_regression"`):
//! exact objectives in either the course's or scikit-learn's scaling, three solvers, statistical
//! inference for OLS, k-fold cross-validation over a λ grid and regularisation paths.

pub mod config;
pub mod cv;
pub mod least_squares;
pub mod report;

use crate::error::Result;
use crate::glm::Fit;
use crate::glm::data::Design;
use crate::glm::learner::{self, MiniBatchSettings};
use crate::glm::report::{announce, write_run};
use crate::glm::solver::Loss;
use crate::run_dir::{RunKind, RunLayout, Start};
use config::{LinearConfig, Solver};
use report::LinearReport;

/// The mini-batch learner's settings for `config` on `n` training rows.
pub fn mini_batch(config: &LinearConfig, n: usize) -> MiniBatchSettings<'_> {
    MiniBatchSettings {
        loss: Loss::Squared,
        weights: config.model.weights(n),
        solver: &config.solver,
        engine: config.engine(),
    }
}

/// Fits the configured model on the whole data set.
pub fn fit_design(config: &LinearConfig, design: &Design) -> Result<Fit> {
    least_squares::fit(
        &design.x,
        &design.y,
        config.model.weights(design.y.len()),
        config.model.solver,
        &config.solver,
        None,
        &config.engine(),
    )
}

/// What a linear regression run holds: the coefficients, the cross-validation and its plots,
/// mini-batch training's log and checkpoints, exports.
pub(crate) const RUN: RunLayout = RunLayout {
    kind: RunKind::LinearRegression,
    files: &[
        "coefficients.json",
        "cv.json",
        "training.json",
        crate::run_dir::LIVE_FILE,
        "path.svg",
        "cv.svg",
        "model.safetensors",
        "model.onnx",
        "experiment.log",
    ],
    dirs: &["checkpoint", "train", "valid"],
};

/// `neurona train` for a linear model: fit, print the coefficient table, write
/// `config.toml`, `coefficients.json` and `metrics.json` into the run directory.
pub fn train(config: &LinearConfig, start: Start) -> Result<LinearReport> {
    let run_dir = config.output.run_dir();
    let _claim = crate::run_dir::claim(&run_dir, &RUN, start)?;
    let design = crate::glm::data::load(&config.data)?;
    if config.model.weights(design.y.len()).is_none() {
        design.check_full_rank()?;
    }
    let (train, valid) = design.split(config.data.validation_fraction, config.seed);
    let fit = match (config.model.solver, config.solver.batch_size) {
        (Solver::Gd, Some(_)) => {
            learner::fit(&mini_batch(config, train.y.len()), &train, &valid, &run_dir)?
        }
        _ => fit_design(config, &train)?,
    };
    let report = LinearReport::new(config, &train, &fit).with_validation(&fit, &valid);
    write_run(&run_dir, config, &report)?;
    announce(&run_dir, &report);
    Ok(report)
}
