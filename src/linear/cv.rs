//! `neurona cv`: k-fold cross-validation over a λ grid, the chosen λ (minimum mean MSE or the
//! one-standard-error rule), a refit on all rows, and the regularisation path.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::config::{CvRule, LinearConfig, Penalty, PenaltyWeights};
use super::solvers::{self, Fit};
use super::{LinearReport, device_for};
use crate::error::{Error, Result};
use crate::tabular::Design;

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

/// Row indices of each fold: contiguous like scikit-learn's `KFold(k)` (the first `n mod k`
/// folds one row longer), after a seeded shuffle when `shuffle = true`.
pub fn folds(n: usize, k: usize, shuffle: bool, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        crate::data::shuffle(&mut order, seed);
    }
    let mut start = 0;
    (0..k)
        .map(|f| {
            let len = n / k + usize::from(f < n % k);
            let fold = order[start..start + len].to_vec();
            start += len;
            fold
        })
        .collect()
}

/// The default grid for L1/ElasticNet, like scikit-learn's `LassoCV`: `λ_max = max|xⱼᵀ(y − ȳ)|/(nρ)`
/// (centred columns; the smallest λ that zeroes every coefficient) down to `ratio·λ_max`,
/// `count` values evenly spaced in log λ, converted to the objective's units.
pub fn default_grid(config: &LinearConfig, design: &Design) -> Result<Vec<f64>> {
    let m = &config.model;
    if !matches!(m.penalty, Penalty::L1 | Penalty::Elasticnet)
        || (m.penalty == Penalty::Elasticnet && m.l1_ratio == 0.0)
    {
        return Err(Error::Config(
            "cross-validation needs an explicit cv.lambdas grid unless the penalty has an L1 part (l1, elasticnet with l1_ratio > 0)".into(),
        ));
    }
    let n = design.y.len();
    let l1_max = solvers::l1_max(&design.x, &design.y);
    let top = PenaltyWeights::lambda_for_l1(l1_max, m.penalty, m.objective, m.l1_ratio, n);
    let count = config.cv.n_lambdas;
    let log_ratio = config.cv.lambda_min_ratio.log10();
    Ok((0..count)
        .map(|i| top * 10f64.powf(log_ratio * i as f64 / (count - 1) as f64))
        .collect())
}

fn rows(x: &DMatrix<f64>, y: &DVector<f64>, idx: &[usize]) -> (DMatrix<f64>, DVector<f64>) {
    (x.select_rows(idx), y.select_rows(idx))
}

/// Fits every λ of `grid` (largest first) on `x, y`, each warm-started from the previous one.
fn path(
    config: &LinearConfig,
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    grid: &[f64],
) -> Result<Vec<Fit>> {
    let m = &config.model;
    let device = device_for(config);
    let mut warm: Option<DVector<f64>> = None;
    grid.iter()
        .map(|&lambda| {
            let weights = PenaltyWeights::new(m.penalty, m.objective, lambda, m.l1_ratio, y.len());
            let fit = solvers::fit(
                x,
                y,
                weights,
                m.solver,
                &config.solver,
                warm.as_ref(),
                &device,
            )?;
            warm = Some(fit.coef.clone());
            Ok(fit)
        })
        .collect()
}

/// Runs the cross-validation described by `config` on `design`.
pub fn cross_validate(config: &LinearConfig, design: &Design) -> Result<CvReport> {
    if config.model.solver == super::config::Solver::Gd && config.solver.batch_size.is_some() {
        return Err(Error::Config(
            "cross-validation fits full-batch; leave solver.batch_size unset (it selects mini-batch training)".into(),
        ));
    }
    let mut grid = match &config.cv.lambdas {
        Some(l) => l.clone(),
        None => default_grid(config, design)?,
    };
    grid.sort_by(|a, b| b.total_cmp(a));
    let n = design.y.len();
    if n < config.cv.folds {
        return Err(Error::Config(format!(
            "cv.folds = {} but there are only {n} rows",
            config.cv.folds
        )));
    }
    let folds = folds(n, config.cv.folds, config.cv.shuffle, config.seed);
    let mut fold_mse = Vec::new();
    for held_out in &folds {
        let train: Vec<usize> = (0..n).filter(|i| !held_out.contains(i)).collect();
        let (x_train, y_train) = rows(&design.x, &design.y, &train);
        let (x_test, y_test) = rows(&design.x, &design.y, held_out);
        let fits = path(config, &x_train, &y_train, &grid)?;
        fold_mse.push(
            fits.iter()
                .map(|f| (&y_test - f.predict(&x_test)).norm_squared() / y_test.len() as f64)
                .collect::<Vec<_>>(),
        );
    }
    let k = folds.len() as f64;
    let mse_mean: Vec<f64> = (0..grid.len())
        .map(|i| fold_mse.iter().map(|f| f[i]).sum::<f64>() / k)
        .collect();
    let mse_se: Vec<f64> = (0..grid.len())
        .map(|i| {
            let var = fold_mse
                .iter()
                .map(|f| (f[i] - mse_mean[i]).powi(2))
                .sum::<f64>()
                / (k - 1.0);
            (var / k).sqrt()
        })
        .collect();
    // The first minimum in grid order (largest λ first), as scikit-learn's argmin.
    let best = (0..grid.len()).fold(0, |b, i| if mse_mean[i] < mse_mean[b] { i } else { b });
    let one_se = (0..grid.len())
        .find(|&i| mse_mean[i] <= mse_mean[best] + mse_se[best])
        .unwrap_or(best);
    let lambda = match config.cv.rule {
        CvRule::Min => grid[best],
        CvRule::OneSe => grid[one_se],
    };
    let full_path = path(config, &design.x, &design.y, &grid)?;
    let mut chosen = config.clone();
    chosen.model.lambda = lambda;
    let refit = LinearReport::new(&chosen, design, &super::fit_design(&chosen, design)?);
    Ok(CvReport {
        path: full_path
            .iter()
            .map(|f| f.coef.iter().copied().collect())
            .collect(),
        lambdas: grid.clone(),
        fold_mse,
        mse_mean,
        mse_se,
        lambda_min: grid[best],
        lambda_one_se: grid[one_se],
        rule: config.cv.rule,
        lambda,
        feature_names: design.feature_names.clone(),
        refit,
    })
}

/// `neurona cv`: runs the cross-validation, prints its summary and the refit, and writes
/// `cv.json`, `coefficients.json` (refit), `config.toml` (with the chosen λ) and the plots.
pub fn run(config: &LinearConfig) -> Result<CvReport> {
    let design = crate::tabular::load(&config.data)?;
    let report = cross_validate(config, &design)?;
    let run_dir = config.output.run_dir();
    let mut chosen = config.clone();
    chosen.model.lambda = report.lambda;
    super::write_run(&run_dir, &chosen, &report.refit)?;
    crate::report::write_json(&run_dir.join("cv.json"), &report)?;
    crate::plot::regularisation_path(&run_dir.join("path.svg"), &report)?;
    crate::plot::cv_curve(&run_dir.join("cv.svg"), &report)?;
    println!("{:>14} {:>14} {:>12}", "lambda", "mean MSE", "std error");
    for i in 0..report.lambdas.len() {
        let mark = if report.lambdas[i] == report.lambda {
            "  <- chosen"
        } else {
            ""
        };
        println!(
            "{:>14.6} {:>14.4} {:>12.4}{mark}",
            report.lambdas[i], report.mse_mean[i], report.mse_se[i]
        );
    }
    println!(
        "{}-fold CV: λ_min = {}, λ_1se = {}, chosen ({:?}) λ = {}",
        config.cv.folds, report.lambda_min, report.lambda_one_se, report.rule, report.lambda
    );
    print!("{}", report.refit);
    println!("wrote {}", run_dir.display());
    Ok(report)
}
