//! The download path, against a small HTTP server on 127.0.0.1 (no network is needed or used):
//! mirror fallback, checksum verification, offline errors, and a full MNIST-format round trip.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use std::sync::Arc;

use neurona::classifier::config::{DataConfig, DatasetName};
use neurona::classifier::data::download::{Checksum, RemoteFile, download};
use neurona::classifier::data::idx::{LabelledImages, encode_idx};
use neurona::classifier::data::{DatasetSpec, fetch_missing, locate};

/// Serves `routes` (path → body; anything else is a 404) on a loopback port, for at most
/// `max_requests` connections, then stops. Returns the base URL.
fn serve(routes: HashMap<String, Vec<u8>>, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let (status, body) = match routes.get(&path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not here".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    base
}

// SHA-256 and MD5 of the ASCII string "abc", from FIPS 180-2 appendix B.1 and RFC 1321 appendix A.5.
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ABC_MD5: &str = "900150983cd24fb0d6963f7d28e17f72";

#[test]
fn falls_back_to_the_next_mirror_and_verifies_checksums() {
    let mut routes = HashMap::new();
    routes.insert("/good/abc.txt".to_string(), b"abc".to_vec());
    routes.insert("/evil/abc.txt".to_string(), b"abd".to_vec());
    let base = serve(routes, 20);
    let dir = common::scratch("download-fallback");
    for checksum in [Checksum::Sha256(ABC_SHA256), Checksum::Md5(ABC_MD5)] {
        let file = RemoteFile {
            name: "abc.txt",
            checksum,
        };
        let mirrors = vec![
            format!("{base}/missing"),
            format!("{base}/evil"),
            format!("{base}/good/"),
        ];
        let path = download(&file, &dir, &mirrors).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        std::fs::remove_file(&path).unwrap();
    }
    // Only a corrupt mirror: the error names each mirror's failure and nothing is left behind.
    let file = RemoteFile {
        name: "abc.txt",
        checksum: Checksum::Sha256(ABC_SHA256),
    };
    let err = download(
        &file,
        &dir,
        &[format!("{base}/evil"), format!("{base}/missing")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("SHA-256 mismatch") && err.contains(ABC_SHA256),
        "{err}"
    );
    assert!(err.contains("404"), "{err}");
    assert!(!dir.join("abc.txt").exists() && !dir.join("abc.txt.part").exists());
}

#[test]
fn offline_error_says_which_files_to_place_where() {
    // A closed port stands in for "no network".
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = common::scratch("download-offline");
    let config = DataConfig {
        dataset: DatasetName::Mnist,
        dir: Some(dir.clone()),
        mirrors: Some(vec![format!("http://127.0.0.1:{port}/mnist")]),
        ..DataConfig::default()
    };
    let err = locate(&config).unwrap_err().to_string();
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        assert!(err.contains(name), "{err}");
    }
    assert!(
        err.contains(&dir.display().to_string()) && err.contains("NEURONA_DATA"),
        "{err}"
    );
    // The published SHA-256 of MNIST's training images is part of the instructions.
    assert!(
        err.contains("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "{err}"
    );
}

#[test]
fn downloads_an_mnist_format_data_set_and_reads_it_back() {
    // A 5-image data set in MNIST's format and file names; its checksums are computed by
    // `sha256sum` semantics through the sha2 crate, then served from a loopback mirror.
    let pixels: Vec<u8> = (0..5 * 28 * 28).map(|i| (i % 251) as u8).collect();
    let labels = vec![3u8, 1, 4, 1, 5];
    let bodies = [
        (
            "train-images-idx3-ubyte.gz",
            gzip(&encode_idx(&[5, 28, 28], &pixels)),
        ),
        (
            "train-labels-idx1-ubyte.gz",
            gzip(&encode_idx(&[5], &labels)),
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            gzip(&encode_idx(&[2, 28, 28], &pixels[..2 * 784])),
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            gzip(&encode_idx(&[2], &labels[..2])),
        ),
    ];
    let files = bodies.clone().map(|(name, body)| RemoteFile {
        name,
        checksum: Checksum::Sha256(leak(sha256_hex(&body))),
    });
    let spec = DatasetSpec {
        title: "tiny MNIST",
        files,
        mirrors: &[],
        system_dir: None,
        class_names: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    };
    let routes = bodies
        .iter()
        .map(|(n, b)| (format!("/mirror/{n}"), b.clone()))
        .collect();
    let base = serve(routes, 10);
    let dir = common::scratch("download-roundtrip");
    fetch_missing(&spec, &dir, &[format!("{base}/mirror")]).unwrap();
    let train = LabelledImages::load(&dir.join(bodies[0].0), &dir.join(bodies[1].0), 10).unwrap();
    assert_eq!(train.pixels, pixels);
    assert_eq!(train.labels, labels);
    // Everything present: a second call downloads nothing (the server would 404 a new request path,
    // and only 10 connections are served in all).
    fetch_missing(&spec, &dir, &[format!("{base}/nowhere")]).unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
