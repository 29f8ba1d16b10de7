//! Trainings started from the page. The page sends an image classification experiment file; it
//! is checked as `neurona train` checks it, placed in the runs folder, and trained by a child
//! `neurona train` process — the same program a terminal would run, so the run is an ordinary
//! one, the live chart follows it through `live.json`, a crash of the training cannot take the
//! server down, and each training gets the float precision it asks for (one per process).
//!
//! Limits: one training from the page at a time; the file may not name weights, data folders,
//! download mirrors or device servers (`super::runs::placed_experiment`: the page cannot point
//! the server at files or machines); a new run never replaces one. The file the child reads and
//! its output live in a private temporary folder of the server's (created with a random name,
//! readable by this user only, removed when the server stops), never at a guessable path.
//! Stopping sends SIGTERM: the run keeps its completed epochs and resumes from the page or with
//! `neurona train --resume`.
//!
//! The routes that start, list and stop them are at the end.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api_error::{ApiError, blocking};
use crate::classifier::config::MlpConfig;
use crate::error::{Error, Result};
use crate::experiment::ExperimentFile;
use crate::run_dir::RunKind;

/// How much of a training's output the page is shown: its last lines.
const OUTPUT_TAIL: u64 = 4096;

/// The experiment files the page offers as starting points, compiled in.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    (
        "fashion-mnist",
        include_str!("../../configs/fashion-mnist.toml"),
    ),
    (
        "fashion-mnist-cnn",
        include_str!("../../configs/fashion-mnist-cnn.toml"),
    ),
    (
        "fashion-mnist-lstm",
        include_str!("../../configs/fashion-mnist-lstm.toml"),
    ),
    (
        "fashion-mnist-maxout",
        include_str!("../../configs/fashion-mnist-maxout.toml"),
    ),
    ("mnist", include_str!("../../configs/mnist.toml")),
];

/// A training started from the page.
struct Job {
    child: Child,
    /// The child's standard output and error.
    output: PathBuf,
    /// The experiment file it was given (a temporary copy, removed with the job's files).
    config_file: PathBuf,
    started: SystemTime,
    /// Set once the child has ended: its exit code (`None` when a signal ended it) and run time.
    ended: Option<(Option<i32>, f64)>,
    stopped: bool,
}

/// What the page shows of a training it started.
#[derive(Debug, Serialize)]
pub(crate) struct JobState {
    pub run: String,
    /// `running`, `finished` (exit 0), `stopped` (from the page) or `failed`.
    pub state: &'static str,
    pub exit_code: Option<i32>,
    pub seconds: f64,
    /// The last lines the training printed.
    pub output: String,
}

/// The trainings started from the page by this server, by run name.
pub(crate) struct Jobs {
    runs: PathBuf,
    program: Option<PathBuf>,
    jobs: Mutex<BTreeMap<String, Job>>,
    /// The private folder of the trainings' experiment files and outputs.
    files: tempfile::TempDir,
}

impl Jobs {
    /// The `neurona` program this server runs, if it runs one.
    pub(crate) fn program(&self) -> Option<&Path> {
        self.program.as_deref()
    }

    pub fn new(runs: PathBuf, program: Option<PathBuf>) -> Result<Self> {
        let files = tempfile::Builder::new()
            .prefix("neurona-serve-")
            .tempdir()
            .map_err(Error::io(std::env::temp_dir()))?;
        Ok(Self {
            runs,
            program,
            jobs: Mutex::new(BTreeMap::new()),
            files,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the experiment file `text` and starts training it as a new run called `name` (else
    /// its `output.name`, else `page`); returns the run's name.
    pub(crate) fn start_new(&self, text: &str, name: Option<&str>) -> Result<String> {
        let config = checked_config(text, name, &self.runs)?;
        let name = config.output.name.clone().unwrap_or_default();
        if self.runs.join(&name).exists() {
            return Err(Error::Usage(format!(
                "a run called {name} exists already: choose another [output] name (the page \
                 never replaces a run)"
            )));
        }
        self.spawn(&name, &config, false)
    }

    /// Resumes the run `name` of the runs folder from its last completed epoch.
    pub fn resume(&self, name: &str) -> Result<String> {
        let Some(dir) = super::runs::run_path(&self.runs, name) else {
            return Err(Error::Usage(format!("there is no run called {name}")));
        };
        if crate::run_dir::kind(&dir) == Some(RunKind::Points) {
            return Err(Error::Usage(format!(
                "{name} is a 2-D workshop run: it trains in one go and does not resume"
            )));
        }
        let mut config = MlpConfig::load_run(&dir)?;
        if crate::run_dir::in_use(&dir) {
            return Err(Error::Usage(format!("{name} is training now")));
        }
        config.output.dir = self.runs.clone();
        config.output.name = Some(name.to_string());
        self.spawn(name, &config, true)
    }

    fn spawn(&self, name: &str, config: &MlpConfig, resume: bool) -> Result<String> {
        let Some(program) = &self.program else {
            return Err(Error::Usage(
                "this server does not train: it was started without a neurona program to train \
                 with"
                    .into(),
            ));
        };
        let mut jobs = self.lock();
        refresh(&mut jobs);
        if let Some((running, _)) = jobs.iter().find(|(_, job)| job.ended.is_none()) {
            return Err(Error::Usage(format!(
                "{running} is training from the page: stop it or let it finish first (one \
                 training at a time)"
            )));
        }
        if let Some(old) = jobs.remove(name) {
            old.remove_files();
        }
        let config_file = self.files.path().join(format!("{name}.toml"));
        let output = self.files.path().join(format!("{name}.out"));
        write_new(&config_file, config.to_toml().as_bytes())?;
        let log = write_new(&output, b"")?;
        let log_err = log.try_clone().map_err(Error::io(&output))?;
        let mut command = Command::new(program);
        command.arg("train").arg(&config_file);
        if resume {
            command.arg("--resume");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(Error::io(program))?;
        jobs.insert(
            name.to_string(),
            Job {
                child,
                output,
                config_file,
                started: SystemTime::now(),
                ended: None,
                stopped: false,
            },
        );
        Ok(name.to_string())
    }

    /// Stops the training of run `name` (SIGTERM); `false` if the page started no such training.
    pub fn stop(&self, name: &str) -> bool {
        let mut jobs = self.lock();
        refresh(&mut jobs);
        match jobs.get_mut(name) {
            Some(job) => {
                if job.ended.is_none() {
                    job.stopped = true;
                    terminate(&job.child);
                }
                true
            }
            None => false,
        }
    }

    /// Every training the page started, newest state first read from the child processes.
    pub fn list(&self) -> Vec<JobState> {
        let mut jobs = self.lock();
        refresh(&mut jobs);
        jobs.iter()
            .map(|(run, job)| {
                let (exit_code, seconds) = job.ended.unwrap_or((None, seconds_since(job.started)));
                JobState {
                    run: run.clone(),
                    state: match job.ended {
                        None => "running",
                        Some(_) if job.stopped => "stopped",
                        Some((Some(0), _)) => "finished",
                        Some(_) => "failed",
                    },
                    exit_code,
                    seconds,
                    output: tail(&job.output),
                }
            })
            .collect()
    }
}

impl Drop for Jobs {
    /// The server is stopping: trainings it started stop with it (their runs resume later).
    fn drop(&mut self) {
        for (_, mut job) in std::mem::take(&mut *self.lock()) {
            if job.ended.is_none() {
                terminate(&job.child);
                let _ = job.child.wait();
            }
            job.remove_files();
        }
    }
}

impl Job {
    fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.config_file);
        let _ = std::fs::remove_file(&self.output);
    }
}

/// Records the end of every child that has ended. Children are looked at only when the page
/// asks, so a training's run time ends at its output's last write, not at the asking.
fn refresh(jobs: &mut BTreeMap<String, Job>) {
    for job in jobs.values_mut() {
        if job.ended.is_none()
            && let Ok(Some(status)) = job.child.try_wait()
        {
            let last_write = std::fs::metadata(&job.output).and_then(|m| m.modified());
            let seconds = last_write
                .ok()
                .and_then(|t| t.duration_since(job.started).ok())
                .map_or_else(|| seconds_since(job.started), |d| d.as_secs_f64());
            job.ended = Some((status.code(), seconds));
        }
    }
}

fn seconds_since(time: SystemTime) -> f64 {
    time.elapsed().map_or(0.0, |d| d.as_secs_f64())
}

fn terminate(child: &Child) {
    // SIGTERM rather than `Child::kill`'s SIGKILL: the polite request, same effect on a trainer
    // that keeps no state outside its checkpoints.
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: `kill` only sends a signal to the child this server started and still owns
        // (not yet waited for, so its pid cannot have been reused).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// The last [`OUTPUT_TAIL`] bytes of a training's output, from a line start.
fn tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = length.saturating_sub(OUTPUT_TAIL);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    // Progress bars redraw with carriage returns: keep what the last redraw shows.
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| line.rsplit('\r').next().unwrap_or(line))
        .collect();
    let skip = usize::from(from > 0); // a partial first line
    lines[skip.min(lines.len())..].join("\n")
}

/// Parses and checks an image classification experiment from the page, its run called `name`
/// (when given) and placed in `runs`.
pub(crate) fn checked_config(text: &str, name: Option<&str>, runs: &Path) -> Result<MlpConfig> {
    super::runs::placed_experiment(
        text,
        "page.toml",
        name,
        runs,
        "the page trains image classification experiments here; 2-D workshop experiments \
         train in the playground",
    )
}

/// Creates `path` (which must not exist: nothing planted there is followed or truncated) and
/// writes `bytes` into it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<std::fs::File> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(Error::io(path))?;
    file.write_all(bytes).map_err(Error::io(path))?;
    Ok(file)
}

/// `GET /api/templates`: the experiment files the page offers to start a training from.
pub(super) async fn templates() -> impl IntoResponse {
    let list: Vec<_> = TEMPLATES
        .iter()
        .map(|(name, text)| serde_json::json!({ "name": name, "text": text }))
        .collect();
    Json(list)
}

/// `GET /api/jobs`: the trainings the page started, with their state and last output lines.
pub(super) async fn list_jobs(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<JobState>>, ApiError> {
    let list = blocking(move || Ok(state.jobs.list())).await?;
    Ok(Json(list))
}

/// The query of `POST /api/jobs`.
#[derive(Deserialize)]
pub(super) struct RunName {
    name: Option<String>,
}

/// `POST /api/jobs[?name=RUN]` with an image classification experiment file: starts training it
/// as a new run (202 with the run's name).
pub(super) async fn start_job(
    State(state): State<Arc<AppState>>,
    name: Result<Query<RunName>, QueryRejection>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Query(RunName { name }) =
        name.map_err(|_| ApiError::Malformed("the query may only give ?name=RUN".into()))?;
    let text = super::runs::experiment_text(&body)?;
    let run = blocking(move || state.jobs.start_new(&text, name.as_deref())).await?;
    Ok(started(run))
}

/// `POST /api/runs/{name}/resume`: trains the run on from its last completed epoch (202).
pub(super) async fn resume_job(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let run = blocking(move || state.jobs.resume(&name)).await?;
    Ok(started(run))
}

/// The answer to a training started: 202 with its run's name.
fn started(run: String) -> impl IntoResponse {
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "run": run })),
    )
}

/// `POST /api/jobs/{name}/stop`: stops a training the page started (404 for any other).
pub(super) async fn stop_job(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !blocking(move || Ok(state.jobs.stop(&name))).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(serde_json::json!({ "stopping": true })))
}
