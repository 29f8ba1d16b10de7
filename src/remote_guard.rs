//! A TCP guard in front of Burn's remote-backend server (`neurona device-server`): the public
//! listener is ours, Burn listens on a loopback port, and each connection reaches Burn only
//! through checks that Burn 0.22.1's server cannot be configured to make:
//!
//! - It reads frames and messages of up to 1 GiB from anyone (burn-communication
//!   `src/websocket/base.rs:34`), and checks the token only after the upgrade, in the first
//!   message (burn-remote `src/server/pump.rs:46-58`): a stranger could make it buffer
//!   gigabytes. Here the first message is capped and its token checked before Burn sees more.
//! - It has no timeouts and no connection limit: a client that never finishes its request or its
//!   `Init` is held forever. Here both must arrive within the handshake timeout.
//! - `/data` serves tensors to peer servers without any credential, and panics in the
//!   connection's task on a frame it cannot decode (burn-communication `src/external_comm.rs:242`).
//!   Here a client may send it only small tensor requests and control frames.
//! - Two trainings on one server interfere (the RNG is process-global): a second `/session`
//!   while an authorised one is open is told so with `409 Conflict`.
//!
//! The first `/session` message is `rmp_serde::to_vec(&vec![RemoteMessage::Init(init)])`
//! (burn-remote `src/client/service.rs:195-200`; the server wants exactly that,
//! `src/server/service/base.rs:9-26`). rmp-serde 1.3.1 writes structs as arrays
//! (`src/encode.rs:741-752`), a newtype variant as a one-entry map keyed by its name (:693-698),
//! integers in their smallest form (:623-626) and `serde_bytes` as `bin` (:653-655), as
//! burn-remote's wire test `src/shared/task.rs:306-319` confirms:
//!
//! ```text
//! 91 81 a4 "Init"   [ {Init: ...} ]        RemoteMessage, task.rs:99
//! 94                SessionInit [4 fields]  task.rs:110-116
//!   uint            version: u16 (2)
//!   91 uint         session_id: SessionId { id: u64 }, task.rs:70
//!   uint            device_index: u32
//!   c4|c5|c6 n ...  authorization: Vec<u8> as bin (#[serde(with = "serde_bytes")], task.rs:115)
//! ```
//!
//! A `/data` request, `ExternalCommMessage::TensorRequest(TensorTransferId(u64))`
//! (external_comm.rs:17-36), is `81 ad "TensorRequest" uint` (a newtype struct is written as its
//! inner value, encode.rs:681-691).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::{Instant, timeout, timeout_at};

/// The longest request head: a WebSocket upgrade takes a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

/// The answer to a second training, which Burn's client reports.
const BUSY: &str = "this device server is serving another training; one at a time (start another \
                    neurona device-server for a second one)";

/// What the guard enforces.
#[derive(Debug, Clone)]
pub struct GuardOptions {
    /// The token a session's `Init` must carry (`None`: any, as on loopback).
    pub token: Option<String>,
    /// Connections open at once; a newcomer beyond them is closed at once.
    pub max_connections: usize,
    /// From accept to the request head and, on `/session`, the first message; also how long
    /// Burn may take to close once the client has stopped.
    pub handshake_timeout: Duration,
    /// The largest first `/session` message (the `Init`, before the client is authorised).
    pub max_first_message: usize,
    /// The largest frame a peer may send on `/data` (a tensor request is a few bytes).
    pub max_data_request: usize,
}

impl Default for GuardOptions {
    fn default() -> Self {
        Self {
            token: None,
            max_connections: 64,
            handshake_timeout: Duration::from_secs(10),
            max_first_message: 64 * 1024,
            max_data_request: 4 * 1024,
        }
    }
}

/// The running guard: dropping it stops it and closes the connections it relays.
pub struct Guard {
    _stop: oneshot::Sender<()>,
}

/// What the connections share.
struct Shared {
    burn: SocketAddr,
    options: GuardOptions,
    token: Option<[u8; 32]>,
    /// Whether an authorised `/session` is open.
    session: AtomicBool,
}

/// Starts guarding `public`, relaying to Burn's server at `burn`, on a thread with its own small
/// runtime (Burn runs its own); returns at once.
pub fn start(
    public: std::net::TcpListener,
    burn: SocketAddr,
    options: GuardOptions,
) -> std::io::Result<Guard> {
    public.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("device-guard")
        .enable_all()
        .build()?;
    let listener = {
        let _context = runtime.enter();
        TcpListener::from_std(public)?
    };
    let shared = Arc::new(Shared {
        burn,
        token: options.token.as_ref().map(|t| Sha256::digest(t).into()),
        options,
        session: AtomicBool::new(false),
    });
    let (stop, stopped) = oneshot::channel();
    std::thread::Builder::new()
        .name("device-guard".into())
        .spawn(move || runtime.block_on(accept(listener, shared, stopped)))?;
    Ok(Guard { _stop: stop })
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let slots = Arc::new(Semaphore::new(shared.options.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            eprintln!("device server: refused {peer}: too many connections");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(reason) = handle(stream, &shared).await {
                eprintln!("device server: refused {peer}: {reason}");
            }
            drop(slot);
        });
    }
}

/// The one training's place, freed when its connection ends.
struct SessionSlot(Arc<Shared>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.session.store(false, Ordering::SeqCst);
    }
}

/// One connection: its head checked, then relayed. `Err` is a refusal to log.
async fn handle(client: TcpStream, shared: &Arc<Shared>) -> Result<(), String> {
    let deadline = Instant::now() + shared.options.handshake_timeout;
    keepalive(&client);
    let _ = client.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut pending, head_len) = match timeout_at(deadline, read_head(&mut cr)).await {
        Err(_) => return Err("no complete request in time".into()),
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return Ok(()), // connected and left, as a reachability probe does
        Ok(Err(reason)) => return Err(reason.into()),
    };
    let session = match parse_head(&pending[..head_len]) {
        Ok(session) => session,
        Err((status, reason)) => return Err(respond(&mut cw, status, reason).await),
    };
    if session && shared.session.load(Ordering::SeqCst) {
        return Err(respond(&mut cw, 409, BUSY).await);
    }
    let Ok(Ok(burn)) = timeout_at(deadline, TcpStream::connect(shared.burn)).await else {
        return Err("Burn's server does not answer".into());
    };
    let _ = burn.set_nodelay(true);
    let (mut br, mut bw) = burn.into_split();
    if bw.write_all(&pending[..head_len]).await.is_err() {
        return Ok(());
    }
    pending.drain(..head_len);
    // Burn's answers (its 101, then its frames) go back untouched; dropping `cw` half-closes.
    let down = async move {
        let _ = tokio::io::copy(&mut br, &mut cw).await;
    };
    tokio::pin!(down);
    let mut slot = None;
    let up = async {
        match session {
            true => session_up(&mut cr, bw, pending, deadline, shared, &mut slot).await,
            false => data_up(&mut cr, bw, pending, shared.options.max_data_request).await,
        }
    };
    let authorised = tokio::select! {
        ended = up => ended?,
        () = &mut down => return Ok(()),
    };
    let _ = timeout(shared.options.handshake_timeout, &mut down).await;
    authorised.then_some(()).ok_or_else(|| "wrong token".into())
}

/// `/session`: the first message checked, then both ways as plain bytes; whether the client was
/// authorised. Dropping `bw` at the end half-closes Burn's side.
async fn session_up(
    cr: &mut OwnedReadHalf,
    mut bw: OwnedWriteHalf,
    mut pending: Vec<u8>,
    deadline: Instant,
    shared: &Arc<Shared>,
    slot: &mut Option<SessionSlot>,
) -> Result<bool, String> {
    let max = shared.options.max_first_message;
    let frame = match timeout_at(deadline, read_frame(cr, &mut pending, max)).await {
        Err(_) => return Err("no first message in time".into()),
        Ok(frame) => frame?.ok_or("closed before its first message")?,
    };
    let credential = (frame.opcode == 0x82)
        .then(|| init_credential(&frame.payload))
        .flatten()
        .ok_or("the first message is not one Init frame")?;
    if let Some(token) = &shared.token {
        let digest: [u8; 32] = Sha256::digest(credential).into();
        if digest.iter().zip(token).fold(0, |d, (a, b)| d | (a ^ b)) != 0 {
            // Burn tells the client with its own refusal; nothing more reaches it.
            let _ = bw.write_all(&frame.raw).await;
            return Ok(false);
        }
    }
    let free = shared
        .session
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst);
    if free.is_err() {
        return Err("another training started first".into());
    }
    *slot = Some(SessionSlot(shared.clone()));
    if bw.write_all(&frame.raw).await.is_ok() && bw.write_all(&pending).await.is_ok() {
        let _ = tokio::io::copy(cr, &mut bw).await;
    }
    Ok(true)
}

/// `/data`: only small tensor requests and control frames reach Burn.
async fn data_up(
    cr: &mut OwnedReadHalf,
    mut bw: OwnedWriteHalf,
    mut pending: Vec<u8>,
    max: usize,
) -> Result<bool, String> {
    while let Some(frame) = read_frame(cr, &mut pending, max).await? {
        let request = frame.opcode == 0x82 && is_tensor_request(&frame.payload);
        if !request && !matches!(frame.opcode, 0x88..=0x8a) {
            return Err(format!(
                "/data frame {:#04x} is no tensor request",
                frame.opcode
            ));
        }
        if bw.write_all(&frame.raw).await.is_err() {
            break;
        }
    }
    Ok(true)
}

/// Reads through the end of the request head: (bytes read, head length), or `None` when the
/// client left without sending anything.
async fn read_head(cr: &mut OwnedReadHalf) -> Result<Option<(Vec<u8>, usize)>, &'static str> {
    let (mut buffer, mut chunk) = (Vec::new(), [0u8; 2048]);
    loop {
        let n = cr.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return buffer
                .is_empty()
                .then_some(None)
                .ok_or("closed inside its request");
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some((buffer, end + 4)));
        }
        if buffer.len() > MAX_HEAD {
            return Err("request head over 8 KiB");
        }
    }
}

/// Whether the head is a WebSocket upgrade to `/session` (true) or `/data` (false); else the
/// status and reason to answer.
fn parse_head(head: &[u8]) -> Result<bool, (u16, &'static str)> {
    let text = std::str::from_utf8(head).map_err(|_| (400, "request head is not text"))?;
    let mut lines = text.split("\r\n");
    let start: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let [method, target, version] = start[..] else {
        return Err((400, "not an HTTP request"));
    };
    let mut upgrade = false;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        upgrade |= name == "upgrade" && value.eq_ignore_ascii_case("websocket");
        // A body would make Burn's idea of where the frames start differ from the guard's.
        if name == "transfer-encoding" || (name == "content-length" && value != "0") {
            return Err((400, "an upgrade request has no body"));
        }
    }
    let session = match target.split('?').next() {
        Some("/session") => true,
        Some("/data") => false,
        _ => return Err((404, "no such route")),
    };
    match method == "GET" && version == "HTTP/1.1" && upgrade {
        true => Ok(session),
        false => Err((400, "not a WebSocket upgrade")),
    }
}

/// Answers a refused request; returns the reason to log.
async fn respond(cw: &mut OwnedWriteHalf, status: u16, reason: &str) -> String {
    let title = match status {
        404 => "Not Found",
        409 => "Conflict",
        _ => "Bad Request",
    };
    let answer = format!(
        "HTTP/1.1 {status} {title}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{reason}",
        reason.len()
    );
    let _ = timeout(Duration::from_secs(1), cw.write_all(answer.as_bytes())).await;
    format!("{status}: {reason}")
}

/// One WebSocket frame: its first byte (FIN, RSV, opcode), its bytes as sent, its payload.
struct Frame {
    opcode: u8,
    raw: Vec<u8>,
    payload: Vec<u8>,
}

/// Reads the frame starting `pending`, refusing one that announces more than `max` bytes before
/// reading it; `None` at the end of the stream. Holds at most `max` + 8 KiB + a header.
async fn read_frame(
    cr: &mut OwnedReadHalf,
    pending: &mut Vec<u8>,
    max: usize,
) -> Result<Option<Frame>, String> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some((header, masked, length)) = frame_header(pending) {
            if length > max as u64 {
                return Err(format!("a frame of {length} bytes (at most {max} here)"));
            }
            let total = header + length as usize;
            if pending.len() >= total {
                let raw: Vec<u8> = pending.drain(..total).collect();
                let key = if masked {
                    &raw[header - 4..header]
                } else {
                    &[0; 4][..]
                };
                let payload = raw[header..].iter().zip(key.iter().cycle());
                let payload = payload.map(|(x, k)| x ^ k).collect();
                return Ok(Some(Frame {
                    opcode: raw[0],
                    raw,
                    payload,
                }));
            }
        }
        match cr.read(&mut chunk).await.unwrap_or(0) {
            0 if pending.is_empty() => return Ok(None),
            0 => return Err("closed inside a frame".into()),
            n => pending.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A frame's header length (mask key included), whether it is masked, and its payload length,
/// once its header is all there.
fn frame_header(b: &[u8]) -> Option<(usize, bool, u64)> {
    let masked = *b.get(1)? & 0x80 != 0;
    let be = |bytes: &[u8]| bytes.iter().fold(0, |n, &x| n << 8 | u64::from(x));
    let (extended, length) = match b[1] & 0x7f {
        126 => (2, be(b.get(2..4)?)),
        127 => (8, be(b.get(2..10)?)),
        n => (0, u64::from(n)),
    };
    Some((2 + extended + 4 * usize::from(masked), masked, length))
}

/// The authorization bytes of a first message that is one `Init` (layout in the module doc).
fn init_credential(message: &[u8]) -> Option<&[u8]> {
    let mut rest = message.strip_prefix(b"\x91\x81\xa4Init\x94")?;
    uint(&mut rest)?; // version
    rest = rest.strip_prefix(b"\x91")?;
    uint(&mut rest)?; // session id
    uint(&mut rest)?; // device index
    let (&marker, tail) = rest.split_first()?;
    let width = marker.checked_sub(0xc4).filter(|&w| w < 3)?;
    let (length, tail) = tail.split_at_checked(1 << width)?;
    let length = usize::try_from(length.iter().fold(0, |n, &x| n << 8 | u64::from(x))).ok()?;
    (tail.len() == length).then_some(tail)
}

/// Whether a `/data` message is one `TensorRequest`.
fn is_tensor_request(message: &[u8]) -> bool {
    let mut rest = message
        .strip_prefix(b"\x81\xadTensorRequest")
        .unwrap_or(&[]);
    uint(&mut rest).is_some() && rest.is_empty()
}

/// Takes one MessagePack unsigned integer off the front of `bytes`.
fn uint(bytes: &mut &[u8]) -> Option<u64> {
    let (&marker, tail) = bytes.split_first()?;
    let (value, tail) = match marker {
        0..=0x7f => (u64::from(marker), tail),
        0xcc..=0xcf => {
            let (value, tail) = tail.split_at_checked(1 << (marker - 0xcc))?;
            (value.iter().fold(0, |n, &x| n << 8 | u64::from(x)), tail)
        }
        _ => return None,
    };
    *bytes = tail;
    Some(value)
}

/// Probes an idle public connection as Burn does its own (after 10 s, every 5 s, 4 times), so a
/// vanished client does not hold the training's place forever.
#[cfg(target_os = "linux")]
fn keepalive(stream: &TcpStream) {
    use libc::{IPPROTO_TCP, SOL_SOCKET, c_int};
    use std::os::fd::AsRawFd;
    let options = [
        (SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (IPPROTO_TCP, libc::TCP_KEEPIDLE, 10),
        (IPPROTO_TCP, libc::TCP_KEEPINTVL, 5),
        (IPPROTO_TCP, libc::TCP_KEEPCNT, 4),
    ];
    for (level, name, value) in options {
        let (value, size) = (value as c_int, size_of::<c_int>() as libc::socklen_t);
        // SAFETY: the socket is open for the call, and `value` is a c_int of `size` bytes.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                level,
                name,
                (&raw const value).cast(),
                size,
            )
        };
    }
}

#[cfg(not(target_os = "linux"))]
fn keepalive(_stream: &TcpStream) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::Mutex;

    type Seen = Arc<Mutex<Vec<Vec<u8>>>>;
    type Client = BufReader<std::net::TcpStream>;

    fn head(stream: &mut impl BufRead) -> String {
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") && matches!(stream.read_line(&mut head), Ok(1..)) {}
        head
    }

    /// A guard (token "secret", 300 ms to shake hands) before a stand-in for Burn that answers
    /// 101 to any head, then records and echoes each connection's bytes.
    fn guard(max_connections: usize) -> (Guard, SocketAddr, Seen) {
        let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (burn, seen) = (fake.local_addr().unwrap(), Seen::default());
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in fake.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || {
                    let mut stream = BufReader::new(stream);
                    head(&mut stream);
                    let index = record.lock().map(|mut r| (r.push(vec![]), r.len() - 1).1);
                    let _ = stream
                        .get_mut()
                        .write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
                    let mut buffer = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buffer) {
                        record.lock().unwrap()[*index.as_ref().unwrap()].extend(&buffer[..n]);
                        let _ = stream.get_mut().write_all(&buffer[..n]);
                    }
                });
            }
        });
        let public = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = public.local_addr().unwrap();
        let options = GuardOptions {
            token: Some("secret".into()),
            max_connections,
            handshake_timeout: Duration::from_millis(300),
            ..GuardOptions::default()
        };
        (start(public, burn, options).unwrap(), address, seen)
    }

    /// A connection sending `bytes` first.
    fn connect(address: SocketAddr, bytes: &[u8]) -> Client {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let _ = stream.write_all(bytes);
        BufReader::new(stream)
    }

    /// A WebSocket upgrade to `path`, with the answer's head.
    fn upgrade(address: SocketAddr, path: &str) -> (Client, String) {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let mut client = connect(address, request.as_bytes());
        let head = head(&mut client);
        (client, head)
    }

    /// A masked client frame.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![opcode];
        match payload.len() {
            n @ ..126 => frame.push(0x80 | n as u8),
            n => frame.extend([0xfe].into_iter().chain((n as u16).to_be_bytes())),
        }
        let key = [1, 2, 3, 4];
        frame.extend(key);
        frame.extend(payload.iter().zip(key.iter().cycle()).map(|(x, k)| x ^ k));
        frame
    }

    /// `[Init(SessionInit { version: 2, session_id, device_index: 0, authorization })]`.
    fn init(token: &[u8]) -> Vec<u8> {
        let mut message = b"\x91\x81\xa4Init\x94\x02\x91\xcf".to_vec();
        message.extend(0x1234_5678_9abc_def0u64.to_be_bytes());
        message.extend([0x00, 0xc4, token.len() as u8]);
        [message, token.to_vec()].concat()
    }

    /// Whether the guard closes the connection within `wait` (what comes before is skipped).
    fn closes(client: &mut Client, wait: Duration) -> bool {
        client.get_ref().set_read_timeout(Some(wait)).unwrap();
        let mut buffer = [0u8; 4096];
        loop {
            match client.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => return e.kind() == ErrorKind::ConnectionReset,
            }
        }
    }

    #[test]
    fn the_layouts_decode() {
        assert_eq!(init_credential(&init(b"secret")), Some(&b"secret"[..]));
        assert_eq!(init_credential(&[init(b"x"), vec![0]].concat()), None);
        assert!(is_tensor_request(b"\x81\xadTensorRequest\xcd\x01\x00"));
        assert!(!is_tensor_request(b"\x81\xa4Init\x07"));
    }

    #[test]
    fn slow_silent_and_stray_clients_are_closed() {
        let (_guard, address, seen) = guard(8);
        let begun = Instant::now();
        assert!(closes(
            &mut connect(address, b"\x16\x03\x01 hello"),
            Duration::from_secs(2)
        ));
        assert!(begun.elapsed() < Duration::from_secs(1));
        let mut browser = connect(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(head(&mut browser).starts_with("HTTP/1.1 404"));
        let (mut silent, answer) = upgrade(address, "/session");
        assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
        assert!(closes(&mut silent, Duration::from_secs(2)));
        assert!(seen.lock().unwrap().iter().all(Vec::is_empty));
    }

    #[test]
    fn a_huge_first_frame_is_refused_unread() {
        let (_guard, address, seen) = guard(8);
        let (mut client, _) = upgrade(address, "/session");
        let announce = [
            &[0x82, 0xff][..],
            &1_000_000_000u64.to_be_bytes(),
            &[1, 2, 3, 4],
        ];
        client.get_mut().write_all(&announce.concat()).unwrap();
        assert!(closes(&mut client, Duration::from_millis(250)));
        assert_eq!(seen.lock().unwrap()[0], b"");
    }

    #[test]
    fn a_wrong_token_reaches_burn_alone() {
        let (_guard, address, seen) = guard(8);
        let (mut client, _) = upgrade(address, "/session");
        let first = frame(0x82, &init(b"guess"));
        client.get_mut().write_all(&first).unwrap();
        let _ = client.get_mut().write_all(&frame(0x82, b"more"));
        assert!(closes(&mut client, Duration::from_secs(2)));
        assert_eq!(seen.lock().unwrap()[0], first);
    }

    #[test]
    fn one_authorised_training_at_a_time() {
        let (_guard, address, seen) = guard(8);
        let (mut first, _) = upgrade(address, "/session");
        let sent = [frame(0x82, &init(b"secret")), frame(0x82, &[0x91; 65_000])].concat();
        first.get_mut().write_all(&sent).unwrap();
        let mut echo = vec![0; sent.len()];
        first.read_exact(&mut echo).unwrap();
        assert!(echo == sent && seen.lock().unwrap()[0] == sent);
        let (mut second, answer) = upgrade(address, "/session");
        assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
        let mut body = String::new();
        second.read_to_string(&mut body).unwrap();
        assert_eq!(body, BUSY);
        drop(first);
        let next = (0..40).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            upgrade(address, "/session").1.starts_with("HTTP/1.1 101")
        });
        assert!(
            next,
            "the place is freed when the training's connection closes"
        );
    }

    #[test]
    fn connections_beyond_the_limit_are_closed() {
        let (_guard, address, _) = guard(2);
        let held: Vec<_> = (0..2).map(|_| upgrade(address, "/data")).collect();
        assert!(
            held.iter()
                .all(|(_, answer)| answer.starts_with("HTTP/1.1 101"))
        );
        let (mut newcomer, answer) = upgrade(address, "/data");
        assert_eq!(answer, "");
        assert!(closes(&mut newcomer, Duration::from_millis(100)));
    }

    #[test]
    fn data_takes_only_small_tensor_requests() {
        let (_guard, address, seen) = guard(8);
        let (mut client, _) = upgrade(address, "/data");
        let sent = [
            frame(0x82, b"\x81\xadTensorRequest\x07"),
            frame(0x89, b"ping"),
        ]
        .concat();
        client.get_mut().write_all(&sent).unwrap();
        client.read_exact(&mut vec![0; sent.len()]).unwrap();
        let _ = client.get_mut().write_all(&frame(0x82, &[0; 5000]));
        assert!(closes(&mut client, Duration::from_millis(250)));
        let (mut client, _) = upgrade(address, "/data");
        let _ = client.get_mut().write_all(&frame(0x82, b"garbage"));
        assert!(closes(&mut client, Duration::from_millis(250)));
        assert_eq!(*seen.lock().unwrap(), [sent, vec![]]);
    }
}
