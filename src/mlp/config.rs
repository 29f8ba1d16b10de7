//! The experiment file of an image classification (or XOR) run: one TOML document with
//! `[data] [model] [optimizer] [training] [output]`.
//!
//! Every field has a default (see `configs/mnist.toml`, where each is written out and commented),
//! unknown keys are rejected, and errors name the file, the line and the offending key or value.
//! [`MlpConfig::validate`] checks the values before any work starts, so a bad learning rate fails
//! in milliseconds rather than after loading data.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Task};
use crate::run_dir::OutputConfig;

/// An MNIST-format image classification experiment, as read from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Always `"image_classification"` for this kind of experiment.
    pub task: Task,
    /// `"auto" | "flex" | "ndarray" | "wgpu" | "cuda"`; `auto` picks the first compiled-in CPU backend.
    pub backend: BackendChoice,
    /// `"f32" | "f64"`: the float type of every tensor.
    pub precision: Precision,
    /// Seeds weight init, the validation split and batch shuffling.
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optimizer: OptimizerConfig,
    pub training: TrainingConfig,
    pub output: OutputConfig,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            task: Task::ImageClassification,
            backend: BackendChoice::Auto,
            precision: Precision::F32,
            seed: 42,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            optimizer: OptimizerConfig::default(),
            training: TrainingConfig::default(),
            output: OutputConfig::default(),
        }
    }
}

/// Which MNIST-format data set and how to prepare it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub dataset: DatasetName,
    /// Folder holding (or receiving) the four IDX files. Unset: `$NEURONA_DATA/<dataset>`, else the
    /// user cache folder; Fashion-MNIST is first looked for in Debian's `/usr/share/datasets`.
    pub dir: Option<PathBuf>,
    /// Download mirrors tried in order; unset means the data set's public mirrors.
    pub mirrors: Option<Vec<String>>,
    /// Share of the training images held out for validation (seeded, disjoint from the test set).
    pub validation_fraction: f64,
    /// Use only the first N training images (before the split): quick experiments and tests.
    pub train_limit: Option<usize>,
    /// Use only the first N test images.
    pub test_limit: Option<usize>,
    /// Standardise pixels after scaling to [0,1]: `(x - mean) / std`.
    pub standardize: bool,
    /// Mean and std used by `standardize`; computed on the training split when unset and written
    /// into the run's `config.toml` so evaluation and prediction use the same values.
    pub mean: Option<f64>,
    pub std: Option<f64>,
    /// XOR only: prepend a constant input 1 (the course's 3-4-1 network has no biases).
    pub constant_input: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetName::Mnist,
            dir: None,
            mirrors: None,
            validation_fraction: 0.1,
            train_limit: None,
            test_limit: None,
            standardize: false,
            mean: None,
            std: None,
            constant_input: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Mnist,
    FashionMnist,
    /// The four points of the XOR truth table (trained full-batch; see `neurona::xor`).
    Xor,
}

/// The multi-layer perceptron: `784 → hidden… → 10`, softmax output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Width of each hidden layer; `[]` gives softmax regression.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Slope for negative inputs of `leaky_relu`.
    pub leaky_slope: f64,
    pub init: Init,
    /// Half-width `ε` of `small_uniform`'s `U(-ε, ε)`.
    pub init_scale: f64,
    /// Give every layer a bias (false: the course's XOR network, with a constant input instead).
    pub bias: bool,
    /// The output layer and its loss.
    pub output: Output,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            hidden: vec![512],
            activation: Activation::Relu,
            leaky_slope: 0.01,
            init: Init::He,
            init_scale: 0.12,
            bias: true,
            output: Output::Softmax,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Tanh,
    Relu,
    Sigmoid,
    LeakyRelu,
}

/// Weight initialisation; biases always start at zero (the course's advice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Glorot/Xavier uniform: suits tanh and sigmoid.
    Xavier,
    /// He/Kaiming normal: suits relu and leaky relu.
    He,
    /// `U(-init_scale, init_scale)`: the course's "random and small".
    SmallUniform,
    /// All weights zero: shows why initialisation must break the symmetry (hidden units stay identical).
    Zeros,
}

/// The output layer: its activation and the loss it is trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// One unit per class, softmax, cross-entropy.
    Softmax,
    /// One unit, sigmoid, binary cross-entropy (two classes).
    Sigmoid,
    /// Linear units, half the mean squared error (regression).
    Linear,
}

/// How the training step gets its gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gradients {
    /// Burn's reverse-mode automatic differentiation.
    Autodiff,
    /// The course's explicit back-propagation formulas (`neurona::backprop`).
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `"adam" | "sgd"`.
    pub kind: OptimizerKind,
    pub learning_rate: f64,
    /// `"constant"`, or `"cosine"`: anneal from `learning_rate` to `min_learning_rate` along a
    /// half cosine over all training steps.
    pub schedule: Schedule,
    pub min_learning_rate: f64,
    /// L2 weight decay added to the gradient (0 = none).
    pub weight_decay: f64,
    /// SGD momentum (0 = plain gradient descent).
    pub momentum: f64,
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            min_learning_rate: 0.0,
            weight_decay: 0.0,
            momentum: 0.0,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// `"autodiff"` or `"manual"` (explicit back-propagation); both feed the same optimizer step.
    pub gradients: Gradients,
    pub epochs: usize,
    pub batch_size: usize,
    /// Stop when validation loss has not improved for this many epochs (unset = never).
    pub early_stopping_patience: Option<usize>,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            gradients: Gradients::Autodiff,
            epochs: 10,
            batch_size: 128,
            early_stopping_patience: None,
        }
    }
}

impl ExperimentFile for MlpConfig {
    fn validate(&self) -> Result<(), String> {
        if self.task != Task::ImageClassification {
            return Err(format!(
                "task {:?} is not an image classification experiment",
                self.task
            ));
        }
        self.data.validate()?;
        self.model.validate()?;
        self.optimizer.validate()?;
        self.training.validate()?;
        self.check_combinations()?;
        self.output.validate()
    }

    fn output_mut(&mut self) -> &mut OutputConfig {
        &mut self.output
    }

    fn seed_and_backend(&mut self) -> (&mut u64, &mut BackendChoice) {
        (&mut self.seed, &mut self.backend)
    }
}

impl MlpConfig {
    /// Checks the keys that depend on each other: the output layer against the data, the keys
    /// that only the XOR workshop or only image runs use, early stopping against validation.
    fn check_combinations(&self) -> Result<(), String> {
        match (self.is_xor(), self.model.output) {
            (true, Output::Sigmoid) | (false, Output::Softmax) => {}
            (true, _) => {
                return Err(
                    "the XOR workshop needs model.output = \"sigmoid\" (one output unit)".into(),
                );
            }
            (false, other) => {
                return Err(format!(
                    "model.output = \"{}\" does not fit 10 classes: image classification needs \
                     \"softmax\" (\"sigmoid\" is for two classes, \"linear\" for regression)",
                    format!("{other:?}").to_lowercase()
                ));
            }
        }
        if self.is_xor() && self.optimizer.schedule != Schedule::Constant {
            return Err(
                "the XOR workshop trains with a constant learning rate: set \
                 optimizer.schedule = \"constant\""
                    .into(),
            );
        }
        if self.is_xor() && self.training.early_stopping_patience.is_some() {
            return Err(
                "the XOR workshop stops when all four points are right; it has no validation \
                 loss for training.early_stopping_patience"
                    .into(),
            );
        }
        if !self.is_xor() && self.data.constant_input {
            return Err(
                "data.constant_input applies to the XOR workshop (dataset = \"xor\")".into(),
            );
        }
        if self.training.early_stopping_patience.is_some() && self.data.validation_fraction == 0.0 {
            return Err(
                "training.early_stopping_patience watches the validation loss: it needs \
                 data.validation_fraction > 0"
                    .into(),
            );
        }
        Ok(())
    }

    /// The resolved config a run was trained with (`<run>/config.toml`).
    pub fn load_run(run_dir: &Path) -> Result<Self> {
        let (path, text) = crate::run_dir::read_config(run_dir)?;
        let task = Task::detect(&text, &path)?;
        if task != Task::ImageClassification {
            return Err(Error::Usage(format!(
                "{} holds a {task:?} run: its results are in coefficients.json and metrics.json \
                 (eval and predict serve image classification runs)",
                run_dir.display()
            )));
        }
        let config = Self::parse(&text, &path)?;
        config
            .validate()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(config)
    }

    /// The run directory: `<output.dir>/<output.name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.output.run_dir()
    }

    /// Whether this is the XOR workshop rather than an image data set.
    pub fn is_xor(&self) -> bool {
        self.data.dataset == DatasetName::Xor
    }
}

impl DataConfig {
    fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return Err(format!(
                "data.validation_fraction must be in [0, 1), got {}",
                self.validation_fraction
            ));
        }
        if self.train_limit == Some(0) || self.test_limit == Some(0) {
            return Err("data.train_limit and data.test_limit must be at least 1".into());
        }
        if let Some(std) = self.std
            && !(std.is_finite() && std > 0.0)
        {
            return Err(format!("data.std must be a positive number, got {std}"));
        }
        if let Some(mean) = self.mean
            && !mean.is_finite()
        {
            return Err(format!("data.mean must be finite, got {mean}"));
        }
        Ok(())
    }
}

impl ModelConfig {
    /// Weights and biases of the network for `inputs` inputs and `outputs` output units.
    pub fn parameter_count(&self, inputs: usize, outputs: usize) -> u128 {
        let mut widths = vec![inputs as u128];
        widths.extend(self.hidden.iter().map(|&w| w as u128));
        widths.push(outputs as u128);
        let bias = u128::from(self.bias);
        widths.windows(2).map(|w| w[0] * w[1] + bias * w[1]).sum()
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(format!(
                "model.hidden[{i}] is 0: every hidden layer needs at least one unit"
            ));
        }
        if !(self.leaky_slope.is_finite() && self.leaky_slope >= 0.0) {
            return Err(format!(
                "model.leaky_slope must be ≥ 0, got {}",
                self.leaky_slope
            ));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(format!(
                "model.init_scale must be > 0, got {}",
                self.init_scale
            ));
        }
        Ok(())
    }
}

impl OptimizerConfig {
    fn validate(&self) -> Result<(), String> {
        positive("optimizer.learning_rate", self.learning_rate)?;
        positive("optimizer.epsilon", self.epsilon)?;
        if self.schedule == Schedule::Cosine {
            // Burn's cosine scheduler takes rates in (0, 1].
            if self.learning_rate > 1.0 {
                return Err(format!(
                    "optimizer.learning_rate must be at most 1 with schedule = \"cosine\", got {}",
                    self.learning_rate
                ));
            }
            if !(0.0..=self.learning_rate).contains(&self.min_learning_rate) {
                return Err(format!(
                    "optimizer.min_learning_rate must be in [0, learning_rate], got {}",
                    self.min_learning_rate
                ));
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "optimizer.weight_decay must be ≥ 0, got {}",
                self.weight_decay
            ));
        }
        for (key, v) in [
            ("momentum", self.momentum),
            ("beta_1", self.beta_1),
            ("beta_2", self.beta_2),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(format!("optimizer.{key} must be in [0, 1), got {v}"));
            }
        }
        Ok(())
    }
}

/// More epochs than this can only be a mistake (the XOR network needs thousands at most).
pub const MAX_EPOCHS: usize = 1_000_000;

impl TrainingConfig {
    fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(format!(
                "training.epochs must be in 1..={MAX_EPOCHS}, got {}",
                self.epochs
            ));
        }
        if self.batch_size == 0 {
            return Err("training.batch_size must be at least 1".into());
        }
        if self.early_stopping_patience == Some(0) {
            return Err(
                "training.early_stopping_patience must be at least 1 (omit it to disable)".into(),
            );
        }
        Ok(())
    }
}

fn positive(key: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!("{key} must be a positive number, got {value}"))
    }
}
