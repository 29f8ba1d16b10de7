//! The multi-layer perceptron of the course: `Z[l] = A[l-1]·W[l] + b[l]`, `A[l] = g(Z[l])`, and a
//! softmax output trained with cross-entropy. Written once against Burn's backend-agnostic tensors.

use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::config::{Activation, Init, ModelConfig};
use crate::data::ImageBatch;

/// `inputs → hidden… → classes`. With no hidden layer it is softmax regression.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    output: Linear,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    leaky_slope: f64,
}

impl ModelConfig {
    /// Builds the network with the configured weight init and zero biases.
    pub fn init(&self, inputs: usize, classes: usize, device: &Device) -> Mlp {
        let mut widths = vec![inputs];
        widths.extend(&self.hidden);
        let hidden = widths
            .windows(2)
            .map(|w| self.layer(w[0], w[1], device))
            .collect();
        let output = self.layer(*widths.last().expect("inputs"), classes, device);
        Mlp {
            hidden,
            output,
            activation: self.activation,
            leaky_slope: self.leaky_slope,
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
        };
        let mut linear = LinearConfig::new(d_in, d_out)
            .with_initializer(initializer)
            .init(device);
        linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
        linear
    }
}

impl Mlp {
    /// The layers from input to output: each hidden layer, then the output layer.
    pub fn layers(&self) -> impl Iterator<Item = &Linear> {
        self.hidden.iter().chain(std::iter::once(&self.output))
    }

    /// Class scores (logits) for a batch of flattened images `[batch, inputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let a = self
            .hidden
            .iter()
            .fold(x, |a, layer| self.activate(layer.forward(a)));
        self.output.forward(a)
    }

    fn activate(&self, z: Tensor<2>) -> Tensor<2> {
        match self.activation {
            Activation::Tanh => activation::tanh(z),
            Activation::Relu => activation::relu(z),
            Activation::Sigmoid => activation::sigmoid(z),
            Activation::LeakyRelu => activation::leaky_relu(z, self.leaky_slope),
        }
    }

    /// Logits and mean cross-entropy. Burn's loss works on log-softmax, so large logits cannot
    /// overflow the way `log(softmax(z))` would.
    pub fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.forward(batch.images);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
        ClassificationOutput {
            loss,
            output: logits,
            targets: batch.targets,
        }
    }
}

impl TrainStep for Mlp {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.forward_classification(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for Mlp {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}
