//! `neurona serve`: a local web page over a runs folder — the runs with their plots and
//! per-epoch tables ([`runs`]), live curves of runs in training ([`events`]), trainings started
//! from the page ([`jobs`]), what an image run's classifier gets wrong ([`analysis`]), a canvas
//! to draw a digit and see a run's model answer ([`drawing`]),
//! and the 2-D playground ([`playground`], trained live in [`live`]). One small axum server; the page (HTML, CSS,
//! JavaScript, no framework) is compiled into the binary, so it needs no internet and no
//! front-end build.
//!
//! This file assembles the server: its state, its routes and its startup. Each route's handler
//! lives beside the logic it calls, in the modules above, and answers its errors as one type
//! ([`api_error`]).
//!
//! Safety: it binds 127.0.0.1 unless told otherwise; it answers only requests for its own host
//! names, and changes or starts nothing but for its own page (`guard`); it serves only files
//! directly inside a run directory, and follows no link ([`runs`]); request bodies are capped at
//! `MAX_BODY`; idle, slow and silent clients are timed out and a flood of them cannot keep a
//! real one out ([`connections`]); the playground's trainings are bounded ([`playground`]);
//! every request is answered (a failure or panic of a handler's work becomes a 500 whose detail
//! is logged, never a dead server).

pub mod analysis;
pub mod api_error;
pub mod connections;
pub mod drawing;
pub mod events;
pub(crate) mod guard;
pub mod jobs;
pub mod live;
pub mod playground;
pub mod runs;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::{Error, Result};

/// The largest request body: a drawing of [`drawing::MAX_SIDE`]² grey bytes.
pub(crate) const MAX_BODY: usize = drawing::MAX_SIDE * drawing::MAX_SIDE;

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
    /// The models that answer drawings, loaded so far.
    models: drawing::Models,
    /// Trainings started from the page.
    jobs: jobs::Jobs,
    /// The analysis being computed, and the test images last read.
    analyses: analysis::Analyses,
    /// The playground's live trainings, by session.
    live: live::Sessions,
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
        models: drawing::Models::default(),
        analyses: analysis::Analyses::default(),
        live: live::Sessions::default(),
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
        .route("/api/runs", get(runs::list_runs))
        .route("/api/runs/{name}", get(runs::run_detail))
        .route("/api/runs/{name}/predict", post(drawing::predict))
        .route("/api/runs/{name}/events", get(events::run_events))
        .route(
            "/api/runs/{name}/analysis",
            get(analysis::get_analysis).post(analysis::post_analysis),
        )
        .route("/api/runs/{name}/test-images", get(analysis::test_images))
        .route("/api/runs/{name}/resume", post(jobs::resume_job))
        .route("/api/templates", get(jobs::templates))
        .route("/api/jobs", get(jobs::list_jobs).post(jobs::start_job))
        .route("/api/jobs/{name}/stop", post(jobs::stop_job))
        .route("/api/playground/train", post(playground::post_train))
        .route("/api/playground/save", post(playground::post_save))
        .route("/api/playground/live", post(live::post_live))
        .route("/api/playground/live/{session}", post(live::post_mode))
        .route("/runs/{name}/{file}", get(runs::run_file))
        .fallback(|| async { api_error::ApiError::NotFound })
        .layer(axum::middleware::from_fn(api_error::log_failures))
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
