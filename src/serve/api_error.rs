//! Every error answer of the page's server, as one type: [`ApiError`]. The page reads an error's
//! reason from the body's `error` field, whatever the status, so every refusal carries one.
//!
//! The status says whose the problem is. A malformed request is a 400, a refused one (a bad
//! experiment file, a run that cannot do what is asked) a 422 with the reason, which is the
//! message `neurona` gives in a terminal for the same mistake. A failure of the server's own — a
//! file of the runs folder it cannot read or write, a program it cannot start, Burn failing, a
//! panic — is a 500 that blames nothing the user sent: its body says only that the server failed,
//! and what failed is written to the server's standard error with the request it answered
//! ([`log_failures`]), where the person running `neurona serve` sees it.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde::Serialize;

use crate::error::{Error, Result};

/// What the page is told when the server itself failed.
pub const FAILED: &str = "the server failed to answer this (nothing was wrong with the request); \
                          the output of `neurona serve` says what went wrong";

/// [`Error::exit_code`] of a mistake the user can fix: the crate's one split between the user's
/// mistakes and our failures.
const USER_MISTAKE: i32 = 2;

/// An error answer: its status, and the reason the page shows.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed (a missing or wrong query, a body of the wrong size or not
    /// text); the reason says what a well-formed one holds.
    Malformed(String),
    /// 403: a request this server refuses from where it came (another site).
    Forbidden(String),
    /// 404: no such run, file, training or route.
    NotFound,
    /// 408: the request's body did not arrive in time.
    BodyTimeout(String),
    /// 413: the request's body is larger than the server reads.
    TooLarge(String),
    /// 415: a `POST` body of a type a browser may send across sites.
    UnsupportedType(String),
    /// 421: the request names a host this server is not.
    Misdirected(String),
    /// 422: a well-formed request the server refuses, with the reason (the [`Error`]'s message
    /// for a user's mistake).
    Refused(String),
    /// 500: the server's own failure; the detail is logged, never sent.
    Failed(String),
    /// 503: the server is busy with other requests.
    Busy {
        reason: String,
        /// Seconds the client is told to wait (`Retry-After`).
        retry_after: u64,
    },
}

/// The body of every error answer, as the page reads it.
#[derive(Serialize)]
struct Problem<'a> {
    error: &'a str,
}

/// A failure's detail, handed from the answer to [`log_failures`].
#[derive(Clone)]
struct Failure(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, reason) = match &self {
            ApiError::Malformed(reason) => (StatusCode::BAD_REQUEST, reason.as_str()),
            ApiError::Forbidden(reason) => (StatusCode::FORBIDDEN, reason.as_str()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found"),
            ApiError::BodyTimeout(reason) => (StatusCode::REQUEST_TIMEOUT, reason.as_str()),
            ApiError::TooLarge(reason) => (StatusCode::PAYLOAD_TOO_LARGE, reason.as_str()),
            ApiError::UnsupportedType(reason) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, reason.as_str())
            }
            ApiError::Misdirected(reason) => (StatusCode::MISDIRECTED_REQUEST, reason.as_str()),
            ApiError::Refused(reason) => (StatusCode::UNPROCESSABLE_ENTITY, reason.as_str()),
            ApiError::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, FAILED),
            ApiError::Busy { reason, .. } => (StatusCode::SERVICE_UNAVAILABLE, reason.as_str()),
        };
        let mut response = (status, Json(Problem { error: reason })).into_response();
        match self {
            ApiError::Failed(detail) => {
                response.extensions_mut().insert(Failure(detail));
            }
            ApiError::Busy { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after.into());
            }
            _ => {}
        }
        response
    }
}

impl From<Error> for ApiError {
    /// The user's mistakes are refused with their message; our failures are 500s. A file error
    /// ([`Error::Io`]) is the user's in a terminal, where they name the files, but a request to
    /// the server names none (the page may not point it at files: `super::runs::placed_experiment`),
    /// so here every file that cannot be read or written is the server's own.
    fn from(error: Error) -> Self {
        match error {
            Error::Io { .. } => ApiError::Failed(error.to_string()),
            _ if error.exit_code() == USER_MISTAKE => ApiError::Refused(error.to_string()),
            _ => ApiError::Failed(error.to_string()),
        }
    }
}

/// Runs `work` on the runtime's blocking threads (it reads files, loads models or trains), so the
/// server's few worker threads keep answering; its error becomes the answer, and so does its
/// panic (a 500: the server stays up).
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Ok(done?),
        Err(failure) => Err(ApiError::Failed(failure.to_string())),
    }
}

/// Writes the detail of every 500 to standard error with the request it answered (in front of
/// every route).
pub async fn log_failures(request: Request, next: Next) -> Response {
    let asked = format!("{} {}", request.method(), request.uri().path());
    let mut response = next.run(request).await;
    if let Some(Failure(detail)) = response.extensions_mut().remove::<Failure>() {
        eprintln!("neurona serve: {asked} failed: {detail}");
    }
    response
}
