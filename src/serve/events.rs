//! A run's live stream: server-sent events while the page watches a run, so its curves grow as it
//! trains, whoever trains it (a terminal's `neurona train` or a training started from the page):
//! the stream reads only the run's files. It is the server's one long-lived answer, so it makes an
//! event only when its client has taken the last, and ends when the server stops.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path as UrlPath, State};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};

use super::AppState;
use super::api_error::ApiError;
use super::runs;

/// How often a live stream looks at its run's files.
const LIVE_POLL: Duration = Duration::from_millis(200);

/// `GET /api/runs/{name}/events`: `run` (the run's summary, [`runs::RunSummary`]: the page then
/// fetches the run's data once) whenever its `metrics.json` or its lock changes, `live` (the
/// epoch in progress, `live.json`) whenever that changes. The files are looked at every
/// [`LIVE_POLL`], so an epoch shows within a fraction of a second of its record being written.
/// Each event is small and made only when the client has taken the last one, so a stream that is
/// not read holds nothing (and is closed after [`super::connections::WRITE_TIMEOUT`]).
pub(super) async fn run_events(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    runs::run_path(&state.runs, &name).ok_or(ApiError::NotFound)?;
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
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
