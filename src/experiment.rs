//! Experiment files: one TOML document per experiment, whose top-level `task` says which model
//! family it configures. Loading is the same for every family — read, parse with unknown keys
//! rejected and errors that name the file, line and column, default the run name to the file's
//! stem, validate every value before any work starts — and so are the command line's `--seed`
//! and `--backend` overrides.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::BackendChoice;
use crate::error::{Error, Result};
use crate::run_dir::OutputConfig;

/// What an experiment file describes; `task` at the top of the file, `image_classification` when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    #[default]
    ImageClassification,
    LinearRegression,
    LogisticRegression,
}

impl Task {
    /// Reads only the `task` key, so the file can then be parsed as the right experiment type.
    pub fn detect(text: &str, origin: &Path) -> Result<Task> {
        /// Only `task`: other keys are left for the full parse that follows, which reports them.
        #[derive(Deserialize)]
        struct OnlyTask {
            #[serde(default)]
            task: Task,
        }
        let only: OnlyTask = toml::from_str(text)
            .map_err(|e| Error::Config(describe_toml_error(&e, text, origin)))?;
        Ok(only.task)
    }
}

/// The largest experiment file read (a config is a page of TOML; this is a hundredfold).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads an experiment file's text, naming the file when it cannot. Only regular files of at
/// most 1 MiB are read, so `/dev/zero` or a pipe cannot make neurona read forever.
pub fn read_text(path: &Path) -> Result<String> {
    let cannot =
        |why: String| Error::Config(format!("cannot read config {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| cannot(e.to_string()))?;
    if !meta.is_file() {
        return Err(cannot("not a regular file".into()));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(cannot(format!(
            "{} bytes is not an experiment file (at most {MAX_CONFIG_BYTES})",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| cannot(e.to_string()))
}

/// The values the command line may override in any experiment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub backend: Option<BackendChoice>,
}

/// An experiment file of one model family.
pub trait ExperimentFile: Serialize + DeserializeOwned {
    /// Checks every value that serde's types cannot express.
    fn validate(&self) -> Result<(), String>;

    /// The `[output]` section.
    fn output_mut(&mut self) -> &mut OutputConfig;

    /// The top-level `seed` and `backend`, which the command line may override.
    fn seed_and_backend(&mut self) -> (&mut u64, &mut BackendChoice);

    /// Parses TOML text; `origin` names the file in error messages.
    fn parse(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config(describe_toml_error(&e, text, origin)))
    }

    /// Reads, parses and validates an experiment file. The run name defaults to the file's stem.
    fn load(path: &Path) -> Result<Self> {
        Self::checked(&read_text(path)?, path)
    }

    /// Parses and validates the text of an experiment file named `origin` (which names it in
    /// messages and gives the run its default name).
    fn checked(text: &str, origin: &Path) -> Result<Self> {
        let mut config = Self::parse(text, origin)?;
        config.output_mut().default_name(origin);
        config
            .validate()
            .map_err(|e| Error::Config(format!("{}: {e}", origin.display())))?;
        Ok(config)
    }

    /// Applies the command line's overrides.
    fn overridden(mut self, overrides: Overrides) -> Self {
        let (seed, backend) = self.seed_and_backend();
        if let Some(s) = overrides.seed {
            *seed = s;
        }
        if let Some(b) = overrides.backend {
            *backend = b;
        }
        self
    }

    /// The resolved config as TOML, with every default written out.
    fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment config always serialises to TOML")
    }
}

/// `file:line:column: message`, followed by the offending line so the key is visible.
fn describe_toml_error(error: &toml::de::Error, text: &str, origin: &Path) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            let source_line = text.lines().nth(line - 1).unwrap_or("").trim_end();
            format!(
                "invalid config {}, line {line}, column {column}: {message}\n    {line} | {source_line}",
                origin.display()
            )
        }
        None => format!("invalid config {}: {message}", origin.display()),
    }
}
