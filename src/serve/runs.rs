//! What the page shows of the runs folder: a summary per run, a run's details, and the only
//! files it serves — those directly inside a run directory, with a known extension, not symbolic
//! links. Every name from a request is checked to be one plain path component first, so `..`,
//! absolute paths and links out of the folder are refused before anything is opened, and every
//! file the server reads from the folder is opened by one function, `open_plain`, which
//! follows no link and opens nothing but a regular file.
//!
//! A run's `metrics.json` can grow large (tens of MB for a long run); it is read once per change
//! into a `RunCache`, and the page's data carries its epochs as the file's own bytes, shared
//! between requests rather than parsed and written again for each.
//!
//! The routes that read the runs folder are at the end: the runs' list, a run's page data and a
//! run's files (a run's live stream is [`super::events`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::AppState;
use super::api_error::{ApiError, blocking};
use crate::classifier::config::MlpConfig;
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Synopsis, Task};
use crate::glm::linear::config::LinearConfig;
use crate::glm::logistic::config::LogisticConfig;
use crate::points::config::PointsConfig;
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
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunSummary {
    pub name: String,
    /// `image_classification`, `points`, `linear_regression`, `logistic_regression`.
    pub kind: run_dir::RunKind,
    /// `running` (a process holds the run), `finished` (its final report exists) or
    /// `interrupted`.
    pub state: &'static str,
    /// Epochs recorded (a 2-D workshop run: epochs trained).
    pub epochs: usize,
    pub best_epoch: Option<u64>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    /// The model and its optimizer, from the run's `config.toml` (absent if it does not parse).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub synopsis: Option<Synopsis>,
    /// Seconds of training: the epochs' own times where the run records them, else from its
    /// `config.toml` being written to its `metrics.json`'s last change.
    pub seconds: Option<f64>,
    /// When the run started (its `config.toml` was written), in seconds since 1970.
    pub started: Option<f64>,
}

/// A run's page without its epochs: the summary, resolved config and pictures.
#[derive(Debug, Serialize)]
struct DetailHead<'a> {
    #[serde(flatten)]
    summary: &'a RunSummary,
    config: &'a str,
    /// Every key of the config with its value, as dotted paths (`model.layers[0].type`): what
    /// the compare view lines up between runs.
    settings: BTreeMap<String, String>,
    /// The pictures in the run directory (`loss.svg`, `first_layer.png`, …), sorted.
    plots: Vec<String>,
}

/// A run's page as JSON, in pieces: the head, then `"history"` — `metrics.json`'s per-epoch
/// records, the file's own bytes (shared with the cache, not copied).
pub(crate) struct RunDetail {
    chunks: [Bytes; 3],
}

impl RunDetail {
    /// The JSON object's pieces, in order.
    pub fn chunks(&self) -> [Bytes; 3] {
        self.chunks.clone()
    }
}

/// Whether `name` is one plain path component: not empty, no separator, not `.`/`..`, not hidden.
pub fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0', ':'])
        && Path::new(name).components().count() == 1
}

/// The text of an experiment file the page sent as a request's body.
pub(crate) fn experiment_text(body: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::Malformed("the body must be a TOML experiment file".into()))
}

/// An experiment file sent by the page (`origin` names it in messages), checked as `neurona
/// train` checks a file, its run called `name` when given and placed in `root` whatever the file
/// says; the run's name must be a plain folder name. A file of another task than `C`'s is
/// refused with `elsewhere` as the reason. The page may not point the server at files or
/// machines: weights to start from, data folders, download mirrors and device servers are the
/// terminal's to name (`neurona train`), never a web page's.
pub(crate) fn placed_experiment<C: ExperimentFile>(
    text: &str,
    origin: &str,
    name: Option<&str>,
    root: &Path,
    elsewhere: &str,
) -> Result<C> {
    let origin = Path::new(origin);
    if Task::detect(text, origin)? != C::TASK {
        return Err(Error::Usage(elsewhere.to_string()));
    }
    let mut config = C::checked(text, origin)?;
    let output = config.output_mut();
    if let Some(name) = name {
        output.name = Some(name.to_string());
    }
    output.dir = root.to_path_buf();
    let name = output.name.as_deref().unwrap_or_default();
    if !plain(name) {
        return Err(Error::Usage(format!(
            "run name {name:?}: give a plain folder name (no path, not hidden)"
        )));
    }
    if let Some(key) = config.named_outside().first() {
        return Err(Error::Usage(format!(
            "an experiment from the page may not name files or machines outside the runs folder: \
             remove {key} (or train it with `neurona train` in a terminal)"
        )));
    }
    Ok(config)
}

/// The run directory `name` under `root`, if it is one (a real folder, not a link, holding a run).
pub(crate) fn run_path(root: &Path, name: &str) -> Option<PathBuf> {
    if !plain(name) {
        return None;
    }
    let path = root.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    (meta.is_dir() && run_dir::kind(&path).is_some()).then_some(path)
}

/// The one way the server opens a file of a run: `file`, a plain name directly inside `dir`,
/// through [`run_dir::open_own`] (no link followed, only a regular file).
pub(crate) fn open_plain(dir: &Path, file: &str) -> Option<std::fs::File> {
    if !plain(file) {
        return None;
    }
    run_dir::open_own(dir, file)
}

/// The bytes of `file` in `dir`, through [`open_plain`].
pub(crate) fn read_plain(dir: &Path, file: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    open_plain(dir, file)?.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// When `file` in `dir` last changed and its length, through [`open_plain`].
pub(crate) fn stamp(dir: &Path, file: &str) -> Option<(SystemTime, u64)> {
    let meta = open_plain(dir, file)?.metadata().ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The bytes of file `file` of run `name` and their content type, if the page may serve it.
pub(crate) fn served_file(root: &Path, name: &str, file: &str) -> Option<(Vec<u8>, &'static str)> {
    let dir = run_path(root, name)?;
    let (_, content_type) = served_type(file)?;
    Some((read_plain(&dir, file)?, content_type))
}

fn served_type(file: &str) -> Option<&'static (&'static str, &'static str)> {
    let extension = Path::new(file).extension()?.to_str()?;
    SERVED.iter().find(|(e, _)| *e == extension)
}

/// What the page needs of a `metrics.json`, read once per change of the file.
struct Record {
    stamp: Option<(SystemTime, u64)>,
    /// The per-epoch records, as the file's bytes (`[]` when there are none).
    history: Bytes,
    epochs: usize,
    best_epoch: Option<u64>,
    /// The test report, once the run has one.
    test: Option<Value>,
    synopsis: Option<Synopsis>,
    seconds: Option<f64>,
    started: Option<f64>,
}

/// The parts of `metrics.json` the page reads; any other field is left alone.
#[derive(Deserialize)]
struct MetricsFile<'a> {
    #[serde(borrow, default)]
    epochs: Option<&'a RawValue>,
    /// A 2-D workshop run's loss per epoch, in place of `epochs`.
    #[serde(default)]
    losses: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    best_epoch: Option<Value>,
    #[serde(default)]
    test: Option<Value>,
}

impl Record {
    fn read(dir: &Path) -> Record {
        let stamp = stamp(dir, "metrics.json");
        let bytes = read_plain(dir, "metrics.json").unwrap_or_default();
        let parsed = serde_json::from_slice::<MetricsFile>(&bytes).ok();
        let epochs = parsed.as_ref().and_then(|m| m.epochs);
        let times = epochs.and_then(|e| serde_json::from_str::<Vec<EpochTime>>(e.get()).ok());
        let count = times.as_ref().map(Vec::len);
        let started = self::stamp(dir, "config.toml").map(|(time, _)| time);
        let seconds = match times.as_deref() {
            Some(times) if times.iter().any(|t| t.seconds.is_some()) => {
                Some(times.iter().filter_map(|t| t.seconds).sum())
            }
            _ => started
                .zip(stamp.map(|(time, _)| time))
                .and_then(|(from, to)| to.duration_since(from).ok())
                .map(|d| d.as_secs_f64()),
        };
        Record {
            synopsis: synopsis(dir),
            seconds,
            started: started
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
            stamp,
            history: match (epochs, count) {
                (Some(epochs), Some(_)) => Bytes::copy_from_slice(epochs.get().as_bytes()),
                _ => Bytes::from_static(b"[]"),
            },
            epochs: count
                .or_else(|| parsed.as_ref()?.losses.as_ref().map(Vec::len))
                .unwrap_or(0),
            best_epoch: parsed
                .as_ref()
                .and_then(|m| m.best_epoch.as_ref())
                .and_then(Value::as_u64),
            // A run in progress (or stopped) records `"test": null` until its test report exists.
            test: parsed.and_then(|m| m.test).filter(|t| !t.is_null()),
        }
    }
}

/// An epoch's record as far as its time.
#[derive(Deserialize)]
struct EpochTime {
    #[serde(default)]
    seconds: Option<f64>,
}

/// The synopsis of the run in `dir`, from its `config.toml` as its family reads it.
fn synopsis(dir: &Path) -> Option<Synopsis> {
    fn of<C: ExperimentFile>(text: &str, origin: &Path) -> Option<Synopsis> {
        C::parse(text, origin).ok().map(|config| config.synopsis())
    }
    let text = String::from_utf8(read_plain(dir, "config.toml")?).ok()?;
    let origin = dir.join("config.toml");
    match Task::detect(&text, &origin).ok()? {
        Task::ImageClassification => of::<MlpConfig>(&text, &origin),
        Task::Points => of::<PointsConfig>(&text, &origin),
        Task::LinearRegression => of::<LinearConfig>(&text, &origin),
        Task::LogisticRegression => of::<LogisticConfig>(&text, &origin),
    }
}

/// Every value of a TOML document under its dotted path: `model.layers[0].type` → `"conv2d"`.
/// Arrays of values stay one value (`[512, 256]`).
pub(crate) fn settings(text: &str) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
        match value {
            toml::Value::Table(table) => {
                for (key, value) in table {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, value, out);
                }
            }
            toml::Value::Array(items) if items.iter().any(toml::Value::is_table) => {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), item, out);
                }
            }
            value => {
                out.insert(prefix.to_string(), value.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(document) = text.parse::<toml::Table>() {
        walk("", &toml::Value::Table(document), &mut out);
    }
    out
}

/// The runs' records, by run name, each read again only when its `metrics.json` changes.
#[derive(Default)]
pub(crate) struct RunCache {
    records: Mutex<HashMap<String, Arc<Record>>>,
}

impl RunCache {
    fn record(&self, dir: &Path, name: &str) -> Arc<Record> {
        let now = stamp(dir, "metrics.json");
        let cached = self.lock().get(name).cloned();
        if let Some(record) = cached
            && record.stamp == now
            && now.is_some()
        {
            return record;
        }
        let record = Arc::new(Record::read(dir));
        self.lock().insert(name.to_string(), record.clone());
        record
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Record>>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn summary(&self, root: &Path, name: &str) -> Option<RunSummary> {
        let dir = run_path(root, name)?;
        summarise(&dir, name, &self.record(&dir, name))
    }

    /// Every run directly under `root`, by name (runs gone from the folder leave the cache).
    pub fn list(&self, root: &Path) -> Vec<RunSummary> {
        let mut names: Vec<String> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let list: Vec<RunSummary> = names.iter().filter_map(|n| self.summary(root, n)).collect();
        self.lock()
            .retain(|name, _| list.iter().any(|run| run.name == *name));
        list
    }

    pub fn detail(&self, root: &Path, name: &str) -> Option<RunDetail> {
        let dir = run_path(root, name)?;
        let record = self.record(&dir, name);
        let summary = summarise(&dir, name, &record)?;
        let config = read_plain(&dir, "config.toml")
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let mut plots: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| f.ends_with(".svg") || f.ends_with(".png"))
            .filter(|f| open_plain(&dir, f).is_some())
            .collect();
        plots.sort();
        let head = serde_json::to_vec(&DetailHead {
            summary: &summary,
            settings: settings(&config),
            config: &config,
            plots,
        })
        .ok()?;
        // `{…}` + `,"history":` + epochs + `}`
        let open = Bytes::from(format!(
            "{},\"history\":",
            String::from_utf8_lossy(&head[..head.len() - 1])
        ));
        Some(RunDetail {
            chunks: [open, record.history.clone(), Bytes::from_static(b"}")],
        })
    }
}

/// The summary of the run in `dir`, from its record.
fn summarise(dir: &Path, name: &str, record: &Record) -> Option<RunSummary> {
    let kind = run_dir::kind(dir)?;
    let test = record.test.as_ref();
    // Image runs end with their test report; the others write their results in one go (a 2-D
    // run its model, a linear or logistic run its coefficients or CV curve).
    let finished = test.is_some()
        || ["coefficients.json", "cv.json"]
            .iter()
            .any(|f| open_plain(dir, f).is_some())
        || (kind == run_dir::RunKind::Points && open_plain(dir, "model.bpk").is_some());
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
        epochs: record.epochs,
        best_epoch: record.best_epoch,
        test_accuracy: test.and_then(|t| t.get("accuracy")).and_then(Value::as_f64),
        test_loss: test.and_then(|t| t.get("loss")).and_then(Value::as_f64),
        synopsis: record.synopsis.clone(),
        seconds: record.seconds,
        started: record.started,
    })
}

/// `GET /api/runs`: every run's summary.
pub(super) async fn list_runs(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<RunSummary>>, ApiError> {
    let list = blocking(move || Ok(state.records.list(&state.runs))).await?;
    Ok(Json(list))
}

/// `GET /api/runs/{name}`: the run's page data ([`RunDetail`]).
pub(super) async fn run_detail(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let detail = blocking(move || Ok(state.records.detail(&state.runs, &name)))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(Pieces(detail.chunks().into())),
    ))
}

/// `GET /runs/{name}/{file}`: a file of a run, if the page may serve it ([`served_file`]).
pub(super) async fn run_file(
    State(state): State<Arc<AppState>>,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let (bytes, content_type) = blocking(move || Ok(served_file(&state.runs, &name, &file)))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    ))
}

/// A body sent as the pieces it is made of, shared rather than copied into one buffer, with its
/// length known (so the answer has a `Content-Length`).
struct Pieces(VecDeque<Bytes>);

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.0
                .pop_front()
                .map(|piece| Ok(http_body::Frame::data(piece))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|piece| piece.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::{plain, settings};

    #[test]
    fn settings_are_every_value_under_its_dotted_path() {
        let text = "seed = 3\n[model]\nhidden = [8, 8]\n[[model.layers]]\ntype = \"conv2d\"\n\
                    [[model.layers]]\ntype = \"dense\"\nunits = 4\n";
        let found: Vec<(String, String)> = settings(text).into_iter().collect();
        let expected = [
            ("model.hidden", "[8, 8]"),
            ("model.layers[0].type", "\"conv2d\""),
            ("model.layers[1].type", "\"dense\""),
            ("model.layers[1].units", "4"),
            ("seed", "3"),
        ];
        assert_eq!(found, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        assert!(settings("not = = toml").is_empty());
    }

    #[test]
    fn only_one_visible_path_component_is_a_plain_name() {
        for name in ["xor", "fashion-mnist-cnn", "run 2", "é"] {
            assert!(plain(name), "{name}");
        }
        for name in [
            "", ".", "..", ".hidden", "a/b", "/etc", "a\\b", "nul\0", "c:", "../x",
        ] {
            assert!(!plain(name), "{name:?}");
        }
    }
}
