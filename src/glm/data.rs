//! Tabular data for the GLMs: a CSV with named columns becomes a numeric design
//! matrix. Categorical columns are one-hot encoded in place (levels sorted, the first dropped),
//! rows without a target are dropped and counted, and optional polynomial powers and z-scoring
//! are applied. Every problem in the file is an error naming the column (and row), never a NaN.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[data]` of a tabular experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TabularConfig {
    /// The CSV file (header row required), relative to the working directory.
    pub path: PathBuf,
    /// The column to predict.
    pub target: String,
    /// Feature columns; unset means every column except the target.
    pub features: Option<Vec<String>>,
    /// Columns to one-hot encode; unset means the columns whose values are all non-numeric.
    pub categorical: Option<Vec<String>>,
    /// Add x², …, x^degree of every numeric feature (1 = none).
    pub polynomial_degree: usize,
    /// z-score every feature with its mean and population standard deviation (over all rows).
    pub standardize: bool,
    /// `neurona train`: share of rows held out (seeded) to report validation metrics.
    pub validation_fraction: f64,
}

impl Default for TabularConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            target: String::new(),
            features: None,
            categorical: None,
            polynomial_degree: 1,
            standardize: false,
            validation_fraction: 0.0,
        }
    }
}

impl TabularConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.path.as_os_str().is_empty() {
            return Err("data.path is required: the CSV file to read".into());
        }
        if self.target.is_empty() {
            return Err("data.target is required: the column to predict".into());
        }
        if let Some(features) = &self.features
            && features.contains(&self.target)
        {
            // The model would read the answer from its input: R² = 1, and nothing learnt.
            return Err(format!(
                "data.features lists the target column {:?}: a model given the answer among its \
                 inputs learns nothing; remove it from data.features",
                self.target
            ));
        }
        if self.polynomial_degree == 0 {
            return Err("data.polynomial_degree must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return Err(format!(
                "data.validation_fraction must be in [0, 1), got {}",
                self.validation_fraction
            ));
        }
        Ok(())
    }
}

/// Mean and standard deviation per feature, to move coefficients between scales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Scaling {
    /// The same linear model on unscaled features: `w_j/σ_j`, and `b − Σ_j w_j·μ_j/σ_j`.
    pub(crate) fn unscale(&self, intercept: f64, coef: &DVector<f64>) -> (f64, Vec<f64>) {
        let coef: Vec<f64> = coef.iter().zip(&self.std).map(|(w, s)| w / s).collect();
        let shift: f64 = coef.iter().zip(&self.mean).map(|(c, m)| c * m).sum();
        (intercept - shift, coef)
    }
}

/// Where a feature comes from: a power of a numeric column, or one level of a categorical one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FeatureSource {
    Numeric { column: String, power: i32 },
    OneHot { column: String, level: String },
}

/// The numeric problem: `y ≈ X·w + b`.
#[derive(Debug, Clone)]
pub struct Design {
    pub feature_names: Vec<String>,
    /// One per feature, in the same order: how to rebuild the feature for new raw values.
    pub sources: Vec<FeatureSource>,
    /// `n × p`, one row per observation.
    pub x: DMatrix<f64>,
    pub y: DVector<f64>,
    /// Rows dropped because the target was missing.
    pub dropped_rows: usize,
    /// Set when `standardize = true`: `x` holds `(raw - mean) / std`.
    pub scaling: Option<Scaling>,
    /// Every level of each one-hot encoded column, sorted (the first is the reference, which
    /// has no feature of its own): what tells a new row's value apart from one never seen.
    pub levels: BTreeMap<String, Vec<String>>,
}

const MISSING: [&str; 4] = ["", "NA", "NaN", "nan"];

pub(crate) fn is_missing(value: &str) -> bool {
    MISSING.contains(&value.trim())
}

fn csv_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Data(format!("{}: {reason}", path.display()))
}

impl Design {
    /// The rows `rows` (in that order) as a design of their own.
    pub fn select(&self, rows: &[usize]) -> Design {
        Design {
            feature_names: self.feature_names.clone(),
            sources: self.sources.clone(),
            x: self.x.select_rows(rows),
            y: self.y.select_rows(rows),
            dropped_rows: self.dropped_rows,
            scaling: self.scaling.clone(),
            levels: self.levels.clone(),
        }
    }

    /// The numeric columns the features are built from, when every feature is a power of one
    /// (no one-hot levels): what a plot over raw feature values needs.
    pub(crate) fn numeric_columns(&self) -> Option<Vec<String>> {
        let mut columns: Vec<String> = Vec::new();
        for source in &self.sources {
            match source {
                FeatureSource::Numeric { column, .. } if !columns.contains(column) => {
                    columns.push(column.clone())
                }
                FeatureSource::Numeric { .. } => {}
                FeatureSource::OneHot { .. } => return None,
            }
        }
        Some(columns)
    }

    /// The feature row for raw values of the numeric `columns` (as returned by
    /// [`numeric_columns`](Self::numeric_columns)): powers, then the fitted standardisation.
    pub(crate) fn features_for(&self, columns: &[String], raw: &[f64]) -> DVector<f64> {
        DVector::from_iterator(
            self.sources.len(),
            self.sources.iter().enumerate().map(|(j, source)| {
                let FeatureSource::Numeric { column, power } = source else {
                    unreachable!("numeric designs only")
                };
                let value = raw[columns
                    .iter()
                    .position(|c| c == column)
                    .expect("listed column")]
                .powi(*power);
                match &self.scaling {
                    Some(s) => (value - s.mean[j]) / s.std[j],
                    None => value,
                }
            }),
        )
    }

    /// The raw values of numeric `column` (its power-1 feature, standardisation undone).
    pub(crate) fn raw_column(&self, column: &str) -> Vec<f64> {
        let j = self
            .sources
            .iter()
            .position(
                |s| matches!(s, FeatureSource::Numeric { column: c, power: 1 } if c == column),
            )
            .expect("a numeric column of this design");
        let (mean, std) = self
            .scaling
            .as_ref()
            .map_or((0.0, 1.0), |s| (s.mean[j], s.std[j]));
        self.x.column(j).iter().map(|v| v * std + mean).collect()
    }

    /// The features that are (to rounding) constant or linear combinations of others, if any:
    /// those with weight in the direction of the smallest eigenvalue of the correlation matrix
    /// of the centred columns, when that eigenvalue is zero to 1e-10.
    pub(crate) fn collinear_features(&self) -> Option<Vec<String>> {
        if self.x.ncols() == 0 {
            return None;
        }
        let mut z = self.x.clone();
        for mut column in z.column_iter_mut() {
            let mean = column.mean();
            column.add_scalar_mut(-mean);
            let norm = column.norm();
            if norm > 0.0 {
                column /= norm;
            }
        }
        let eigen = z.tr_mul(&z).symmetric_eigen();
        let smallest = eigen.eigenvalues.imin();
        if eigen.eigenvalues[smallest] > 1e-10 {
            return None;
        }
        let direction = eigen.eigenvectors.column(smallest);
        let largest = direction.amax();
        let names = direction
            .iter()
            .zip(&self.feature_names)
            .filter(|(w, _)| w.abs() > 0.05 * largest)
            .map(|(_, name)| name.clone())
            .collect();
        Some(names)
    }

    /// Refuses a design on which an unpenalised fit has no unique solution.
    pub(crate) fn check_full_rank(&self) -> Result<()> {
        match self.collinear_features() {
            None => Ok(()),
            Some(names) => Err(Error::Data(format!(
                "the features {} are perfectly collinear (constant, or linear combinations of \
                 each other): an unpenalised fit has no unique solution; drop one of them or add \
                 an L2 penalty",
                names.join(", ")
            ))),
        }
    }

    /// A seeded split into (training, validation) rows; validation is empty for fraction 0.
    pub fn split(&self, fraction: f64, seed: u64) -> (Design, Design) {
        let (mut train, mut valid) = crate::sampling::split(self.y.len(), fraction, seed);
        train.sort_unstable();
        valid.sort_unstable();
        (self.select(&train), self.select(&valid))
    }
}

/// One data row of the CSV: its 1-based line number and its fields.
pub(crate) struct Row {
    /// The line in the file (1 is the header).
    pub line: usize,
    pub fields: Vec<String>,
}

/// Reads the header and every row in one pass; every row must have the header's width.
pub(crate) fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Row>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(csv_error(
            path,
            "empty file: a header row naming the columns is required",
        ));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(i + 2, |p| p.line() as usize);
        if record.len() != header.len() {
            return Err(csv_error(
                path,
                format!(
                    "line {line} has {} fields, the header {}",
                    record.len(),
                    header.len()
                ),
            ));
        }
        let fields = record.iter().map(str::to_string).collect();
        rows.push(Row { line, fields });
    }
    if rows.is_empty() {
        return Err(csv_error(path, "no data rows after the header"));
    }
    Ok((header, rows))
}

/// The target column and the feature columns named by `config`, as indices into `header`.
fn select_columns(config: &TabularConfig, header: &[String]) -> Result<(usize, Vec<usize>)> {
    let path = &config.path;
    let column = |name: &str| -> Result<usize> {
        header.iter().position(|h| h == name).ok_or_else(|| {
            csv_error(
                path,
                format!(
                    "no column named {name:?}; the columns are {}",
                    header.join(", ")
                ),
            )
        })
    };
    let target = column(&config.target)?;
    let features: Vec<usize> = match &config.features {
        Some(names) => names.iter().map(|n| column(n)).collect::<Result<_>>()?,
        None => (0..header.len()).filter(|&c| c != target).collect(),
    };
    if features.is_empty() {
        return Err(csv_error(path, "no feature columns besides the target"));
    }
    for name in config.categorical.iter().flatten() {
        column(name)?;
    }
    Ok((target, features))
}

/// The features built from the columns: names, sources and values (one vector per feature).
#[derive(Default)]
struct Features {
    names: Vec<String>,
    sources: Vec<FeatureSource>,
    columns: Vec<Vec<f64>>,
    levels: BTreeMap<String, Vec<String>>,
}

impl Features {
    fn push(&mut self, name: String, source: FeatureSource, values: Vec<f64>) {
        self.names.push(name);
        self.sources.push(source);
        self.columns.push(values);
    }

    /// Adds the features of column `name` with `values` (of the rows that have a target): one
    /// per level after the first for a categorical column, else the value and its powers.
    fn add_column(&mut self, config: &TabularConfig, name: &str, values: &[&str]) -> Result<()> {
        let path = &config.path;
        if let Some(r) = values.iter().position(|v| is_missing(v)) {
            return Err(csv_error(
                path,
                format!(
                    "column {name:?} has a missing value (row {} of those with a target)",
                    r + 1
                ),
            ));
        }
        let numeric: Vec<Option<f64>> = values.iter().map(|v| v.parse::<f64>().ok()).collect();
        let categorical = match &config.categorical {
            Some(list) => list.iter().any(|c| c == name),
            None => numeric.iter().all(Option::is_none),
        };
        if categorical {
            let levels: BTreeSet<&str> = values.iter().copied().collect();
            self.levels.insert(
                name.to_string(),
                levels.iter().map(|l| l.to_string()).collect(),
            );
            for level in levels.iter().skip(1) {
                let source = FeatureSource::OneHot {
                    column: name.to_string(),
                    level: level.to_string(),
                };
                let indicator = values.iter().map(|v| f64::from(u8::from(v == level)));
                self.push(format!("{name}_{level}"), source, indicator.collect());
            }
            return Ok(());
        }
        if let Some(r) = numeric.iter().position(Option::is_none) {
            return Err(csv_error(
                path,
                format!(
                    "column {name:?} is numeric but holds {:?} (row {} of those with a target); \
                     list it in data.categorical to one-hot encode it",
                    values[r],
                    r + 1
                ),
            ));
        }
        let base: Vec<f64> = numeric.into_iter().map(|v| v.expect("checked")).collect();
        if let Some(r) = base.iter().position(|v| !v.is_finite()) {
            return Err(csv_error(
                path,
                format!(
                    "column {name:?} holds {:?} (row {} of those with a target): values must be finite",
                    values[r],
                    r + 1
                ),
            ));
        }
        for power in 1..=config.polynomial_degree as i32 {
            let source = FeatureSource::Numeric {
                column: name.to_string(),
                power,
            };
            let label = if power == 1 {
                name.to_string()
            } else {
                format!("{name}^{power}")
            };
            let values = if power == 1 {
                base.clone()
            } else {
                base.iter().map(|v| v.powi(power)).collect()
            };
            self.push(label, source, values);
        }
        Ok(())
    }
}

/// Reads the CSV named by `config` and builds the design matrix; the target values are returned
/// as text with their line numbers (`design.y` is left at zero) for the caller to interpret.
pub fn load_labelled(config: &TabularConfig) -> Result<(Design, Vec<(usize, String)>)> {
    let path = &config.path;
    let (header, rows) = read_csv(path)?;
    let (target, feature_columns) = select_columns(config, &header)?;
    let (kept, dropped): (Vec<Row>, Vec<Row>) = rows
        .into_iter()
        .partition(|row| !is_missing(&row.fields[target]));
    if kept.is_empty() {
        return Err(csv_error(
            path,
            format!("every row lacks the target {:?}", config.target),
        ));
    }
    let mut features = Features::default();
    for &c in &feature_columns {
        let values: Vec<&str> = kept.iter().map(|r| r.fields[c].trim()).collect();
        features.add_column(config, &header[c], &values)?;
    }
    let targets: Vec<(usize, String)> = kept
        .iter()
        .map(|r| (r.line, r.fields[target].trim().to_string()))
        .collect();
    let n = targets.len();
    let columns = &features.columns;
    let mut x = DMatrix::from_fn(n, columns.len(), |i, j| columns[j][i]);
    let scaling = config.standardize.then(|| standardize(&mut x));
    let design = Design {
        feature_names: features.names,
        sources: features.sources,
        x,
        y: DVector::zeros(n),
        dropped_rows: dropped.len(),
        scaling,
        levels: features.levels,
    };
    Ok((design, targets))
}

/// Reads the CSV named by `config` and builds the design matrix with a numeric target.
pub fn load(config: &TabularConfig) -> Result<Design> {
    let (mut design, targets) = load_labelled(config)?;
    for (i, (line, value)) in targets.iter().enumerate() {
        let bad = |what: &str| {
            csv_error(
                &config.path,
                format!(
                    "line {line}: target {:?} value {value:?} is not {what}",
                    config.target
                ),
            )
        };
        let y: f64 = value.parse().map_err(|_| bad("a number"))?;
        if !y.is_finite() {
            return Err(bad("finite"));
        }
        design.y[i] = y;
    }
    Ok(design)
}

/// z-scores the columns of `x` in place (population std; a constant column keeps std 1).
pub fn standardize(x: &mut DMatrix<f64>) -> Scaling {
    let n = x.nrows() as f64;
    let mut mean = Vec::with_capacity(x.ncols());
    let mut std = Vec::with_capacity(x.ncols());
    for mut col in x.column_iter_mut() {
        let m = col.sum() / n;
        let var = col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
        let s = if var > 0.0 { var.sqrt() } else { 1.0 };
        col.apply(|v| *v = (*v - m) / s);
        mean.push(m);
        std.push(s);
    }
    Scaling { mean, std }
}
