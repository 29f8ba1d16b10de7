//! Devices on other machines, through Burn's remote backend over WebSocket (cargo feature
//! `remote`): `neurona device-server` serves this machine's devices, and [`connect`] opens one of
//! a server's devices as an ordinary [`Device`] — the model code does not know the difference.
//! The autodiff graph stays on the client; tensor operations travel to the server, and only what
//! the client reads comes back.
//!
//! WebSocket traffic is unencrypted: a token keeps stray clients out of a trusted network, not
//! eavesdroppers. Across an untrusted network, tunnel it (`ssh -L 3000:localhost:3000 gpu-box`).

use std::fmt;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use burn::prelude::Device;

use crate::backend::{BackendChoice, Precision};
use crate::error::{Error, Result};

/// Device `index` of the device server at `address`, written `ws://host:port` with `#N` for its
/// N-th device (`ws://gpu-box:3000#1`). This is the one place that reads such a string: the
/// devices of an experiment (`crate::devices::DeviceSpec`) hold one, and the functions below take
/// one or parse the string they are given into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDevice {
    /// `host:port`, as written.
    pub address: String,
    pub index: usize,
}

impl ServerDevice {
    /// The server's WebSocket URL, `ws://host:port` (the device not included).
    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }
}

impl FromStr for ServerDevice {
    type Err = String;

    /// Parses `ws://host:port[#N]` (surrounding blanks ignored); the error says what is wrong.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let not_an_address =
            || format!("{text:?} is not a device server address like \"ws://gpu-box:3000\"");
        let rest = text.strip_prefix("ws://").ok_or_else(not_an_address)?;
        let (address, index) = match rest.split_once('#') {
            Some((address, index)) => (
                address,
                index
                    .parse()
                    .map_err(|_| format!("{text:?}: the device index {index:?} is not a number"))?,
            ),
            None => (rest, 0),
        };
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} has no port: write it as \"ws://host:port\""))?;
        if host.is_empty() || port.parse::<u16>().is_err() || address.contains('/') {
            return Err(not_an_address());
        }
        Ok(Self {
            address: address.to_string(),
            index,
        })
    }
}

impl fmt::Display for ServerDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            0 => write!(f, "ws://{}", self.address),
            index => write!(f, "ws://{}#{index}", self.address),
        }
    }
}

/// The environment variable holding the device servers' token when `[remote] token_file` is unset.
pub(crate) const TOKEN_ENV: &str = "NEURONA_REMOTE_TOKEN";

/// The device servers' token: the first line of `token_file`, else `$NEURONA_REMOTE_TOKEN`, else
/// none (a server on loopback may run without one).
pub fn token(token_file: Option<&Path>) -> Result<Option<String>> {
    let token = match token_file {
        Some(path) => {
            // A token is one short line: 64 KiB is far more than any.
            let bytes = crate::files::read_capped(path, 64 << 10).map_err(|why| {
                Error::Usage(format!("cannot read token file {}: {why}", path.display()))
            })?;
            let text = String::from_utf8_lossy(&bytes);
            let line = text.lines().next().unwrap_or("").trim().to_string();
            if line.is_empty() {
                return Err(Error::Usage(format!(
                    "token file {} is empty: its first line is the token",
                    path.display()
                )));
            }
            Some(line)
        }
        None => std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    };
    Ok(token)
}

/// How long [`reachable`] waits for a server to accept a connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(3);

/// The socket address of a device server.
fn socket_address(server: &ServerDevice) -> Result<SocketAddr> {
    server
        .address
        .to_socket_addrs()
        .ok()
        .and_then(|mut all| all.next())
        .ok_or_else(|| {
            Error::Backend(format!(
                "device server {}: cannot resolve {}",
                server.url(),
                server.address
            ))
        })
}

/// Whether something accepts TCP connections at the device server `server`
/// (`ws://host:port[#N]`): a quick answer before Burn's own connect (which retries for about
/// 16 s), and the diagnosis when a run fails.
pub(crate) fn reachable(server: &str) -> Result<(), String> {
    reachable_at(&server.parse()?)
}

fn reachable_at(server: &ServerDevice) -> Result<(), String> {
    let address = socket_address(server).map_err(|e| e.to_string())?;
    TcpStream::connect_timeout(&address, REACH_TIMEOUT)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The device `server`, with `precision` as its float type.
pub fn connect(server: &ServerDevice, token: Option<&str>, precision: Precision) -> Result<Device> {
    ensure_compiled()?;
    reachable_at(server).map_err(|reason| {
        Error::Backend(format!(
            "cannot reach the device server {}: {reason}; start one there with \
             `neurona device-server`, or use this machine with --backend flex",
            server.url()
        ))
    })?;
    let device = open(server, token)?;
    crate::backend::with_precision(device, BackendChoice::Remote, precision)
}

/// How long opening a session may take once the server's port accepts connections. Burn's
/// client has no timeout of its own: a port that accepts and never answers would hold the
/// training forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

#[cfg(feature = "remote")]
fn open(server: &ServerDevice, token: Option<&str>) -> Result<Device> {
    use burn::remote::{ConnectError, RemoteHost};
    let (url, index) = (server.url(), server.index);
    let mut host = RemoteHost::websocket(&url);
    if let Some(token) = token {
        host = host.with_credential(token);
    }
    // Burn's `init` blocks until the server answers; it runs in a thread of its own so that a
    // silent server is an error after the timeout (the thread is left waiting; the run ends).
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(Device::remote_options(&host).device_index(index).init());
    });
    let opened = receiver.recv_timeout(HANDSHAKE_TIMEOUT).map_err(|_| {
        Error::Backend(format!(
            "device server {url} accepts connections but did not answer within {} s: is it a \
             neurona device-server (of the same Burn release), and not overloaded?",
            HANDSHAKE_TIMEOUT.as_secs()
        ))
    })?;
    opened.map_err(|e| {
        let hint = match &e {
            ConnectError::Unauthorized => format!(
                ": the token differs from the server's (set it with {} or [remote] token_file)",
                TOKEN_ENV
            ),
            ConnectError::Unreachable { reason } if reason.contains("409") => {
                ": it is serving another training (one at a time, so that neither changes the \
                 other's numbers): wait for it to end, or start another device server"
                    .to_string()
            }
            ConnectError::NoSuchDevice { .. } => {
                format!(": ask for a device index below that (\"{url}#0\")")
            }
            _ => String::new(),
        };
        Error::Backend(format!("device server {url}, device {index}: {e}{hint}"))
    })
}

#[cfg(not(feature = "remote"))]
fn open(_server: &ServerDevice, _token: Option<&str>) -> Result<Device> {
    ensure_compiled().map(|()| unreachable!("checked by cfg"))
}

/// Refuses remote work in a binary built without the `remote` feature.
fn ensure_compiled() -> Result<()> {
    if cfg!(feature = "remote") {
        return Ok(());
    }
    Err(Error::Backend(
        "remote devices are not compiled into this binary; rebuild with \
         `cargo build --release --features remote`"
            .into(),
    ))
}

/// `neurona device-server`'s settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The backend whose device is served: flex, ndarray, wgpu, cuda, or auto (a GPU that
    /// answers, else the CPU).
    pub backend: BackendChoice,
    /// The interface to listen on; loopback unless asked.
    pub host: String,
    /// 0 picks a free port (printed).
    pub port: u16,
    /// A file whose first line is the token (else `$NEURONA_REMOTE_TOKEN`).
    pub token_file: Option<PathBuf>,
}

/// Whether `host` names a loopback interface, which only this machine can reach.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks the options, binds the port, prints the address clients use (first line of stdout),
/// then serves until Ctrl-C or SIGTERM.
pub fn serve(options: &ServerOptions) -> Result<()> {
    let token = token(options.token_file.as_deref())?;
    if !is_loopback(&options.host) && token.is_none() {
        return Err(Error::Usage(format!(
            "listening on {} lets other machines use this one's devices: give a token with \
             --token-file or {} (the clients set the same one)",
            options.host, TOKEN_ENV
        )));
    }
    if options.backend == BackendChoice::Remote {
        return Err(Error::Usage(
            "a device server serves a backend of this machine: flex, ndarray, wgpu or cuda".into(),
        ));
    }
    ensure_compiled()?;
    // The backend's default device (one GPU, or the CPU); auto prefers a GPU that answers.
    let (backend, device) = crate::backend::select(options.backend, Precision::F32)?;
    let devices = vec![device];
    let listener =
        std::net::TcpListener::bind((options.host.as_str(), options.port)).map_err(|e| {
            Error::Usage(format!(
                "cannot listen on {}:{}: {e}",
                options.host, options.port
            ))
        })?;
    let address = listener.local_addr().map_err(Error::io(&options.host))?;
    println!(
        "serving {} device(s) of backend {} on ws://{address}{}",
        devices.len(),
        backend.name(),
        if token.is_some() {
            " (token required)"
        } else {
            ""
        }
    );
    if !is_loopback(&options.host) {
        eprintln!(
            "warning: WebSocket traffic is not encrypted: anyone on the network path can read the \
             tensors and the token. Across networks you do not trust, keep the server on \
             127.0.0.1 and tunnel: ssh -L {port}:127.0.0.1:{port} this-machine",
            port = address.port()
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    run_server(devices, token, listener)
}

#[cfg(feature = "remote")]
fn run_server(
    devices: Vec<Device>,
    token: Option<String>,
    listener: std::net::TcpListener,
) -> Result<()> {
    use burn::server::{RemoteServer, TokenAuthorizer, WebSocketTransport};
    use std::io::IsTerminal;
    // Burn's own log setup writes colour codes to stdout even into a file; this one (which Burn
    // then leaves alone) keeps stdout for the address line and colours only a terminal.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wgpu=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    // Burn's server listens on a loopback port of its own; clients reach it only through the
    // guard on the public port (sizes, deadlines, the token and one session at a time are
    // checked before Burn reads a byte). Burn checks the token again.
    let internal = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("127.0.0.1"))?;
    let burn_address = internal.local_addr().map_err(Error::io("127.0.0.1"))?;
    let _guard = crate::remote_guard::start(
        listener,
        burn_address,
        crate::remote_guard::GuardOptions {
            token: token.clone(),
            ..Default::default()
        },
    )
    .map_err(|e| Error::Backend(format!("device server: cannot start its guard: {e}")))?;
    let mut server = RemoteServer::new(devices);
    if let Some(token) = token {
        let authorizer = TokenAuthorizer::new(token)
            .map_err(|e| Error::Usage(format!("the device server's token: {e}")))?;
        server = server.with_authorizer(authorizer);
    }
    server
        .serve(WebSocketTransport::from_listener(internal))
        .map_err(|e| Error::Backend(format!("device server: {e}")))
}

#[cfg(not(feature = "remote"))]
fn run_server(
    _devices: Vec<Device>,
    _token: Option<String>,
    _listener: std::net::TcpListener,
) -> Result<()> {
    ensure_compiled()
}

/// A TCP relay on a free loopback port that forwards every connection to a device server and
/// counts the bytes each way: how `neurona bench` measures what a remote device costs on the
/// wire, whatever the transport does inside.
pub(crate) struct CountingRelay {
    /// The relay's address, to use instead of the server's (the same device index).
    pub url: String,
    /// Bytes from the client to the server, and back.
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CountingRelay {
    /// Starts relaying to the device server `server` (`ws://host:port[#N]`; threads that live
    /// as long as the process).
    pub fn start(server: &str) -> Result<Self> {
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;
        let server: ServerDevice = server.parse().map_err(Error::Config)?;
        let target = socket_address(&server)?;
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("127.0.0.1"))?;
        let address = listener.local_addr().map_err(Error::io("127.0.0.1"))?;
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let (up, down) = (sent.clone(), received.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(client_reader), Ok(server_reader)) =
                    (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                pump(client_reader, server, up.clone());
                pump(server_reader, client, down.clone());
            }
        });
        let relayed = ServerDevice {
            address: address.to_string(),
            index: server.index,
        };
        Ok(Self {
            url: relayed.to_string(),
            sent,
            received,
        })
    }

    /// Bytes relayed so far: (client → server, server → client).
    pub fn bytes(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

/// Copies `from` into `to` in a thread, adding every chunk's length to `count`.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 1 << 16];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
            count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}
