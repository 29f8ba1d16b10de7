//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

pub mod stacks;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Debian's `dataset-fashion-mnist` install folder; `.ci/run` installs the package.
pub const FASHION: &str = "/usr/share/datasets/fashion-mnist";

/// A fresh, empty folder under the system temp dir, unique per call.
pub fn scratch(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "neurona-test-{}-{name}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn fashion_file(name: &str) -> PathBuf {
    let path = Path::new(FASHION).join(name);
    assert!(
        path.is_file(),
        "{} is missing: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
        path.display()
    );
    path
}

/// Runs the `neurona` binary in a process of its own and requires it to succeed (its stderr in
/// the failure message); returns what it printed.
pub fn neurona_succeeds<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_neurona"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "neurona {}: {}{}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
