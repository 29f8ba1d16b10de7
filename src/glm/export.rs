//! `neurona export` of a linear or logistic run: its fitted model as the `nn.Linear` a PyTorch
//! user would write (`linear.weight [k, p]`, `linear.bias [k]`, float64) in safetensors, or as
//! an ONNX graph (`Gemm` and the link: none, `Sigmoid`, `Softmax`, or one-vs-rest's sigmoids
//! normalised to sum to one). The weights are on the features' original scale (a standardised
//! fit is unscaled first), so the input is the design row as the run's features name it: the
//! numeric columns (and their powers `column^k`), one-hot levels `column_level` as 0/1. The
//! metadata (`neurona.features`, `neurona.link`, `neurona.classes`, `neurona.target`) says so.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Task};
use crate::interop::Format;
use crate::interop::onnx::{Graph, attribute_int};
use crate::interop::tensors::Raw;

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

fn field<'a>(value: &'a Value, key: &str, file: &Path) -> Result<&'a Value> {
    value.get(key).ok_or_else(|| {
        Error::Usage(format!(
            "{} has no {key:?}: train the run again with this neurona",
            file.display()
        ))
    })
}

/// The levels of each one-hot encoded column, as `coefficients.json` records them.
fn levels(report: &Value) -> std::collections::BTreeMap<String, Vec<String>> {
    serde_json::from_value(report["categorical_levels"].clone()).unwrap_or_default()
}

/// `coef_original` when the fit was standardised, else `coef`.
fn original(coefficient: &Value) -> f64 {
    coefficient["coef_original"]
        .as_f64()
        .or_else(|| coefficient["coef"].as_f64())
        .unwrap_or(f64::NAN)
}

/// The fitted model of the run in `run_dir`, from its `config.toml` and `coefficients.json`.
pub fn linear_model(run_dir: &Path) -> Result<LinearModel> {
    let (config_path, text) = crate::run_dir::read_config(run_dir)?;
    let task = Task::detect(&text, &config_path)?;
    let file = run_dir.join("coefficients.json");
    let report: Value = serde_json::from_slice(&std::fs::read(&file).map_err(Error::io(&file))?)
        .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
    let names = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let model = match task {
        Task::LinearRegression => {
            let config = crate::glm::linear::config::LinearConfig::checked(&text, &config_path)?;
            let coefficients = field(&report, "coefficients", &file)?
                .as_array()
                .cloned()
                .unwrap_or_default();
            LinearModel {
                features: names(&coefficients),
                weight: vec![coefficients.iter().map(original).collect()],
                bias: vec![original(field(&report, "intercept", &file)?)],
                link: "identity",
                classes: Vec::new(),
                target: config.data.target,
                levels: levels(&report),
                threshold: None,
            }
        }
        Task::LogisticRegression => {
            let config =
                crate::glm::logistic::config::LogisticConfig::checked(&text, &config_path)?;
            let classes: Vec<String> =
                serde_json::from_value(field(&report, "classes", &file)?.clone())
                    .unwrap_or_default();
            use crate::glm::logistic::config::Strategy;
            if config.model.strategy != Strategy::Binary {
                // One row per class: intercept, then one weight per feature, on the original
                // scale.
                let key = if config.data.standardize {
                    "coefficients_original"
                } else {
                    "coefficients"
                };
                let rows: Vec<Vec<f64>> =
                    serde_json::from_value(field(&report, key, &file)?.clone())
                        .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
                let features: Vec<String> =
                    serde_json::from_value(field(&report, "feature_names", &file)?.clone())
                        .unwrap_or_default();
                LinearModel {
                    features,
                    weight: rows.iter().map(|r| r[1..].to_vec()).collect(),
                    bias: rows.iter().map(|r| r[0]).collect(),
                    link: if config.model.strategy == Strategy::Ovr {
                        "one_vs_rest"
                    } else {
                        "softmax"
                    },
                    classes,
                    target: config.data.target,
                    levels: levels(&report),
                    threshold: None,
                }
            } else {
                // Binary: `(intercept)` first, then one entry per feature.
                let coefficients = field(&report, "coefficients", &file)?
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let (intercept, weights) = coefficients.split_first().ok_or_else(|| {
                    Error::Usage(format!("{} lists no coefficients", file.display()))
                })?;
                LinearModel {
                    features: names(weights),
                    weight: vec![weights.iter().map(original).collect()],
                    bias: vec![original(intercept)],
                    link: "logistic",
                    classes,
                    target: config.data.target,
                    levels: levels(&report),
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
