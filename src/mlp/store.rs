//! Weights on disk: `model.bpk` (burnpack) with its SHA-256 beside it in `model.bpk.sha256`
//! (`sha256sum -c` reads it), so that a file changed or damaged after training is refused
//! rather than evaluated to NaN.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::ModuleRecord;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::mlp::model::Network;

fn checksum_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Saves `model` as `path` and records its checksum.
pub fn save(model: &Network, path: &Path) -> Result<()> {
    model
        .clone()
        .save_file(path)
        .map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("cannot save: {e}"),
        })?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().to_string());
    let line = format!("{}  {name}\n", sha256(path)?);
    crate::run_dir::write_atomic(&checksum_path(path), line.as_bytes())
}

/// Loads the weights at `path` into `model` (freshly built with the run's architecture, which
/// `architecture` describes for the error message). A checksum recorded at training must match;
/// a file that is not a readable burnpack is told apart from one of another architecture.
pub fn load(model: Network, path: &Path, architecture: &str) -> Result<Network> {
    let bad = |reason: String| Error::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(bad("no such file".into()));
    }
    if let Ok(recorded) = std::fs::read_to_string(checksum_path(path)) {
        let expected = recorded.split_whitespace().next().unwrap_or_default();
        if sha256(path)? != expected {
            return Err(bad(
                "does not match the checksum recorded when it was trained: the file was changed \
                 or damaged since"
                    .into(),
            ));
        }
    }
    model.try_load_file(path).map_err(|e| {
        if ModuleRecord::load(path).is_err() {
            bad(format!(
                "is not a readable burnpack file (corrupt or truncated): {e}"
            ))
        } else {
            bad(format!("does not fit {architecture}: {e}"))
        }
    })
}
