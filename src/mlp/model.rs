//! The course's networks, written once against Burn's backend-agnostic tensors: a stack of
//! layers (dense `A[l] = g(A[l−1]·W[l] + b[l])`, maxout, conv2d, max/avg pooling, dropout,
//! LSTM/GRU/plain recurrent) and an output layer with its loss (softmax and cross-entropy, sigmoid
//! and binary cross-entropy, or linear and squared error). With no layer at all it is softmax
//! (or logistic) regression. Shapes between layers follow [`crate::mlp::architecture`], which checks
//! them when the config loads.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::nn::{
    DropoutConfig, Gru, GruConfig, Initializer, Linear, LinearConfig, Lstm, LstmConfig,
    PaddingConfig2d, Rnn, RnnConfig,
};
use burn::prelude::*;
use burn::tensor::activation;
use burn::train::ClassificationOutput;

use crate::mlp::architecture::{LayerConfig, Shape};
use crate::mlp::config::{Activation, Gradients, Init, ModelConfig, Output};
use crate::mlp::data::batcher::Batch;
use crate::numeric::to_f64s;

/// The network: its layers' parameters by kind, the order they run in (`steps`), the output
/// layer.
#[derive(Module, Debug)]
pub struct Network {
    /// Every dense layer, in stack order (a maxout layer has `units × pieces` outputs). The name
    /// keeps the checkpoint keys of dense-only networks (`hidden.<i>.weight`).
    hidden: Vec<Linear>,
    conv: Vec<Conv2d>,
    recurrent: Vec<Recurrent>,
    output: Linear,
    /// What runs, in order; each dense, conv or recurrent step takes the next module of its kind.
    #[module(skip)]
    steps: Vec<Step>,
    #[module(skip)]
    input: Shape,
    #[module(skip)]
    leaky_slope: f64,
    #[module(skip)]
    output_kind: Output,
    #[module(skip)]
    gradients: Gradients,
}

/// A recurrent layer of any of the three kinds (they differ in their gates). The variants differ
/// in size (an LSTM has four gates), but Burn's `Module` is not implemented for `Box`, and a
/// network holds a handful of these.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Recurrent {
    Lstm(Lstm),
    Gru(Gru),
    Rnn(Rnn),
}

/// One step of the forward pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Dense {
        activation: Activation,
        pieces: usize,
    },
    Conv {
        activation: Activation,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    MaxPool {
        size: usize,
        stride: usize,
    },
    AvgPool {
        size: usize,
        stride: usize,
    },
    Dropout {
        p: f64,
    },
    Recurrent,
}

/// Values between layers, of the rank their shape needs (`[batch, …]`).
enum Signal {
    Flat(Tensor<2>),
    Image(Tensor<4>),
    Sequence(Tensor<3>),
}

impl Signal {
    /// What a dense layer reads: the image flattened, the sequence's last step.
    fn flat(self) -> Tensor<2> {
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
    fn sequence(self) -> Tensor<3> {
        match self {
            Signal::Sequence(x) => x,
            Signal::Image(x) => {
                let [batch, channels, height, width] = x.dims();
                x.swap_dims(1, 2).reshape([batch, height, channels * width])
            }
            Signal::Flat(_) => unreachable!("architecture::shapes refuses a recurrent layer here"),
        }
    }

    fn image(self) -> Tensor<4> {
        match self {
            Signal::Image(x) => x,
            _ => unreachable!("architecture::shapes refuses convolution and pooling here"),
        }
    }
}

impl ModelConfig {
    /// Builds the network for `input` with the configured weight init and zero biases
    /// (recurrent layers keep Burn's Xavier-normal gates). `classes` is the number of classes
    /// (softmax), ignored for a sigmoid output (one unit), the number of targets for a linear
    /// output. The stack must fit `input` (the config's validation checks it).
    pub fn init(&self, input: impl Into<Shape>, classes: usize, device: &Device) -> Network {
        let input = input.into();
        let outputs = if self.output == Output::Sigmoid {
            1
        } else {
            classes
        };
        let stack = self.stack();
        let shapes = self
            .shapes(input)
            .unwrap_or_else(|e| panic!("the layer stack was checked when the config loaded: {e}"));
        let mut network = Network {
            hidden: Vec::new(),
            conv: Vec::new(),
            recurrent: Vec::new(),
            output: self.linear(
                shapes.last().unwrap_or(&input).dense_inputs(),
                outputs,
                device,
            ),
            steps: Vec::new(),
            input,
            leaky_slope: self.leaky_slope,
            output_kind: self.output,
            gradients: Gradients::Autodiff,
        };
        for (layer, &before) in stack.iter().zip(std::iter::once(&input).chain(&shapes)) {
            let step = self.add(&mut network, layer, before, device);
            network.steps.push(step);
        }
        network
    }

    /// Builds `layer`'s parameters (for an input of shape `before`) into `network`.
    fn add(
        &self,
        network: &mut Network,
        layer: &LayerConfig,
        before: Shape,
        device: &Device,
    ) -> Step {
        match layer {
            LayerConfig::Dense(d) => {
                let activation = d.activation.unwrap_or(self.activation);
                let pieces = d.pieces.unwrap_or(1);
                let linear = self.linear(before.dense_inputs(), d.units * pieces, device);
                network.hidden.push(linear);
                Step::Dense { activation, pieces }
            }
            LayerConfig::Conv2d(c) => {
                let Shape::Image { channels, .. } = before else {
                    unreachable!("architecture::shapes refuses a conv2d without an image")
                };
                let pad = c.pad();
                let mut conv = Conv2dConfig::new([channels, c.channels], [c.kernel, c.kernel])
                    .with_stride([c.stride, c.stride])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .with_initializer(self.initializer())
                    .init(device);
                conv.bias = Some(Param::from_tensor(Tensor::zeros([c.channels], device)));
                network.conv.push(conv);
                Step::Conv {
                    activation: c.activation.unwrap_or(self.activation),
                    kernel: c.kernel,
                    stride: c.stride,
                    pad,
                }
            }
            LayerConfig::MaxPool2d(p) => Step::MaxPool {
                size: p.size,
                stride: p.stride(),
            },
            LayerConfig::AvgPool2d(p) => Step::AvgPool {
                size: p.size,
                stride: p.stride(),
            },
            LayerConfig::Dropout(d) => Step::Dropout { p: d.p },
            LayerConfig::Lstm(r) => {
                let lstm = LstmConfig::new(before.step_features(), r.units, self.bias).init(device);
                network.recurrent.push(Recurrent::Lstm(lstm));
                Step::Recurrent
            }
            LayerConfig::Gru(r) => {
                let gru = GruConfig::new(before.step_features(), r.units, self.bias).init(device);
                network.recurrent.push(Recurrent::Gru(gru));
                Step::Recurrent
            }
            LayerConfig::Rnn(r) => {
                let rnn = RnnConfig::new(before.step_features(), r.units, self.bias).init(device);
                network.recurrent.push(Recurrent::Rnn(rnn));
                Step::Recurrent
            }
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

    fn linear(&self, d_in: usize, d_out: usize, device: &Device) -> Linear {
        let mut linear = LinearConfig::new(d_in, d_out)
            .with_initializer(self.initializer())
            .with_bias(self.bias)
            .init(device);
        if self.bias {
            linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
        }
        linear
    }
}

/// Pictures of `(rows, columns)` values, one per first-layer unit or filter.
pub type Filters = (Vec<Vec<f64>>, (usize, usize));

/// The most first-layer units drawn in `first_layer.png`.
pub const MAX_FILTER_TILES: usize = 256;

impl Network {
    /// What runs, in order: one step per layer of the stack.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The dense layers from input to output: each hidden layer, then the output layer.
    pub fn layers(&self) -> impl Iterator<Item = &Linear> {
        self.hidden.iter().chain(std::iter::once(&self.output))
    }

    /// Whether every layer is dense with an element-wise activation: the networks the explicit
    /// back-propagation (`backprop`) covers.
    pub fn is_dense(&self) -> bool {
        self.steps.iter().all(
            |s| matches!(s, Step::Dense { activation, .. } if *activation != Activation::Maxout),
        )
    }

    /// The same network with every dropout layer switched off (`p = 0`): what a gradient check
    /// differentiates, since a fresh random mask per forward pass has no finite differences.
    pub fn without_dropout(mut self) -> Self {
        for step in &mut self.steps {
            if let Step::Dropout { p } = step {
                *p = 0.0;
            }
        }
        self
    }

    /// The activation of hidden dense layer `l` (0-based among the dense layers).
    pub fn hidden_activation(&self, l: usize) -> Activation {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Dense { activation, .. } => Some(*activation),
                _ => None,
            })
            .nth(l)
            .expect("one dense step per hidden layer")
    }

    pub fn leaky_slope(&self) -> f64 {
        self.leaky_slope
    }

    pub fn output_kind(&self) -> Output {
        self.output_kind
    }

    /// The float type of the weights (that of the output layer; a module holds one).
    pub fn weight_dtype(&self) -> burn::tensor::DType {
        self.output.weight.val().dtype()
    }

    /// How the training step computes its gradients.
    pub fn gradients(&self) -> Gradients {
        self.gradients
    }

    /// Selects how the training step computes its gradients.
    pub fn with_gradients(mut self, gradients: Gradients) -> Self {
        self.gradients = gradients;
        self
    }

    /// Output-layer scores `Z[L]` (logits) for a batch of inputs `[batch, inputs]` (images
    /// flattened row by row).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let batch = x.dims()[0];
        let mut signal = match self.input {
            Shape::Image {
                channels,
                height,
                width,
            } => Signal::Image(x.reshape([batch, channels, height, width])),
            _ => Signal::Flat(x),
        };
        let (mut dense, mut conv, mut recurrent) =
            (self.hidden.iter(), self.conv.iter(), self.recurrent.iter());
        for step in &self.steps {
            signal = match *step {
                Step::Dense { activation, pieces } => {
                    let layer = dense.next().expect("a dense module per dense step");
                    let z = layer.forward(signal.flat());
                    Signal::Flat(self.activate_dense(activation, pieces, z))
                }
                Step::Conv {
                    activation,
                    kernel,
                    stride,
                    pad,
                } => {
                    let layer = conv.next().expect("a conv module per conv step");
                    let z = convolve(layer, signal.image(), kernel, stride, pad);
                    Signal::Image(self.activate(activation, z))
                }
                Step::MaxPool { size, stride } => Signal::Image(
                    MaxPool2dConfig::new([size, size])
                        .with_strides([stride, stride])
                        .init()
                        .forward(signal.image()),
                ),
                Step::AvgPool { size, stride } => Signal::Image(
                    AvgPool2dConfig::new([size, size])
                        .with_strides([stride, stride])
                        .init()
                        .forward(signal.image()),
                ),
                // Active only on an autodiff device: identity when evaluating or predicting.
                Step::Dropout { p } => {
                    let dropout = DropoutConfig::new(p).init();
                    match signal {
                        Signal::Flat(x) => Signal::Flat(dropout.forward(x)),
                        Signal::Image(x) => Signal::Image(dropout.forward(x)),
                        Signal::Sequence(x) => Signal::Sequence(dropout.forward(x)),
                    }
                }
                Step::Recurrent => {
                    let x = signal.sequence();
                    Signal::Sequence(
                        match recurrent.next().expect("a module per recurrent step") {
                            Recurrent::Lstm(lstm) => lstm.forward(x, None).0,
                            Recurrent::Gru(gru) => gru.forward(x, None),
                            Recurrent::Rnn(rnn) => rnn.forward(x, None).0,
                        },
                    )
                }
            };
        }
        self.output.forward(signal.flat())
    }

    /// A dense layer's activation of its pre-activations `z`; for maxout, `z` holds `pieces`
    /// consecutive columns per unit and each unit takes their largest.
    pub fn activate_dense(&self, activation: Activation, pieces: usize, z: Tensor<2>) -> Tensor<2> {
        if activation == Activation::Maxout {
            let [batch, columns] = z.dims();
            let units = columns / pieces;
            z.reshape([batch, units, pieces])
                .max_dim(2)
                .reshape([batch, units])
        } else {
            self.activate(activation, z)
        }
    }

    /// An element-wise activation `g` (maxout is handled by [`Self::activate_dense`]).
    pub fn activate<const D: usize>(&self, activation: Activation, z: Tensor<D>) -> Tensor<D> {
        match activation {
            Activation::Tanh => activation::tanh(z),
            Activation::Relu => activation::relu(z),
            Activation::Sigmoid => activation::sigmoid(z),
            Activation::LeakyRelu => activation::leaky_relu(z, self.leaky_slope),
            Activation::Maxout => unreachable!("maxout is a dense layer's, not element-wise"),
        }
    }

    /// Class scores with one column per class: a sigmoid output's `z` becomes `[0, z]`, whose
    /// softmax is `[1 − σ(z), σ(z)]`, so accuracy and argmax work for every output kind.
    pub fn class_scores(&self, output: Tensor<2>) -> Tensor<2> {
        match self.output_kind {
            Output::Sigmoid => Tensor::cat(vec![output.zeros_like(), output], 1),
            _ => output,
        }
    }

    /// Logits and mean cross-entropy of a classification batch. The loss is written on the
    /// logits (log-softmax inside Burn's cross-entropy; softplus for the sigmoid), so large
    /// scores cannot overflow the way `log(softmax(z))` would.
    pub fn forward_classification(&self, batch: Batch) -> ClassificationOutput {
        let scores = self.class_scores(self.forward(batch.inputs));
        let loss = cross_entropy(scores.clone(), batch.targets.clone());
        ClassificationOutput {
            loss,
            output: scores,
            targets: batch.targets,
        }
    }

    /// What the first layer with weights looks at, as pictures of `(rows, columns)` values: the
    /// input weights of each dense unit (or maxout piece, or output unit when there is no hidden
    /// layer) over a one-channel image, or each conv filter's kernel per input channel. `None`
    /// for flat inputs and recurrent first layers (their weights are not images). At most
    /// [`MAX_FILTER_TILES`] pictures.
    pub fn first_layer_filters(&self) -> Option<Filters> {
        let Shape::Image {
            channels,
            height,
            width,
        } = self.input
        else {
            return None;
        };
        let first = self
            .steps
            .iter()
            .find(|s| !matches!(s, Step::Dropout { .. }));
        let (values, tile) = match first {
            Some(Step::Conv { .. }) => {
                let weight = self.conv[0].weight.val();
                let [_, _, kh, kw] = weight.dims();
                (to_f64s(weight), (kh, kw))
            }
            Some(Step::Dense { .. }) | None if channels == 1 => {
                let linear = self.layers().next().expect("an output layer");
                // Burn stores `[inputs, outputs]`: unit j's picture is column j.
                (to_f64s(linear.weight.val().transpose()), (height, width))
            }
            _ => return None,
        };
        let tiles = values
            .chunks(tile.0 * tile.1)
            .take(MAX_FILTER_TILES)
            .map(<[f64]>::to_vec)
            .collect();
        Some((tiles, tile))
    }
}

/// The convolution of `layer` as batched matrix products over the image's patches (im2col):
/// one gather copies every `k × k` patch of the zero-padded input into columns
/// `[batch, c·k·k, h′·w′]`, which the filters `[out, c·k·k]` multiply. The same numbers as
/// `Conv2d::forward`; on the CPU backend the work and its gradients become matrix products and a
/// scatter-add, about twice as fast to train as Burn's direct convolution (see BENCHMARKS.md).
pub fn convolve(
    layer: &Conv2d,
    x: Tensor<4>,
    kernel: usize,
    stride: usize,
    pad: usize,
) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let (padded_h, padded_w) = (height + 2 * pad, width + 2 * pad);
    let (out_h, out_w) = (
        (padded_h - kernel) / stride + 1,
        (padded_w - kernel) / stride + 1,
    );
    let x = if pad > 0 {
        x.pad(
            [(pad, pad), (pad, pad)],
            burn::tensor::ops::PadMode::Constant(0.0),
        )
    } else {
        x
    };
    // Where column (c, i, j) row (r, q) reads in one padded image, laid out as the filters are.
    let mut at = Vec::with_capacity(channels * kernel * kernel * out_h * out_w);
    for c in 0..channels {
        for i in 0..kernel {
            for j in 0..kernel {
                for r in 0..out_h {
                    let row = c * padded_h * padded_w + (r * stride + i) * padded_w;
                    at.extend((0..out_w).map(|q| (row + q * stride + j) as i64));
                }
            }
        }
    }
    let n = at.len();
    let at = Tensor::<1, Int>::from_data(TensorData::new(at, [n]), &x.device());
    let columns = x
        .reshape([batch, channels * padded_h * padded_w])
        .select(1, at)
        .reshape([batch, channels * kernel * kernel, out_h * out_w]);
    let weight = layer.weight.val();
    let filters = weight.dims()[0];
    let mut z = weight
        .reshape([1, filters, channels * kernel * kernel])
        .matmul(columns);
    if let Some(bias) = &layer.bias {
        z = z + bias.val().reshape([1, filters, 1]);
    }
    z.reshape([batch, filters, out_h, out_w])
}

/// Mean cross-entropy of class scores (log-softmax inside, so no overflow) for class indices.
pub fn cross_entropy(scores: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&scores.device())
        .forward(scores, targets)
}

/// `½·mean over rows of Σ_outputs (z − y)²`. Written with `mean` and an exact `× 0.5`: Burn's
/// autodiff applies scalar factors such as `/(2n)` in f32, which would cap f64 gradient checks at
/// ~1e-8.
pub fn half_squared_error(z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let r = z - y;
    (r.clone() * r).sum_dim(1).mean().mul_scalar(0.5)
}
