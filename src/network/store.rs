//! Weights on disk: `model.bpk` (burnpack) with its SHA-256 beside it in `model.bpk.sha256`
//! (`sha256sum -c` reads it), so that a file changed or damaged after training is refused
//! rather than evaluated to NaN.
//!
//! Checkpoints written before the layers were one list (until December 2026) grouped them by
//! kind: dense layers under `hidden.<d>`, convolutions under `conv.<c>`, recurrent layers under
//! `recurrent.<r>`. They load with their tensors renamed to `layers.<i>.…`.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{BurnpackStore, KeyRemapper, ModuleRecord, ModuleSnapshot};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::network::model::{Network, legacy_group};

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
/// a file that is not a readable burnpack is told apart from one of another architecture, and
/// weights that are not finite or absurdly large are refused by tensor name.
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
    let legacy = legacy_names(&model);
    let loaded = model.clone().try_load_file(path).or_else(|e| {
        if ModuleRecord::load(path).is_err() {
            Err(bad(format!(
                "is not a readable burnpack file (corrupt or truncated): {e}"
            )))
        } else {
            load_renamed(model, path, legacy)
                .ok_or_else(|| bad(format!("does not fit {architecture}: {e}")))
        }
    })?;
    match loaded.bad_weight() {
        Some(problem) => Err(bad(problem)),
        None => Ok(loaded),
    }
}

/// Where the tensors of `model`'s layers were in a checkpoint written before the layers were
/// one list: a pattern over the old names and its replacement, per layer that had a group.
fn legacy_names(model: &Network) -> Vec<(String, String)> {
    let mut seen = std::collections::HashMap::new();
    let mut names = Vec::new();
    for (i, step) in model.steps().iter().enumerate() {
        let Some((group, inside)) = legacy_group(step) else {
            continue;
        };
        let n = seen.entry(group).or_insert(0usize);
        names.push((format!(r"^{group}\.{n}\."), format!("layers.{i}.{inside}")));
        *n += 1;
    }
    names
}

/// Rewrites the checkpoint at `path` with this version's tensor names if it was written before
/// the layers were one list (burn-train reads the checkpoint a run resumes from by these
/// names); the parameter identities the optimizer's state refers to are kept. Returns whether
/// it did.
pub(crate) fn migrate_checkpoint(model: Network, path: &Path) -> Result<bool> {
    if model.clone().try_load_file(path).is_ok() {
        return Ok(false);
    }
    let legacy = legacy_names(&model);
    let Some(migrated) = load_renamed(model, path, legacy) else {
        return Ok(false); // not an old checkpoint: burn-train's own error will say what it is
    };
    let mut staged = path.as_os_str().to_owned();
    staged.push(".migrating");
    let staged = PathBuf::from(staged);
    migrated.save_file(&staged).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("cannot rewrite it with this version's tensor names: {e}"),
    })?;
    std::fs::rename(&staged, path).map_err(Error::io(path))?;
    Ok(true)
}

/// `model` with the weights of an old checkpoint renamed by `legacy`; `None` when they do not
/// fit either.
fn load_renamed(mut model: Network, path: &Path, legacy: Vec<(String, String)>) -> Option<Network> {
    let remapper = KeyRemapper::from_patterns(legacy).ok()?;
    let mut store = BurnpackStore::from_file(path).remap(remapper);
    let applied = model.load_from(&mut store).ok()?;
    (applied.errors.is_empty() && applied.missing.is_empty() && applied.unused.is_empty())
        .then_some(model)
}
