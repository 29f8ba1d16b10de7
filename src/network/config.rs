//! The network's part of an experiment file, shared by the image classifier and the 2-D
//! workshop: `[model]` (the layer stack, activations, weight init, the output layer and its loss)
//! and `[optimizer]` (Adam or SGD, learning rate and schedule, weight decay). Each family's
//! config embeds them and checks them with its own keys.

use crate::experiment::Synopsis;
use std::path::{Path, PathBuf};

use burn::nn::Initializer;
use serde::{Deserialize, Serialize};

pub use super::layers::Activation;
use super::layers::dense::Dense;
use super::layers::{self, Defaults, LayerConfig, Shape};

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
pub(crate) fn is_pytorch_file(path: &Path) -> bool {
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
    /// Scale each parameter's gradient down to this L2 norm when it is longer (PyTorch's
    /// `clip_grad_norm_`, per tensor in Burn): tames the rare huge step that makes a training
    /// diverge without slowing the ordinary ones. At most one of this and `clip_value`.
    pub clip_norm: Option<f64>,
    /// Clamp every gradient entry to `[−clip_value, clip_value]`.
    pub clip_value: Option<f64>,
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
            clip_norm: None,
            clip_value: None,
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

    /// This network, for `input` and `classes`, trained by `optimizer`: the runs list's line.
    pub(crate) fn synopsis(
        &self,
        input: Shape,
        classes: usize,
        optimizer: &OptimizerConfig,
    ) -> Synopsis {
        Synopsis {
            model: self.describe(),
            parameters: u64::try_from(self.parameter_count(input, classes)).ok(),
            optimizer: match optimizer.kind {
                OptimizerKind::Adam => "adam",
                OptimizerKind::Sgd => "sgd",
            }
            .into(),
            learning_rate: Some(optimizer.learning_rate),
        }
    }

    /// The stack in one line, for messages: `conv2d 32 3×3 → max_pool2d 2 → dense 128`.
    pub(crate) fn describe(&self) -> String {
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
    pub(crate) fn is_dense_stack(&self) -> bool {
        let defaults = self.defaults();
        self.stack()
            .iter()
            .all(|layer| layer.explicit_backprop(&defaults))
    }

    /// Whether `gradients` can train this stack: the explicit back-propagation formulas cover
    /// dense layers with an element-wise activation only.
    pub(crate) fn check_gradients(&self, gradients: Gradients) -> Result<(), String> {
        if gradients == Gradients::Manual && !self.is_dense_stack() {
            return Err(
                "training.gradients = \"manual\" is the dense network's explicit \
                 back-propagation: other layer kinds (and maxout) train with \"autodiff\""
                    .into(),
            );
        }
        Ok(())
    }

    /// Weights and biases of the network for `input` and `classes` as [`Self::init`] reads
    /// them (one output unit for a sigmoid output; 0 when the stack does not fit `input`).
    pub fn parameter_count(&self, input: Shape, classes: usize) -> u128 {
        let outputs = if self.output == Output::Sigmoid {
            1
        } else {
            classes
        };
        let defaults = self.defaults();
        let Some(walk) = self.walk(input) else {
            return 0;
        };
        let layers: u128 = walk
            .iter()
            .map(|(layer, input, _)| layer.parameters(*input, &defaults))
            .sum();
        let last = walk
            .last()
            .map_or(input, |(_, _, output)| *output)
            .dense_inputs() as u128;
        layers + last * outputs as u128 + u128::from(self.bias) * outputs as u128
    }

    /// Each layer of the stack with the shape it reads and the shape it writes; `None` when the
    /// stack does not fit `input` (the config check says why).
    fn walk(&self, input: Shape) -> Option<Vec<(LayerConfig, Shape, Shape)>> {
        let stack = self.stack();
        let shapes = layers::shapes(&stack, input, &self.defaults()).ok()?;
        let inputs = std::iter::once(input).chain(shapes.iter().copied());
        Some(
            stack
                .into_iter()
                .zip(inputs)
                .zip(shapes.iter().copied())
                .map(|((layer, input), output)| (layer, input, output))
                .collect(),
        )
    }

    /// Bytes one training batch of `batch` examples works through, about: each layer's output
    /// and its gradient, and its [`LayerConfig::scratch`] twice (forward and backward), at
    /// `bytes` per value. With the largest single layer's share and its index, for the message
    /// that refuses it.
    pub(crate) fn batch_memory(
        &self,
        input: Shape,
        batch: usize,
        bytes: usize,
    ) -> (u128, Option<(usize, u128)>) {
        let Some(walk) = self.walk(input) else {
            return (0, None);
        };
        let per_layer: Vec<u128> = walk
            .iter()
            .map(|(layer, input, output)| {
                2 * (output.size() as u128 + layer.scratch(*input)) * batch as u128 * bytes as u128
            })
            .collect();
        let largest = per_layer
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|&(_, b)| b);
        (per_layer.iter().sum(), largest)
    }

    /// The network its weights belong to: this table as JSON without `init`, `init_scale` and
    /// `init_from`, which only choose where training starts.
    pub(crate) fn architecture(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a model config is plain data");
        if let Some(table) = value.as_object_mut() {
            for key in ["init", "init_scale", "init_from"] {
                table.remove(key);
            }
        }
        value
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
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
    pub(crate) fn validate(&self) -> Result<(), String> {
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
        match (self.clip_norm, self.clip_value) {
            (Some(_), Some(_)) => {
                return Err(
                    "optimizer: set clip_norm or clip_value, not both (one clipping rule per step)"
                        .into(),
                );
            }
            (Some(v), None) => positive("optimizer.clip_norm", v)?,
            (None, Some(v)) => positive("optimizer.clip_value", v)?,
            (None, None) => {}
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
pub(crate) const MAX_EPOCHS: usize = 1_000_000;

/// `training.epochs` within `1..=MAX_EPOCHS`.
pub(crate) fn check_epochs(epochs: usize) -> Result<(), String> {
    if (1..=MAX_EPOCHS).contains(&epochs) {
        Ok(())
    } else {
        Err(format!(
            "training.epochs must be in 1..={MAX_EPOCHS}, got {epochs}"
        ))
    }
}

fn positive(key: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!("{key} must be a positive number, got {value}"))
    }
}
