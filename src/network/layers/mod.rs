//! The kinds of layer a network stacks (`[[model.layers]]`), one file per kind, and the one list
//! of them (`layer_kinds!` below).
//!
//! A kind's file owns everything about it: the TOML table (its settings, a serde struct that
//! rejects unknown keys) and their checks, the shape rule and the parameter count
//! ([`LayerSettings`]); the Burn module it trains, its forward step, the PyTorch names and
//! layouts of its tensors, its ONNX nodes, its entry in an export's description and its
//! first-layer picture ([`Layer`]). Every method is required, so a kind listed without its
//! export does not compile; nothing outside these files matches on the kinds.
//!
//! Adding a kind: a file here implementing both traits, and one line in the list.
//!
//! Shapes between layers are [`Shape`]s (the batch dimension left out); values between layers
//! are [`Signal`]s, of the rank their shape needs.

use std::collections::BTreeMap;

use burn::nn::Initializer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::interop::onnx::Graph;
use crate::interop::tensors::Raw;

mod activation;
pub(crate) mod kernels;
mod shape;

pub use crate::backend::Kernels;
pub use activation::Activation;
pub use shape::{IMAGE, SIDE, Shape};

/// What every layer of a stack shares: the `[model]` table's defaults.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// The activation of a dense or conv2d layer that names none.
    pub activation: Activation,
    /// The slope of `leaky_relu` for negative inputs.
    pub leaky_slope: f64,
    /// How weights start (biases start at zero).
    pub initializer: Initializer,
    /// Whether layers have biases.
    pub bias: bool,
}

/// A layer kind's settings, as the experiment file writes them: checked before any data is read
/// or weight allocated, then built into the module that trains.
pub trait LayerSettings {
    /// The Burn module this layer trains (with its settings resolved).
    type Module: Layer;

    /// Checks the layer's own values, whatever its input.
    fn check(&self, defaults: &Defaults) -> std::result::Result<(), String>;

    /// The shape this layer outputs for `input`, or why it cannot take it.
    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String>;

    /// Trained values (weights, biases, scales) for an input of shape `input`: what Burn builds
    /// and PyTorch's module holds.
    fn parameters(&self, input: Shape, defaults: &Defaults) -> u128;

    /// Values per example the layer works through beyond its output while a batch trains
    /// (a convolution's unfolded patches, a recurrent layer's gates at every step): with the
    /// outputs, what [`crate::network::config::ModelConfig::batch_memory`] counts before
    /// training starts, so a layer too large for memory is refused rather than aborting in an
    /// allocation.
    fn scratch(&self, _input: Shape) -> u128 {
        0
    }

    /// The layer in a few words, for messages: `conv2d 32 3×3`.
    fn summary(&self) -> String;

    /// Whether the course's explicit back-propagation (`training.gradients = "manual"`) covers
    /// this layer: dense layers with an element-wise activation.
    fn explicit_backprop(&self, defaults: &Defaults) -> bool;

    /// The module for an input of shape `input` (which [`Self::output_shape`] accepted).
    fn build(&self, input: Shape, defaults: &Defaults, device: &Device) -> Self::Module;
}

/// A built layer: its forward step and what export and the run's pictures need of it.
pub trait Layer {
    /// One forward step, by the fused kernel where `kernels` asks for it and one applies (see
    /// `Kernels::use_fused`). Randomness (dropout) and batch statistics apply on autodiff
    /// devices only: evaluating and predicting are deterministic.
    fn forward(&self, x: Signal, kernels: Kernels) -> Signal;

    /// The same layer with its randomness switched off, for checks that need a deterministic
    /// forward pass (finite differences).
    fn deterministic(self) -> Self
    where
        Self: Sized;

    /// The dense layer's linear map and activation, for the explicit back-propagation; `None`
    /// for other kinds.
    fn dense(&self) -> Option<(&burn::nn::Linear, Activation)>;

    /// Its tensors as the equivalent PyTorch module names them (`torch` is the module's prefix,
    /// `layers.<i>`), each made of Burn tensors under the prefix `burn`.
    fn pytorch(&self, torch: &str, burn: &str) -> Vec<(String, Source)>;

    /// Its ONNX nodes: reads `x` of shape `input`, returns the output's name. `tensors` are the
    /// network's PyTorch-layout tensors, this layer's under `name` (`layers.<i>`).
    fn onnx(
        &self,
        g: &mut Graph,
        x: String,
        input: Shape,
        name: &str,
        tensors: &BTreeMap<String, Raw>,
    ) -> Result<String>;

    /// The layer with every setting resolved, for an export's metadata (`neurona.layers`).
    fn description(&self) -> Value;

    /// What the layer contributes to the picture of the first layer, `first_layer.png`, when it
    /// comes first on an input of shape `input`.
    fn picture(&self, input: Shape) -> Picture;
}

/// How a PyTorch tensor is made of Burn tensors.
#[derive(Debug, Clone)]
pub enum Source {
    /// The Burn tensors `parts`, each transposed when `transpose` (matrices), stacked along the
    /// first axis (PyTorch stacks a recurrent layer's gates into one matrix).
    Stacked { parts: Vec<String>, transpose: bool },
    /// A count PyTorch keeps as an int64 scalar, which Burn holds as a one-element float tensor.
    Count(String),
}

impl Source {
    /// One Burn tensor, transposed when `transpose`.
    pub fn one(part: String, transpose: bool) -> Self {
        Source::Stacked {
            parts: vec![part],
            transpose,
        }
    }
}

/// The tensors of a linear map (`nn.Linear`, `nn.Conv2d`): `weight` (transposed when
/// `transpose`: Burn's `Linear` keeps `[in, out]`, PyTorch `[out, in]`) and `bias`.
pub(crate) fn weight_and_bias(torch: &str, burn: &str, transpose: bool) -> Vec<(String, Source)> {
    vec![
        (
            format!("{torch}.weight"),
            Source::one(format!("{burn}.weight"), transpose),
        ),
        (
            format!("{torch}.bias"),
            Source::one(format!("{burn}.bias"), false),
        ),
    ]
}

/// Pictures of `(rows, columns)` values, one per first-layer unit or filter.
pub(crate) type Filters = (Vec<Vec<f64>>, (usize, usize));

/// A first layer's part in `first_layer.png`.
pub enum Picture {
    /// Its weights as pictures (all of them; the caller keeps the first few hundred).
    Filters(Filters),
    /// It has no weights and changes nothing the picture would show (dropout): look past it.
    Transparent,
    /// Its weights are not images (recurrent gates), or it has none to show.
    None,
}

/// Values between layers, of the rank their shape needs (`[batch, …]`).
pub enum Signal {
    Flat(Tensor<2>),
    Image(Tensor<4>),
    Sequence(Tensor<3>),
}

impl Signal {
    /// What a dense layer reads: the image flattened, the sequence's last step.
    pub fn flat(self) -> Tensor<2> {
        match self {
            Signal::Flat(x) => x,
            Signal::Image(x) => x.flatten(1, 3),
            Signal::Sequence(x) => {
                let [batch, steps, features] = x.dims();
                x.narrow(1, steps - 1, 1).reshape([batch, features])
            }
        }
    }

    /// What a recurrent layer reads: an image row by row (`h` steps of `c·w` features).
    pub(crate) fn sequence(self) -> Tensor<3> {
        match self {
            Signal::Sequence(x) => x,
            Signal::Image(x) => {
                let [batch, channels, height, width] = x.dims();
                x.swap_dims(1, 2).reshape([batch, height, channels * width])
            }
            Signal::Flat(_) => unreachable!("the shape rules refuse a recurrent layer here"),
        }
    }

    /// What convolution and pooling read.
    pub fn image(self) -> Tensor<4> {
        match self {
            Signal::Image(x) => x,
            _ => unreachable!("the shape rules refuse convolution and pooling here"),
        }
    }
}

/// The one list of layer kinds: for each file, the kinds it defines (the `Step` variant, the
/// TOML `type`). It declares the files, the experiment file's [`LayerConfig`] (tagged by
/// `type`), the network's [`Step`] module enum, and their dispatch to the kinds' traits.
macro_rules! layer_kinds {
    ($($file:ident { $($kind:ident = $name:literal),+ })+) => {
        $(pub mod $file;)+

        /// One layer of `[[model.layers]]`, tagged by `type`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum LayerConfig {
            $($(#[serde(rename = $name)] $kind($file::$kind),)+)+
        }

        /// One built layer of the network, in stack order.
        #[derive(Module, Debug)]
        #[allow(clippy::large_enum_variant)]
        pub enum Step {
            $($($kind(<$file::$kind as LayerSettings>::Module),)+)+
        }

        impl LayerConfig {
            /// The name written in the experiment file (`type`).
            pub fn kind(&self) -> &'static str {
                match self {
                    $($(LayerConfig::$kind(_) => $name,)+)+
                }
            }

            fn settings(&self) -> &dyn LayerSettingsDyn {
                match self {
                    $($(LayerConfig::$kind(s) => s,)+)+
                }
            }

            /// The layer built for an input of shape `input`.
            pub fn build(&self, input: Shape, defaults: &Defaults, device: &Device) -> Step {
                match self {
                    $($(LayerConfig::$kind(s) => Step::$kind(s.build(input, defaults, device)),)+)+
                }
            }
        }

        impl Step {
            /// The name Burn gives this kind's module in checkpoints (`layers.<i>.<variant>`).
            pub fn variant(&self) -> &'static str {
                match self {
                    $($(Step::$kind(_) => stringify!($kind),)+)+
                }
            }

            fn layer(&self) -> &dyn Layer {
                match self {
                    $($(Step::$kind(m) => m,)+)+
                }
            }

            /// The same layer with its randomness switched off.
            pub(crate) fn deterministic(self) -> Self {
                match self {
                    $($(Step::$kind(m) => Step::$kind(m.deterministic()),)+)+
                }
            }
        }
    };
}

layer_kinds! {
    dense { Dense = "dense" }
    conv2d { Conv2d = "conv2d" }
    pooling { MaxPool2d = "max_pool2d", AvgPool2d = "avg_pool2d" }
    dropout { Dropout = "dropout" }
    recurrent { Lstm = "lstm", Gru = "gru", Rnn = "rnn" }
    batch_norm { BatchNorm = "batch_norm" }
}

/// [`LayerSettings`] without its module type, so that a stack can be checked through one
/// reference whatever the kind.
trait LayerSettingsDyn {
    fn check(&self, defaults: &Defaults) -> std::result::Result<(), String>;
    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String>;
    fn parameters(&self, input: Shape, defaults: &Defaults) -> u128;
    fn scratch(&self, input: Shape) -> u128;
    fn summary(&self) -> String;
    fn explicit_backprop(&self, defaults: &Defaults) -> bool;
}

impl<S: LayerSettings> LayerSettingsDyn for S {
    fn check(&self, defaults: &Defaults) -> std::result::Result<(), String> {
        LayerSettings::check(self, defaults)
    }
    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        LayerSettings::output_shape(self, input)
    }
    fn parameters(&self, input: Shape, defaults: &Defaults) -> u128 {
        LayerSettings::parameters(self, input, defaults)
    }
    fn scratch(&self, input: Shape) -> u128 {
        LayerSettings::scratch(self, input)
    }
    fn summary(&self) -> String {
        LayerSettings::summary(self)
    }
    fn explicit_backprop(&self, defaults: &Defaults) -> bool {
        LayerSettings::explicit_backprop(self, defaults)
    }
}

impl LayerConfig {
    /// Checks the layer's own values, whatever its input.
    pub fn check(&self, defaults: &Defaults) -> std::result::Result<(), String> {
        self.settings().check(defaults)
    }

    /// The shape this layer outputs for `input`, or why it cannot take it.
    pub fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        self.settings().output_shape(input)
    }

    /// Trained values of this layer for an input of shape `input`.
    pub fn parameters(&self, input: Shape, defaults: &Defaults) -> u128 {
        self.settings().parameters(input, defaults)
    }

    /// Values per example beyond the output while training (see [`LayerSettings::scratch`]).
    pub(crate) fn scratch(&self, input: Shape) -> u128 {
        self.settings().scratch(input)
    }

    /// The layer in a few words: `conv2d 32 3×3`.
    pub fn summary(&self) -> String {
        self.settings().summary()
    }

    /// Whether the explicit back-propagation covers this layer.
    pub(crate) fn explicit_backprop(&self, defaults: &Defaults) -> bool {
        self.settings().explicit_backprop(defaults)
    }
}

impl Step {
    pub fn forward(&self, x: Signal, kernels: Kernels) -> Signal {
        self.layer().forward(x, kernels)
    }

    /// The dense layer's linear map and activation; `None` for other kinds.
    pub fn dense(&self) -> Option<(&burn::nn::Linear, Activation)> {
        self.layer().dense()
    }

    pub(crate) fn pytorch(&self, torch: &str, burn: &str) -> Vec<(String, Source)> {
        self.layer().pytorch(torch, burn)
    }

    pub fn onnx(
        &self,
        g: &mut Graph,
        x: String,
        input: Shape,
        name: &str,
        tensors: &BTreeMap<String, Raw>,
    ) -> Result<String> {
        self.layer().onnx(g, x, input, name, tensors)
    }

    pub(crate) fn description(&self) -> Value {
        self.layer().description()
    }

    pub fn picture(&self, input: Shape) -> Picture {
        self.layer().picture(input)
    }
}

/// The shapes after each layer of `layers` for `input`, checking every layer. The error names
/// the layer (`model.layers[i]`, its type) and the shapes.
pub fn shapes(
    layers: &[LayerConfig],
    input: Shape,
    defaults: &Defaults,
) -> std::result::Result<Vec<Shape>, String> {
    let mut shapes = Vec::with_capacity(layers.len());
    let mut current = input;
    for (i, layer) in layers.iter().enumerate() {
        let name = format!("model.layers[{i}] ({})", layer.kind());
        layer.check(defaults).map_err(|e| format!("{name}: {e}"))?;
        current = layer
            .output_shape(current)
            .map_err(|e| format!("{name} does not fit its input, a {current}: {e}"))?;
        shapes.push(current);
    }
    Ok(shapes)
}

/// The largest size a layer setting (units, channels, kernel, stride, pieces, pool size) may
/// take: `2³¹ − 1`, what every format a layer is written to holds (ONNX's integer attributes,
/// PyTorch's and safetensors' shapes) and far beyond any memory; products of two sizes stay
/// within 64 bits.
pub(crate) const MAX_SIZE: usize = i32::MAX as usize;

/// `Err` unless `value` is a size in `1..=MAX_SIZE`.
pub(crate) fn size_setting(key: &str, value: usize) -> std::result::Result<(), String> {
    if (1..=MAX_SIZE).contains(&value) {
        Ok(())
    } else {
        Err(format!("{key} must be in 1..={MAX_SIZE}, got {value}"))
    }
}
