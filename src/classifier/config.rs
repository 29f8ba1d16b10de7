//! The experiment file of an image classification run (or of the 2-D workshop: XOR, circle,
//! moons, spirals): one TOML document with
//! `[data] [model] [optimizer] [training] [output]`.
//!
//! Every field has a default (see `configs/mnist.toml`, where each is written out and commented),
//! unknown keys are rejected, and errors name the file, the line and the offending key or value.
//! [`MlpConfig::validate`] checks the values before any work starts, so a bad learning rate fails
//! in milliseconds rather than after loading data.

use std::path::{Path, PathBuf};

use burn::nn::Initializer;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::devices::RemoteConfig;
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Task};
use crate::run_dir::OutputConfig;

pub use super::layers::Activation;
use super::layers::dense::Dense;
use super::layers::{self, Defaults, IMAGE, LayerConfig, Shape};

/// An MNIST-format image classification experiment, as read from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Always `"image_classification"` for this kind of experiment.
    pub task: Task,
    /// `"auto" | "flex" | "ndarray" | "wgpu" | "cuda"`; `auto` picks a compiled-in GPU backend that
    /// answers, else the first compiled-in CPU one.
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
    /// `[remote]`: the device servers of `backend = "remote"` (image experiments).
    #[serde(skip_serializing_if = "is_default")]
    pub remote: RemoteConfig,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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
            remote: RemoteConfig::default(),
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
    /// 2-D sets only: prepend a constant input 1 (the course's 3-4-1 network has no biases).
    pub constant_input: bool,
    /// Generated 2-D sets only: how many training points (and as many test points, drawn
    /// independently); unset, [`DEFAULT_POINTS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<usize>,
    /// Generated 2-D sets only: the standard deviation of the Gaussian noise added to each
    /// coordinate (the sets span about [-1, 1]); unset, [`DEFAULT_NOISE`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
}

/// Training points of a generated 2-D set when `data.points` is unset.
pub const DEFAULT_POINTS: usize = 200;
/// Noise of a generated 2-D set when `data.noise` is unset.
pub const DEFAULT_NOISE: f64 = 0.05;
/// The most points a generated set may have: the workshop trains full-batch.
pub const MAX_POINTS: usize = 100_000;

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
            points: None,
            noise: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Mnist,
    FashionMnist,
    /// The four points of the XOR truth table (trained full-batch; see `classifier::points`).
    Xor,
    /// Generated 2-D sets (`classifier::data::points`): a disc inside a ring, scikit-learn's two moons,
    /// two interleaved spirals.
    Circle,
    Moons,
    Spirals,
}

impl DatasetName {
    /// The 2-D sets drawn from a seed (XOR's four points are fixed).
    pub fn is_generated(self) -> bool {
        matches!(self, Self::Circle | Self::Moons | Self::Spirals)
    }
}

/// The network: `inputs → layers… → output layer`. The layers are either the `hidden` shorthand
/// (dense layers of the given widths, all with `activation`) or a `[[model.layers]]` stack of
/// any kind (see [`layers`]); unset, one dense layer of 512.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Width of each hidden dense layer; `[]` gives softmax regression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// The activation of every dense and conv2d layer that names none.
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
    /// The layer stack, from the input up (instead of `hidden`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerConfig>,
    /// Start a new run from weights trained elsewhere instead of the random init: a
    /// `.safetensors` or `.pt`/`.pth` file with the tensors the equivalent PyTorch module has
    /// (`neurona export` writes them; see `classifier::pytorch_layout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

/// Whether `path` names a PyTorch-layout weights file (`.safetensors`, `.pt`, `.pth`) rather
/// than a burnpack checkpoint.
pub fn is_pytorch_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("safetensors" | "pt" | "pth")
    )
}

/// The hidden widths when neither `hidden` nor `layers` is given.
const DEFAULT_HIDDEN: [usize; 1] = [512];

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            hidden: None,
            activation: Activation::Relu,
            leaky_slope: 0.01,
            init: Init::He,
            init_scale: 0.12,
            bias: true,
            output: Output::Softmax,
            layers: Vec::new(),
            init_from: None,
        }
    }
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
    /// Train data-parallel on these devices (see `crate::devices` for how they are written):
    /// each step runs one batch per device and sums the gradients on the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<String>>,
    /// How batches reach the device.
    pub data_path: DataPath,
}

/// How the images of a batch reach the device it trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataPath {
    /// `resident` on GPUs and remote devices, `streamed` on this machine's CPU.
    Auto,
    /// The image set is copied to each device once; batches are gathered there from their row
    /// indices (one small copy per batch).
    Resident,
    /// Each batch is gathered on the host and copied to the device (no device memory for the
    /// data set).
    Streamed,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            gradients: Gradients::Autodiff,
            epochs: 10,
            batch_size: 128,
            early_stopping_patience: None,
            devices: None,
            data_path: DataPath::Auto,
        }
    }
}

impl MlpConfig {
    /// The device a trained run is evaluated or used on: `backend` if given (`--backend`), else
    /// the run's own (for `remote`, the first of its device servers).
    pub fn device(&self, backend: Option<BackendChoice>) -> Result<burn::prelude::Device> {
        // Only the first server is used, so only it is connected.
        let first = RemoteConfig {
            hosts: self.remote.hosts.iter().take(1).cloned().collect(),
            ..self.remote.clone()
        };
        let placement = crate::devices::Placement::open(
            backend.unwrap_or(self.backend),
            None,
            &first,
            self.precision,
        )?;
        Ok(placement.main().clone())
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
        self.remote.validate()?;
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
        if !self.data.dataset.is_generated()
            && (self.data.points.is_some() || self.data.noise.is_some())
        {
            return Err(format!(
                "data.points and data.noise apply to the generated 2-D sets (\"circle\", \
                 \"moons\", \"spirals\"), not to \"{}\"",
                self.data.dataset.slug()
            ));
        }
        match (self.is_points(), self.model.output) {
            (true, Output::Sigmoid) | (false, Output::Softmax) => {}
            (true, _) => {
                return Err(
                    "the 2-D workshop (xor, circle, moons, spirals) needs model.output = \"sigmoid\" \
                     (one output unit: two classes)"
                        .into(),
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
        if self.is_points()
            && (self.backend == BackendChoice::Remote || self.training.devices.is_some())
        {
            return Err(
                "the 2-D workshop trains on this machine: backend \"remote\" and \
                 training.devices are for image sets"
                    .into(),
            );
        }
        crate::devices::plan(self.backend, self.training.devices.as_deref(), &self.remote)?;
        if self.is_points() && self.model.init_from.is_some() {
            return Err("model.init_from applies to image classification runs".into());
        }
        if self.is_points() && self.optimizer.schedule != Schedule::Constant {
            return Err(
                "the 2-D workshop trains with a constant learning rate: set \
                 optimizer.schedule = \"constant\""
                    .into(),
            );
        }
        if self.is_points() && self.training.early_stopping_patience.is_some() {
            return Err(
                "the 2-D workshop stops when every training point is right; it has no \
                 validation loss for training.early_stopping_patience"
                    .into(),
            );
        }
        if !self.is_points() && self.data.constant_input {
            return Err(
                "data.constant_input applies to the 2-D sets (dataset = \"xor\", \"circle\", \
                 \"moons\", \"spirals\")"
                    .into(),
            );
        }
        self.model.shapes(self.input_shape())?;
        if self.training.gradients == Gradients::Manual && !self.model.is_dense_stack() {
            return Err(
                "training.gradients = \"manual\" is the dense network's explicit \
                 back-propagation: other layer kinds (and maxout) train with \"autodiff\""
                    .into(),
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
                "{} holds a {task:?} run, not a network: `neurona eval` and `neurona predict \
                 --csv FILE` serve it",
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

    /// What the network reads: a 28×28 grey image, or a point's two coordinates (three with the
    /// constant input).
    pub fn input_shape(&self) -> Shape {
        if self.is_points() {
            Shape::Flat(2 + usize::from(self.data.constant_input))
        } else {
            IMAGE
        }
    }

    /// Whether this is the 2-D workshop (XOR or a generated set) rather than an image data set.
    pub fn is_points(&self) -> bool {
        self.data.dataset == DatasetName::Xor || self.data.dataset.is_generated()
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
        if let Some(points) = self.points
            && !(2..=MAX_POINTS).contains(&points)
        {
            return Err(format!(
                "data.points must be between 2 and {MAX_POINTS} (the 2-D workshop trains \
                 full-batch), got {points}"
            ));
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

impl ModelConfig {
    /// The layer stack: `layers`, or the `hidden` shorthand as dense layers.
    pub fn stack(&self) -> Vec<LayerConfig> {
        if !self.layers.is_empty() {
            return self.layers.clone();
        }
        self.hidden
            .as_deref()
            .unwrap_or(&DEFAULT_HIDDEN)
            .iter()
            .map(|&units| LayerConfig::Dense(Dense::of(units)))
            .collect()
    }

    /// What every layer shares: the default activation, leaky slope, weight init and biases.
    pub fn defaults(&self) -> Defaults {
        Defaults {
            activation: self.activation,
            leaky_slope: self.leaky_slope,
            initializer: self.initializer(),
            bias: self.bias,
        }
    }

    fn initializer(&self) -> Initializer {
        match self.init {
            Init::Xavier => Initializer::XavierUniform { gain: 1.0 },
            Init::He => Initializer::KaimingNormal {
                gain: std::f64::consts::SQRT_2,
                fan_out_only: false,
            },
            Init::SmallUniform => Initializer::Uniform {
                min: -self.init_scale,
                max: self.init_scale,
            },
            Init::Zeros => Initializer::Zeros,
        }
    }

    /// The shapes after each layer for `input`; an error names the layer that does not fit.
    pub fn shapes(&self, input: Shape) -> Result<Vec<Shape>, String> {
        layers::shapes(&self.stack(), input, &self.defaults())
    }

    /// The stack in one line, for messages: `conv2d 32 3×3 → max_pool2d 2 → dense 128`.
    pub fn describe(&self) -> String {
        let stack = self.stack();
        if stack.is_empty() {
            return "no hidden layer".into();
        }
        stack
            .iter()
            .map(LayerConfig::summary)
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// Whether the explicit back-propagation formulas cover every layer (dense layers with an
    /// element-wise activation).
    pub fn is_dense_stack(&self) -> bool {
        let defaults = self.defaults();
        self.stack()
            .iter()
            .all(|layer| layer.explicit_backprop(&defaults))
    }

    /// Weights and biases of the network for `input` and `outputs` output units (0 when the
    /// stack does not fit `input`).
    pub fn parameter_count(&self, input: Shape, outputs: usize) -> u128 {
        let stack = self.stack();
        let defaults = self.defaults();
        let Ok(shapes) = layers::shapes(&stack, input, &defaults) else {
            return 0;
        };
        let inputs = std::iter::once(input).chain(shapes.iter().copied());
        let layers: u128 = stack
            .iter()
            .zip(inputs)
            .map(|(layer, shape)| layer.parameters(shape, &defaults))
            .sum();
        let last = shapes.last().copied().unwrap_or(input).dense_inputs() as u128;
        layers + last * outputs as u128 + u128::from(self.bias) * outputs as u128
    }

    fn validate(&self) -> Result<(), String> {
        if self.hidden.is_some() && !self.layers.is_empty() {
            return Err(
                "model.hidden and [[model.layers]] both describe the layers: keep one".into(),
            );
        }
        if let Some(i) = self
            .hidden
            .as_deref()
            .and_then(|h| h.iter().position(|&w| w == 0))
        {
            return Err(format!(
                "model.hidden[{i}] is 0: every hidden layer needs at least one unit"
            ));
        }
        if let Some(path) = &self.init_from
            && !is_pytorch_file(path)
        {
            return Err(format!(
                "model.init_from = {path:?}: give a .safetensors or .pt/.pth file of PyTorch-layout \
                 weights"
            ));
        }
        if self.layers.is_empty() && self.activation == Activation::Maxout {
            return Err(
                "activation = \"maxout\" needs the pieces per unit: describe the layers as \
                 [[model.layers]], giving the dense layers activation = \"maxout\" and pieces"
                    .into(),
            );
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
