//! What a GLM run reports, the same way for every family: a coefficient table (the estimate on
//! the fitted scale and, for standardised features, on the original one, plus the family's
//! inference), and the run directory's `config.toml`, `coefficients.json` and `metrics.json`.
//! What is read back of `coefficients.json` (by `neurona predict`, `eval --csv` and `export`) is
//! read through a typed struct beside each family's writer (`linear::report::LinearModelFile`,
//! `logistic::binary::BinaryModelFile`, `logistic::multiclass::MulticlassModelFile`), holding
//! only the fitted model: the rest of the file (inference, metrics) is not needed and has changed
//! between versions (values that do not exist are absent; earlier versions wrote `null`).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Fit;
use super::data::Design;
use crate::error::Result;
use crate::experiment::ExperimentFile;

/// One row of the coefficient table; `S` is the family's inference for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coefficient<S> {
    pub name: String,
    /// On the scale the model was fitted on (standardised features when `standardize = true`).
    pub coef: f64,
    /// On the original feature scale (only when standardised; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coef_original: Option<f64>,
    #[serde(flatten)]
    pub inference: S,
}

/// A fitted number read back from a run file: `null` (how serde_json writes a value that is not
/// finite) reads as NaN, which the reader then refuses as not finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate(pub f64);

impl<'de> Deserialize<'de> for Estimate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Estimate(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN)))
    }
}

/// A row of the coefficient table as it is read back: the name and the estimates, without the
/// family's inference.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct StoredCoefficient {
    pub name: String,
    pub coef: Estimate,
    /// Absent (`null` in files of earlier versions) when the fit was not standardised.
    #[serde(default)]
    pub coef_original: Option<f64>,
}

impl StoredCoefficient {
    /// On the original feature scale: `coef_original` when the fit was standardised, else
    /// `coef`.
    pub(crate) fn original(&self) -> f64 {
        self.coef_original.unwrap_or(self.coef.0)
    }
}

/// The coefficient table of `fit`, intercept first; `inference(i)` gives row `i`'s inference.
pub fn coefficients<S>(
    design: &Design,
    fit: &Fit,
    inference: impl Fn(usize) -> S,
) -> Vec<Coefficient<S>> {
    let original = design.scaling.as_ref().map(|s| {
        let (b, w) = s.unscale(fit.intercept, &fit.coef);
        std::iter::once(b).chain(w).collect::<Vec<_>>()
    });
    let names =
        std::iter::once("(intercept)".to_string()).chain(design.feature_names.iter().cloned());
    names
        .zip(fit.theta().iter())
        .enumerate()
        .map(|(i, (name, &coef))| Coefficient {
            name,
            coef,
            coef_original: original.as_ref().map(|o| o[i]),
            inference: inference(i),
        })
        .collect()
}

/// A number with `digits` decimals, or `-` where there is none.
pub fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// A family's report of a fitted model: printable, with metrics on the training rows and, when
/// some were held out, on those.
pub(crate) trait FitReport: Serialize + fmt::Display {
    type Metrics: Serialize;
    fn train_metrics(&self) -> &Self::Metrics;
    fn valid_metrics(&self) -> Option<&Self::Metrics>;
}

/// Implements `FitReport` for a report type with fields `train: M` and `valid: Option<M>`.
#[macro_export]
macro_rules! fit_report {
    ($report:ty, $metrics:ty) => {
        impl $crate::glm::report::FitReport for $report {
            type Metrics = $metrics;

            fn train_metrics(&self) -> &$metrics {
                &self.train
            }

            fn valid_metrics(&self) -> Option<&$metrics> {
                self.valid.as_ref()
            }
        }
    };
}

/// Writes the resolved config, the report as `coefficients.json`, and the training (and
/// held-out) metrics as `metrics.json` into `run_dir`.
pub(crate) fn write_run(
    run_dir: &Path,
    config: &impl ExperimentFile,
    report: &impl FitReport,
) -> Result<()> {
    crate::run_dir::create(run_dir, &config.to_toml(), None)?;
    crate::run_dir::write_json(&run_dir.join("coefficients.json"), report)?;
    crate::run_dir::write_json(
        &run_dir.join("metrics.json"),
        &serde_json::json!({ "train": report.train_metrics(), "valid": report.valid_metrics() }),
    )
}

/// Prints the report and where the run was written.
pub(crate) fn announce(run_dir: &Path, report: &impl FitReport) {
    print!("{report}");
    println!("wrote {}", run_dir.display());
}

/// The line saying how many rows were dropped for lacking a target, if any were.
pub(crate) fn write_dropped_rows(f: &mut fmt::Formatter<'_>, dropped: usize) -> fmt::Result {
    if dropped > 0 {
        writeln!(f, "{dropped} rows without a target dropped")?;
    }
    Ok(())
}
