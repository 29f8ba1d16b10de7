//! Training on other machines' devices, compiled only with `--features remote`: device servers
//! started here on loopback (free ports, killed at the end) stand in for a GPU box. A run on a
//! remote flex device must give the losses of the same run on local flex; two servers train
//! data-parallel; a wrong token, a missing server and a server killed mid-run are clear errors,
//! and a run cut off that way resumes on this machine.
#![cfg(feature = "remote")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_neurona");

/// A `neurona device-server` on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(token_file: Option<&Path>) -> Self {
        let mut command = Command::new(BIN);
        command.args(["device-server", "--backend", "flex", "--port", "0"]);
        if let Some(file) = token_file {
            command.arg("--token-file").arg(file);
        }
        let mut child = command
            .env_remove("NEURONA_REMOTE_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn neurona(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("NEURONA_REMOTE_TOKEN");
    if let Some(token) = token {
        command.env("NEURONA_REMOTE_TOKEN", token);
    }
    command.output().unwrap()
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Exit code 2 with `needle` in the message, and no panic.
fn user_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// An experiment on a Fashion-MNIST subset; `placement` is its backend lines.
fn config(dir: &Path, name: &str, placement: &str, epochs: usize, train: usize) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "{placement}\n[data]\ndataset = \"fashion-mnist\"\ndir = \"{}\"\ntrain_limit = {train}\n\
         test_limit = 500\nstandardize = true\n[model]\nhidden = [32]\n[training]\nepochs = {epochs}\n\
         batch_size = 100\n[output]\ndir = \"{}\"\nname = \"{name}\"\n",
        common::FASHION,
        dir.join("runs").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn metrics(dir: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("runs").join(name).join("metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn column(metrics: &serde_json::Value, key: &str) -> Vec<f64> {
    metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_f64().unwrap())
        .collect()
}

fn transfers(metrics: &serde_json::Value, epoch: usize, key: &str) -> u64 {
    metrics["epochs"][epoch]["transfers"][key].as_u64().unwrap()
}

/// `neurona eval` on this machine (flex) reproduces the run's recorded test accuracy.
fn evaluates_locally(dir: &Path, name: &str) {
    let run = dir.join("runs").join(name);
    let out = neurona(&["eval", run.to_str().unwrap(), "--backend", "flex"], None);
    succeeded(&out);
    let recorded = metrics(dir, name)["test"]["accuracy"].as_f64().unwrap();
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["accuracy"].as_f64().unwrap(), recorded);
}

#[test]
fn a_remote_flex_device_trains_as_local_flex_does_with_fewer_transfers() {
    let dir = common::scratch("remote-same");
    let server = Server::start(None);
    let local = config(&dir, "local", "backend = \"flex\"", 2, 2000);
    let remote = config(
        &dir,
        "remote",
        &format!(
            "backend = \"remote\"\n[remote]\nhosts = [\"{}\"]",
            server.url
        ),
        2,
        2000,
    );
    succeeded(&neurona(&["train", local.to_str().unwrap()], None));
    let stdout = succeeded(&neurona(&["train", remote.to_str().unwrap()], None));
    assert!(stdout.contains(&server.url), "{stdout}");
    let (l, r) = (metrics(&dir, "local"), metrics(&dir, "remote"));
    assert_eq!(r["backend"], "remote");
    // The same operations in the same order on the same backend: the same numbers.
    for key in [
        "train_loss",
        "valid_loss",
        "train_accuracy",
        "valid_accuracy",
    ] {
        assert_eq!(column(&l, key), column(&r, key), "{key}");
    }
    assert_eq!(l["test"]["accuracy"], r["test"]["accuracy"]);

    // 1,800 training rows and 200 validation rows in batches of 100: 18 + 2 batches. Streamed
    // (local CPU): images and labels per batch. Resident (remote, by default): the whole set
    // once in the first epoch, then row indices per batch. Reads: loss and accuracy once per
    // split; none per batch (fewer than 50 batches, so no live read).
    let batches = 18 + 2;
    for epoch in 0..2 {
        assert_eq!(transfers(&l, epoch, "uploads"), 2 * batches);
        assert_eq!(transfers(&l, epoch, "reads"), 2 * 2);
        assert_eq!(transfers(&r, epoch, "reads"), 2 * 2);
    }
    assert_eq!(transfers(&r, 0, "uploads"), batches + 2);
    assert_eq!(transfers(&r, 1, "uploads"), batches);
    assert_eq!(transfers(&r, 1, "upload_bytes"), 2000 * 8);
    assert_eq!(transfers(&l, 1, "upload_bytes"), 2000 * (784 * 4 + 8));
    // Without --backend, a run is evaluated where it trained: on the server.
    let run = dir.join("runs/remote");
    succeeded(&neurona(&["eval", run.to_str().unwrap()], None));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["accuracy"], r["test"]["accuracy"]);
    evaluates_locally(&dir, "remote");
}

#[test]
fn two_servers_train_data_parallel_and_the_run_evaluates_locally() {
    let dir = common::scratch("remote-multi");
    let (a, b) = (Server::start(None), Server::start(None));
    let path = config(&dir, "multi", "", 2, 2000);
    let devices = format!("{},{}", a.url, b.url);
    succeeded(&neurona(
        &["train", path.to_str().unwrap(), "--devices", &devices],
        None,
    ));
    let m = metrics(&dir, "multi");
    assert_eq!(m["device"], format!("{}, {}", a.url, b.url));
    let train = column(&m, "train_loss");
    // Learning happened: below the loss of a uniform guess over 10 classes, and falling.
    assert!(train[0] < 10f64.ln() && train[1] < train[0], "{train:?}");
    assert!(m["test"]["accuracy"].as_f64().unwrap() > 0.6);
    evaluates_locally(&dir, "multi");
}

#[test]
fn a_wrong_token_a_missing_server_and_an_open_port_without_token_are_refused() {
    let dir = common::scratch("remote-refused");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "right-token\n").unwrap();
    let server = Server::start(Some(&token_file));
    let path = config(
        &dir,
        "guarded",
        &format!(
            "backend = \"remote\"\n[remote]\nhosts = [\"{}\"]",
            server.url
        ),
        1,
        500,
    );
    let out = neurona(&["train", path.to_str().unwrap()], Some("wrong-token"));
    user_error(&out, "token differs");
    user_error(&out, &server.url);
    // With the right token it trains.
    succeeded(&neurona(
        &["train", path.to_str().unwrap(), "--force"],
        Some("right-token"),
    ));

    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let path = config(
        &dir,
        "nobody",
        &format!("backend = \"remote\"\n[remote]\nhosts = [\"{url}\"]"),
        1,
        500,
    );
    let out = neurona(&["train", path.to_str().unwrap()], None);
    user_error(&out, &format!("cannot reach the device server {url}"));

    // Other machines may reach a server only with a token.
    let out = neurona(
        &[
            "device-server",
            "--backend",
            "flex",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        None,
    );
    user_error(&out, "token");
}

#[test]
fn a_run_cut_off_by_a_killed_server_stops_clearly_and_resumes_on_flex() {
    let dir = common::scratch("remote-killed");
    let server = Server::start(None);
    let path = config(
        &dir,
        "cut",
        &format!(
            "backend = \"remote\"\n[remote]\nhosts = [\"{}\"]",
            server.url
        ),
        20,
        6000,
    );
    let mut child = Command::new(BIN)
        .args(["train", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push(line.clone());
        // Epoch 1's checkpoint is written before epoch 2 starts.
        if line.starts_with("epoch   2/20") {
            break;
        }
    }
    let url = server.url.clone();
    drop(server);
    printed.extend(lines.map_while(Result::ok));
    let out = child.wait_with_output().unwrap();
    user_error(&out, &format!("lost the device server {url}"));
    let completed = column(&metrics(&dir, "cut"), "train_loss").len();
    assert!((2..20).contains(&completed), "{completed} epochs kept");
    // The epoch cut short is not reported as a result: every epoch printed is one recorded.
    let reported = printed.iter().filter(|l| l.starts_with("epoch ")).count();
    assert_eq!(reported, completed, "{printed:#?}");

    let stdout = succeeded(&neurona(
        &[
            "train",
            path.to_str().unwrap(),
            "--resume",
            "--backend",
            "flex",
        ],
        None,
    ));
    assert!(stdout.contains("resuming at epoch"), "{stdout}");
    assert!(!stdout.contains("epoch   1/20"), "{stdout}");
    let m = metrics(&dir, "cut");
    let epochs: Vec<u64> = m["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, (1..=20).collect::<Vec<u64>>());
    evaluates_locally(&dir, "cut");
}

#[test]
fn a_silent_port_fails_within_the_handshake_timeout() {
    let dir = common::scratch("remote-silent");
    // Accepts connections and never answers a byte.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let path = config(
        &dir,
        "silent",
        &format!("backend = \"remote\"\n[remote]\nhosts = [\"{url}\"]"),
        1,
        500,
    );
    let started = std::time::Instant::now();
    let out = neurona(&["train", path.to_str().unwrap()], None);
    let took = started.elapsed();
    user_error(&out, "did not answer");
    user_error(&out, &url);
    assert!(
        took < neurona::remote::HANDSHAKE_TIMEOUT + std::time::Duration::from_secs(15),
        "took {took:?}"
    );
}

/// Bytes of a masked client WebSocket frame header announcing `length` bytes of binary payload.
fn frame_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header
}

/// An HTTP upgrade to the WebSocket route `path`.
fn upgrade(address: &str, path: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    stream
}

/// Reads until the peer closes (or fails); what it sent.
fn until_closed(stream: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut all = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buffer[..n]);
    }
    all
}

#[test]
fn garbage_huge_frames_and_a_second_training_leave_the_server_serving() {
    use std::io::Write;
    let dir = common::scratch("remote-abuse");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "right-token\n").unwrap();
    let server = Server::start(Some(&token_file));
    let address = server.url.trim_start_matches("ws://").to_string();

    // Not HTTP at all, then garbage frames on /data, then a 1000 MB frame announced on /session
    // before any token: each connection is closed, none takes the server down.
    let mut garbage = std::net::TcpStream::connect(&address).unwrap();
    garbage
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    garbage
        .write_all(&[0xde, 0xad, 0xbe, 0xef].repeat(64))
        .unwrap();
    garbage.write_all(b"\r\n\r\n").unwrap();
    until_closed(&mut garbage);
    let mut data = upgrade(&address, "/data");
    for _ in 0..5 {
        let mut frame = vec![0x82, 0x80 | 16, 9, 9, 9, 9];
        frame.extend_from_slice(&[0x5a; 16]);
        let _ = data.write_all(&frame);
    }
    until_closed(&mut data);
    let mut huge = upgrade(&address, "/session");
    let _ = huge.write_all(&frame_header(1_000_000_000));
    let _ = huge.write_all(&[0u8; 65536]);
    let started = std::time::Instant::now();
    until_closed(&mut huge);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "a 1000 MB frame before the token was read for {:?}",
        started.elapsed()
    );
    // A client that upgrades and never sends its session's first message is let go.
    let mut mute = upgrade(&address, "/session");
    let started = std::time::Instant::now();
    until_closed(&mut mute);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    // One training at a time: a second one meanwhile is refused, naming the reason.
    let path = config(
        &dir,
        "first",
        &format!(
            "backend = \"remote\"\n[remote]\nhosts = [\"{}\"]",
            server.url
        ),
        30,
        3000,
    );
    let mut first = Command::new(BIN)
        .args(["train", path.to_str().unwrap()])
        .env("NEURONA_REMOTE_TOKEN", "right-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("epoch   1/30") {
            break;
        }
    }
    let second = config(
        &dir,
        "second",
        &format!(
            "backend = \"remote\"\n[remote]\nhosts = [\"{}\"]",
            server.url
        ),
        1,
        500,
    );
    let out = neurona(&["train", second.to_str().unwrap()], Some("right-token"));
    user_error(&out, "serving another training");
    let _ = first.kill();
    let _ = first.wait();
    // Once the first has gone, the server trains the second.
    succeeded(&neurona(
        &["train", second.to_str().unwrap(), "--force"],
        Some("right-token"),
    ));
}
