//! The playground: the 2-D workshop (`crate::points`: XOR, circle, two moons, spirals, blobs) trained
//! from the page, with the data set, the network's size, activation and learning rate picked
//! there. The page sends an ordinary experiment file, which goes through the same parsing and
//! validation as `neurona train` (plus limits that keep one request short), so what it shows is
//! the real model, and "save" writes a normal run.
//!
//! It trains in the server's own process, so it is bounded there: at most `Slots` trainings at
//! once (a request beyond that is answered 503 at once here; the live stream of `super::live`
//! queues a few, telling its page how many are ahead), each
//! stopped at its next epoch when its client goes away, and always in f32 — a request for f64
//! is refused before any tensor exists, since a process's CPU device holds one float type and one
//! request must not change what the others get.
//!
//! Its two routes, train and save, are at the end.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Json};
use serde::Serialize;

use super::AppState;
use super::api_error::{ApiError, blocking};
use crate::backend::Precision;
use crate::error::{Error, Result};
use crate::points::config::PointsConfig;
use crate::points::{self, Score, region};
use crate::run_dir::Start;

/// The most epochs one request may train.
pub(crate) const MAX_EPOCHS: usize = 20_000;
/// The largest network the playground trains.
pub(crate) const MAX_PARAMETERS: u128 = 10_000;
/// The most points of a generated set the playground trains on.
pub(crate) const MAX_POINTS: usize = 1_000;
/// The most optimizer steps of one request: the epochs of full-batch training, ten batches each.
pub(crate) const MAX_STEPS: usize = 10 * MAX_EPOCHS;
/// The decision-region grid's side.
pub(crate) const GRID: usize = 41;
/// Snapshots of the regions kept at most, spread geometrically over the epochs.
const FRAMES: usize = 40;

/// The regions and the losses at one epoch.
#[derive(Debug, Serialize)]
pub struct Frame {
    pub epoch: usize,
    pub loss: f64,
    /// Generated sets: the loss on the test points.
    pub test_loss: Option<f64>,
    /// `P(1)` on the grid, row by row from the top, as bytes `round(255·P)` in base64: enough
    /// for painting, and 2 KB a frame rather than 30 KB of JSON numbers.
    pub grid: String,
}

/// What the page animates: the losses, snapshots of the regions, the final answer.
#[derive(Debug, Serialize)]
pub struct Training {
    pub dataset: &'static str,
    pub losses: Vec<f64>,
    /// Generated sets: the test loss per epoch (empty for XOR).
    pub test_losses: Vec<f64>,
    pub frames: Vec<Frame>,
    /// `P(1)` for each training point after training.
    pub probabilities: Vec<f64>,
    pub converged_epoch: Option<usize>,
    pub points: Vec<[f64; 2]>,
    pub targets: Vec<i64>,
    pub test_points: Vec<[f64; 2]>,
    pub test_targets: Vec<i64>,
    pub train: Score,
    pub test: Option<Score>,
    pub region: (f64, f64),
    pub grid_side: usize,
}

/// Parses and checks a playground experiment, its run placed in `runs`.
pub(crate) fn checked_config(text: &str, runs: &Path) -> Result<PointsConfig> {
    let config: PointsConfig = super::runs::placed_experiment(
        text,
        "playground.toml",
        None,
        runs,
        "the playground trains the 2-D workshop (task = \"points\"): data.dataset must be \
         \"xor\", \"circle\", \"moons\", \"spirals\" or \"blobs\"",
    )?;
    if config.precision != Precision::F32 {
        return Err(Error::Usage(
            "the playground trains in f32: remove precision (or train an f64 run with `neurona \
             train`)"
                .into(),
        ));
    }
    if config.training.epochs > MAX_EPOCHS {
        return Err(Error::Usage(format!(
            "the playground trains at most {MAX_EPOCHS} epochs; use `neurona train` for more"
        )));
    }
    let (points, tests) = config.data.counts();
    if points.max(tests) > MAX_POINTS {
        return Err(Error::Usage(format!(
            "the playground trains and tests on at most {MAX_POINTS} points each; use `neurona \
             train` for more"
        )));
    }
    let trained = if config.data.dataset.is_generated() {
        points
    } else {
        points::TRUTH_TABLE.len()
    };
    let steps = config.training.epochs * trained.div_ceil(config.training.batch_of(trained));
    if steps > MAX_STEPS {
        return Err(Error::Usage(format!(
            "{steps} optimizer steps (epochs × batches an epoch) is more than the playground \
             takes ({MAX_STEPS}): fewer epochs or larger batches, or use `neurona train`"
        )));
    }
    let parameters = config.model.parameter_count(config.input_shape(), 2);
    if parameters > MAX_PARAMETERS {
        return Err(Error::Usage(format!(
            "{parameters} parameters is more than the playground trains ({MAX_PARAMETERS}); \
             use `neurona train`"
        )));
    }
    Ok(config)
}

/// Trains the network in memory and keeps snapshots of its decision regions; stops with an error
/// at the first epoch after `abandoned` is set.
pub fn train(config: &PointsConfig, abandoned: &AtomicBool) -> Result<Training> {
    let device = crate::backend::device(config.backend, config.precision)?.autodiff();
    device.seed(config.seed);
    let mut frames = Vec::new();
    let mut next = 1.0_f64;
    let growth = (config.training.epochs as f64)
        .powf(1.0 / FRAMES as f64)
        .max(1.01);
    let (train_set, test_set) = points::point_sets(config);
    let (model, report) = points::fit(
        config,
        &train_set,
        test_set.as_ref(),
        &device,
        |epoch, loss, _, model| {
            if abandoned.load(Ordering::Relaxed) {
                return ControlFlow::Break(());
            }
            if epoch as f64 >= next {
                next = (next * growth).max(epoch as f64 + 1.0);
                frames.push(Frame {
                    epoch,
                    loss,
                    test_loss: None,
                    grid: encode_grid(&points::probability_grid(model, config, &device, GRID)),
                });
            }
            ControlFlow::Continue(())
        },
    )?;
    let last = report.losses.len();
    if frames.last().is_none_or(|f| f.epoch != last) && last > 0 {
        frames.push(Frame {
            epoch: last,
            loss: report.losses[last - 1],
            test_loss: None,
            grid: encode_grid(&points::probability_grid(&model, config, &device, GRID)),
        });
    }
    // The test losses are known per epoch once training is over.
    for frame in &mut frames {
        frame.test_loss = report.test_losses.get(frame.epoch - 1).copied();
    }
    let test_set = test_set.unwrap_or_default();
    Ok(Training {
        dataset: config.data.dataset.slug(),
        losses: report.losses,
        test_losses: report.test_losses,
        frames,
        probabilities: report.probabilities,
        converged_epoch: report.converged_epoch,
        points: train_set.points,
        targets: train_set.labels,
        test_points: test_set.points,
        test_targets: test_set.labels,
        train: report.train,
        test: report.test,
        region: region(config.data.dataset),
        grid_side: GRID,
    })
}

/// Probabilities as bytes `round(255·p)`, base64-encoded.
pub(crate) fn encode_grid(probabilities: &[f64]) -> String {
    use base64::Engine;
    let bytes: Vec<u8> = probabilities
        .iter()
        .map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Trains and writes the run as `neurona train` would; returns its name.
pub fn save(config: &PointsConfig) -> Result<String> {
    points::train(config, Start::New)?;
    Ok(config.output.name.clone().unwrap_or_default())
}

/// The playground's training slots: how many requests may train at once (half the cores, at
/// least one), so that the page leaves the machine usable whatever it sends.
pub(crate) struct Slots(Arc<tokio::sync::Semaphore>);

/// Half the cores, at least one.
pub(crate) fn slot_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}

/// Seconds a client turned away is told to wait before trying again.
pub(crate) const RETRY_AFTER: u64 = 2;

impl Default for Slots {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(slot_count())))
    }
}

impl Slots {
    /// A slot, or the refusal to answer with: every slot is training.
    pub fn take(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.0
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy {
                reason: format!(
                    "the playground is busy training other requests; try again in {RETRY_AFTER} s"
                ),
                retry_after: RETRY_AFTER,
            })
    }

    /// A slot once one is free, in turn after those already waiting (the semaphore is fair);
    /// `None` only if the slots were closed, which they never are.
    pub async fn wait(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().acquire_owned().await.ok()
    }
}

/// Set when dropped: the request that owns it has ended (answered, or its client gone), so the
/// training working for it may stop.
struct Abandon(Arc<AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `POST /api/playground/train` with a 2-D workshop experiment file: the training, in memory.
pub(super) async fn post_train(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let training = in_a_slot(&state, &body, train).await?;
    Ok(Json(training))
}

/// `POST /api/playground/save` with a 2-D workshop experiment file: trains it into a run of the
/// runs folder, as `neurona train` would.
pub(super) async fn post_save(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let run = in_a_slot(&state, &body, |config, _| save(config)).await?;
    Ok(Json(serde_json::json!({ "run": run })))
}

/// A playground request's work: its experiment checked ([`checked_config`]), then `work` run in
/// one of the [`Slots`] (503 when all are busy), seeing a flag set once the client has gone.
async fn in_a_slot<T: Send + 'static>(
    state: &AppState,
    body: &[u8],
    work: impl FnOnce(&PointsConfig, &AtomicBool) -> Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let text = super::runs::experiment_text(body)?;
    let slot = state.slots.take()?;
    // Dropped with this request's future: when the answer is sent, or when the client goes away
    // (hyper drops the future of a request whose connection has closed).
    let abandon = Abandon(Arc::new(AtomicBool::new(false)));
    let abandoned = abandon.0.clone();
    let runs = state.runs.clone();
    blocking(move || {
        let _slot = slot;
        work(&checked_config(&text, &runs)?, &abandoned)
    })
    .await
}
