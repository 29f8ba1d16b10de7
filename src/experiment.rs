//! Experiment files: one TOML document per experiment, whose top-level `task` says which model
//! family it configures. Loading is the same for every family — read, parse with unknown keys
//! rejected and errors that name the file, line and column, default the run name to the file's
//! stem, validate every value before any work starts — and so are the command line's `--seed`
//! and `--backend` overrides.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Kernels};
use crate::error::{Error, Result};
use crate::run_dir::OutputConfig;

/// What the page's runs list says of a run's model and how it trains, read from its config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Synopsis {
    /// The model in one line: `conv2d 32 3×3 → max_pool2d 2 → dense 128`, `ridge (λ 0.1)`.
    pub model: String,
    /// Weights and biases, for the families with a network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// `adam`, `sgd`, or a linear model's solver.
    pub optimizer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
}

/// What an experiment file describes; `task` at the top of the file, `image_classification` when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    #[default]
    ImageClassification,
    /// The 2-D workshop: a network on points in the plane.
    Points,
    LinearRegression,
    LogisticRegression,
}

/// The data sets of the 2-D workshop. Until December 2026 its files had no task of their own:
/// they were image-classification files (`task` absent or `"image_classification"`) naming one
/// of these sets, and they still load as the workshop's.
const POINT_SETS: [&str; 4] = ["xor", "circle", "moons", "spirals"];

impl Task {
    /// Reads only the `task` key (and, for files written before the 2-D workshop had its own
    /// task, `data.dataset`), so the file can then be parsed as the right experiment type.
    pub fn detect(text: &str, origin: &Path) -> Result<Task> {
        /// Only `task` and `data.dataset`: other keys are left for the full parse that follows,
        /// which reports them.
        #[derive(Deserialize)]
        struct OnlyTask {
            #[serde(default)]
            task: Task,
            data: Option<OnlyDataset>,
        }
        #[derive(Deserialize)]
        struct OnlyDataset {
            dataset: Option<toml::Value>,
        }
        let only: OnlyTask = parse_toml(text, origin)?;
        let dataset = only.data.and_then(|d| d.dataset);
        let names_point_set = dataset
            .as_ref()
            .and_then(toml::Value::as_str)
            .is_some_and(|name| POINT_SETS.contains(&name));
        Ok(match only.task {
            Task::ImageClassification if names_point_set => Task::Points,
            task => task,
        })
    }

    /// The task in words, for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Task::ImageClassification => "an image classification",
            Task::Points => "a 2-D workshop",
            Task::LinearRegression => "a linear regression",
            Task::LogisticRegression => "a logistic regression",
        }
    }
}

/// The largest experiment file read (a config is a page of TOML; this is a hundredfold).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads an experiment file's text, naming the file when it cannot. Only regular files of at
/// most 1 MiB are read, so `/dev/zero` or a pipe cannot make neurona read forever.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let cannot =
        |why: String| Error::Config(format!("cannot read config {}: {why}", path.display()));
    let bytes = crate::files::read_capped(path, MAX_CONFIG_BYTES).map_err(cannot)?;
    String::from_utf8(bytes).map_err(|e| cannot(e.to_string()))
}

/// The values the command line may override in any experiment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub backend: Option<BackendChoice>,
    /// The implementation of a network's layers (`--kernels`); families without a network
    /// ignore it.
    pub kernels: Option<Kernels>,
}

/// An experiment file of one model family.
pub trait ExperimentFile: Serialize + DeserializeOwned {
    /// The task this family's files describe.
    const TASK: Task;

    /// Checks every value that serde's types cannot express.
    fn validate(&self) -> Result<(), String>;

    /// The `[output]` section.
    fn output_mut(&mut self) -> &mut OutputConfig;

    /// The keys set in this file that name files or machines outside its run folder (weights
    /// to start from, data, download mirrors, device servers): what the web page may not name.
    fn named_outside(&self) -> Vec<&'static str>;

    /// The top-level `seed` and `backend`, which the command line may override.
    fn seed_and_backend(&mut self) -> (&mut u64, &mut BackendChoice);

    /// The model and its training in a few words, for the page's runs list.
    fn synopsis(&self) -> Synopsis;

    /// The network's `[training] kernels`, for the families that train one.
    fn kernels_mut(&mut self) -> Option<&mut Kernels> {
        None
    }

    /// What a run's weights were trained for: its network's `[model]` as JSON, without the keys
    /// that only choose the starting weights; `None` for the families without a network. Kept
    /// beside the run's `config.toml` (`architecture.json`), so an edited config is refused
    /// rather than given the old weights.
    fn architecture(&self) -> Option<serde_json::Value> {
        None
    }

    /// Parses TOML text; `origin` names the file in error messages.
    fn parse(text: &str, origin: &Path) -> Result<Self> {
        parse_toml(text, origin)
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

    /// The resolved config a run was trained with (`<run>/config.toml`); a run of another
    /// task is refused, naming both.
    fn load_run(run_dir: &Path) -> Result<Self> {
        let (path, text) = crate::run_dir::read_config(run_dir)?;
        let task = Task::detect(&text, &path)?;
        if task != Self::TASK {
            return Err(Error::Usage(format!(
                "{} holds {} run, not {} run",
                run_dir.display(),
                task.describe(),
                Self::TASK.describe()
            )));
        }
        let config = Self::parse(&text, &path)?;
        config
            .validate()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        crate::run_dir::check_architecture(run_dir, config.architecture().as_ref())?;
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
        if let (Some(k), Some(kernels)) = (overrides.kernels, self.kernels_mut()) {
            *kernels = k;
        }
        self
    }

    /// The resolved config as TOML, with every default written out.
    fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment config always serialises to TOML")
    }
}

/// Parses TOML text into `T`; an error names `origin`, the line and the column.
pub(crate) fn parse_toml<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::Config(describe_toml_error(&e, text, origin)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(text: &str) -> Task {
        Task::detect(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn the_task_is_read_from_the_file_and_older_workshop_files_are_recognised() {
        assert_eq!(detect(""), Task::ImageClassification);
        assert_eq!(
            detect("[data]\ndataset = \"mnist\"\n"),
            Task::ImageClassification
        );
        assert_eq!(detect("task = \"points\"\n"), Task::Points);
        assert_eq!(
            detect("task = \"linear_regression\"\n"),
            Task::LinearRegression
        );
        for set in POINT_SETS {
            let old = format!("[data]\ndataset = \"{set}\"\n");
            assert_eq!(detect(&old), Task::Points, "{set}");
            let explicit = format!("task = \"image_classification\"\n{old}");
            assert_eq!(detect(&explicit), Task::Points, "{set}");
        }
        // A regression file whose data is called like a point set stays a regression.
        let csv = "task = \"logistic_regression\"\n[data]\ndataset = \"xor\"\n";
        assert_eq!(detect(csv), Task::LogisticRegression);
        // A data set that is not a string is left for the full parse to report.
        assert_eq!(detect("[data]\ndataset = 3\n"), Task::ImageClassification);
    }

    #[test]
    fn a_toml_error_names_the_file_line_and_column_and_shows_the_line() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Small {
            seed: u64,
        }
        let error = parse_toml::<Small>("\nseed = \"x\"\n", Path::new("exp.toml")).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("exp.toml, line 2, column 8"), "{text}");
        assert!(text.contains("2 | seed = \"x\""), "{text}");
        let error = parse_toml::<Small>("seed = 1\nsede = 2\n", Path::new("e.toml")).unwrap_err();
        assert!(error.to_string().contains("line 2, column 1"), "{error}");
    }
}
