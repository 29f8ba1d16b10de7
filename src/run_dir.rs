//! The run directory `<output.dir>/<output.name>/`: where it is, the rule that an existing run is
//! only replaced on request, and atomic writes, so readers (and a crash) never see half a file.

use std::path::{Path, PathBuf};

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
    pub fn default_name(&mut self, config_path: &Path) {
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
pub fn config_path(run_dir: &Path) -> PathBuf {
    run_dir.join("config.toml")
}

/// Clears the way for a new run in `run_dir`: an existing run (one with a `config.toml`) is
/// deleted with `force`, and otherwise refused with a message naming `--resume` and `--force`.
pub fn start_fresh(run_dir: &Path, force: bool) -> Result<()> {
    if !config_path(run_dir).exists() {
        return Ok(());
    }
    if !force {
        return Err(Error::Usage(format!(
            "{} already holds a run: pass --resume to continue it or --force to start over",
            run_dir.display()
        )));
    }
    std::fs::remove_dir_all(run_dir).map_err(Error::io(run_dir))
}

/// The text of a run's `config.toml`, or an error saying the folder is not a run directory.
pub fn read_config(run_dir: &Path) -> Result<(PathBuf, String)> {
    let path = config_path(run_dir);
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{} is not a run directory: it has no config.toml (train first with `neurona train <config.toml>`)",
            run_dir.display()
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
    Ok((path, text))
}

/// Creates `run_dir` and writes the resolved config into it.
pub fn create(run_dir: &Path, config_toml: &str) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(Error::io(run_dir))?;
    write_atomic(&config_path(run_dir), config_toml.as_bytes())
}

/// Writes pretty JSON through a temporary file and a rename, so readers never see half a file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}
