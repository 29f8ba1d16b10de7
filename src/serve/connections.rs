//! How the page's server holds its connections, so that idle, slow or silent clients cannot lock
//! it and Ctrl-C ends it within seconds. axum's own `serve` sets no timeouts; this loop accepts
//! connections itself and serves each with hyper:
//!
//! - **Headers** must arrive within `HEADER_TIMEOUT` of the connection opening or of its last
//!   answer (hyper's header-read timer runs whenever it waits for a request), so idle keep-alive
//!   connections and slowloris headers are closed after that long.
//! - **Writes** that the client does not take for `WRITE_TIMEOUT` end the connection: a live
//!   stream nobody reads is dropped, not buffered.
//! - **At most `MAX_CONNECTIONS` at once**, well below the usual 1024 open files. A new client
//!   beyond that takes the place of the connection idle longest (one with no request in progress,
//!   those that never sent a whole request first); only when every connection is answering a
//!   request is the newcomer turned away. A flood of idle connections therefore never keeps a
//!   real client out.
//! - **Stopping**: every connection is asked to finish its request and close; after
//!   `SHUTDOWN_GRACE` the rest are dropped.
//!
//! Request bodies have their own timeout in `super::guard`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// How long a connection may wait for (the rest of) a request's headers.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may wait for the client to take bytes.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// How long stopping waits for requests in progress.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// One open connection, as the accept loop sees it.
struct Connection {
    /// Requests in progress, answers still streaming included.
    busy: AtomicUsize,
    /// Whether it has sent at least one whole request.
    served: AtomicBool,
    /// When it last sent bytes, in milliseconds since the server started.
    last_read: AtomicU64,
    /// Told to close when a newcomer takes its place.
    evict: tokio::sync::Notify,
}

#[derive(Default)]
struct Table {
    next: u64,
    open: HashMap<u64, Arc<Connection>>,
}

/// Serves `router` on `listener` until `shutdown` completes, then closes every connection
/// within `SHUTDOWN_GRACE`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let started = Instant::now();
    let table = Arc::new(Mutex::new(Table::default()));
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or a connection reset before it was taken: the
                    // listener stays usable; pause so an exhausted process does not spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let Some((id, connection)) = admit(&table, started) else {
                    continue; // every connection is answering a request: turned away
                };
                let _ = stream.set_nodelay(true);
                tasks.spawn(serve_connection(
                    stream,
                    router.clone(),
                    connection,
                    closed.clone(),
                    started,
                    Remove { table: table.clone(), id },
                ));
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    let _ = closing.send(true);
    let finished = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, finished)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}

/// Registers a new connection, making room by evicting the connection idle longest when the
/// table is full; `None` when every connection is busy.
fn admit(table: &Mutex<Table>, started: Instant) -> Option<(u64, Arc<Connection>)> {
    let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
    if table.open.len() >= MAX_CONNECTIONS {
        let victim = table
            .open
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, c)| {
                (
                    c.served.load(Ordering::Acquire),
                    c.last_read.load(Ordering::Acquire),
                )
            })
            .map(|(id, _)| *id)?;
        if let Some(victim) = table.open.remove(&victim) {
            victim.evict.notify_one();
        }
    }
    let connection = Arc::new(Connection {
        busy: AtomicUsize::new(0),
        served: AtomicBool::new(false),
        last_read: AtomicU64::new(millis(started)),
        evict: tokio::sync::Notify::new(),
    });
    table.next += 1;
    let id = table.next;
    table.open.insert(id, connection.clone());
    Some((id, connection))
}

fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Takes a connection out of the table when its task ends, however it ends.
struct Remove {
    table: Arc<Mutex<Table>>,
    id: u64,
}

impl Drop for Remove {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.open.remove(&self.id);
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    connection: Arc<Connection>,
    mut closed: tokio::sync::watch::Receiver<bool>,
    started: Instant,
    _remove: Remove,
) {
    let io = TokioIo::new(Watched {
        stream,
        connection: connection.clone(),
        started,
        write_deadline: None,
    });
    let requests = connection.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let busy = Busy::new(requests.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            Ok::<_, std::convert::Infallible>(
                response.map(|body| Body::new(Tracked { body, _busy: busy })),
            )
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let mut asked_to_close = *closed.borrow();
    if asked_to_close {
        served.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            _ = served.as_mut() => return,
            () = connection.evict.notified() => return,
            changed = closed.changed(), if !asked_to_close => {
                if changed.is_err() || *closed.borrow() {
                    asked_to_close = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Counts a request as in progress until its answer has been sent (or dropped).
struct Busy(Arc<Connection>);

impl Busy {
    fn new(connection: Arc<Connection>) -> Self {
        connection.busy.fetch_add(1, Ordering::AcqRel);
        connection.served.store(true, Ordering::Release);
        Self(connection)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its request counted as busy while it streams.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A client's socket that records when it last sent bytes and fails a write the client has not
/// taken for [`WRITE_TIMEOUT`].
struct Watched {
    stream: TcpStream,
    connection: Arc<Connection>,
    started: Instant,
    write_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Watched {
    /// `Pending` from a write: starts or checks the deadline.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let deadline = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_TIMEOUT)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.connection
                .last_read
                .store(millis(this.started), Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.write_deadline = None;
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.write_deadline = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
