//! The playground trained live: the page sends a 2-D workshop experiment and reads the training
//! as it happens — one JSON line per frame (the epoch, both losses, the decision regions), at most
//! every [`FRAME_INTERVAL`] while it plays — then the final answer. Play, pause and step come
//! back on a second route, by the session number the first line gives.
//!
//! It is the playground's own model code (`crate::points::fit`) in one of its slots
//! (`playground::Slots`), checked as every playground request is (`playground::checked_config`):
//! a stream is bounded in epochs, points and parameters like a `train` request. A training ends
//! when its page goes away (its stream is closed: the next frame finds no reader), and a paused
//! one gives its slot back after [`MAX_PAUSE`]. When every slot is training, up to
//! [`MAX_WAITING`] streams wait their turn, each told first how many are ahead of it; one more is
//! answered 503 at once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api_error::ApiError;
use super::playground::{GRID, checked_config, encode_grid};
use crate::error::Result;
use crate::points::config::PointsConfig;
use crate::points::{self, Score, region};

/// The shortest time between two frames while a training plays: 20 frames a second.
pub(crate) const FRAME_INTERVAL: Duration = Duration::from_millis(50);
/// How many live trainings may wait for a slot.
pub(crate) const MAX_WAITING: usize = 4;
/// How long a paused training keeps its slot.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(600);

/// What the page asked of a training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Play,
    Pause,
    /// One epoch, then pause.
    Step,
}

/// A training's mode, which its thread waits on while paused.
struct Control {
    mode: Mutex<Mode>,
    changed: Condvar,
}

impl Control {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
        self.changed.notify_all();
    }

    /// Waits while paused; `false` when the page has gone or the pause lasted [`MAX_PAUSE`].
    fn wait_while_paused(&self, gone: impl Fn() -> bool) -> bool {
        let since = Instant::now();
        let mut mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
        while *mode == Mode::Pause {
            if gone() || since.elapsed() > MAX_PAUSE {
                return false;
            }
            mode = self
                .changed
                .wait_timeout(mode, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// The live trainings, by session number.
#[derive(Default)]
pub struct Sessions {
    next: AtomicU64,
    controls: Mutex<HashMap<u64, Weak<Control>>>,
    /// How many streams are waiting for a slot.
    waiting: Arc<AtomicUsize>,
}

/// A stream's place in the queue for a slot, given up when dropped.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Sessions {
    fn open(&self) -> (u64, Arc<Control>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let control = Arc::new(Control {
            mode: Mutex::new(Mode::Play),
            changed: Condvar::new(),
        });
        let mut controls = self.controls.lock().unwrap_or_else(|e| e.into_inner());
        controls.retain(|_, c| c.strong_count() > 0);
        controls.insert(id, Arc::downgrade(&control));
        (id, control)
    }

    /// A place in the queue and how many wait ahead of it; `None` when [`MAX_WAITING`] wait.
    fn queue(&self) -> Option<(Waiting, usize)> {
        let ahead = self.waiting.fetch_add(1, Ordering::Relaxed);
        let place = Waiting(self.waiting.clone());
        (ahead < MAX_WAITING).then_some((place, ahead))
    }

    fn get(&self, id: u64) -> Option<Arc<Control>> {
        let controls = self.controls.lock().unwrap_or_else(|e| e.into_inner());
        controls.get(&id)?.upgrade()
    }
}

/// One line of a live training's stream.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line<'a> {
    /// First when every slot is training: the stream waits for one, `ahead` others before it
    /// and `running` training now.
    Queued { ahead: usize, running: usize },
    /// First: the session and the points.
    Start {
        session: u64,
        dataset: &'static str,
        points: &'a [[f64; 2]],
        targets: &'a [i64],
        test_points: &'a [[f64; 2]],
        test_targets: &'a [i64],
        region: (f64, f64),
        grid_side: usize,
        /// What the network reads, each over the plane as a [`Picture`]'s units are.
        inputs: Vec<Input>,
    },
    /// The model after `epoch`: `grid` is `P(1)` on the grid as bytes `round(255·P)` in base64;
    /// `network` what each unit computes and the weights between them.
    Frame {
        epoch: usize,
        loss: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        test_loss: Option<f64>,
        grid: String,
        mode: Mode,
        network: Picture,
    },
    /// Last, when the training has ended by itself.
    Done {
        epoch: usize,
        /// Every epoch's losses (the frames carried those of the epochs they showed).
        losses: &'a [f64],
        test_losses: &'a [f64],
        grid: String,
        probabilities: Vec<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        converged_epoch: Option<usize>,
        train: Score,
        #[serde(skip_serializing_if = "Option::is_none")]
        test: Option<Score>,
    },
    /// Last, when it could not go on (diverged, paused too long).
    Error { error: String },
}

/// The side of each hidden unit's small grid.
pub(crate) const UNIT_GRID: usize = 21;

/// One of the network's inputs: its name (`x1`, `x1*x2`) and its values over the plane.
#[derive(Serialize)]
struct Input {
    name: String,
    grid: String,
}

/// A unit's values on the grid as [`Picture::units`] sends them.
fn encode_unit(values: &[f64]) -> String {
    use base64::Engine;
    let m = values.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    let bytes: Vec<u8> = values
        .iter()
        .map(|v| (127.5 * (1.0 + v / m)).round().clamp(0.0, 255.0) as u8)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The network as the page draws it: each hidden unit's output over the plane and every weight.
#[derive(Serialize)]
struct Picture {
    /// `[layer][unit]`: the unit's output on a [`UNIT_GRID`]² grid, row by row from the top, as
    /// bytes `round(127.5·(1 + v/m))` in base64, `m` the unit's largest |output| on the grid or
    /// 1 if that is less (128 is 0; above, positive): a tanh unit on its own scale, a unit that
    /// outputs almost nothing pale).
    units: Vec<Vec<String>>,
    /// `[layer][input][output]`, each dense layer's weights from the inputs to the output unit,
    /// to 4 decimals.
    weights: Vec<Vec<Vec<f32>>>,
}

impl Picture {
    fn of(
        model: &crate::network::model::Network,
        config: &PointsConfig,
        device: &burn::prelude::Device,
    ) -> Self {
        let units = points::unit_grids(model, config, device, UNIT_GRID)
            .iter()
            .map(|layer| layer.iter().map(|values| encode_unit(values)).collect())
            .collect();
        let weights = model
            .layers()
            .map(|linear| {
                let [inputs, outputs] = linear.weight.dims();
                let values = crate::numeric::to_f64s(linear.weight.val());
                (0..inputs)
                    .map(|i| {
                        (0..outputs)
                            .map(|o| ((values[i * outputs + o] * 1e4).round() / 1e4) as f32)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Picture { units, weights }
    }
}

/// The stream's writer: one JSON line at a time to the page, `false` once it has gone.
struct Writer(tokio::sync::mpsc::Sender<Bytes>);

impl Writer {
    /// `line` as JSON and a newline.
    fn line(line: &Line) -> Bytes {
        let mut text = serde_json::to_string(line).unwrap_or_default();
        text.push('\n');
        Bytes::from(text)
    }

    fn send(&self, line: &Line) -> bool {
        self.0.blocking_send(Self::line(line)).is_ok()
    }

    fn gone(&self) -> bool {
        self.0.is_closed()
    }
}

/// Trains `config`, writing its lines, until it ends or its page goes.
fn stream(config: &PointsConfig, session: u64, control: &Control, out: &Writer) {
    let trained = (|| -> Result<bool> {
        let device = crate::backend::device(config.backend, config.precision)?.autodiff();
        device.seed(config.seed);
        let (train_set, test_set) = points::point_sets(config);
        let no_test = points::data::PointSet::default();
        let test = test_set.as_ref().unwrap_or(&no_test);
        if !out.send(&Line::Start {
            session,
            dataset: config.data.dataset.slug(),
            points: &train_set.points,
            targets: &train_set.labels,
            test_points: &test.points,
            test_targets: &test.labels,
            region: region(config.data.dataset),
            grid_side: GRID,
            inputs: points::input_names(config)
                .into_iter()
                .zip(points::input_grids(config, &device, UNIT_GRID))
                .map(|(name, values)| Input {
                    name,
                    grid: encode_unit(&values),
                })
                .collect(),
        }) {
            return Ok(false);
        }
        let mut last: Option<Instant> = None;
        let (model, report) = points::fit(
            config,
            &train_set,
            test_set.as_ref(),
            &device,
            |epoch, loss, test_loss, model| {
                let mode = control.mode();
                let due = last.is_none_or(|t| t.elapsed() >= FRAME_INTERVAL);
                if mode != Mode::Play || due {
                    if mode == Mode::Step {
                        control.set(Mode::Pause);
                    }
                    last = Some(Instant::now());
                    let grid = encode_grid(&points::probability_grid(model, config, &device, GRID));
                    let frame = Line::Frame {
                        epoch,
                        loss,
                        test_loss,
                        grid,
                        mode: control.mode(),
                        network: Picture::of(model, config, &device),
                    };
                    if !out.send(&frame) {
                        return ControlFlow::Break(());
                    }
                }
                if control.wait_while_paused(|| out.gone()) {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            },
        )?;
        Ok(out.send(&Line::Done {
            epoch: report.losses.len(),
            losses: &report.losses,
            test_losses: &report.test_losses,
            grid: encode_grid(&points::probability_grid(&model, config, &device, GRID)),
            probabilities: report.probabilities,
            converged_epoch: report.converged_epoch,
            train: report.train,
            test: report.test,
        }))
    })();
    if let Err(error) = trained
        && !out.gone()
    {
        let error = if control.mode() == Mode::Pause {
            format!(
                "paused for more than {} minutes: stopped",
                MAX_PAUSE.as_secs() / 60
            )
        } else {
            error.to_string()
        };
        out.send(&Line::Error { error });
    }
}

/// `POST /api/playground/live` with a 2-D workshop experiment file: the training as a stream of
/// JSON lines (`application/x-ndjson`), [`Line`] by line.
pub(super) async fn post_live(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = super::runs::experiment_text(&body)?;
    let config = checked_config(&text, &state.runs)?;
    let ready = match state.slots.take() {
        Ok(slot) => Ok(slot),
        Err(busy) => Err(state.live.queue().ok_or(busy)?),
    };
    let (session, control) = state.live.open();
    let (sender, mut lines) = tokio::sync::mpsc::channel::<Bytes>(2);
    tokio::spawn(async move {
        let slot = match ready {
            Ok(slot) => slot,
            Err((_place, ahead)) => {
                let running = super::playground::slot_count();
                let queued = Writer::line(&Line::Queued { ahead, running });
                if sender.send(queued).await.is_err() {
                    return;
                }
                tokio::select! {
                    slot = state.slots.wait() => match slot {
                        Some(slot) => slot,
                        None => return,
                    },
                    () = sender.closed() => return,
                }
            }
        };
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            stream(&config, session, &control, &Writer(sender));
        });
    });
    let body = futures_util::stream::poll_fn(move |cx| {
        lines
            .poll_recv(cx)
            .map(|line| line.map(Ok::<_, Infallible>))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// What the page asks of a live training: `{"mode": "pause" | "play" | "step"}`.
#[derive(Deserialize)]
pub(super) struct Asked {
    mode: Mode,
}

/// `POST /api/playground/live/{session}` with `{"mode": …}`: plays, pauses or steps the training.
pub(super) async fn post_mode(
    State(state): State<Arc<AppState>>,
    UrlPath(session): UrlPath<u64>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Asked { mode } = serde_json::from_slice(&body).map_err(|_| {
        ApiError::Malformed(
            r#"send {"mode": "play"}, {"mode": "pause"} or {"mode": "step"}"#.into(),
        )
    })?;
    let control = state.live.get(session).ok_or(ApiError::NotFound)?;
    control.set(mode);
    Ok(Json(
        serde_json::json!({ "session": session, "mode": mode }),
    ))
}
