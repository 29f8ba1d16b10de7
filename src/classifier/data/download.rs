//! Fetching data files from public mirrors into a cache folder, each verified against its
//! published checksum before it is moved into place, so a cut connection or a wrong mirror can
//! never leave a file that looks complete.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A published checksum. MNIST's mirrors publish SHA-256; Fashion-MNIST publishes MD5 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    Sha256(&'static str),
    Md5(&'static str),
}

impl Checksum {
    fn hasher(self) -> Box<dyn DynHasher> {
        match self {
            Checksum::Sha256(_) => Box::new(Sha256::new()),
            Checksum::Md5(_) => Box::new(Md5::new()),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Checksum::Sha256(h) | Checksum::Md5(h) => h,
        }
    }

    fn algorithm(self) -> &'static str {
        match self {
            Checksum::Sha256(_) => "SHA-256",
            Checksum::Md5(_) => "MD5",
        }
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.algorithm(), self.expected())
    }
}

/// Object-safe view of the two digests, so one download loop serves both.
trait DynHasher {
    fn update(&mut self, bytes: &[u8]);
    fn hex(self: Box<Self>) -> String;
}

impl<D: Digest> DynHasher for D {
    fn update(&mut self, bytes: &[u8]) {
        Digest::update(self, bytes);
    }
    fn hex(self: Box<Self>) -> String {
        self.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One file of a data set, as published.
#[derive(Debug, Clone, Copy)]
pub struct RemoteFile {
    pub name: &'static str,
    pub checksum: Checksum,
}

/// Downloads `file` into `dir` from the first mirror that serves it with the right checksum.
/// Returns the path of the verified file; on failure the error lists every mirror's answer.
pub fn download(file: &RemoteFile, dir: &Path, mirrors: &[String]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let target = dir.join(file.name);
    let partial = dir.join(format!("{}.part", file.name));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let mut failures = Vec::new();
    for mirror in mirrors {
        let url = format!("{}/{}", mirror.trim_end_matches('/'), file.name);
        match fetch_one(&agent, &url, &partial, file.checksum) {
            Ok(bytes) => {
                std::fs::rename(&partial, &target).map_err(Error::io(&target))?;
                if !std::io::stderr().is_terminal() {
                    eprintln!("downloaded {} ({bytes} bytes) from {url}", file.name);
                }
                return Ok(target);
            }
            Err(reason) => {
                let _ = std::fs::remove_file(&partial);
                failures.push(format!("{url}: {reason}"));
            }
        }
    }
    Err(Error::Data(format!(
        "could not download {}:\n  {}",
        file.name,
        failures.join("\n  ")
    )))
}

/// Streams `url` into `partial`, hashing on the way; returns the byte count.
fn fetch_one(
    agent: &ureq::Agent,
    url: &str,
    partial: &Path,
    checksum: Checksum,
) -> Result<u64, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = progress_bar(length, url);
    let mut reader = response.body_mut().as_reader();
    let mut out =
        File::create(partial).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    let mut hasher = checksum.hasher();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("connection broke after {total} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
        total += n as u64;
        bar.set_position(total);
    }
    out.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    bar.finish_and_clear();
    let actual = hasher.hex();
    if actual != checksum.expected() {
        return Err(format!(
            "{} mismatch: expected {}, got {actual}",
            checksum.algorithm(),
            checksum.expected()
        ));
    }
    Ok(total)
}

/// A byte progress bar on a terminal; hidden (indicatif draws nothing) when stderr is not one.
fn progress_bar(length: Option<u64>, url: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(length, indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template(
        "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(url.to_string());
    bar
}
