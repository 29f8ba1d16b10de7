//! `neurona predict` and `neurona eval` of a linear or logistic run on the rows of a CSV file,
//! as scikit-learn's `predict` and `score` do: the run's fitted model
//! ([`crate::glm::export::linear_model`], on the features' original scale) applied to each
//! row's features, rebuilt from the CSV's columns by the names the fit gave them — `column`,
//! `column^k` (a power), `column_level` (1 when the row holds that level; the column's first
//! level is the reference, all zeros).
//!
//! The CSV must hold the training columns: a missing one is an error naming it, and so is a
//! column the model does not use (other than the target, which `predict` ignores and `eval`
//! needs). A level the fit never saw is refused naming row, column and value (runs written
//! before the levels were recorded in `coefficients.json` take any unlisted value as the
//! reference level).

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::glm::data::{Row, is_missing, read_csv};
use crate::glm::export::{LinearModel, linear_model};

/// How one model feature is read off a row.
#[derive(Debug, Clone)]
enum Source {
    /// The value of the column at `index`, to the power `power`.
    Power { index: usize, power: i32 },
    /// 1 when the column at `index` holds `level`.
    Level { index: usize, level: String },
}

/// A model's answer for one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowPrediction {
    /// The row's line in the file (1 is the header).
    pub line: usize,
    /// Linear models: the predicted value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Logistic models: the predicted class and each class's probability, in the order of
    /// the run's classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probabilities: Vec<(String, f64)>,
}

impl std::fmt::Display for RowPrediction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {:>5}", self.line)?;
        if let Some(value) = self.value {
            write!(f, "  {value:.6}")?;
        }
        if let Some(class) = &self.class {
            write!(f, "  {class}")?;
            for (name, p) in &self.probabilities {
                write!(f, "  P({name}) {p:.4}")?;
            }
        }
        Ok(())
    }
}

/// The scores of a run on labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GlmEval {
    Regression {
        rows: usize,
        /// Rows without a target value, not scored.
        rows_without_target: usize,
        mse: f64,
        rmse: f64,
        mae: f64,
        r2: f64,
    },
    Classification {
        rows: usize,
        rows_without_target: usize,
        accuracy: f64,
        /// Mean of `−log p(true class)`.
        log_loss: f64,
        classes: Vec<String>,
        /// `confusion[true][predicted]`.
        confusion: Vec<Vec<usize>>,
    },
}

impl std::fmt::Display for GlmEval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GlmEval::Regression {
                rows,
                rows_without_target,
                mse,
                rmse,
                mae,
                r2,
            } => {
                writeln!(
                    f,
                    "rows {rows}  mse {mse:.6}  rmse {rmse:.6}  mae {mae:.6}  r² {r2:.6}"
                )?;
                if *rows_without_target > 0 {
                    writeln!(f, "{rows_without_target} rows without a target not scored")?;
                }
            }
            GlmEval::Classification {
                rows,
                rows_without_target,
                accuracy,
                log_loss,
                classes,
                confusion,
            } => {
                writeln!(
                    f,
                    "rows {rows}  accuracy {:.2}%  log-loss {log_loss:.6}",
                    accuracy * 100.0
                )?;
                if *rows_without_target > 0 {
                    writeln!(f, "{rows_without_target} rows without a target not scored")?;
                }
                let width = classes.iter().map(String::len).max().unwrap_or(0).max(10);
                write!(f, "{:width$}", "true \\ predicted")?;
                for c in classes {
                    write!(f, " {c:>width$}")?;
                }
                writeln!(f)?;
                for (c, row) in classes.iter().zip(confusion) {
                    write!(f, "{c:width$}")?;
                    for n in row {
                        write!(f, " {n:>width$}")?;
                    }
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}

/// The rows of `csv` with the model's features; the index of the target column, if present.
struct Table {
    rows: Vec<Row>,
    sources: Vec<Source>,
    header: Vec<String>,
    target: Option<usize>,
}

fn bad(csv: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Data(format!("{}: {reason}", csv.display()))
}

/// Reads `csv` and works out where each of the model's features comes from.
fn table(model: &LinearModel, csv: &Path) -> Result<Table> {
    let (header, rows) = read_csv(csv)?;
    let column = |name: &str| header.iter().position(|h| h == name);
    let mut sources = Vec::with_capacity(model.features.len());
    let mut missing = Vec::new();
    for feature in &model.features {
        let found = if let Some(index) = column(feature) {
            Some(Source::Power { index, power: 1 })
        } else if let Some((name, power)) = feature.rsplit_once('^')
            && let (Some(index), Ok(power)) = (column(name), power.parse::<i32>())
        {
            Some(Source::Power { index, power })
        } else {
            // `column_level`: the longest column name that the feature starts with.
            header
                .iter()
                .enumerate()
                .filter_map(|(index, h)| Some((index, h.len(), level_of(feature, h)?)))
                .max_by_key(|&(_, length, _)| length)
                .map(|(index, _, level)| Source::Level {
                    index,
                    level: level.to_string(),
                })
        };
        match found {
            Some(source) => sources.push(source),
            None => missing.push(column_of(model, feature)),
        }
    }
    if !missing.is_empty() {
        missing.dedup();
        return Err(bad(
            csv,
            format!(
                "the model reads the column(s) {}, which the file lacks (its columns: {})",
                missing.join(", "),
                header.join(", ")
            ),
        ));
    }
    let target = column(&model.target);
    let used = |i: usize| {
        Some(i) == target
            || sources.iter().any(|s| match s {
                Source::Power { index, .. } | Source::Level { index, .. } => *index == i,
            })
            || header
                .get(i)
                .is_some_and(|h| model.levels.contains_key(h.as_str()))
    };
    let extra: Vec<&str> = (0..header.len())
        .filter(|&i| !used(i))
        .map(|i| header[i].as_str())
        .collect();
    if !extra.is_empty() {
        return Err(bad(
            csv,
            format!(
                "the model was not trained on the column(s) {}: give the training columns ({}) \
                 and, to score, the target {:?}",
                extra.join(", "),
                model_columns(model, &header, &sources).join(", "),
                model.target
            ),
        ));
    }
    Ok(Table {
        rows,
        sources,
        header,
        target,
    })
}

/// `text` as a finite number.
fn finite(text: &str) -> Option<f64> {
    text.parse().ok().filter(|v: &f64| v.is_finite())
}

/// The level of `feature` if it is column `column`'s one-hot feature `column_level`.
fn level_of<'a>(feature: &'a str, column: &str) -> Option<&'a str> {
    feature
        .strip_prefix(column)?
        .strip_prefix('_')
        .filter(|level| !level.is_empty())
}

/// The column a feature is built from, for messages: `column` of `column^k`, and of
/// `column_level` when the run recorded the column's levels (else the feature's own name).
fn column_of(model: &LinearModel, feature: &str) -> String {
    model
        .levels
        .keys()
        .find(|c| level_of(feature, c).is_some())
        .cloned()
        .unwrap_or_else(|| feature.split('^').next().unwrap_or(feature).to_string())
}

/// The columns the model reads, in the file's order.
fn model_columns(model: &LinearModel, header: &[String], sources: &[Source]) -> Vec<String> {
    let mut indices: Vec<usize> = sources
        .iter()
        .map(|s| match s {
            Source::Power { index, .. } | Source::Level { index, .. } => *index,
        })
        .chain((0..header.len()).filter(|&i| model.levels.contains_key(header[i].as_str())))
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices.into_iter().map(|i| header[i].clone()).collect()
}

impl Table {
    /// The features of `row`, or an error naming the line, column and value.
    fn features(&self, model: &LinearModel, row: &Row, csv: &Path) -> Result<Vec<f64>> {
        for (column, levels) in &model.levels {
            if let Some(index) = self.header.iter().position(|h| h == column) {
                let value = row.fields[index].trim();
                if !levels.iter().any(|l| l == value) {
                    return Err(bad(
                        csv,
                        format!(
                            "line {}: {column:?} holds {value:?}, a level the model never saw \
                             (its levels: {})",
                            row.line,
                            levels.join(", ")
                        ),
                    ));
                }
            }
        }
        self.sources
            .iter()
            .map(|source| match source {
                Source::Power { index, power } => {
                    let text = row.fields[*index].trim();
                    let value = finite(text).ok_or_else(|| {
                        bad(
                            csv,
                            format!(
                                "line {}: {:?} holds {text:?}, not a finite number",
                                row.line, self.header[*index]
                            ),
                        )
                    })?;
                    Ok(value.powi(*power))
                }
                Source::Level { index, level } => {
                    Ok(f64::from(u8::from(row.fields[*index].trim() == level)))
                }
            })
            .collect()
    }
}

/// The model's answer for one row of features: the value, or each class's probability.
fn answer(model: &LinearModel, x: &[f64]) -> Vec<f64> {
    let scores: Vec<f64> = model
        .weight
        .iter()
        .zip(&model.bias)
        .map(|(w, b)| b + w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>())
        .collect();
    match model.link {
        "identity" => scores,
        "logistic" => {
            let p = crate::numeric::sigmoid(scores[0]);
            vec![1.0 - p, p]
        }
        "softmax" => crate::numeric::softmax(&scores),
        _ => {
            // One-vs-rest: each class's sigmoid, normalised to sum to one (as scikit-learn).
            let each: Vec<f64> = scores.iter().map(|s| crate::numeric::sigmoid(*s)).collect();
            let total: f64 = each.iter().sum();
            each.iter().map(|v| v / total).collect()
        }
    }
}

/// The predicted class of `probabilities` (binary: the positive one from the threshold on).
fn class_of(model: &LinearModel, probabilities: &[f64]) -> usize {
    match model.threshold {
        Some(threshold) => usize::from(probabilities[1] >= threshold),
        None => probabilities
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i),
    }
}

/// The run's answer for every row of `csv`.
pub fn predict(run_dir: &Path, csv: &Path) -> Result<Vec<RowPrediction>> {
    let model = linear_model(run_dir)?;
    let table = table(&model, csv)?;
    table
        .rows
        .iter()
        .map(|row| {
            let answer = answer(&model, &table.features(&model, row, csv)?);
            Ok(if model.link == "identity" {
                RowPrediction {
                    line: row.line,
                    value: Some(answer[0]),
                    class: None,
                    probabilities: Vec::new(),
                }
            } else {
                RowPrediction {
                    line: row.line,
                    value: None,
                    class: Some(model.classes[class_of(&model, &answer)].clone()),
                    probabilities: model.classes.iter().cloned().zip(answer).collect(),
                }
            })
        })
        .collect()
}

/// The run's scores on the labelled rows of `csv` (rows without a target value are counted and
/// skipped, as training does).
pub fn eval(run_dir: &Path, csv: &Path) -> Result<GlmEval> {
    let model = linear_model(run_dir)?;
    let table = table(&model, csv)?;
    let Some(target) = table.target else {
        return Err(bad(
            csv,
            format!(
                "no column {:?}: scoring needs the true values (`neurona predict` needs none)",
                model.target
            ),
        ));
    };
    let mut without = 0;
    let mut scored = Vec::new();
    for row in &table.rows {
        let truth = row.fields[target].trim();
        if is_missing(truth) {
            without += 1;
            continue;
        }
        scored.push((
            row.line,
            truth.to_string(),
            answer(&model, &table.features(&model, row, csv)?),
        ));
    }
    if scored.is_empty() {
        return Err(bad(csv, format!("no row has a {:?} value", model.target)));
    }
    let n = scored.len() as f64;
    if model.link == "identity" {
        let mut pairs = Vec::with_capacity(scored.len());
        for (line, truth, answer) in &scored {
            let y = finite(truth).ok_or_else(|| {
                bad(
                    csv,
                    format!(
                        "line {line}: target {:?} holds {truth:?}, not a number",
                        model.target
                    ),
                )
            })?;
            pairs.push((y, answer[0]));
        }
        let mean = pairs.iter().map(|(y, _)| y).sum::<f64>() / n;
        let sse: f64 = pairs.iter().map(|(y, p)| (y - p).powi(2)).sum();
        let sst: f64 = pairs.iter().map(|(y, _)| (y - mean).powi(2)).sum();
        let mse = sse / n;
        return Ok(GlmEval::Regression {
            rows: pairs.len(),
            rows_without_target: without,
            mse,
            rmse: mse.sqrt(),
            mae: pairs.iter().map(|(y, p)| (y - p).abs()).sum::<f64>() / n,
            r2: 1.0 - sse / sst,
        });
    }
    let k = model.classes.len();
    let mut confusion = vec![vec![0; k]; k];
    let (mut right, mut loss) = (0usize, 0.0);
    for (line, truth, probabilities) in &scored {
        let Some(t) = model.classes.iter().position(|c| c == truth) else {
            return Err(bad(
                csv,
                format!(
                    "line {line}: target {:?} holds {truth:?}, not one of the model's classes ({})",
                    model.target,
                    model.classes.join(", ")
                ),
            ));
        };
        let predicted = class_of(&model, probabilities);
        confusion[t][predicted] += 1;
        right += usize::from(predicted == t);
        loss -= probabilities[t].max(f64::MIN_POSITIVE).ln();
    }
    Ok(GlmEval::Classification {
        rows: scored.len(),
        rows_without_target: without,
        accuracy: right as f64 / n,
        log_loss: loss / n,
        classes: model.classes.clone(),
        confusion,
    })
}
