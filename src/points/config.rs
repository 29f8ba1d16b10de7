//! The experiment file of the 2-D workshop (`task = "points"`): one TOML document with
//! `[data] [model] [optimizer] [training] [output]`. `[model]` and `[optimizer]` are the
//! network's, shared with the image classifier (`crate::network::config`); `[data]` names the
//! set of points and `[training]` only the epochs and how gradients are computed — the workshop
//! trains full-batch on this machine.
//!
//! Files written before the workshop had its own task (until December 2026) are image
//! classification files naming a 2-D set; they load here, the image-only keys those versions
//! wrote into every run's `config.toml` (and which never changed a workshop run) dropped first.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::Kernels;
use crate::backend::{BackendChoice, Precision};
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Synopsis, Task};
use crate::glm::penalty::Penalty;
use crate::network::config::{Gradients, ModelConfig, OptimizerConfig, Output, Schedule};
use crate::network::layers::Shape;
use crate::run_dir::OutputConfig;

/// A 2-D workshop experiment, as read from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointsConfig {
    /// `"points"` (older files: see the module documentation).
    pub task: Task,
    /// A CPU or GPU backend of this machine (`remote` is for image sets).
    pub backend: BackendChoice,
    pub precision: Precision,
    /// Seeds weight init and the generated points.
    pub seed: u64,
    pub data: PointsData,
    pub model: ModelConfig,
    pub optimizer: OptimizerConfig,
    pub training: PointsTraining,
    pub output: OutputConfig,
}

impl Default for PointsConfig {
    fn default() -> Self {
        Self {
            task: Task::Points,
            backend: BackendChoice::Auto,
            precision: Precision::F32,
            seed: 42,
            data: PointsData::default(),
            model: ModelConfig::default(),
            optimizer: OptimizerConfig::default(),
            training: PointsTraining::default(),
            output: OutputConfig::default(),
        }
    }
}

/// Which points, how many and how noisy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointsData {
    pub dataset: PointSetName,
    /// Prepend a constant input 1 (the course's 3-4-1 network has no biases).
    pub constant_input: bool,
    /// Generated sets only: how many training points (and as many test points, drawn
    /// independently); unset, `DEFAULT_POINTS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<usize>,
    /// Generated sets only: the standard deviation of the Gaussian noise added to each
    /// coordinate (the sets span about [-1, 1]); unset, `DEFAULT_NOISE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    /// Generated sets only: how many test points; unset, as many as training points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_points: Option<usize>,
    /// What the network reads of a point, in this order (after the constant input); unset,
    /// `["x1", "x2"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<Feature>>,
}

/// A function of a point `(x1, x2)` the network may read, as TensorFlow Playground offers them.
/// The sines are of `π·x`: the sets span about `[-1, 1]`, where `sin x` would be nearly `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Feature {
    #[serde(rename = "x1")]
    X1,
    #[serde(rename = "x2")]
    X2,
    #[serde(rename = "x1^2")]
    X1Squared,
    #[serde(rename = "x2^2")]
    X2Squared,
    #[serde(rename = "x1*x2")]
    X1TimesX2,
    #[serde(rename = "sin(pi*x1)")]
    SinX1,
    #[serde(rename = "sin(pi*x2)")]
    SinX2,
}

impl Feature {
    /// The two coordinates, what a network reads unless told otherwise.
    pub const PLAIN: [Feature; 2] = [Feature::X1, Feature::X2];

    /// Its value at `[x1, x2]`.
    pub fn of(self, [x1, x2]: [f64; 2]) -> f64 {
        use std::f64::consts::PI;
        match self {
            Self::X1 => x1,
            Self::X2 => x2,
            Self::X1Squared => x1 * x1,
            Self::X2Squared => x2 * x2,
            Self::X1TimesX2 => x1 * x2,
            Self::SinX1 => (PI * x1).sin(),
            Self::SinX2 => (PI * x2).sin(),
        }
    }

    /// Its name as the config writes it.
    pub fn name(self) -> String {
        crate::glm::penalty::serde_name(&self)
    }
}

impl Default for PointsData {
    fn default() -> Self {
        Self {
            dataset: PointSetName::Xor,
            constant_input: false,
            points: None,
            noise: None,
            test_points: None,
            features: None,
        }
    }
}

/// Training points of a generated set when `data.points` is unset.
pub(crate) const DEFAULT_POINTS: usize = 200;
/// Noise of a generated set when `data.noise` is unset.
pub(crate) const DEFAULT_NOISE: f64 = 0.05;
/// The most points a generated set may have: the workshop trains full-batch.
pub(crate) const MAX_POINTS: usize = 100_000;

/// The sets of points (drawn in [`super::data`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointSetName {
    /// The four points of the XOR truth table.
    Xor,
    /// A disc inside a ring.
    Circle,
    /// scikit-learn's two moons.
    Moons,
    /// Two interleaved spirals.
    Spirals,
    /// Two Gaussian blobs.
    Blobs,
}

impl PointSetName {
    /// The sets drawn from a seed (XOR's four points are fixed).
    pub(crate) fn is_generated(self) -> bool {
        self != Self::Xor
    }

    /// The name as written in the config.
    pub(crate) fn slug(self) -> &'static str {
        match self {
            Self::Xor => "xor",
            Self::Circle => "circle",
            Self::Moons => "moons",
            Self::Spirals => "spirals",
            Self::Blobs => "blobs",
        }
    }
}

/// How long and how the workshop trains: full-batch, one step per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointsTraining {
    /// `"autodiff"` or `"manual"` (the course's explicit back-propagation).
    pub gradients: Gradients,
    /// `"fused"`: the fused CPU kernels where they apply (flex, f32), Burn's generic operations
    /// elsewhere; `"generic"`: Burn's operations everywhere (see `network::layers::kernels`).
    pub kernels: Kernels,
    /// At most this many epochs; training stops once every training point is right and the
    /// loss is low (see `points::TARGET_LOSS`).
    pub epochs: usize,
    /// Points per optimizer step, the training points shuffled each epoch; unset, all of them
    /// (one step an epoch). A file without `task = "points"` is read as the versions before it
    /// wrote it, which ignored this key: there it is dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// A penalty on the weights (never the biases) added to the mean cross-entropy:
    /// `+ λ·Σ|w|` (`"l1"`), `+ (λ/2)·Σw²` (`"l2"`), `+ λ·(ρ·Σ|w| + (1−ρ)/2·Σw²)`
    /// (`"elasticnet"`), as the linear and logistic families write it.
    pub penalty: Penalty,
    /// The penalty's strength `λ`.
    pub lambda: f64,
    /// ElasticNet's L1 share `ρ`.
    pub l1_ratio: f64,
}

impl Default for PointsTraining {
    fn default() -> Self {
        Self {
            gradients: Gradients::Autodiff,
            kernels: Kernels::Fused,
            epochs: 10,
            batch_size: None,
            penalty: Penalty::None,
            lambda: 0.0,
            l1_ratio: 0.5,
        }
    }
}

/// Keys that image-classification versions wrote into every run's `config.toml`, workshop runs
/// included, and that never changed a workshop run: dropped from an older file before it is read.
const LEGACY_IMAGE_KEYS: [(&str, &[&str]); 2] = [
    (
        "data",
        &[
            "dir",
            "mirrors",
            "validation_fraction",
            "train_limit",
            "test_limit",
            "standardize",
            "mean",
            "std",
        ],
    ),
    ("training", &["batch_size", "data_path"]),
];

/// Keys of image classification files that a workshop file of those versions was refused for,
/// and why: they still are, with the reason rather than as unknown keys.
const LEGACY_REFUSED: [(Option<&str>, &str, &str); 3] = [
    (
        Some("training"),
        "devices",
        "the 2-D workshop trains on this machine: training.devices is for image sets",
    ),
    (
        None,
        "remote",
        "the 2-D workshop trains on this machine: [remote] is for image sets",
    ),
    (
        Some("training"),
        "early_stopping_patience",
        "the 2-D workshop stops when every training point is right; it has no validation loss \
         for training.early_stopping_patience",
    ),
];

impl ExperimentFile for PointsConfig {
    const TASK: Task = Task::Points;

    fn synopsis(&self) -> Synopsis {
        self.model.synopsis(self.input_shape(), 2, &self.optimizer)
    }

    /// A file saying `task = "points"` is parsed as it stands; an older one (see the module
    /// documentation) without the image-only keys its version wrote.
    fn parse(text: &str, origin: &Path) -> Result<Self> {
        let mut table: toml::Table = crate::experiment::parse_toml(text, origin)?;
        if table.get("task").and_then(toml::Value::as_str) == Some("points") {
            return crate::experiment::parse_toml(text, origin);
        }
        for (section, key, why) in LEGACY_REFUSED {
            let named = match section {
                Some(section) => table
                    .get(section)
                    .and_then(toml::Value::as_table)
                    .is_some_and(|t| t.contains_key(key)),
                None => table.contains_key(key),
            };
            if named {
                return Err(Error::Config(format!("{}: {why}", origin.display())));
            }
        }
        table.insert("task".into(), "points".into());
        for (section, keys) in LEGACY_IMAGE_KEYS {
            if let Some(toml::Value::Table(section)) = table.get_mut(section) {
                for key in keys {
                    section.remove(*key);
                }
            }
        }
        Self::deserialize(toml::Value::Table(table)).map_err(|e| {
            Error::Config(format!(
                "invalid config {} (a 2-D workshop file from before task = \"points\"): {}",
                origin.display(),
                e.message().trim_end()
            ))
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.task != Task::Points {
            return Err(format!("task {:?} is not the 2-D workshop", self.task));
        }
        self.data.validate()?;
        self.model.validate()?;
        self.optimizer.validate()?;
        crate::network::config::check_epochs(self.training.epochs)?;
        self.training.validate()?;
        self.check_combinations()?;
        self.output.validate()
    }

    fn output_mut(&mut self) -> &mut OutputConfig {
        &mut self.output
    }

    /// None: the points are built in, and weights to start from are refused.
    fn named_outside(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn kernels_mut(&mut self) -> Option<&mut Kernels> {
        Some(&mut self.training.kernels)
    }

    fn architecture(&self) -> Option<serde_json::Value> {
        Some(self.model.architecture())
    }

    fn seed_and_backend(&mut self) -> (&mut u64, &mut BackendChoice) {
        (&mut self.seed, &mut self.backend)
    }
}

impl PointsConfig {
    /// Checks the keys that depend on each other: the output layer, what the workshop does not
    /// use, the stack against the inputs, manual gradients against the layer kinds.
    fn check_combinations(&self) -> Result<(), String> {
        if !self.data.dataset.is_generated()
            && (self.data.points.is_some()
                || self.data.noise.is_some()
                || self.data.test_points.is_some())
        {
            return Err(
                "data.points, data.test_points and data.noise apply to the generated 2-D sets \
                 (\"circle\", \"moons\", \"spirals\", \"blobs\"), not to \"xor\""
                    .into(),
            );
        }
        if self.model.output != Output::Sigmoid {
            return Err(
                "the 2-D workshop needs model.output = \"sigmoid\" (one output unit: two classes)"
                    .into(),
            );
        }
        if self.backend == BackendChoice::Remote {
            return Err(
                "the 2-D workshop trains on this machine: backend \"remote\" is for image sets"
                    .into(),
            );
        }
        if self.model.init_from.is_some() {
            return Err("model.init_from applies to image classification runs".into());
        }
        if self.optimizer.schedule != Schedule::Constant {
            return Err(
                "the 2-D workshop trains with a constant learning rate: set \
                 optimizer.schedule = \"constant\""
                    .into(),
            );
        }
        self.model.shapes(self.input_shape())?;
        self.model.check_gradients(self.training.gradients)?;
        Ok(())
    }

    /// What the network reads: the constant input if asked for, then the point's features.
    pub fn input_shape(&self) -> Shape {
        Shape::Flat(usize::from(self.data.constant_input) + self.data.features().len())
    }

    /// The run directory: `<output.dir>/<output.name>`.
    pub fn run_dir(&self) -> std::path::PathBuf {
        self.output.run_dir()
    }
}

impl PointsData {
    /// A generated set's training and test point counts, the defaults filled in: `points`
    /// (unset, [`DEFAULT_POINTS`]) and `test_points` (unset, as many).
    pub fn counts(&self) -> (usize, usize) {
        let points = self.points.unwrap_or(DEFAULT_POINTS);
        (points, self.test_points.unwrap_or(points))
    }

    /// The features the network reads (see [`PointsData::features`]).
    pub fn features(&self) -> &[Feature] {
        self.features.as_deref().unwrap_or(&Feature::PLAIN)
    }

    fn validate(&self) -> Result<(), String> {
        for (key, count) in [("points", self.points), ("test_points", self.test_points)] {
            if let Some(count) = count
                && !(2..=MAX_POINTS).contains(&count)
            {
                return Err(format!(
                    "data.{key} must be between 2 and {MAX_POINTS} (the 2-D workshop keeps its \
                     points in memory), got {count}"
                ));
            }
        }
        if let Some(features) = &self.features {
            if features.is_empty() {
                return Err(
                    "data.features names none: give at least one, e.g. [\"x1\", \"x2\"]".into(),
                );
            }
            if let Some(twice) = features
                .iter()
                .enumerate()
                .find_map(|(i, f)| features[..i].contains(f).then_some(f))
            {
                return Err(format!("data.features names {:?} twice", twice.name()));
            }
        }
        if let Some(noise) = self.noise
            && !(noise.is_finite() && (0.0..=1.0).contains(&noise))
        {
            return Err(format!(
                "data.noise must be in [0, 1] (the sets span about [-1, 1]), got {noise}"
            ));
        }
        Ok(())
    }
}

impl PointsTraining {
    /// The points of one optimizer step out of `count` training points: `batch_size`, at most
    /// all of them (unset: all).
    pub fn batch_of(&self, count: usize) -> usize {
        self.batch_size.unwrap_or(count).clamp(1, count.max(1))
    }

    fn validate(&self) -> Result<(), String> {
        if self.batch_size == Some(0) {
            return Err(
                "training.batch_size must be at least 1 (unset: all the training points)".into(),
            );
        }
        crate::glm::penalty::check("training", self.lambda, self.l1_ratio)
    }
}
