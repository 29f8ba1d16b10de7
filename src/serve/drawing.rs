//! The drawing canvas: the page sends a digit or garment drawn with the mouse, and a run's model
//! answers with its class probabilities for it, prepared as the training images were
//! ([`prepare`]). A run's model is loaded once per version of its `model.bpk` and kept
//! ([`Models`]): a run that trains on replaces the file, and the next drawing loads the new one.
//!
//! The server's process holds one float type (f32, as the playground), so a run trained in f64 is
//! refused here rather than loaded: loading it would change the type for every later request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::response::Json;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api_error::{ApiError, blocking};
use super::runs;
use crate::classifier::config::MlpConfig;
use crate::classifier::data::preprocess::prepare;
use crate::classifier::inference::Classifier;
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Overrides};

/// The largest drawing side accepted.
pub(crate) const MAX_SIDE: usize = 1024;

/// The query of a drawing: its size in pixels.
#[derive(Deserialize)]
pub(super) struct DrawingSize {
    width: usize,
    height: usize,
}

/// What the model answered for a drawing, and the 28×28 image it was given.
#[derive(Serialize)]
pub(crate) struct DrawingAnswer {
    pub image: Vec<u8>,
    pub class: usize,
    pub class_name: String,
    /// Every class's name, in class order.
    pub class_names: Vec<String>,
    pub probabilities: Vec<f64>,
    /// Server time for preparing the image and running the model.
    pub milliseconds: f64,
}

/// `POST /api/runs/{name}/predict?width=W&height=H` with `W·H` grey bytes (ink bright, row by
/// row): the run's class probabilities for the drawing.
pub(super) async fn predict(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    size: Result<Query<DrawingSize>, QueryRejection>,
    body: Bytes,
) -> Result<Json<DrawingAnswer>, ApiError> {
    let Query(DrawingSize { width, height }) =
        size.map_err(|_| ApiError::Malformed("give the drawing's size: ?width=W&height=H".into()))?;
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(ApiError::Malformed(format!(
            "width and height must be 1 to {MAX_SIDE}"
        )));
    }
    if body.len() != width * height {
        return Err(ApiError::Malformed(format!(
            "the body must hold width × height = {} grey bytes, it holds {}",
            width * height,
            body.len()
        )));
    }
    let answer = blocking(move || -> Result<Option<DrawingAnswer>> {
        let Some(classifier) = state.models.get(&state.runs, &name)? else {
            return Ok(None);
        };
        let started = Instant::now();
        let image = prepare(&body, width, height);
        let prediction = classifier.classify(&[&image]).remove(0);
        Ok(Some(DrawingAnswer {
            image,
            class: prediction.class,
            class_name: prediction.class_name,
            class_names: classifier.class_names().to_vec(),
            probabilities: prediction.probabilities,
            milliseconds: started.elapsed().as_secs_f64() * 1e3,
        }))
    })
    .await?;
    answer.map(Json).ok_or(ApiError::NotFound)
}

/// The runs' models loaded so far, by run, with the modification time of the `model.bpk` each
/// came from.
#[derive(Default)]
pub struct Models(Mutex<HashMap<String, (SystemTime, Arc<Classifier>)>>);

impl Models {
    /// The model of run `name` of the runs folder `root`, loaded once per `model.bpk` version;
    /// `None` if there is no such run.
    fn get(&self, root: &Path, name: &str) -> Result<Option<Arc<Classifier>>> {
        let Some(dir) = runs::run_path(root, name) else {
            return Ok(None);
        };
        let kind = crate::run_dir::kind(&dir);
        if kind != Some(crate::run_dir::RunKind::ImageClassification) {
            let kind = kind.map_or("unknown", |k| k.name());
            return Err(Error::Usage(format!(
                "{name} is a {kind} run: drawing needs an image classifier (MNIST or \
                 Fashion-MNIST)"
            )));
        }
        let (modified, _) = runs::stamp(&dir, "model.bpk").ok_or_else(|| {
            Error::Usage(format!(
                "{name} has no model yet: it writes model.bpk after its first epoch"
            ))
        })?;
        let mut loaded = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((when, classifier)) = loaded.get(name)
            && *when == modified
        {
            return Ok(Some(classifier.clone()));
        }
        if MlpConfig::load_run(&dir)?.precision != crate::backend::Precision::F32 {
            return Err(Error::Usage(format!(
                "{name} was trained in f64: the page draws with f32 models; use `neurona predict`"
            )));
        }
        let classifier = Arc::new(Classifier::load(&dir, Overrides::default())?);
        loaded.insert(name.to_string(), (modified, classifier.clone()));
        Ok(Some(classifier))
    }
}
