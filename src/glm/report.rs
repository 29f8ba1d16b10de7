//! What a GLM run reports, the same way for every family: a coefficient table (the estimate on
//! the fitted scale and, for standardised features, on the original one, plus the family's
//! inference), and the run directory's `config.toml`, `coefficients.json` and `metrics.json`.

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
    /// On the original feature scale (only when standardised).
    pub coef_original: Option<f64>,
    #[serde(flatten)]
    pub inference: S,
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

/// Writes the resolved config, the report as `coefficients.json`, and the training (and
/// held-out) metrics as `metrics.json` into `run_dir`.
pub fn write_run<M: Serialize>(
    run_dir: &Path,
    config: &impl ExperimentFile,
    report: &impl Serialize,
    train: &M,
    valid: Option<&M>,
) -> Result<()> {
    crate::run_dir::create(run_dir, &config.to_toml())?;
    crate::run_dir::write_json(&run_dir.join("coefficients.json"), report)?;
    crate::run_dir::write_json(
        &run_dir.join("metrics.json"),
        &serde_json::json!({ "train": train, "valid": valid }),
    )
}
