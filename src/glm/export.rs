//! `neurona export` of a linear or logistic run: its fitted model as the `nn.Linear` a PyTorch
//! user would write (`linear.weight [k, p]`, `linear.bias [k]`, float64) in safetensors, or as
//! an ONNX graph (`Gemm` and the link: none, `Sigmoid`, `Softmax`, or one-vs-rest's sigmoids
//! normalised to sum to one). The weights are on the features' original scale (a standardised
//! fit is unscaled first), so the input is the design row as the run's features name it: the
//! numeric columns (and their powers `column^k`), one-hot levels `column_level` as 0/1. The
//! metadata (`neurona.features`, `neurona.link`, `neurona.classes`, `neurona.target`) says so.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Task};
use crate::glm::linear::report::LinearModelFile;
use crate::glm::logistic::binary::BinaryModelFile;
use crate::glm::logistic::multiclass::MulticlassModelFile;
use crate::glm::report::StoredCoefficient;
use crate::interop::Format;
use crate::interop::onnx::{Graph, attribute_int};
use crate::interop::tensors::Raw;
use crate::run_dir::read_json;

/// A fitted GLM as `k` linear scores of `p` features and what turns them into the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub features: Vec<String>,
    /// `k × p`, row by row.
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    /// `identity`, `logistic`, `softmax` or `one_vs_rest`.
    pub link: &'static str,
    pub classes: Vec<String>,
    pub target: String,
    /// Every level of each one-hot encoded column, the reference first (empty for runs
    /// written before the levels were recorded).
    pub levels: std::collections::BTreeMap<String, Vec<String>>,
    /// Binary logistic models: the probability of the positive class from which it is
    /// predicted.
    pub threshold: Option<f64>,
}

/// The fitted model of the run in `run_dir`, from its `config.toml` and `coefficients.json`
/// (read through its family's typed view: a field missing or of another type is an error naming
/// the file and the field).
pub fn linear_model(run_dir: &Path) -> Result<LinearModel> {
    let (config_path, text) = crate::run_dir::read_config(run_dir)?;
    let task = Task::detect(&text, &config_path)?;
    let file = run_dir.join("coefficients.json");
    let model = match task {
        Task::LinearRegression => {
            let config = crate::glm::linear::config::LinearConfig::checked(&text, &config_path)?;
            let stored: LinearModelFile = read_json(&file)?;
            LinearModel {
                features: stored.coefficients.iter().map(|c| c.name.clone()).collect(),
                weight: vec![
                    stored
                        .coefficients
                        .iter()
                        .map(StoredCoefficient::original)
                        .collect(),
                ],
                bias: vec![stored.intercept.original()],
                link: "identity",
                classes: Vec::new(),
                target: config.data.target,
                levels: stored.categorical_levels,
                threshold: None,
            }
        }
        Task::LogisticRegression => {
            let config =
                crate::glm::logistic::config::LogisticConfig::checked(&text, &config_path)?;
            use crate::glm::logistic::config::Strategy;
            if config.model.strategy != Strategy::Binary {
                let stored: MulticlassModelFile = read_json(&file)?;
                // One row per class: intercept, then one weight per feature, on the original
                // scale.
                let (key, rows) = if config.data.standardize {
                    let rows = stored.coefficients_original.ok_or_else(|| {
                        Error::Usage(format!(
                            "{} has no \"coefficients_original\": train the run again with this \
                             neurona",
                            file.display()
                        ))
                    })?;
                    ("coefficients_original", rows)
                } else {
                    ("coefficients", stored.coefficients)
                };
                let width = stored.feature_names.len() + 1;
                if rows.len() != stored.classes.len() || rows.iter().any(|r| r.len() != width) {
                    return Err(Error::Data(format!(
                        "{}: {key} holds {} rows of lengths {:?} for {} classes and {} features \
                         (one row per class: the intercept, then one weight per feature)",
                        file.display(),
                        rows.len(),
                        rows.iter().map(Vec::len).collect::<Vec<_>>(),
                        stored.classes.len(),
                        stored.feature_names.len()
                    )));
                }
                LinearModel {
                    features: stored.feature_names,
                    weight: rows
                        .iter()
                        .map(|r| r[1..].iter().map(|e| e.0).collect())
                        .collect(),
                    bias: rows.iter().map(|r| r[0].0).collect(),
                    link: if config.model.strategy == Strategy::Ovr {
                        "one_vs_rest"
                    } else {
                        "softmax"
                    },
                    classes: stored.classes,
                    target: config.data.target,
                    levels: stored.categorical_levels,
                    threshold: None,
                }
            } else {
                // Binary: `(intercept)` first, then one entry per feature.
                let stored: BinaryModelFile = read_json(&file)?;
                if stored.classes.len() != 2 {
                    return Err(Error::Data(format!(
                        "{}: classes holds {} labels ({}); a binary model has two",
                        file.display(),
                        stored.classes.len(),
                        stored.classes.join(", ")
                    )));
                }
                let (intercept, weights) = stored.coefficients.split_first().ok_or_else(|| {
                    Error::Usage(format!("{} lists no coefficients", file.display()))
                })?;
                LinearModel {
                    features: weights.iter().map(|c| c.name.clone()).collect(),
                    weight: vec![weights.iter().map(StoredCoefficient::original).collect()],
                    bias: vec![intercept.original()],
                    link: "logistic",
                    classes: stored.classes,
                    target: config.data.target,
                    levels: stored.categorical_levels,
                    threshold: Some(config.model.threshold),
                }
            }
        }
        Task::ImageClassification | Task::Points => {
            return Err(Error::Usage(format!(
                "{} is an image classification run",
                run_dir.display()
            )));
        }
    };
    if model
        .weight
        .iter()
        .flatten()
        .chain(&model.bias)
        .any(|w| !w.is_finite())
    {
        return Err(Error::Usage(format!(
            "{} holds coefficients that are not finite: nothing to export",
            file.display()
        )));
    }
    Ok(model)
}

impl LinearModel {
    fn tensors(&self) -> std::collections::BTreeMap<String, Raw> {
        let f64s = |values: Vec<f64>, shape: Vec<usize>| Raw {
            dtype: safetensors::Dtype::F64,
            shape,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        let (k, p) = (self.weight.len(), self.features.len());
        std::collections::BTreeMap::from([
            (
                "linear.weight".to_string(),
                f64s(self.weight.concat(), vec![k, p]),
            ),
            ("linear.bias".to_string(), f64s(self.bias.clone(), vec![k])),
        ])
    }

    fn metadata(&self) -> Vec<(String, String)> {
        let described = json!({
            "features": self.features,
            "link": self.link,
            "classes": self.classes,
            "target": self.target,
            "input": "the design row: numeric columns (and powers column^k) in original units, one-hot levels column_level as 0/1",
        });
        described
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (format!("neurona.{k}"), v.to_string()))
            .collect()
    }

    /// The ONNX graph: `features [batch, p]` → `prediction` (linear), `probability` (P of the
    /// second class) or `probabilities [batch, k]`.
    fn onnx(&self, name: &str) -> Result<Vec<u8>> {
        let tensors = self.tensors();
        let mut g = Graph::default();
        let transposed = vec![attribute_int("transB", 1)];
        let scores = g.with_weights("Gemm", "features".into(), &tensors, "linear", transposed)?;
        let output = match self.link {
            "identity" => "prediction",
            "logistic" => {
                g.node("Sigmoid", &[&scores], vec![]);
                "probability"
            }
            "softmax" => {
                g.node("Softmax", &[&scores], vec![attribute_int("axis", 1)]);
                "probabilities"
            }
            _ => {
                // One-vs-rest: each class's sigmoid, normalised to sum to one (as scikit-learn).
                let each = g.node("Sigmoid", &[&scores], vec![]);
                let axis = g.int64s("class_axis", &[1]);
                let total = g.node(
                    "ReduceSum",
                    &[&each, &axis],
                    vec![attribute_int("keepdims", 1)],
                );
                g.node("Div", &[&each, &total], vec![]);
                "probabilities"
            }
        };
        Ok(g.finish(
            name,
            format!(
                "{} GLM of {}: features [batch, {}]",
                self.link,
                self.target,
                self.features.len()
            ),
            ("features", self.features.len()),
            (output, self.weight.len()),
            self.metadata(),
        ))
    }
}

/// Exports the linear or logistic run in `run_dir` as `format`; returns the file written.
pub fn export(run_dir: &Path, format: Format, output: Option<&Path>) -> Result<PathBuf> {
    let model = linear_model(run_dir)?;
    let path = output.map_or_else(|| run_dir.join(format.default_file()), Path::to_path_buf);
    let bytes = match format {
        Format::Safetensors => crate::interop::tensors::write(
            &model.tensors(),
            Some(model.metadata().into_iter().collect()),
        )?,
        Format::Onnx => {
            let name = run_dir
                .file_name()
                .map_or_else(|| "glm".to_string(), |n| n.to_string_lossy().to_string());
            model.onnx(&name)?
        }
    };
    crate::run_dir::write_atomic(&path, &bytes)?;
    Ok(path)
}
