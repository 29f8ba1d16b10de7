//! `neurona bench` for the GLMs: the median time of a linear model's cross-validation or of a
//! logistic model's fit with its full report (no file output), on data loaded once. The same
//! work is timed in scikit-learn and statsmodels by `bench/*.py`; see BENCHMARKS.md.

use serde::Serialize;

use super::linear::config::LinearConfig;
use super::logistic::binary::LogisticReport;
use super::logistic::config::LogisticConfig;
use crate::error::Result;
use crate::timing::median_seconds;

/// Timing of `neurona cv`'s computation (folds × grid, the full path and the refit).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CvBenchResult {
    pub framework: &'static str,
    pub folds: usize,
    pub lambdas: usize,
    pub repeats: usize,
    pub median_seconds: f64,
    pub chosen_lambda: f64,
}

/// Runs the configured cross-validation `repeats` times; the median time.
pub(crate) fn bench_cv(config: &LinearConfig, repeats: usize) -> Result<CvBenchResult> {
    let design = super::data::load(&config.data)?;
    let (median, repeats, report) = median_seconds(repeats, || {
        super::linear::cv::cross_validate(config, &design)
    });
    Ok(CvBenchResult {
        framework: "neurona",
        folds: config.cv.folds,
        lambdas: config
            .cv
            .lambdas
            .as_ref()
            .map_or(config.cv.n_lambdas, Vec::len),
        repeats,
        median_seconds: median,
        chosen_lambda: report?.lambda,
    })
}

/// Timing of a logistic fit with its full report (inference, metrics, ROC).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FitBenchResult {
    pub framework: &'static str,
    pub rows: usize,
    pub repeats: usize,
    pub median_seconds: f64,
    pub log_likelihood: f64,
}

/// Fits the configured binary logistic model `repeats` times; the median time.
pub(crate) fn bench_logistic(config: &LogisticConfig, repeats: usize) -> Result<FitBenchResult> {
    let (mut design, targets) = super::data::load_labelled(&config.data)?;
    let classes = super::logistic::binary_target(config, &mut design, &targets)?;
    let (median, repeats, report) = median_seconds(repeats, || {
        let fit = super::logistic::fit(config, &design)?;
        Ok::<_, crate::Error>(LogisticReport::new(config, classes.clone(), &design, &fit))
    });
    Ok(FitBenchResult {
        framework: "neurona",
        rows: design.y.len(),
        repeats,
        median_seconds: median,
        log_likelihood: report?.log_likelihood,
    })
}
