//! The multi-layer perceptron of the course: `Z[l] = A[l-1]·W[l] + b[l]`, `A[l] = g(Z[l])`, and an
//! output layer with its loss (softmax + cross-entropy, sigmoid + binary cross-entropy, or linear +
//! squared error). Written once against Burn's backend-agnostic tensors.

use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation;
use burn::train::ClassificationOutput;

use crate::mlp::config::{Activation, Gradients, Init, ModelConfig, Output};
use crate::mlp::data::batcher::Batch;

/// `inputs → hidden… → outputs`. With no hidden layer it is softmax (or logistic) regression.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    output: Linear,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    leaky_slope: f64,
    #[module(skip)]
    output_kind: Output,
    #[module(skip)]
    gradients: Gradients,
}

impl ModelConfig {
    /// Builds the network with the configured weight init and zero biases. `classes` is the
    /// number of classes (softmax), ignored for a sigmoid output (one unit), the number of
    /// targets for a linear output.
    pub fn init(&self, inputs: usize, classes: usize, device: &Device) -> Mlp {
        let outputs = if self.output == Output::Sigmoid {
            1
        } else {
            classes
        };
        let mut widths = vec![inputs];
        widths.extend(&self.hidden);
        let hidden = widths
            .windows(2)
            .map(|w| self.layer(w[0], w[1], device))
            .collect();
        let output = self.layer(*widths.last().expect("inputs"), outputs, device);
        Mlp {
            hidden,
            output,
            activation: self.activation,
            leaky_slope: self.leaky_slope,
            output_kind: self.output,
            gradients: Gradients::Autodiff,
        }
    }

    fn layer(&self, d_in: usize, d_out: usize, device: &Device) -> Linear {
        let initializer = match self.init {
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
        };
        let mut linear = LinearConfig::new(d_in, d_out)
            .with_initializer(initializer)
            .with_bias(self.bias)
            .init(device);
        if self.bias {
            linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
        }
        linear
    }
}

impl Mlp {
    /// The layers from input to output: each hidden layer, then the output layer.
    pub fn layers(&self) -> impl Iterator<Item = &Linear> {
        self.hidden.iter().chain(std::iter::once(&self.output))
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    pub fn leaky_slope(&self) -> f64 {
        self.leaky_slope
    }

    pub fn output_kind(&self) -> Output {
        self.output_kind
    }

    /// The float type of the weights (that of the first layer; a module holds one).
    pub fn weight_dtype(&self) -> burn::tensor::DType {
        self.layers()
            .next()
            .expect("a network has an output layer")
            .weight
            .val()
            .dtype()
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

    /// Output-layer scores `Z[L]` (logits) for a batch of inputs `[batch, inputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let a = self
            .hidden
            .iter()
            .fold(x, |a, layer| self.activate(layer.forward(a)));
        self.output.forward(a)
    }

    /// The hidden activation `g`.
    pub fn activate(&self, z: Tensor<2>) -> Tensor<2> {
        match self.activation {
            Activation::Tanh => activation::tanh(z),
            Activation::Relu => activation::relu(z),
            Activation::Sigmoid => activation::sigmoid(z),
            Activation::LeakyRelu => activation::leaky_relu(z, self.leaky_slope),
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
