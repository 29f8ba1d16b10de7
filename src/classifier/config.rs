//! The experiment file of an image classification run: one TOML document with
//! `[data] [model] [optimizer] [training] [output]` (`[model]` and `[optimizer]` are the
//! network's, shared with the 2-D workshop: see `crate::network::config`).
//!
//! Every field has a default (see `configs/mnist.toml`, where each is written out and commented),
//! unknown keys are rejected, and errors name the file, the line and the offending key or value.
//! [`MlpConfig::validate`] checks the values before any work starts, so a bad learning rate fails
//! in milliseconds rather than after loading data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::devices::RemoteConfig;
use crate::error::Result;
use crate::experiment::{ExperimentFile, Synopsis, Task};
use crate::run_dir::OutputConfig;

use crate::backend::Kernels;
use crate::network::config::{Gradients, ModelConfig, OptimizerConfig, Output};
use crate::network::layers::{IMAGE, Shape};

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
    /// Standardise pixels after scaling to \[0,1\]: `(x - mean) / std`.
    pub standardize: bool,
    /// Mean and std used by `standardize`; computed on the training split when unset and written
    /// into the run's `config.toml` so evaluation and prediction use the same values.
    pub mean: Option<f64>,
    pub std: Option<f64>,
    /// Written (as `false`) into every image run's `config.toml` before the 2-D workshop had
    /// its own task (December 2026), so still read; `true` belongs to the workshop and is refused.
    #[serde(skip_serializing)]
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

/// Number of classes in MNIST and Fashion-MNIST.
pub(crate) const NUM_CLASSES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Mnist,
    FashionMnist,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// `"autodiff"` or `"manual"` (explicit back-propagation); both feed the same optimizer step.
    pub gradients: Gradients,
    /// `"fused"`: the fused CPU kernels where they apply (flex, f32), Burn's generic operations
    /// elsewhere; `"generic"`: Burn's operations everywhere (see `network::layers::kernels`).
    pub kernels: Kernels,
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
    /// Which epochs' checkpoints stay on disk while the run trains.
    pub keep_checkpoints: KeepCheckpoints,
}

/// Which epochs' checkpoints (model, optimizer and schedule state, 5 MB an epoch for the shipped
/// CNN) stay on disk as a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepCheckpoints {
    /// The last two epochs (the last to resume from; the one before, whose files are surely
    /// written) and the best so far (`model.bpk` at the end); the others are deleted as the run
    /// goes.
    #[default]
    LastAndBest,
    /// Every epoch, until the run ends (then as `last_and_best`).
    All,
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
            kernels: Kernels::Fused,
            epochs: 10,
            batch_size: 128,
            early_stopping_patience: None,
            keep_checkpoints: KeepCheckpoints::LastAndBest,
            devices: None,
            data_path: DataPath::Auto,
        }
    }
}

impl MlpConfig {
    /// The device a trained run is evaluated or used on: its `backend` (as `--backend` left it;
    /// for `remote`, the first of its device servers).
    pub fn device(&self) -> Result<burn::prelude::Device> {
        // Only the first server is used, so only it is connected.
        let first = RemoteConfig {
            hosts: self.remote.hosts.iter().take(1).cloned().collect(),
            ..self.remote.clone()
        };
        let placement =
            crate::devices::Placement::open(self.backend, None, &first, self.precision)?;
        Ok(placement.main().clone())
    }
}

impl ExperimentFile for MlpConfig {
    const TASK: Task = Task::ImageClassification;

    fn synopsis(&self) -> Synopsis {
        self.model
            .synopsis(self.input_shape(), NUM_CLASSES, &self.optimizer)
    }

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

    fn named_outside(&self) -> Vec<&'static str> {
        let served = |devices: &Vec<String>| devices.iter().any(|d| d.trim().starts_with("ws://"));
        [
            (self.model.init_from.is_some(), "model.init_from"),
            (self.data.dir.is_some(), "data.dir"),
            (self.data.mirrors.is_some(), "data.mirrors"),
            (self.remote != RemoteConfig::default(), "[remote]"),
            (
                self.training.devices.as_ref().is_some_and(served),
                "device servers in training.devices",
            ),
        ]
        .into_iter()
        .filter_map(|(named, key)| named.then_some(key))
        .collect()
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

impl MlpConfig {
    /// Checks the keys that depend on each other: the output layer against the data, the stack
    /// against the images, manual gradients against the layer kinds, early stopping against
    /// validation.
    fn check_combinations(&self) -> Result<(), String> {
        if self.model.output != Output::Softmax {
            return Err(format!(
                "model.output = \"{}\" does not fit 10 classes: image classification needs \
                 \"softmax\" (\"sigmoid\" is for two classes, \"linear\" for regression)",
                format!("{:?}", self.model.output).to_lowercase()
            ));
        }
        crate::devices::plan(self.backend, self.training.devices.as_deref(), &self.remote)?;
        self.model.shapes(self.input_shape())?;
        self.model.check_gradients(self.training.gradients)?;
        if self.training.early_stopping_patience.is_some() && self.data.validation_fraction == 0.0 {
            return Err(
                "training.early_stopping_patience watches the validation loss: it needs \
                 data.validation_fraction > 0"
                    .into(),
            );
        }
        Ok(())
    }

    /// The run directory: `<output.dir>/<output.name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.output.run_dir()
    }

    /// What the network reads: a 28×28 grey image.
    pub fn input_shape(&self) -> Shape {
        IMAGE
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
        if self.constant_input {
            return Err(
                "data.constant_input applies to the 2-D sets (task = \"points\"), not to image \
                 sets"
                    .into(),
            );
        }
        Ok(())
    }
}

impl TrainingConfig {
    fn validate(&self) -> Result<(), String> {
        crate::network::config::check_epochs(self.epochs)?;
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
