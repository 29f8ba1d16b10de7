//! Who the page's server answers: only its own page and the user's own tools, never another web
//! site the user happens to visit.
//!
//! - **Host**: every request must name a host this server is (`localhost`, a loopback address,
//!   the address it listens on, any address when it listens on all of them) and its port. A DNS
//!   rebinding page, whose requests carry its own domain name, is refused with 421 before any
//!   handler reads the runs folder.
//! - **Origin**: a request that changes something or starts work (every `POST`) must come from
//!   this server's own page: a browser's `Origin` must be `http://` + the Host, and its
//!   `Sec-Fetch-Site` `same-origin` (or `none`, typed by the user). Tools that send neither
//!   (curl, scripts) are the user's own and pass. A `GET` that another site embeds or fetches
//!   (`Sec-Fetch-Site: cross-site`/`same-site`, anything but a navigation) is refused too.
//! - **Content type**: a `POST` must say what it sends with a type a browser cannot send to
//!   another origin without asking first (a CORS preflight, which this server never grants):
//!   `application/toml`, `application/json` or `application/octet-stream`. The simple types
//!   (`text/plain`, forms) are refused with 415, so even an old browser without `Origin` cannot
//!   post across sites.
//! - **Body**: read whole within [`BODY_TIMEOUT`] and at most [`super::MAX_BODY`] bytes, so a
//!   client that trickles its body cannot hold a handler.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::api_error::ApiError;

/// How long a request body may take to arrive: 1 MiB at 35 KB/s.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The content types a `POST` may carry: none of them is one a browser sends across origins
/// without a preflight.
pub(crate) const POST_TYPES: &[&str] = &[
    "application/toml",
    "application/json",
    "application/octet-stream",
];

/// The names this server answers to.
#[derive(Debug, Clone)]
pub struct Served {
    /// The address it listens on (unspecified: all of this machine's addresses).
    pub address: IpAddr,
    pub port: u16,
}

impl Served {
    /// Whether a `Host` header (or an origin's host and port) names this server.
    pub(crate) fn is_host(&self, authority: &str) -> bool {
        let Ok(authority) = authority.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        if authority.port_u16().unwrap_or(80) != self.port {
            return false;
        }
        let host = authority.host();
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        // A DNS name other than localhost could be rebound to this machine by anyone's page;
        // an address cannot.
        let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        else {
            return false;
        };
        ip.is_loopback() || ip == self.address || self.address.is_unspecified()
    }
}

/// The request checks above, in front of every route.
pub async fn guard(
    State(served): State<Served>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string())
    };
    let host = text(header::HOST).unwrap_or_default();
    if !served.is_host(&host) {
        return Err(ApiError::Misdirected(format!(
            "this server answers to 127.0.0.1:{port} and localhost:{port}, not to {host:?}",
            port = served.port
        )));
    }
    let fetch_site = text(header::HeaderName::from_static("sec-fetch-site"));
    let own_page = fetch_site
        .as_deref()
        .is_none_or(|site| site == "same-origin" || site == "none");
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if !changes {
        let navigation = text(header::HeaderName::from_static("sec-fetch-mode"))
            .is_some_and(|mode| mode == "navigate");
        if !own_page && !navigation {
            return Err(ApiError::Forbidden(
                "other sites may not read from this server".into(),
            ));
        }
        return Ok(next.run(request).await);
    }
    if !own_page {
        return Err(ApiError::Forbidden(
            "only this server's own page may change runs or start work".into(),
        ));
    }
    if let Some(origin) = text(header::ORIGIN)
        && !origin.eq_ignore_ascii_case(&format!("http://{host}"))
    {
        return Err(ApiError::Forbidden(format!(
            "only this server's own page may change runs or start work, not {origin}"
        )));
    }
    let content_type = text(header::CONTENT_TYPE).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !POST_TYPES.iter().any(|t| t.eq_ignore_ascii_case(essence)) {
        return Err(ApiError::UnsupportedType(format!(
            "send the body as one of {} (it was {content_type:?})",
            POST_TYPES.join(", ")
        )));
    }
    let (parts, body) = request.into_parts();
    let bytes = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, super::MAX_BODY))
        .await
        .map_err(|_| {
            ApiError::BodyTimeout(format!(
                "the request body took more than {} s to arrive",
                BODY_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|_| {
            ApiError::TooLarge(format!(
                "a request body holds at most {} bytes",
                super::MAX_BODY
            ))
        })?;
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}
