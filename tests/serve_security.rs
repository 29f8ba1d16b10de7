//! `neurona serve` tried as an attacker would: another web site driving it, a rebinding host
//! name, files planted in the runs folder and the temporary folder, one request changing what the
//! others get, and clients that hold connections, trickle bytes or leave work behind. The server
//! runs as its own `neurona serve` process with the common limit of 1024 open files, as on a
//! student's laptop.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `neurona serve` child process on a free loopback port.
struct Served {
    child: Child,
    address: SocketAddr,
    /// Kept open: the server prints more after its address.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Served {
    fn start(runs: &Path) -> Served {
        let mut command = Command::new(env!("CARGO_BIN_EXE_neurona"));
        command
            .args(["serve", "--port", "0", "--runs"])
            .arg(runs)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: `setrlimit` is async-signal-safe; it only lowers the child's own limit.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 1024,
                    rlim_max: 1024,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.trim().trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Served {
            child,
            address,
            _stdout: stdout,
        }
    }

    fn port(&self) -> u16 {
        self.address.port()
    }

    /// Status and body of a request written as `head` (a request line and headers, without the
    /// final blank line) with `body`.
    fn raw(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!(
            "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).unwrap();
        // A refusal may close the connection before reading the body: the answer came first.
        let mut response = Vec::new();
        let mut buffer = [0u8; 65536];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
                Err(e) if !response.is_empty() => {
                    eprintln!("{head}: {e} after the answer");
                    break;
                }
                Err(e) => panic!("{head}: {e}"),
            }
        }
        let text = String::from_utf8_lossy(&response).to_string();
        let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.raw(
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}", self.port()),
            b"",
        )
    }

    /// A POST as the server's own page sends it.
    fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let port = self.port();
        self.raw(
            &format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
                 Sec-Fetch-Site: same-origin\r\nContent-Type: {content_type}"
            ),
            body.as_bytes(),
        )
    }

    /// A POST from the page whose answer streams: the open connection, once what it has sent so
    /// far contains `until`.
    fn stream_until(&self, path: &str, body: &str, until: &str) -> TcpStream {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let port = self.port();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
             Sec-Fetch-Site: same-origin\r\nContent-Type: application/toml\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut seen = Vec::new();
        let mut buffer = [0u8; 65536];
        while !String::from_utf8_lossy(&seen).contains(until) {
            let n = stream.read(&mut buffer).unwrap();
            assert!(
                n > 0,
                "{path}: ended without {until}: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buffer[..n]);
        }
        stream
    }

    /// Checks the server stops computing within 1.5 s of `what` (an epoch or two of a heavy
    /// training): under 0.5 CPU s in the 2 s after.
    fn assert_idle(&self, what: &str) {
        std::thread::sleep(Duration::from_millis(1500));
        let before = self.cpu_seconds();
        std::thread::sleep(Duration::from_secs(2));
        let spent = self.cpu_seconds() - before;
        assert!(
            spent < 0.5,
            "the server computed {spent:.2} CPU s in 2 s after {what}"
        );
    }

    /// The CPU seconds the server process has used.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the name.
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        // SAFETY: sysconf only reads a constant of the system.
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const XOR: &str = "[data]\ndataset = \"xor\"\n[model]\nhidden = [4]\noutput = \"sigmoid\"\n\
                   [optimizer]\nlearning_rate = 0.5\n[training]\nepochs = 50\n";

/// The playground's own limits: 1000 spiral points, two hidden layers of 96, 20 000 epochs —
/// many seconds of work.
const HEAVY: &str = "[data]\ndataset = \"spirals\"\npoints = 1000\n[model]\nhidden = [96, 96]\n\
                     output = \"sigmoid\"\n[optimizer]\nlearning_rate = 0.1\n\
                     [training]\nepochs = 20000\n";

const IMAGES: &str = "[data]\ndataset = \"fashion-mnist\"\ntrain_limit = 600\ntest_limit = 200\n\
                      [model]\nhidden = [16]\n[training]\nepochs = 1\nbatch_size = 64\n";

#[test]
fn other_sites_cannot_drive_it_and_rebinding_host_names_are_refused() {
    let runs = common::scratch("serve-security-origin");
    let served = Served::start(&runs);
    let port = served.port();
    // A cross-site form or `fetch` with a simple content type: refused, nothing started.
    for (extra, content_type, status) in [
        ("Origin: http://evil.example\r\n", "text/plain", 403),
        ("Sec-Fetch-Site: cross-site\r\n", "text/plain", 403),
        (
            "Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\n",
            "application/toml",
            403,
        ),
        // Same-origin or a tool, but a type a browser sends across sites without asking.
        ("", "text/plain", 415),
        ("", "application/x-www-form-urlencoded", 415),
        ("Origin: null\r\n", "application/toml", 403),
    ] {
        for path in [
            "/api/jobs?name=attack",
            "/api/playground/save",
            "/api/playground/live",
            "/api/playground/live/1",
            "/api/jobs/attack/stop",
            "/api/runs/attack/resume",
            "/api/runs/attack/analysis",
        ] {
            let body = if path.contains("playground") {
                XOR.replace("[data]", "[output]\nname = \"attack\"\n[data]")
            } else {
                IMAGES.to_string()
            };
            let (got, answer) = served.raw(
                &format!(
                    "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Type: {content_type}"
                ),
                body.as_bytes(),
            );
            assert_eq!(got, status, "{path} {extra:?} {content_type}: {answer}");
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !runs.join("attack").exists(),
        "a refused request wrote a run"
    );
    assert_eq!(served.get("/api/jobs"), (200, "[]".to_string()));

    // Another site's page may not read either (it cannot see the answer without CORS, but it
    // may not spend the server's work); a link followed to the page is a navigation and works.
    let (status, _) = served.raw(
        &format!("GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: cors"),
        b"",
    );
    assert_eq!(status, 403);
    let (status, _) = served.raw(
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate"),
        b"",
    );
    assert_eq!(status, 200);

    // DNS rebinding: the attacker's name resolved to 127.0.0.1 — refused before anything is read.
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        String::new(),
    ] {
        let (status, body) = served.raw(&format!("GET /api/runs HTTP/1.1\r\nHost: {host}"), b"");
        assert_eq!(status, 421, "Host {host:?}: {body}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
    ] {
        let (status, body) = served.raw(&format!("GET /api/runs HTTP/1.1\r\nHost: {host}"), b"");
        assert_eq!(status, 200, "Host {host:?}: {body}");
    }

    // The page's own requests pass: the same playground training, same origin.
    let (status, answer) = served.post("/api/playground/train", "application/toml", XOR);
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn the_page_names_no_file_and_follows_no_planted_link() {
    let runs = common::scratch("serve-security-files");
    let served = Served::start(&runs);
    // Weights, data folders, mirrors and device servers from a page: refused, with the key.
    let weights = common::scratch("serve-security-weights").join("any.safetensors");
    std::fs::write(&weights, b"not weights").unwrap();
    for (path, body, key) in [
        (
            "/api/jobs?name=reads",
            IMAGES.replace(
                "[model]",
                &format!("[model]\ninit_from = {:?}", weights.display().to_string()),
            ),
            "model.init_from",
        ),
        (
            "/api/jobs?name=reads",
            IMAGES.replace("train_limit", "dir = \"/etc\"\ntrain_limit"),
            "data.dir",
        ),
        (
            "/api/jobs?name=reads",
            format!("{IMAGES}\n[remote]\nhosts = [\"ws://10.0.0.1:3000\"]\n"),
            "[remote]",
        ),
    ] {
        let (status, answer) = served.post(path, "application/toml", &body);
        assert_eq!(status, 422, "{path}: {answer}");
        assert!(answer.contains(key), "{answer}");
    }

    // Links planted where an earlier version put a training's files (`/tmp`, named by the
    // server's pid and the run) are neither followed nor truncated.
    let victim = common::scratch("serve-security-victim").join("precious.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let temp = std::env::temp_dir();
    let planted: Vec<_> = ["toml", "out"]
        .iter()
        .map(|ext| temp.join(format!("neurona-serve-{}-planted.{ext}", served.child.id())))
        .collect();
    for link in &planted {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&victim, link).unwrap();
    }
    let (status, answer) = served.post("/api/jobs?name=planted", "application/toml", IMAGES);
    assert_eq!(status, 202, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !served.get("/api/jobs").1.contains("\"finished\"") {
        assert!(Instant::now() < deadline, "{}", served.get("/api/jobs").1);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    for link in &planted {
        assert!(std::fs::symlink_metadata(link).unwrap().is_symlink());
        std::fs::remove_file(link).unwrap();
    }

    // A run folder whose config.toml is a link to a secret: not a run the server shows.
    let secret = common::scratch("serve-security-secret").join("secret.txt");
    std::fs::write(&secret, "the secret").unwrap();
    let planted_run = runs.join("linked");
    std::fs::create_dir_all(&planted_run).unwrap();
    for file in [".neurona-run", "metrics.json"] {
        std::fs::copy(runs.join("planted").join(file), planted_run.join(file)).unwrap();
    }
    std::os::unix::fs::symlink(&secret, planted_run.join("config.toml")).unwrap();
    // The same with metrics.json and the kind file as links, in a run that is otherwise real.
    let linked_files = runs.join("linked-files");
    std::fs::create_dir_all(&linked_files).unwrap();
    std::fs::copy(
        runs.join("planted").join("config.toml"),
        linked_files.join("config.toml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&secret, linked_files.join(".neurona-run")).unwrap();
    for path in [
        "/api/runs",
        "/api/runs/linked",
        "/api/runs/linked/events",
        "/api/runs/linked-files",
        "/api/runs/linked/analysis",
        "/api/runs/linked-files/analysis",
        "/api/runs/linked-files/test-images?indices=0",
        "/runs/linked/config.toml",
    ] {
        let (_, body) = served.get(path);
        assert!(!body.contains("the secret"), "{path}: {body}");
    }
    assert_eq!(served.get("/api/runs/linked").0, 404);
    assert_eq!(served.get("/api/runs/linked/events").0, 404);
    assert_eq!(served.get("/api/runs/linked-files/analysis").0, 404);
    // The real run is still shown.
    let (status, body) = served.get("/api/runs/planted");
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detail["history"].as_array().unwrap().len(), 1);
}

#[test]
fn one_request_cannot_change_the_precision_the_others_get() {
    let runs = common::scratch("serve-security-precision");
    let served = Served::start(&runs);
    let f64_xor = format!("precision = \"f64\"\n{XOR}");
    let (status, answer) = served.post("/api/playground/train", "application/toml", &f64_xor);
    assert_eq!(status, 422, "{answer}");
    assert!(answer.contains("f32"), "{answer}");
    for _ in 0..2 {
        let (status, answer) = served.post("/api/playground/train", "application/toml", XOR);
        assert_eq!(status, 200, "{answer}");
    }
}

#[test]
fn a_flood_of_idle_and_slow_clients_does_not_keep_a_new_client_out() {
    let runs = common::scratch("serve-security-flood");
    let served = Served::start(&runs);
    // More idle connections than the server may open files, plus slowloris headers.
    let mut flood = Vec::new();
    for i in 0..1100 {
        let Ok(mut stream) = TcpStream::connect(served.address) else {
            continue;
        };
        if i % 4 == 0 {
            let _ = stream.write_all(b"GET /api/runs HTTP/1.1\r\nHost: 12");
        }
        flood.push(stream);
    }
    let started = Instant::now();
    let (status, _) = served.get("/api/runs");
    let waited = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        waited < Duration::from_secs(1),
        "a new client waited {waited:?}"
    );

    // An idle connection is closed once the header timeout has passed.
    let mut idle = TcpStream::connect(served.address).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let opened = Instant::now();
    let mut byte = [0u8; 1];
    let read = idle.read(&mut byte);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "an idle connection got {read:?}"
    );
    let closed_after = opened.elapsed();
    assert!(
        closed_after < Duration::from_secs(15),
        "idle connection closed after {closed_after:?}"
    );
    assert_eq!(served.get("/api/runs").0, 200);
    drop(flood);
}

#[test]
fn playground_trainings_are_bounded_and_stop_when_their_client_goes() {
    let runs = common::scratch("serve-security-playground");
    let mut served = Served::start(&runs);
    // Every slot busy: a heavy request per core, then one more is refused at once with 503.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = (cores / 2).max(1);
    let mut heavy = Vec::new();
    for _ in 0..slots {
        let mut stream = TcpStream::connect(served.address).unwrap();
        let port = served.port();
        write!(
            stream,
            "POST /api/playground/train HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/toml\r\nContent-Length: {}\r\n\r\n{HEAVY}",
            HEAVY.len()
        )
        .unwrap();
        heavy.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let (status, answer) = served.post("/api/playground/train", "application/toml", XOR);
    assert_eq!(status, 503, "{answer}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(answer.contains("try again"), "{answer}");
    // A live training waits its turn, told how many are ahead, up to four; a fifth is refused.
    let queued: Vec<TcpStream> = (0..4)
        .map(|ahead| {
            served.stream_until(
                "/api/playground/live",
                XOR,
                &format!(r#""kind":"queued","ahead":{ahead},"running":{slots}"#),
            )
        })
        .collect();
    let (status, answer) = served.post("/api/playground/live", "application/toml", XOR);
    assert_eq!(status, 503, "{answer}");

    // The clients go away: the server stops computing within an epoch or two.
    drop(queued);
    drop(heavy);
    served.assert_idle("its clients left");
    let (status, answer) = served.post("/api/playground/train", "application/toml", XOR);
    assert_eq!(status, 200, "{answer}");
    // The same for a live training whose page goes away while it trains.
    drop(served.stream_until("/api/playground/live", HEAVY, r#""kind":"frame""#));
    served.assert_idle("a live training's page left");

    // Ctrl-C with an idle connection open and a training whose client has gone: the server
    // ends within a few seconds.
    let _idle = TcpStream::connect(served.address).unwrap();
    let mut abandoned = TcpStream::connect(served.address).unwrap();
    let port = served.port();
    write!(
        abandoned,
        "POST /api/playground/train HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/toml\r\nContent-Length: {}\r\n\r\n{HEAVY}",
        HEAVY.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(abandoned);
    let interrupted = Instant::now();
    // SAFETY: signals the server child this test started and has not waited for.
    unsafe {
        libc::kill(served.child.id() as libc::pid_t, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if served.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "still running 10 s after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = interrupted.elapsed();
    assert!(took < Duration::from_secs(6), "Ctrl-C took {took:?}");
}
