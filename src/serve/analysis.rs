//! What an image run's classifier gets wrong, for its page: the run's `analysis.json` (written by
//! `neurona eval` and at the end of training; see `classifier::analysis`), computing it for a run
//! written before it existed, and the test images the page shows from it.
//!
//! Computing is a child `neurona eval` process, as a terminal would run it (its own device and
//! float type, nothing loaded into the server), one at a time; a second request meanwhile is
//! told to wait. The test images are read from the data set the run's config names, once per
//! run and config, and only the few asked for are sent.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Json};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api_error::{ApiError, blocking};
use super::runs;
use crate::classifier::analysis::FILE;
use crate::classifier::config::MlpConfig;
use crate::classifier::data::idx::LabelledImages;
use crate::classifier::data::{SIDE, Split, read_split};
use crate::error::{Error, Result};
use crate::experiment::ExperimentFile;
use crate::run_dir::RunKind;

/// The most test images one request may ask for.
pub(crate) const MAX_IMAGES: usize = 200;

/// Whether an analysis is being computed, and the test set read last (one run's at a time).
#[derive(Default)]
pub struct Analyses {
    computing: AtomicBool,
    images: Mutex<Option<(PathBuf, SystemTime, Arc<LabelledImages>)>>,
}

/// The image run `name` of the runs folder, or why not.
fn image_run(root: &Path, name: &str) -> Result<Option<PathBuf>> {
    let Some(dir) = runs::run_path(root, name) else {
        return Ok(None);
    };
    match crate::run_dir::kind(&dir) {
        Some(RunKind::ImageClassification) => Ok(Some(dir)),
        kind => Err(Error::Usage(format!(
            "{name} is a {} run: the analysis is an image classifier's",
            kind.map_or("unknown", |k| k.name())
        ))),
    }
}

/// `GET /api/runs/{name}/analysis`: the run's `analysis.json`; a run without one is refused
/// with how to get it.
pub(super) async fn get_analysis(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = blocking(move || {
        let Some(dir) = image_run(&state.runs, &name)? else {
            return Ok(None);
        };
        runs::read_plain(&dir, FILE).map(Some).ok_or_else(|| {
            Error::Usage(format!(
                "{name} has no analysis yet: it was trained before neurona wrote one; compute \
                 it (POST to this address, or `neurona eval {name}` in a terminal)"
            ))
        })
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes))
}

/// `POST /api/runs/{name}/analysis`: computes the run's analysis with `neurona eval` (which also
/// writes its `eval.json`), then answers it.
pub(super) async fn post_analysis(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(program) = state.jobs.program().map(Path::to_path_buf) else {
        return Err(ApiError::Refused(
            "this server runs no programs: compute the analysis with `neurona eval` in a terminal"
                .into(),
        ));
    };
    if state.analyses.computing.swap(true, Ordering::AcqRel) {
        return Err(ApiError::Busy {
            reason: "another analysis is being computed; try again in a few seconds".into(),
            retry_after: 5,
        });
    }
    let worker = state.clone();
    let done = blocking(move || {
        let state = worker;
        let computed = (|| {
            let Some(dir) = image_run(&state.runs, &name)? else {
                return Ok(None);
            };
            if crate::run_dir::in_use(&dir) {
                return Err(Error::Usage(format!(
                    "{name} is training: its analysis is written when it finishes"
                )));
            }
            evaluate(&program, &dir)?;
            Ok(runs::read_plain(&dir, FILE))
        })();
        state.analyses.computing.store(false, Ordering::Release);
        computed
    })
    .await;
    // A panic of the work leaves the flag set; clear it whatever happened.
    state.analyses.computing.store(false, Ordering::Release);
    let bytes = done?.ok_or(ApiError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes))
}

/// Runs `neurona eval` on the run in `dir`; its error message is the refusal's reason.
fn evaluate(program: &Path, dir: &Path) -> Result<()> {
    let output = Command::new(program)
        .arg("eval")
        .arg(dir)
        .output()
        .map_err(Error::io(program))?;
    if output.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&output.stderr)
        .trim()
        .trim_start_matches("error: ")
        .to_string();
    Err(match output.status.code() {
        Some(2) => Error::Usage(message),
        _ => Error::Internal(format!("neurona eval {}: {message}", dir.display())),
    })
}

/// The query of [`test_images`]: the test images' indices, `?indices=3,17,42`.
#[derive(Deserialize)]
pub(super) struct Indices {
    indices: String,
}

/// Test images as the page paints them: `side × side` grey bytes each, in the order asked,
/// base64-encoded one after the other, with their true classes.
#[derive(Serialize)]
pub(super) struct TestImages {
    side: usize,
    indices: Vec<usize>,
    labels: Vec<u8>,
    pixels: String,
}

/// `GET /api/runs/{name}/test-images?indices=3,17,42`: those images of the run's test set.
pub(super) async fn test_images(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<Indices>, QueryRejection>,
) -> Result<Json<TestImages>, ApiError> {
    let malformed = || {
        ApiError::Malformed(format!(
            "give up to {MAX_IMAGES} test images' indices: ?indices=3,17,42"
        ))
    };
    let Query(Indices { indices }) = query.map_err(|_| malformed())?;
    let indices: Vec<usize> = indices
        .split(',')
        .map(|i| i.trim().parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| malformed())?;
    if indices.is_empty() || indices.len() > MAX_IMAGES {
        return Err(malformed());
    }
    let found = blocking(move || {
        let Some(dir) = image_run(&state.runs, &name)? else {
            return Ok(None);
        };
        let images = state.analyses.test_set(&dir)?;
        if let Some(&outside) = indices.iter().find(|&&i| i >= images.len()) {
            return Err(Error::Usage(format!(
                "test image {outside}: {name}'s test set holds {} images",
                images.len()
            )));
        }
        let size = SIDE * SIDE;
        let mut pixels = Vec::with_capacity(indices.len() * size);
        for &i in &indices {
            pixels.extend_from_slice(&images.pixels[i * size..(i + 1) * size]);
        }
        use base64::Engine;
        Ok(Some(TestImages {
            side: SIDE,
            labels: indices.iter().map(|&i| images.labels[i]).collect(),
            indices,
            pixels: base64::engine::general_purpose::STANDARD.encode(pixels),
        }))
    })
    .await?;
    found.map(Json).ok_or(ApiError::NotFound)
}

impl Analyses {
    /// The test set of the run in `dir`, as its config names it, read again only when the
    /// config changes or another run is asked for.
    fn test_set(&self, dir: &Path) -> Result<Arc<LabelledImages>> {
        let (stamp, _) = runs::stamp(dir, "config.toml")
            .ok_or_else(|| Error::Usage(format!("{} has no config.toml", dir.display())))?;
        let mut kept = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((path, when, images)) = kept.as_ref()
            && path == dir
            && *when == stamp
        {
            return Ok(images.clone());
        }
        let config = MlpConfig::load_run(dir)?;
        let images = Arc::new(read_split(&config.data, Split::Test)?);
        *kept = Some((dir.to_path_buf(), stamp, images.clone()));
        Ok(images)
    }
}
