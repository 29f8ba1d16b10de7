//! What the page shows of the runs folder: a summary per run, a run's details, and the only
//! files it serves — those directly inside a run directory, with a known extension, not symbolic
//! links. Every name from a request is checked to be one plain path component first, so `..`,
//! absolute paths and links out of the folder are refused before anything is opened.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::experiment::ExperimentFile;
use crate::mlp::config::MlpConfig;
use crate::run_dir;

/// File kinds served from a run directory, with their content types.
const SERVED: &[(&str, &str)] = &[
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("json", "application/json"),
    ("toml", "text/plain; charset=utf-8"),
    ("log", "text/plain; charset=utf-8"),
];

/// One line of the runs page.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub name: String,
    /// `image_classification`, `points`, `linear_regression`, `logistic_regression`.
    pub kind: String,
    /// `running` (a process holds the run), `finished` (its final report exists) or
    /// `interrupted`.
    pub state: &'static str,
    pub epochs: usize,
    pub best_epoch: Option<u64>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
}

/// A run's page: its summary, resolved config, per-epoch records and pictures.
#[derive(Debug, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub config: String,
    /// `metrics.json`'s per-epoch records, as written.
    pub history: Vec<Value>,
    /// The pictures in the run directory (`loss.svg`, `first_layer.png`, …), sorted.
    pub plots: Vec<String>,
}

/// Whether `name` is one plain path component: not empty, no separator, not `.`/`..`, not hidden.
pub fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0', ':'])
        && Path::new(name).components().count() == 1
}

/// An experiment file sent by the page (`origin` names it in messages), checked as `neurona
/// train` checks a file, its run called `name` when given and placed in `root` whatever the file
/// says; the run's name must be a plain folder name.
pub fn placed_experiment(
    text: &str,
    origin: &str,
    name: Option<&str>,
    root: &Path,
) -> Result<MlpConfig> {
    let mut config = MlpConfig::checked(text, Path::new(origin))?;
    if let Some(name) = name {
        config.output.name = Some(name.to_string());
    }
    config.output.dir = root.to_path_buf();
    let name = config.output.name.as_deref().unwrap_or_default();
    if !plain(name) {
        return Err(Error::Usage(format!(
            "run name {name:?}: give a plain folder name (no path, not hidden)"
        )));
    }
    Ok(config)
}

/// The run directory `name` under `root`, if it is one (a real folder, not a link, holding a run).
pub fn run_path(root: &Path, name: &str) -> Option<PathBuf> {
    if !plain(name) {
        return None;
    }
    let path = root.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    (meta.is_dir() && run_dir::kind(&path).is_some()).then_some(path)
}

/// The file `file` of run `name` and its content type, if the page may serve it.
pub fn run_file(root: &Path, name: &str, file: &str) -> Option<(PathBuf, &'static str)> {
    let dir = run_path(root, name)?;
    if !plain(file) {
        return None;
    }
    let extension = Path::new(file).extension()?.to_str()?;
    let (_, content_type) = SERVED.iter().find(|(e, _)| *e == extension)?;
    let path = dir.join(file);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    (meta.is_file()).then_some((path, content_type))
}

fn read_metrics(dir: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).ok()?).ok()
}

pub fn summary(root: &Path, name: &str) -> Option<RunSummary> {
    let dir = run_path(root, name)?;
    summarise(&dir, name, read_metrics(&dir).as_ref())
}

/// The summary of the run in `dir`, from its `metrics.json` as read.
fn summarise(dir: &Path, name: &str, metrics: Option<&Value>) -> Option<RunSummary> {
    let kind = run_dir::kind(dir)?;
    let field = |key: &str| metrics.and_then(|m| m.get(key));
    // A run in progress (or stopped) records `"test": null` until its test report exists.
    let test = field("test").filter(|t| !t.is_null());
    // Image runs end with their test report; the others write their results in one go (a 2-D
    // run its model, a linear or logistic run its coefficients or CV curve).
    let finished = test.is_some()
        || ["coefficients.json", "cv.json"]
            .iter()
            .any(|f| dir.join(f).is_file())
        || (kind == crate::mlp::points::KIND && dir.join("model.bpk").is_file());
    let state = if run_dir::in_use(dir) {
        "running"
    } else if finished {
        "finished"
    } else {
        "interrupted"
    };
    Some(RunSummary {
        name: name.to_string(),
        kind,
        state,
        epochs: field("epochs")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        best_epoch: field("best_epoch").and_then(Value::as_u64),
        test_accuracy: test.and_then(|t| t.get("accuracy")).and_then(Value::as_f64),
        test_loss: test.and_then(|t| t.get("loss")).and_then(Value::as_f64),
    })
}

/// Every run directly under `root`, by name.
pub fn list(root: &Path) -> Vec<RunSummary> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.iter().filter_map(|n| summary(root, n)).collect()
}

pub fn detail(root: &Path, name: &str) -> Option<RunDetail> {
    let dir = run_path(root, name)?;
    let metrics = read_metrics(&dir);
    let summary = summarise(&dir, name, metrics.as_ref())?;
    let config = std::fs::read_to_string(run_dir::config_path(&dir)).unwrap_or_default();
    let history = metrics
        .and_then(|m| m.get("epochs").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let mut plots: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| f.ends_with(".svg") || f.ends_with(".png"))
        .filter(|f| run_file(root, name, f).is_some())
        .collect();
    plots.sort();
    Some(RunDetail {
        summary,
        config,
        history,
        plots,
    })
}
