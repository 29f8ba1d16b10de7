//! The network's layer stack as the experiment file describes it (`[[model.layers]]`, or the
//! `hidden = [..]` shorthand for dense layers), and the shapes flowing through it, worked out
//! before any data is read or weight allocated.
//!
//! Shapes: an image is `channels × height × width` (MNIST: `1 × 28 × 28`), a sequence is
//! `steps × features`, a flat vector has `n` features. The transitions between them are fixed:
//! - dense after an image flattens it (`c·h·w` features); after a sequence it reads the last step;
//! - conv2d: `h′ = ⌊(h + 2p − k)/s⌋ + 1` with `p = (k − 1)/2` for `"same"` (odd `k`; the size is
//!   kept at stride 1) and `p = 0` for `"valid"`; pooling: `h′ = ⌊(h − size)/stride⌋ + 1`;
//! - a recurrent layer reads an image row by row (`h` steps of `c·w` features) and outputs the
//!   whole sequence of its hidden states (`steps × units`), so recurrent layers stack;
//! - dropout keeps the shape. Convolution and pooling need an image.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Images are `SIDE × SIDE` pixels (MNIST and Fashion-MNIST).
pub const SIDE: usize = 28;

/// What an image network reads: one grey channel of `SIDE × SIDE` pixels.
pub const IMAGE: Shape = Shape::Image {
    channels: 1,
    height: SIDE,
    width: SIDE,
};

/// The hidden activation `g` of a dense or convolutional layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Tanh,
    Relu,
    Sigmoid,
    LeakyRelu,
    /// Dense layers only: each unit is the largest of `pieces` linear functions of the input
    /// (Goodfellow et al., 2013), so the activation itself is learned, piecewise linear.
    Maxout,
}

/// One layer of `[[model.layers]]`, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerConfig {
    /// Fully connected: `units` outputs, then the activation.
    Dense(DenseLayer),
    /// 2-D convolution over an image: `channels` filters of `kernel × kernel`.
    Conv2d(ConvLayer),
    /// The largest value of each `size × size` window.
    MaxPool2d(PoolLayer),
    /// The mean of each `size × size` window.
    AvgPool2d(PoolLayer),
    /// Zeroes each value with probability `p` while training (and scales the rest by `1/(1−p)`).
    Dropout(DropoutLayer),
    /// Long short-term memory (input, forget, output gates and a cell state).
    Lstm(RecurrentLayer),
    /// Gated recurrent unit (update and reset gates).
    Gru(RecurrentLayer),
    /// The plain recurrent layer: `h_t = tanh(W·x_t + U·h_{t−1} + b)`.
    Rnn(RecurrentLayer),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseLayer {
    pub units: usize,
    /// Unset: the model's `activation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// Maxout only: each unit is the largest of `pieces` linear functions of the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvLayer {
    pub channels: usize,
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
    #[serde(default)]
    pub padding: Padding,
    /// Unset: the model's `activation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

impl ConvLayer {
    /// Zeros added on each side: `(kernel − 1)/2` for `"same"`, none for `"valid"`.
    pub fn pad(&self) -> usize {
        match self.padding {
            Padding::Same => (self.kernel - 1) / 2,
            Padding::Valid => 0,
        }
    }
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// `(kernel − 1)/2` zeros on every side: the image keeps its size at stride 1.
    #[default]
    Same,
    /// No padding: the image shrinks by `kernel − 1`.
    Valid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolLayer {
    pub size: usize,
    /// Unset: `size` (windows that do not overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
}

impl PoolLayer {
    /// The step between windows (`size` when unset).
    pub fn stride(&self) -> usize {
        self.stride.unwrap_or(self.size)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutLayer {
    pub p: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentLayer {
    pub units: usize,
}

/// The shape of one example between layers (the batch dimension left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Flat(usize),
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    Sequence {
        steps: usize,
        features: usize,
    },
}

impl From<usize> for Shape {
    fn from(n: usize) -> Self {
        Shape::Flat(n)
    }
}

impl Shape {
    /// The values of one example.
    pub fn size(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Image {
                channels,
                height,
                width,
            } => channels * height * width,
            Shape::Sequence { steps, features } => steps * features,
        }
    }

    /// What a recurrent layer reads at each step: an image's row (`c·w` values), a sequence's
    /// step.
    pub fn step_features(self) -> usize {
        match self {
            Shape::Image {
                channels, width, ..
            } => channels * width,
            Shape::Sequence { features, .. } => features,
            Shape::Flat(n) => n,
        }
    }

    /// What a dense layer reads: an image flattened, a sequence's last step.
    pub fn dense_inputs(self) -> usize {
        match self {
            Shape::Sequence { features, .. } => features,
            other => other.size(),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Flat(n) => write!(f, "{n} features"),
            Shape::Image {
                channels,
                height,
                width,
            } => write!(f, "{channels}×{height}×{width} image"),
            Shape::Sequence { steps, features } => {
                write!(f, "sequence of {steps} steps × {features} features")
            }
        }
    }
}

impl LayerConfig {
    /// The name written in the experiment file.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerConfig::Dense(_) => "dense",
            LayerConfig::Conv2d(_) => "conv2d",
            LayerConfig::MaxPool2d(_) => "max_pool2d",
            LayerConfig::AvgPool2d(_) => "avg_pool2d",
            LayerConfig::Dropout(_) => "dropout",
            LayerConfig::Lstm(_) => "lstm",
            LayerConfig::Gru(_) => "gru",
            LayerConfig::Rnn(_) => "rnn",
        }
    }

    /// Gates of a recurrent layer (each with an input and a hidden transform); 0 for the others.
    pub fn gates(&self) -> usize {
        match self {
            LayerConfig::Lstm(_) => 4,
            LayerConfig::Gru(_) => 3,
            LayerConfig::Rnn(_) => 1,
            _ => 0,
        }
    }

    /// Checks the layer's own values, whatever its input.
    fn check(&self, default_activation: Activation) -> Result<(), String> {
        match self {
            LayerConfig::Dense(d) => {
                at_least_one("units", d.units)?;
                let maxout = d.activation.unwrap_or(default_activation) == Activation::Maxout;
                match (maxout, d.pieces) {
                    (true, Some(p)) if p >= 2 => Ok(()),
                    (true, _) => {
                        Err("maxout needs `pieces` ≥ 2 (the linear pieces per unit)".into())
                    }
                    (false, Some(_)) => {
                        Err("`pieces` applies to activation = \"maxout\" only".into())
                    }
                    (false, None) => Ok(()),
                }
            }
            LayerConfig::Conv2d(c) => {
                at_least_one("channels", c.channels)?;
                at_least_one("kernel", c.kernel)?;
                at_least_one("stride", c.stride)?;
                if c.padding == Padding::Same && c.kernel % 2 == 0 {
                    return Err(format!(
                        "padding = \"same\" needs an odd kernel (got {}): the padding is (kernel − 1)/2 \
                         on each side",
                        c.kernel
                    ));
                }
                if c.activation.unwrap_or(default_activation) == Activation::Maxout {
                    return Err(
                        "maxout is a dense-layer activation; give conv2d relu, tanh, sigmoid or \
                         leaky_relu"
                            .into(),
                    );
                }
                Ok(())
            }
            LayerConfig::MaxPool2d(p) | LayerConfig::AvgPool2d(p) => {
                at_least_one("size", p.size)?;
                at_least_one("stride", p.stride())
            }
            LayerConfig::Dropout(d) => {
                if (0.0..1.0).contains(&d.p) {
                    Ok(())
                } else {
                    Err(format!("p must be in [0, 1), got {}", d.p))
                }
            }
            LayerConfig::Lstm(r) | LayerConfig::Gru(r) | LayerConfig::Rnn(r) => {
                at_least_one("units", r.units)
            }
        }
    }

    /// The shape this layer outputs for `input`, or why it cannot take it.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        match (self, input) {
            (LayerConfig::Dense(d), _) => Ok(Shape::Flat(d.units)),
            (LayerConfig::Dropout(_), shape) => Ok(shape),
            (LayerConfig::Conv2d(c), Shape::Image { height, width, .. }) => {
                let pad = c.pad();
                let side = |n: usize| {
                    (n + 2 * pad)
                        .checked_sub(c.kernel)
                        .map(|r| r / c.stride + 1)
                };
                match (side(height), side(width)) {
                    (Some(h), Some(w)) => Ok(Shape::Image {
                        channels: c.channels,
                        height: h,
                        width: w,
                    }),
                    _ => Err(format!(
                        "its {k}×{k} kernel is larger than the (padded) image",
                        k = c.kernel
                    )),
                }
            }
            (
                LayerConfig::MaxPool2d(p) | LayerConfig::AvgPool2d(p),
                Shape::Image {
                    channels,
                    height,
                    width,
                },
            ) => {
                let stride = p.stride();
                let side = |n: usize| n.checked_sub(p.size).map(|r| r / stride + 1);
                match (side(height), side(width)) {
                    (Some(h), Some(w)) => Ok(Shape::Image {
                        channels,
                        height: h,
                        width: w,
                    }),
                    _ => Err(format!(
                        "its {s}×{s} window is larger than the image",
                        s = p.size
                    )),
                }
            }
            (LayerConfig::Conv2d(_) | LayerConfig::MaxPool2d(_) | LayerConfig::AvgPool2d(_), _) => {
                Err(
                    "convolution and pooling need an image: put them before any dense or \
                     recurrent layer"
                        .into(),
                )
            }
            (
                LayerConfig::Lstm(r) | LayerConfig::Gru(r) | LayerConfig::Rnn(r),
                Shape::Image { height, .. } | Shape::Sequence { steps: height, .. },
            ) => Ok(Shape::Sequence {
                steps: height,
                features: r.units,
            }),
            (LayerConfig::Lstm(_) | LayerConfig::Gru(_) | LayerConfig::Rnn(_), Shape::Flat(_)) => {
                Err(
                    "a recurrent layer reads a sequence (an image row by row): put it before \
                     any dense layer"
                        .into(),
                )
            }
        }
    }

    /// Weights and biases of this layer given its input shape (as Burn builds it: a recurrent
    /// gate has an input and a hidden transform, each with a bias when `bias` is set).
    pub fn parameters(&self, input: Shape, bias: bool) -> u128 {
        let bias = u128::from(bias);
        match self {
            LayerConfig::Dense(d) => {
                let outputs = (d.units * d.pieces.unwrap_or(1)) as u128;
                input.dense_inputs() as u128 * outputs + bias * outputs
            }
            LayerConfig::Conv2d(c) => {
                let channels_in = match input {
                    Shape::Image { channels, .. } => channels,
                    _ => 0,
                } as u128;
                let k = c.kernel as u128;
                channels_in * c.channels as u128 * k * k + c.channels as u128
            }
            LayerConfig::Lstm(r) | LayerConfig::Gru(r) | LayerConfig::Rnn(r) => {
                let features = input.step_features() as u128;
                let u = r.units as u128;
                self.gates() as u128 * (features * u + u * u + 2 * u * bias)
            }
            _ => 0,
        }
    }
}

fn at_least_one(key: &str, value: usize) -> Result<(), String> {
    if value == 0 {
        Err(format!("{key} must be at least 1"))
    } else {
        Ok(())
    }
}

/// The shapes after each layer of `layers` for `input`, checking every layer. The error names
/// the layer (`model.layers[i]`, its type) and the shapes.
pub fn shapes(
    layers: &[LayerConfig],
    input: Shape,
    default_activation: Activation,
) -> Result<Vec<Shape>, String> {
    let mut shapes = Vec::with_capacity(layers.len());
    let mut current = input;
    for (i, layer) in layers.iter().enumerate() {
        let name = format!("model.layers[{i}] ({})", layer.kind());
        layer
            .check(default_activation)
            .map_err(|e| format!("{name}: {e}"))?;
        current = layer
            .output_shape(current)
            .map_err(|e| format!("{name} does not fit its input, a {current}: {e}"))?;
        shapes.push(current);
    }
    Ok(shapes)
}
