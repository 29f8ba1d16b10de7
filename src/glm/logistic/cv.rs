//! `neurona cv` for a logistic model (binary, one-vs-rest or softmax): k-fold cross-validation
//! over the penalty strength (`cv.lambdas` for the course's λ, `cv.cs` for scikit-learn's C),
//! scored by the held-out mean log-loss as scikit-learn's `LogisticRegressionCV` with
//! `scoring="neg_log_loss"`, the choice by the minimum or the one-standard-error rule, a refit
//! on all rows, the regularisation path and the plots.

use serde::{Deserialize, Serialize};

use super::binary::{LogisticReport, log_likelihood};
use super::config::{LogisticConfig, Strategy};
use super::multiclass::{self, MulticlassMetrics, MulticlassReport};
use crate::error::{Error, Result};
use crate::glm::cv::{CvRule, Table};
use crate::glm::data::Design;
use crate::glm::penalty::Objective;
use crate::glm::report::write_run;
use crate::plot::Grid;
use crate::run_dir::Start;

/// The refit on all rows at the chosen strength.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Refit {
    Binary(LogisticReport),
    Multiclass(MulticlassReport),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticCvReport {
    /// What the grid holds: `"lambda"` (objective "course") or `"C"` (objective "sklearn").
    pub strength: String,
    /// The grid, strongest penalty first (λ descending, C ascending, as scikit-learn orders Cs).
    pub grid: Vec<f64>,
    /// `fold_log_loss[f][i]`: held-out mean log-loss of fold `f` at `grid[i]`.
    pub fold_log_loss: Vec<Vec<f64>>,
    pub log_loss_mean: Vec<f64>,
    /// Standard error of the mean over folds (sample std / √k).
    pub log_loss_se: Vec<f64>,
    pub strength_min: f64,
    pub strength_one_se: f64,
    pub rule: CvRule,
    /// The chosen strength.
    pub chosen: f64,
    /// `path[i][j]`: weight `j` (named `path_names[j]`) fitted on all rows at `grid[i]`.
    pub path: Vec<Vec<f64>>,
    pub path_names: Vec<String>,
    pub refit: Refit,
}

/// The data with its target coded: 0/1 (binary) or class indices (multiclass) in `design.y`.
struct Coded {
    design: Design,
    classes: Vec<String>,
}

impl Coded {
    fn new(config: &LogisticConfig) -> Result<Self> {
        let (mut design, targets) = crate::glm::data::load_labelled(&config.data)?;
        let classes = match config.model.strategy {
            Strategy::Binary => super::binary_target(config, &mut design, &targets)?.to_vec(),
            _ => multiclass::code_labels(config, &mut design, &targets)?.0,
        };
        Ok(Coded { design, classes })
    }

    /// Fits `config` on `train`; the held-out mean log-loss on `test` and the fitted weights
    /// (class after class for more than two classes).
    fn fit_and_score(
        &self,
        config: &LogisticConfig,
        train: &Design,
        test: &Design,
    ) -> Result<(f64, Vec<f64>)> {
        if config.model.strategy == Strategy::Binary {
            let fit = super::fit(config, train)?;
            let log_loss = -log_likelihood(&fit.predict(&test.x), &test.y) / test.y.len() as f64;
            return Ok((log_loss, fit.coef.iter().copied().collect()));
        }
        let labels = multiclass::labels_of(train);
        let fit = multiclass::fit(config, train, &labels, self.classes.len())?;
        let test_labels = multiclass::labels_of(test);
        let metrics =
            MulticlassMetrics::new(&fit.probabilities(&test.x), &test_labels, &self.classes);
        Ok((metrics.cross_entropy, fit.coef.iter().copied().collect()))
    }

    /// Names of the weights `fit_and_score` returns.
    fn weight_names(&self, config: &LogisticConfig) -> Vec<String> {
        let features = &self.design.feature_names;
        if config.model.strategy == Strategy::Binary {
            return features.clone();
        }
        self.classes
            .iter()
            .flat_map(|c| features.iter().map(move |f| format!("{c}:{f}")))
            .collect()
    }

    /// The refit on all rows.
    fn refit(&self, config: &LogisticConfig) -> Result<Refit> {
        let design = &self.design;
        if config.model.strategy == Strategy::Binary {
            let classes = [self.classes[0].clone(), self.classes[1].clone()];
            let fit = super::fit(config, design)?;
            return Ok(Refit::Binary(LogisticReport::new(
                config, classes, design, &fit,
            )));
        }
        let report =
            multiclass::fit_report(config, design, &design.select(&[]), self.classes.clone())?;
        Ok(Refit::Multiclass(report))
    }
}

/// The grid of `config`, strongest penalty first, and what it holds.
fn grid(config: &LogisticConfig) -> Result<(&'static str, Vec<f64>)> {
    let (name, values) = match config.model.objective {
        Objective::Course => ("lambda", &config.cv.lambdas),
        Objective::Sklearn => ("C", &config.cv.cs),
    };
    let Some(values) = values else {
        return Err(Error::Config(
            "cross-validation of a logistic model needs an explicit grid: cv.lambdas (objective \
             \"course\") or cv.cs (objective \"sklearn\")"
                .into(),
        ));
    };
    let mut grid = values.clone();
    match config.model.objective {
        Objective::Course => grid.sort_by(|a, b| b.total_cmp(a)),
        Objective::Sklearn => grid.sort_by(f64::total_cmp),
    }
    Ok((name, grid))
}

/// `config` with penalty strength `value`.
fn at(config: &LogisticConfig, value: f64) -> LogisticConfig {
    let mut c = config.clone();
    c.model = config.model.with_strength(value);
    c
}

/// Runs the cross-validation described by `config`.
pub fn cross_validate(config: &LogisticConfig) -> Result<LogisticCvReport> {
    if config.solver.batch_size.is_some() {
        return Err(Error::Config(
            "cross-validation fits full-batch; leave solver.batch_size unset (it selects mini-batch training)".into(),
        ));
    }
    let (strength, grid) = grid(config)?;
    let coded = Coded::new(config)?;
    let design = &coded.design;
    let curve = crate::glm::cv::cross_validate(
        design.y.len(),
        &config.cv,
        config.seed,
        grid.len(),
        |train, held_out| {
            let (train, test) = (design.select(train), design.select(held_out));
            grid.iter()
                .map(|&s| Ok(coded.fit_and_score(&at(config, s), &train, &test)?.0))
                .collect()
        },
    )?;
    let chosen = curve.chosen(config.cv.rule);
    let path = grid
        .iter()
        .map(|&s| Ok(coded.fit_and_score(&at(config, s), design, design)?.1))
        .collect::<Result<Vec<_>>>()?;
    Ok(LogisticCvReport {
        strength: strength.to_string(),
        fold_log_loss: curve.fold_scores,
        log_loss_mean: curve.mean,
        log_loss_se: curve.se,
        strength_min: grid[curve.best],
        strength_one_se: grid[curve.one_se],
        rule: config.cv.rule,
        chosen: grid[chosen],
        path,
        path_names: coded.weight_names(config),
        refit: coded.refit(&at(config, grid[chosen]))?,
        grid,
    })
}

/// `neurona cv` for a logistic model: runs the cross-validation, prints its summary and the
/// refit, and writes `cv.json`, `coefficients.json` and `metrics.json` (refit), `config.toml`
/// (with the chosen strength), `path.svg` and `cv.svg`.
pub fn run(config: &LogisticConfig, start: Start) -> Result<LogisticCvReport> {
    let run_dir = config.output.run_dir();
    let _claim = crate::run_dir::claim(&run_dir, &super::RUN, start)?;
    let report = cross_validate(config)?;
    let chosen = at(config, report.chosen);
    match &report.refit {
        Refit::Binary(r) => write_run(&run_dir, &chosen, r)?,
        Refit::Multiclass(r) => write_run(&run_dir, &chosen, r)?,
    }
    crate::run_dir::write_json(&run_dir.join("cv.json"), &report)?;
    let grid = Grid {
        strength: &report.strength,
        strengths: &report.grid,
    };
    let names = &report.path_names;
    crate::plot::regularisation_path(
        &run_dir.join("path.svg"),
        &grid,
        &report.path,
        names,
        report.chosen,
    )?;
    let (mean, se) = (&report.log_loss_mean, &report.log_loss_se);
    let marks = [report.strength_min, report.strength_one_se];
    crate::plot::cv_curve(&run_dir.join("cv.svg"), &grid, "log-loss", mean, se, marks)?;
    let at_chosen = report
        .grid
        .iter()
        .position(|&s| s == report.chosen)
        .unwrap_or(0);
    let table = Table {
        strength: &report.strength,
        score: "mean log-loss",
        digits: 6,
    };
    crate::glm::cv::print_table(&table, &report.grid, mean, se, at_chosen);
    println!(
        "{}-fold CV: {s} with the lowest mean log-loss {}, one-standard-error {s} {}, chosen ({:?}) {s} = {}",
        config.cv.folds,
        report.strength_min,
        report.strength_one_se,
        report.rule,
        report.chosen,
        s = report.strength
    );
    match &report.refit {
        Refit::Binary(r) => print!("{r}"),
        Refit::Multiclass(r) => print!("{r}"),
    }
    println!("wrote {}", run_dir.display());
    Ok(report)
}
