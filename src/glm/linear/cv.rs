//! `neurona cv` for a linear model: k-fold cross-validation over a λ grid scored by held-out
//! mean squared error, the chosen λ (minimum or one-standard-error rule), a refit on all rows,
//! and the regularisation path.

use nalgebra::DVector;
use serde::{Deserialize, Serialize};

use super::config::{LinearConfig, Solver};
use super::least_squares;
use super::report::LinearReport;
use crate::error::{Error, Result};
use crate::glm::Fit;
use crate::glm::cv::{CvRule, Table};
use crate::glm::data::Design;
use crate::glm::penalty::Penalty;
use crate::glm::report::write_run;
use crate::plot::Grid;
use crate::run_dir::Start;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// The grid, largest λ first (objective units).
    pub lambdas: Vec<f64>,
    /// `fold_mse[f][i]`: held-out MSE of fold `f` at `lambdas[i]`.
    pub fold_mse: Vec<Vec<f64>>,
    pub mse_mean: Vec<f64>,
    /// Standard error of the mean over folds (sample std / √k).
    pub mse_se: Vec<f64>,
    pub lambda_min: f64,
    pub lambda_one_se: f64,
    pub rule: CvRule,
    pub lambda: f64,
    /// `path[i][j]`: coefficient `j` fitted on all rows at `lambdas[i]`.
    pub path: Vec<Vec<f64>>,
    pub feature_names: Vec<String>,
    /// The refit on all rows at the chosen λ.
    pub refit: LinearReport,
}

/// The default grid for L1/ElasticNet, like scikit-learn's `LassoCV`: `λ_max = max|xⱼᵀ(y − ȳ)|/(nρ)`
/// (centred columns; the smallest λ that zeroes every coefficient) down to `ratio·λ_max`,
/// `count` values evenly spaced in log λ, converted to the objective's units.
pub(crate) fn default_grid(config: &LinearConfig, design: &Design) -> Result<Vec<f64>> {
    let m = &config.model;
    if !matches!(m.penalty, Penalty::L1 | Penalty::Elasticnet)
        || (m.penalty == Penalty::Elasticnet && m.l1_ratio == 0.0)
    {
        return Err(Error::Config(
            "cross-validation needs an explicit cv.lambdas grid unless the penalty has an L1 part (l1, elasticnet with l1_ratio > 0)".into(),
        ));
    }
    let top = m.lambda_for_l1(least_squares::l1_max(&design.x, &design.y), design.y.len());
    let count = config.cv.n_lambdas;
    let log_ratio = config.cv.lambda_min_ratio.log10();
    Ok((0..count)
        .map(|i| top * 10f64.powf(log_ratio * i as f64 / (count - 1) as f64))
        .collect())
}

/// Fits every λ of `grid` (largest first) on `design`, each warm-started from the previous one.
fn path(config: &LinearConfig, design: &Design, grid: &[f64]) -> Result<Vec<Fit>> {
    let mut model = config.model.clone();
    let engine = config.engine();
    let mut warm: Option<DVector<f64>> = None;
    grid.iter()
        .map(|&lambda| {
            model.lambda = lambda;
            let fit = least_squares::fit(
                &design.x,
                &design.y,
                model.weights(design.y.len()),
                model.solver,
                &config.solver,
                warm.as_ref(),
                &engine,
            )?;
            warm = Some(fit.coef.clone());
            Ok(fit)
        })
        .collect()
}

/// The grid of `config` (explicit, or the default L1 grid), largest λ first.
fn grid(config: &LinearConfig, design: &Design) -> Result<Vec<f64>> {
    let mut grid = match &config.cv.lambdas {
        Some(l) => l.clone(),
        None => default_grid(config, design)?,
    };
    grid.sort_by(|a, b| b.total_cmp(a));
    Ok(grid)
}

/// Runs the cross-validation described by `config` on `design`.
pub fn cross_validate(config: &LinearConfig, design: &Design) -> Result<CvReport> {
    if config.model.solver == Solver::Gd && config.solver.batch_size.is_some() {
        return Err(Error::Config(
            "cross-validation fits full-batch; leave solver.batch_size unset (it selects mini-batch training)".into(),
        ));
    }
    let grid = grid(config, design)?;
    let n = design.y.len();
    let curve = crate::glm::cv::cross_validate(
        n,
        &config.cv,
        config.seed,
        grid.len(),
        |train, held_out| {
            let (train, test) = (design.select(train), design.select(held_out));
            let fits = path(config, &train, &grid)?;
            Ok(fits
                .iter()
                .map(|f| (&test.y - f.predict(&test.x)).norm_squared() / test.y.len() as f64)
                .collect())
        },
    )?;
    let chosen = curve.chosen(config.cv.rule);
    let full_path = path(config, design, &grid)?;
    let refit_config = with_lambda(config, grid[chosen]);
    let refit = LinearReport::new(
        &refit_config,
        design,
        &super::fit_design(&refit_config, design)?,
    );
    Ok(CvReport {
        path: full_path
            .iter()
            .map(|f| f.coef.iter().copied().collect())
            .collect(),
        lambda_min: grid[curve.best],
        lambda_one_se: grid[curve.one_se],
        fold_mse: curve.fold_scores,
        mse_mean: curve.mean,
        mse_se: curve.se,
        rule: config.cv.rule,
        lambda: grid[chosen],
        feature_names: design.feature_names.clone(),
        refit,
        lambdas: grid,
    })
}

/// `config` with the penalty strength `lambda`.
fn with_lambda(config: &LinearConfig, lambda: f64) -> LinearConfig {
    let mut chosen = config.clone();
    chosen.model.lambda = lambda;
    chosen
}

/// `neurona cv`: runs the cross-validation, prints its summary and the refit, and writes
/// `cv.json`, `coefficients.json` (refit), `config.toml` (with the chosen λ) and the plots.
pub fn run(config: &LinearConfig, start: Start) -> Result<CvReport> {
    let run_dir = config.output.run_dir();
    let _claim = crate::run_dir::claim(&run_dir, &super::RUN, start)?;
    let design = crate::glm::data::load(&config.data)?;
    let report = cross_validate(config, &design)?;
    write_run(&run_dir, &with_lambda(config, report.lambda), &report.refit)?;
    crate::run_dir::write_json(&run_dir.join("cv.json"), &report)?;
    let grid = Grid {
        strength: "lambda",
        strengths: &report.lambdas,
    };
    let names = &report.feature_names;
    crate::plot::regularisation_path(
        &run_dir.join("path.svg"),
        &grid,
        &report.path,
        names,
        report.lambda,
    )?;
    let marks = [report.lambda_min, report.lambda_one_se];
    crate::plot::cv_curve(
        &run_dir.join("cv.svg"),
        &grid,
        "MSE",
        &report.mse_mean,
        &report.mse_se,
        marks,
    )?;
    let chosen = report
        .lambdas
        .iter()
        .position(|&l| l == report.lambda)
        .unwrap_or(0);
    let table = Table {
        strength: "lambda",
        score: "mean MSE",
        digits: 4,
    };
    crate::glm::cv::print_table(
        &table,
        &report.lambdas,
        &report.mse_mean,
        &report.mse_se,
        chosen,
    );
    println!(
        "{}-fold CV: λ_min = {}, λ_1se = {}, chosen ({:?}) λ = {}",
        config.cv.folds, report.lambda_min, report.lambda_one_se, report.rule, report.lambda
    );
    print!("{}", report.refit);
    println!("wrote {}", run_dir.display());
    Ok(report)
}
