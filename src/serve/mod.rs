//! `neurona serve`: a local web page over a runs folder — the runs with their plots and
//! per-epoch tables, live curves of runs in training, trainings started from the page ([`jobs`]),
//! a canvas to draw a digit and see a run's model answer, and the 2-D playground. One small axum
//! server; the page (HTML, CSS, JavaScript, no framework) is compiled into the binary, so it
//! needs no internet and no front-end build.
//!
//! Safety: it binds 127.0.0.1 unless told otherwise; it answers only requests for its own host
//! names, and changes or starts nothing but for its own page ([`guard`]); it serves only files
//! directly inside a run directory, and follows no link ([`runs`]); request bodies are capped at
//! [`MAX_BODY`]; idle, slow and silent clients are timed out and a flood of them cannot keep a
//! real one out ([`connections`]); the playground's trainings are bounded ([`playground`]);
//! every request is answered (a panic in a handler becomes a 500, never a dead server).

pub mod connections;
pub mod guard;
pub mod jobs;
pub mod playground;
pub mod runs;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::classifier::data::preprocess::prepare;
use crate::classifier::inference::Classifier;
use crate::error::{Error, Result};

/// The largest request body: a drawing of 1024 × 1024 grey bytes.
pub const MAX_BODY: usize = MAX_SIDE * MAX_SIDE;
/// The largest drawing side accepted by `predict`.
pub const MAX_SIDE: usize = 1024;

/// Where and what to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub runs: PathBuf,
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// The `neurona` program that trains the runs started from the page (`neurona serve` gives
    /// itself); `None` turns training from the page off.
    pub program: Option<PathBuf>,
}

struct AppState {
    runs: PathBuf,
    /// The runs' `metrics.json`, read once per change.
    records: runs::RunCache,
    /// The playground's training slots.
    slots: playground::Slots,
    /// Set when the server stops: live streams end, so their connections close.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// Loaded models by run, with the modification time of the `model.bpk` they came from (a
    /// run that trains on replaces it, and the next request loads the new one).
    classifiers: Mutex<HashMap<String, (SystemTime, Arc<Classifier>)>>,
    /// Trainings started from the page.
    jobs: jobs::Jobs,
}

/// A server running on its own thread; dropping it stops the server.
pub struct Server {
    pub address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds the address and serves on a background thread until the returned [`Server`] is dropped.
pub fn start(options: &ServeOptions) -> Result<Server> {
    let (listener, state, stop) = bind(options)?;
    let address = listener.local_addr().map_err(io_error)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _ = run(listener, state, stop, async {
            let _ = rx.await;
        });
    });
    Ok(Server {
        address,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

/// `neurona serve`: prints the URL and serves until Ctrl-C.
pub fn serve(options: &ServeOptions) -> Result<()> {
    let (listener, state, stop) = bind(options)?;
    let address = listener.local_addr().map_err(io_error)?;
    if !options.host.is_loopback() {
        eprintln!(
            "warning: listening on {}: anyone who can reach this machine can see the runs and \
             use the models; plain HTTP, no password",
            options.host
        );
    }
    println!(
        "neurona serves {} at http://{address}/",
        options.runs.display()
    );
    println!("(Ctrl-C stops it)");
    run(listener, state, stop, async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn io_error(source: std::io::Error) -> Error {
    Error::Usage(format!("cannot serve: {source}"))
}

type Bound = (
    std::net::TcpListener,
    Arc<AppState>,
    tokio::sync::watch::Sender<bool>,
);

fn bind(options: &ServeOptions) -> Result<Bound> {
    if !options.runs.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a folder: give the runs folder with --runs (default: artifacts)",
            options.runs.display()
        )));
    }
    let runs = options
        .runs
        .canonicalize()
        .map_err(Error::io(&options.runs))?;
    let listener = std::net::TcpListener::bind((options.host, options.port)).map_err(|e| {
        Error::Usage(format!(
            "cannot listen on {}:{}: {e}",
            options.host, options.port
        ))
    })?;
    listener.set_nonblocking(true).map_err(io_error)?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let state = Arc::new(AppState {
        jobs: jobs::Jobs::new(runs.clone(), options.program.clone())?,
        runs,
        records: runs::RunCache::default(),
        slots: playground::Slots::default(),
        stopping,
        classifiers: Mutex::new(HashMap::new()),
    });
    Ok((listener, state, stop))
}

fn run(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    stop: tokio::sync::watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io_error)?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(io_error)?;
        let address = listener.local_addr().map_err(io_error)?;
        let served = guard::Served {
            address: address.ip(),
            port: address.port(),
        };
        connections::serve(listener, router(state, served), async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
        Ok(())
    });
    // A playground training still running stops at its next epoch (its request is gone); the
    // process does not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

fn router(state: Arc<AppState>, served: guard::Served) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", PAGE_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { page("text/javascript; charset=utf-8", PAGE_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { page("text/css; charset=utf-8", PAGE_CSS) }),
        )
        .route("/api/runs", get(list_runs))
        .route("/api/runs/{name}", get(run_detail))
        .route("/api/runs/{name}/predict", post(predict))
        .route("/api/runs/{name}/events", get(run_events))
        .route("/api/runs/{name}/resume", post(resume_job))
        .route("/api/templates", get(templates))
        .route("/api/jobs", get(list_jobs).post(start_job))
        .route("/api/jobs/{name}/stop", post(stop_job))
        .route("/api/playground/train", post(playground_train))
        .route("/api/playground/save", post(playground_save))
        .route("/runs/{name}/{file}", get(run_file))
        .fallback(|| async { not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(served, guard::guard))
        .with_state(state)
}

const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/app.js");
const PAGE_CSS: &str = include_str!("page/style.css");

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Serialize)]
struct Problem {
    error: String,
}

fn problem(status: StatusCode, error: impl Into<String>) -> Response {
    (
        status,
        Json(Problem {
            error: error.into(),
        }),
    )
        .into_response()
}

fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "not found")
}

async fn list_runs(State(state): State<Arc<AppState>>) -> Response {
    match tokio::task::spawn_blocking(move || state.records.list(&state.runs)).await {
        Ok(list) => Json(list).into_response(),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "listing the runs failed"),
    }
}

async fn run_detail(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    match tokio::task::spawn_blocking(move || state.records.detail(&state.runs, &name)).await {
        Ok(Some(detail)) => (
            [(header::CONTENT_TYPE, "application/json")],
            Body::new(Pieces(detail.chunks().into())),
        )
            .into_response(),
        Ok(None) => not_found(),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "reading the run failed"),
    }
}

/// A body sent as the pieces it is made of, shared rather than copied into one buffer, with its
/// length known (so the answer has a `Content-Length`).
struct Pieces(std::collections::VecDeque<Bytes>);

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

async fn run_file(
    State(state): State<Arc<AppState>>,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> Response {
    let read = tokio::task::spawn_blocking(move || runs::run_file(&state.runs, &name, &file));
    match read.await {
        Ok(Some((bytes, content_type))) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        _ => not_found(),
    }
}

/// How often a live stream looks at its run's files.
const LIVE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `GET /api/runs/{name}/events`: server-sent events while the page watches a run. `run` (the
/// run's summary, [`runs::RunSummary`]: the page then fetches the run's data once) whenever its
/// `metrics.json` or its lock changes, `live` (the epoch in progress, `live.json`) whenever that
/// changes. The files are looked at every [`LIVE_POLL`], so an epoch shows within a fraction of
/// a second of its record being written. Each event is small and made only when the client has
/// taken the last one, so a stream that is not read holds nothing (and is closed after
/// [`connections::WRITE_TIMEOUT`]).
async fn run_events(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    if runs::run_path(&state.runs, &name).is_none() {
        return not_found();
    }
    #[derive(Default)]
    struct Seen {
        metrics: Option<(SystemTime, u64)>,
        /// Whether a process held the run at the last look (`None` before the first).
        in_use: Option<bool>,
        live: Option<Vec<u8>>,
        queue: Vec<Event>,
    }
    let stream = futures_util::stream::unfold(Seen::default(), move |mut seen| {
        let state = state.clone();
        let name = name.clone();
        async move {
            let mut stopping = state.stopping.clone();
            loop {
                if let Some(event) = seen.queue.pop() {
                    return Some((Ok::<_, std::convert::Infallible>(event), seen));
                }
                if *stopping.borrow() {
                    return None;
                }
                let dir = runs::run_path(&state.runs, &name)?;
                let metrics = runs::stamp(&dir, "metrics.json");
                let in_use = Some(crate::run_dir::in_use(&dir));
                let live = runs::read_plain(&dir, crate::run_dir::LIVE_FILE);
                if live != seen.live {
                    if let Some(bytes) = &live {
                        let text = String::from_utf8_lossy(bytes).to_string();
                        seen.queue.push(Event::default().event("live").data(text));
                    }
                    seen.live = live;
                }
                // The run's page data changes only with its record or its lock (a run's state
                // changes when its process lets go): read it only then, not every poll.
                if metrics != seen.metrics || in_use != seen.in_use {
                    seen.metrics = metrics;
                    seen.in_use = in_use;
                    let summary = state.records.summary(&state.runs, &name)?;
                    if let Ok(event) = Event::default().event("run").json_data(&summary) {
                        seen.queue.push(event);
                    }
                }
                if seen.queue.is_empty() {
                    tokio::select! {
                        _ = tokio::time::sleep(LIVE_POLL) => {}
                        _ = stopping.changed() => {}
                    }
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `POST /api/playground/train` with a 2-D workshop experiment file: the training, in memory.
async fn playground_train(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    playground_request(state, body, |config, abandoned| {
        Ok(Json(playground::train(config, abandoned)?).into_response())
    })
    .await
}

/// `POST /api/playground/save` with a 2-D workshop experiment file: trains it into a run of the runs
/// folder, as `neurona train` would.
async fn playground_save(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    playground_request(state, body, |config, _| {
        let name = playground::save(config)?;
        Ok(Json(serde_json::json!({ "run": name })).into_response())
    })
    .await
}

/// `GET /api/templates`: the experiment files the page offers to start a training from.
async fn templates() -> Response {
    let list: Vec<_> = jobs::TEMPLATES
        .iter()
        .map(|(name, text)| serde_json::json!({ "name": name, "text": text }))
        .collect();
    Json(list).into_response()
}

/// `GET /api/jobs`: the trainings the page started, with their state and last output lines.
async fn list_jobs(State(state): State<Arc<AppState>>) -> Response {
    match tokio::task::spawn_blocking(move || state.jobs.list()).await {
        Ok(list) => Json(list).into_response(),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "listing the trainings failed",
        ),
    }
}

#[derive(Deserialize)]
struct RunName {
    name: Option<String>,
}

/// `POST /api/jobs[?name=RUN]` with an image classification experiment file: starts training it
/// as a new run (202 with the run's name).
async fn start_job(
    State(state): State<Arc<AppState>>,
    name: std::result::Result<Query<RunName>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let Ok(Query(RunName { name })) = name else {
        return problem(StatusCode::BAD_REQUEST, "the query may only give ?name=RUN");
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "the body must be a TOML experiment file",
        );
    };
    job_answer(
        tokio::task::spawn_blocking(move || state.jobs.start_new(&text, name.as_deref())).await,
    )
}

/// `POST /api/runs/{name}/resume`: trains the run on from its last completed epoch.
async fn resume_job(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    job_answer(tokio::task::spawn_blocking(move || state.jobs.resume(&name)).await)
}

fn job_answer(answer: std::result::Result<Result<String>, tokio::task::JoinError>) -> Response {
    match answer {
        Ok(Ok(run)) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "run": run })),
        )
            .into_response(),
        Ok(Err(e)) => problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "starting the training failed",
        ),
    }
}

/// `POST /api/jobs/{name}/stop`: stops a training the page started.
async fn stop_job(State(state): State<Arc<AppState>>, UrlPath(name): UrlPath<String>) -> Response {
    match tokio::task::spawn_blocking(move || state.jobs.stop(&name)).await {
        Ok(true) => Json(serde_json::json!({ "stopping": true })).into_response(),
        Ok(false) => not_found(),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "stopping the training failed",
        ),
    }
}

/// A playground request: checked, then trained in one of the playground's [`playground::Slots`]
/// (503 with `Retry-After` when all are busy); `work` sees a flag set once the client has gone.
async fn playground_request(
    state: Arc<AppState>,
    body: Bytes,
    work: impl FnOnce(&crate::classifier::config::MlpConfig, &AtomicBool) -> Result<Response>
    + Send
    + 'static,
) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "the body must be a TOML experiment file",
        );
    };
    let slot = match state.slots.take() {
        Ok(slot) => slot,
        Err(busy) => {
            let mut answer = problem(StatusCode::SERVICE_UNAVAILABLE, busy);
            answer.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(playground::RETRY_AFTER),
            );
            return answer;
        }
    };
    // Dropped with this request's future: when the answer is sent, or when the client goes away
    // (hyper drops the future of a request whose connection has closed).
    let abandon = playground::Abandon(Arc::new(AtomicBool::new(false)));
    let abandoned = abandon.0.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let config = playground::checked_config(&text, &state.runs)?;
        work(&config, &abandoned)
    })
    .await;
    drop(abandon);
    match answer {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "training failed"),
    }
}

#[derive(Deserialize)]
struct DrawingSize {
    width: usize,
    height: usize,
}

/// What the model answered for a drawing, and the 28×28 image it was given.
#[derive(Serialize)]
pub struct DrawingAnswer {
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
/// row): the run's class probabilities for the drawing, prepared as MNIST was
/// ([`prepare`]).
async fn predict(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    size: std::result::Result<Query<DrawingSize>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let Ok(Query(DrawingSize { width, height })) = size else {
        return problem(
            StatusCode::BAD_REQUEST,
            "give the drawing's size: ?width=W&height=H",
        );
    };
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("width and height must be 1 to {MAX_SIDE}"),
        );
    }
    if body.len() != width * height {
        return problem(
            StatusCode::BAD_REQUEST,
            format!(
                "the body must hold width × height = {} grey bytes, it holds {}",
                width * height,
                body.len()
            ),
        );
    }
    let answer = tokio::task::spawn_blocking(move || -> Result<Option<DrawingAnswer>> {
        let Some(classifier) = classifier(&state, &name)? else {
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
    .await;
    match answer {
        Ok(Ok(Some(answer))) => Json(answer).into_response(),
        Ok(Ok(None)) => not_found(),
        Ok(Err(e)) => problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "the model failed"),
    }
}

/// The run's model, loaded once per `model.bpk` version; `None` if there is no such run.
fn classifier(state: &AppState, name: &str) -> Result<Option<Arc<Classifier>>> {
    let Some(dir) = runs::run_path(&state.runs, name) else {
        return Ok(None);
    };
    let kind = crate::run_dir::kind(&dir).unwrap_or_default();
    if kind != "image_classification" {
        return Err(Error::Usage(format!(
            "{name} is a {kind} run: drawing needs an image classifier (MNIST or Fashion-MNIST)"
        )));
    }
    let (modified, _) = runs::stamp(&dir, "model.bpk").ok_or_else(|| {
        Error::Usage(format!(
            "{name} has no model yet: it writes model.bpk after its first epoch"
        ))
    })?;
    let mut loaded = state.classifiers.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((when, classifier)) = loaded.get(name)
        && *when == modified
    {
        return Ok(Some(classifier.clone()));
    }
    // The server's process holds one float type (f32, as the playground); loading an f64 model
    // would change it for every later request.
    if crate::classifier::config::MlpConfig::load_run(&dir)?.precision
        != crate::backend::Precision::F32
    {
        return Err(Error::Usage(format!(
            "{name} was trained in f64: the page draws with f32 models; use `neurona predict`"
        )));
    }
    let classifier = Arc::new(Classifier::load(&dir, None)?);
    loaded.insert(name.to_string(), (modified, classifier.clone()));
    Ok(Some(classifier))
}
