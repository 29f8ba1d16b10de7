//! The run directory `<output.dir>/<output.name>/`: where it is, the rule that an existing run is
//! only replaced on request, and atomic writes, so readers (and a crash) never see half a file.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[output]` of every experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Parent folder of run directories.
    pub dir: PathBuf,
    /// Run name; unset means the config file's stem. The run lives in `<dir>/<name>/`.
    pub name: Option<String>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("artifacts"),
            name: None,
        }
    }
}

impl OutputConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(name) = &self.name
            && (name.is_empty() || name.contains(['/', '\\']) || name == "." || name == "..")
        {
            return Err(format!("output.name {name:?} must be a plain folder name"));
        }
        Ok(())
    }

    /// The run directory: `<dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join(self.name.as_deref().unwrap_or("run"))
    }

    /// The run name: `name`, else the config file's stem.
    pub(crate) fn default_name(&mut self, config_path: &Path) {
        if self.name.is_none() {
            let stem = config_path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("run");
            self.name = Some(stem.to_string());
        }
    }
}

/// The resolved config a run was trained with.
pub(crate) fn config_path(run_dir: &Path) -> PathBuf {
    run_dir.join("config.toml")
}

/// How a command means to use its run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new run: the folder must be empty or absent.
    New,
    /// A new run replacing an earlier run of the same kind (`--force`).
    Force,
    /// Continue the run in the folder (`--resume`).
    Resume,
}

impl Start {
    /// From the `--resume` and `--force` flags (which clap keeps apart).
    pub(crate) fn from_flags(resume: bool, force: bool) -> Start {
        match (resume, force) {
            (true, _) => Start::Resume,
            (false, true) => Start::Force,
            (false, false) => Start::New,
        }
    }
}

/// The kinds of run, as a run's `.neurona-run` records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    ImageClassification,
    /// The 2-D workshop (XOR, circle, moons, spirals).
    Points,
    LinearRegression,
    LogisticRegression,
}

impl RunKind {
    const ALL: [RunKind; 4] = [
        RunKind::ImageClassification,
        RunKind::Points,
        RunKind::LinearRegression,
        RunKind::LogisticRegression,
    ];

    /// The name `.neurona-run` holds.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::ImageClassification => "image_classification",
            RunKind::Points => "points",
            RunKind::LinearRegression => "linear_regression",
            RunKind::LogisticRegression => "logistic_regression",
        }
    }

    fn parse(name: &str) -> Option<RunKind> {
        RunKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a family's runs hold besides the files every run has (its config, `metrics.json`, its
/// kind and its lock): declared once by each family, and all that `--force` may remove.
#[derive(Debug, Clone, Copy)]
pub struct RunLayout {
    pub kind: RunKind,
    pub files: &'static [&'static str],
    pub dirs: &'static [&'static str],
}

/// The files of every run.
const COMMON_FILES: &[&str] = &[
    "config.toml",
    ARCHITECTURE_FILE,
    "metrics.json",
    KIND_FILE,
    LOCK_FILE,
];
/// What a run's weights were trained for (`run_dir::check_architecture`).
const ARCHITECTURE_FILE: &str = "architecture.json";
/// The epoch in progress of a training run (`progress::LiveProgress`), while it trains.
pub(crate) const LIVE_FILE: &str = "live.json";
/// The kind of run the folder holds (`linear_regression`, `points`, …).
const KIND_FILE: &str = ".neurona-run";
/// Locked by the process that uses the run; the OS releases it when the process ends.
const LOCK_FILE: &str = ".neurona-lock";

fn is_own(layout: &RunLayout, name: &str, is_dir: bool) -> bool {
    if is_dir {
        layout.dirs.contains(&name)
    } else {
        COMMON_FILES.contains(&name) || layout.files.contains(&name) || name.ends_with(".tmp")
    }
}

/// A run directory held by this process: nobody else may use it until the claim is dropped
/// (or the process ends, crash included).
#[derive(Debug)]
pub struct Claim {
    _lock: std::fs::File,
}

/// Claims `run_dir` for a run laid out as `layout`. neurona writes only into an absent or empty
/// folder, or one holding a neurona run of the same kind: a new run refuses an existing one,
/// `Force` removes the files neurona wrote (and refuses a folder holding anything else),
/// `Resume` needs an existing run. A second process on the same run is refused.
pub fn claim(run_dir: &Path, layout: &RunLayout, start: Start) -> Result<Claim> {
    let shown = run_dir.display();
    let kind = layout.kind;
    if run_dir.exists() && !run_dir.is_dir() {
        return Err(Error::Usage(format!(
            "{shown} is a file, not a run directory"
        )));
    }
    // Another kind of run is refused by its kind, before its files are judged by this one's.
    if config_path(run_dir).exists()
        && let Some(other) = recorded_kind(run_dir)
        && other != kind.name()
    {
        return Err(Error::Usage(format!(
            "{shown} holds a {other} run, not a {kind} run; choose another output.name"
        )));
    }
    let mut foreign = Vec::new();
    if run_dir.is_dir() {
        for entry in std::fs::read_dir(run_dir).map_err(Error::io(run_dir))? {
            let entry = entry.map_err(Error::io(run_dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !is_own(layout, &name, entry.path().is_dir()) {
                foreign.push(name);
            }
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(Error::Usage(format!(
            "{shown} holds files neurona did not write ({}): neurona writes runs only into an \
             empty folder or one of its own runs; choose another output.dir or output.name",
            foreign.join(", ")
        )));
    }
    std::fs::create_dir_all(run_dir).map_err(Error::io(run_dir))?;
    let lock_path = run_dir.join(LOCK_FILE);
    let lock = std::fs::File::create(&lock_path).map_err(Error::io(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::Usage(format!(
                "{shown} is in use by another neurona process; wait for it to finish"
            )));
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(Error::Io {
                path: lock_path,
                source,
            });
        }
    }
    let existing = config_path(run_dir).exists();
    match (start, existing.then_some(())) {
        (Start::New, Some(_)) => Err(Error::Usage(format!(
            "{shown} already holds a run: pass --resume to continue it or --force to start over"
        ))),
        (Start::Resume, None) => Err(Error::Usage(format!(
            "{shown} is not a run directory: it has no config.toml (train first with `neurona train <config.toml>`)"
        ))),
        (Start::Force, Some(_)) => {
            remove_own(run_dir)?;
            mark(run_dir, kind, lock)
        }
        _ => mark(run_dir, kind, lock),
    }
}

/// Removes what neurona wrote into `run_dir` (checked by [`claim`] to be all it holds), except
/// the lock.
fn remove_own(run_dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(run_dir).map_err(Error::io(run_dir))? {
        let path = entry.map_err(Error::io(run_dir))?.path();
        if path.file_name().is_some_and(|n| n == LOCK_FILE) {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(Error::io(&path))?;
    }
    Ok(())
}

/// Records the run's kind and hands out the claim.
fn mark(run_dir: &Path, kind: RunKind, lock: std::fs::File) -> Result<Claim> {
    write_atomic(&run_dir.join(KIND_FILE), format!("{kind}\n").as_bytes())?;
    Ok(Claim { _lock: lock })
}

/// What `.neurona-run` says, as written (a run from before it was written has none).
fn recorded_kind(run_dir: &Path) -> Option<String> {
    let mut kind = String::new();
    open_own(run_dir, KIND_FILE)?
        .take(64)
        .read_to_string(&mut kind)
        .ok()?;
    Some(kind.trim().to_string())
}

/// The kind of run `run_dir` holds, if it is a run of a kind this version knows.
pub fn kind(run_dir: &Path) -> Option<RunKind> {
    open_own(run_dir, "config.toml")?;
    RunKind::parse(&recorded_kind(run_dir)?)
}

/// `file` of `run_dir` opened for reading, if it is a regular file there: no symbolic link is
/// followed (a run folder from elsewhere cannot make a reader open another file), and a FIFO
/// or device is neither waited on nor read.
pub(crate) fn open_own(run_dir: &Path, file: &str) -> Option<std::fs::File> {
    crate::files::open_regular_not_linked(&run_dir.join(file))
        .ok()
        .map(|(opened, _)| opened)
}

/// Whether a process holds `run_dir` now (a training in progress): its lock is taken.
pub(crate) fn in_use(run_dir: &Path) -> bool {
    std::fs::File::open(run_dir.join(LOCK_FILE))
        .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
}

/// The text of a run's `config.toml`, or an error saying the folder is not a run directory.
pub(crate) fn read_config(run_dir: &Path) -> Result<(PathBuf, String)> {
    let path = config_path(run_dir);
    let Some(mut file) = open_own(run_dir, "config.toml") else {
        return Err(Error::Usage(format!(
            "{} is not a run directory: it has no config.toml of its own (a file, not a link; \
             train first with `neurona train <config.toml>`)",
            run_dir.display()
        )));
    };
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(Error::io(&path))?;
    Ok((path, text))
}

/// Creates `run_dir` and writes the resolved config into it, with the architecture its
/// weights are trained for (see `ExperimentFile::architecture`).
pub fn create(
    run_dir: &Path,
    config_toml: &str,
    architecture: Option<&serde_json::Value>,
) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(Error::io(run_dir))?;
    write_atomic(&config_path(run_dir), config_toml.as_bytes())?;
    match architecture {
        Some(value) => write_json(&run_dir.join(ARCHITECTURE_FILE), value),
        None => Ok(()),
    }
}

/// Refuses a run whose `config.toml` describes another network than the one its weights were
/// trained for (`architecture.json`), naming each difference. Runs written before the file
/// existed have nothing to compare with and load as before.
pub(crate) fn check_architecture(
    run_dir: &Path,
    architecture: Option<&serde_json::Value>,
) -> Result<()> {
    let (Some(now), Some(file)) = (architecture, open_own(run_dir, ARCHITECTURE_FILE)) else {
        return Ok(());
    };
    let trained: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| {
            let path = run_dir.join(ARCHITECTURE_FILE);
            Error::Data(format!("{}: {e}", path.display()))
        })?;
    let mut differences = Vec::new();
    differ("model", &trained, now, &mut differences);
    if differences.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{}'s config.toml describes another network than its weights were trained for: {}; \
         restore config.toml, or train a new run with the changed [model]",
        run_dir.display(),
        differences.join("; ")
    )))
}

/// Each place where `now` differs from `trained`, as `path: trained → now`.
fn differ(path: &str, trained: &serde_json::Value, now: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (trained, now) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let missing = Value::Null;
                let (x, y) = (
                    a.get(key).unwrap_or(&missing),
                    b.get(key).unwrap_or(&missing),
                );
                differ(&format!("{path}.{key}"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differ(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: trained with {a}, now {b}")),
        _ => {}
    }
}

/// Writes pretty JSON through a temporary file and a rename, so readers never see half a file.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

/// Reads back a JSON file of a run as `T`: a file that is not JSON, or not of that shape (a
/// field missing or of another type), is an error naming the file and the field
/// (`coefficients[3].coef`), with serde_json's line and column.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let fail = |field: String, e: serde_json::Error| {
        let at = if field == "." {
            String::new()
        } else {
            format!("at {field}: ")
        };
        Error::Data(format!(
            "{}: {at}{e} (not as neurona writes it: train the run again)",
            path.display()
        ))
    };
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut json)
        .map_err(|e| fail(e.path().to_string(), e.into_inner()))?;
    json.end().map_err(|e| fail(".".into(), e))?;
    Ok(value)
}

/// Writes `bytes` to a temporary file beside `path` (its name plus `.tmp`), then renames it
/// into place: the previous file stays whole until the new one is. A failed write (disk full,
/// `path` a folder) removes the temporary file, so it does not hold a copy of the data.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes)
        .map_err(Error::io(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(Error::io(path)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Whether `export --output path` may write there: never over a file of a run folder (only the
/// exports' own `exports` names, or a new file), never into a folder's place, and over any
/// other existing file only with `force`.
pub(crate) fn check_export_output(path: &Path, exports: &[&str], force: bool) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "--output {} is a folder: name the file to write",
            path.display()
        )));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().to_string());
    let own_export = name.as_deref().is_some_and(|n| exports.contains(&n));
    let exists = path.symlink_metadata().is_ok();
    if folder.join(KIND_FILE).is_file() && exists && !own_export {
        return Err(Error::Usage(format!(
            "--output {} is a file of the run folder {}: export does not replace a run's files \
             (only its {}); pick another --output",
            path.display(),
            folder.display(),
            exports.join(" or ")
        )));
    }
    if exists && !force {
        return Err(Error::Usage(format!(
            "--output {} exists: pass --force to replace it",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_atomic_write_leaves_the_old_file_and_no_temporary_copy() {
        let dir = std::env::temp_dir().join(format!("neurona-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("model.onnx/inside")).unwrap();
        // The temporary file is written, the rename onto a folder fails.
        assert!(write_atomic(&dir.join("model.onnx"), b"model").is_err());
        assert!(!dir.join("model.onnx.tmp").exists());
        std::fs::write(dir.join("model.bpk"), b"old").unwrap();
        write_atomic(&dir.join("model.bpk"), b"new").unwrap();
        assert_eq!(std::fs::read(dir.join("model.bpk")).unwrap(), b"new");
        assert!(!dir.join("model.tmp").exists() && !dir.join("model.bpk.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kinds_read_back_as_written_and_nothing_else_is_a_kind() {
        for kind in RunKind::ALL {
            assert_eq!(RunKind::parse(kind.name()), Some(kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(RunKind::parse("mlp"), None);
        assert_eq!(RunKind::parse(""), None);
    }

    #[test]
    fn force_may_remove_only_the_files_a_family_declares_and_the_common_ones() {
        let layout = RunLayout {
            kind: RunKind::Points,
            files: &["model.bpk", "loss.svg"],
            dirs: &["checkpoint"],
        };
        for own in [
            "config.toml",
            "metrics.json",
            ".neurona-run",
            "model.bpk",
            "x.json.tmp",
        ] {
            assert!(is_own(&layout, own, false), "{own}");
        }
        for foreign in [
            "notes.txt",
            "coefficients.json",
            "checkpoint",
            "model.bpk.bak",
        ] {
            assert!(!is_own(&layout, foreign, false), "{foreign}");
        }
        assert!(is_own(&layout, "checkpoint", true));
        assert!(
            !is_own(&layout, "model.bpk", true),
            "a folder named like a file"
        );
    }
}
