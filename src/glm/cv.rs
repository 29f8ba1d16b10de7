//! k-fold cross-validation over the penalty strength, shared by every GLM: the `[cv]` settings,
//! the folds, each fold's held-out score (mean squared error, log-loss) at each grid point, the
//! mean and its standard error over folds, and the choice by the minimum or the
//! one-standard-error rule. The families say how to fit and score; this says how to choose.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvRule {
    /// The strength with the lowest mean validation score (MSE, log-loss).
    Min,
    /// The strongest penalty whose mean score is within one standard error of the minimum.
    OneSe,
}

/// `[cv]` of a linear or logistic experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CvConfig {
    pub folds: usize,
    /// Shuffle rows (seeded) before cutting folds; false keeps contiguous folds like `KFold(k)`.
    pub shuffle: bool,
    /// Explicit λ grid (objective units); unset means `n_lambdas` log-spaced values from λ_max, the
    /// smallest λ that zeroes every coefficient, down to `lambda_min_ratio · λ_max` (linear
    /// models with an L1 part).
    pub lambdas: Option<Vec<f64>>,
    /// Explicit grid of C for logistic models with `objective = "sklearn"` (as `Cs` of
    /// scikit-learn's `LogisticRegressionCV`).
    pub cs: Option<Vec<f64>>,
    pub n_lambdas: usize,
    pub lambda_min_ratio: f64,
    pub rule: CvRule,
}

impl Default for CvConfig {
    fn default() -> Self {
        Self {
            folds: 5,
            shuffle: false,
            lambdas: None,
            cs: None,
            n_lambdas: 50,
            lambda_min_ratio: 1e-3,
            rule: CvRule::Min,
        }
    }
}

impl CvConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.folds < 2 {
            return Err(format!("cv.folds must be at least 2, got {}", self.folds));
        }
        if let Some(l) = &self.lambdas
            && (l.is_empty() || l.iter().any(|v| !(v.is_finite() && *v >= 0.0)))
        {
            return Err("cv.lambdas must be a non-empty list of numbers ≥ 0".into());
        }
        if let Some(c) = &self.cs
            && (c.is_empty() || c.iter().any(|v| !(v.is_finite() && *v > 0.0)))
        {
            return Err("cv.cs must be a non-empty list of numbers > 0".into());
        }
        if self.n_lambdas < 2 {
            return Err("cv.n_lambdas must be at least 2".into());
        }
        if !(self.lambda_min_ratio > 0.0 && self.lambda_min_ratio < 1.0) {
            return Err(format!(
                "cv.lambda_min_ratio must be in (0, 1), got {}",
                self.lambda_min_ratio
            ));
        }
        Ok(())
    }
}

/// The held-out scores of every fold at every grid point and what they choose.
#[derive(Debug, Clone, PartialEq)]
pub struct CvCurve {
    /// `fold_scores[f][i]`: the held-out score of fold `f` at grid point `i`.
    pub fold_scores: Vec<Vec<f64>>,
    pub mean: Vec<f64>,
    /// Standard error of the mean over folds (sample std / √k).
    pub se: Vec<f64>,
    /// The grid point with the lowest mean: the first in grid order, as scikit-learn's argmin.
    pub best: usize,
    /// The first grid point (strongest penalty first) whose mean is within one standard error
    /// of the best.
    pub one_se: usize,
}

impl CvCurve {
    /// The grid point `rule` chooses.
    pub fn chosen(&self, rule: CvRule) -> usize {
        match rule {
            CvRule::Min => self.best,
            CvRule::OneSe => self.one_se,
        }
    }
}

/// Cuts `n` rows into `config.folds` folds and asks `score` for each fold's held-out scores at
/// the `grid_len` grid points (ordered strongest penalty first), given the training rows and
/// the held-out rows.
pub fn cross_validate(
    n: usize,
    config: &CvConfig,
    seed: u64,
    grid_len: usize,
    mut score: impl FnMut(&[usize], &[usize]) -> Result<Vec<f64>>,
) -> Result<CvCurve> {
    if n < config.folds {
        return Err(Error::Config(format!(
            "cv.folds = {} but there are only {n} rows",
            config.folds
        )));
    }
    let folds = crate::sampling::folds(n, config.folds, config.shuffle, seed);
    let mut fold_scores = Vec::with_capacity(folds.len());
    for held_out in &folds {
        let train: Vec<usize> = (0..n).filter(|i| !held_out.contains(i)).collect();
        fold_scores.push(score(&train, held_out)?);
    }
    let k = folds.len() as f64;
    let mean: Vec<f64> = (0..grid_len)
        .map(|i| fold_scores.iter().map(|f| f[i]).sum::<f64>() / k)
        .collect();
    let se: Vec<f64> = (0..grid_len)
        .map(|i| {
            let var = fold_scores
                .iter()
                .map(|f| (f[i] - mean[i]).powi(2))
                .sum::<f64>()
                / (k - 1.0);
            (var / k).sqrt()
        })
        .collect();
    let best = (0..grid_len).fold(0, |b, i| if mean[i] < mean[b] { i } else { b });
    let one_se = (0..grid_len)
        .find(|&i| mean[i] <= mean[best] + se[best])
        .unwrap_or(best);
    Ok(CvCurve {
        fold_scores,
        mean,
        se,
        best,
        one_se,
    })
}

/// How `print_table` labels and formats the scores.
pub struct Table<'a> {
    /// The grid's name (`lambda`, `C`) and the score's (`mean MSE`).
    pub strength: &'a str,
    pub score: &'a str,
    /// Decimals of the score and its standard error.
    pub digits: usize,
}

/// Prints the grid with the mean score and its standard error, grid point `chosen` marked.
pub(crate) fn print_table(table: &Table, grid: &[f64], mean: &[f64], se: &[f64], chosen: usize) {
    let (strength, score, d) = (table.strength, table.score, table.digits);
    println!("{strength:>14} {score:>14} {:>12}", "std error");
    for (i, value) in grid.iter().enumerate() {
        let mark = if i == chosen { "  <- chosen" } else { "" };
        println!("{value:>14.6} {:>14.d$} {:>12.d$}{mark}", mean[i], se[i]);
    }
}
