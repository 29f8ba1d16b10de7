//! The course's networks, written once against Burn's backend-agnostic tensors: a stack of
//! layers (each kind in its own file under [`crate::network::layers`], which also checks the
//! shapes between them when the config loads) and an output layer with its loss (softmax and
//! cross-entropy, sigmoid and binary cross-entropy, or linear and squared error). With no layer
//! at all it is softmax (or logistic) regression.

use burn::module::{ModuleVisitor, Param};
use burn::nn::Linear;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::train::ClassificationOutput;

use crate::network::config::{Gradients, ModelConfig, Output};
use crate::network::layers::{Activation, Filters, Kernels, Picture, Shape, Signal, Step, dense};

/// A batch of inputs (flattened images, points in the plane) and their class labels.
#[derive(Debug, Clone)]
pub struct Batch {
    pub inputs: Tensor<2>,
    pub targets: Tensor<1, Int>,
}

/// The network: its layers in stack order, then the output layer.
#[derive(Module, Debug)]
pub struct Network {
    /// One module per layer of the stack (`layers.<i>.<Kind>…` in checkpoints).
    layers: Vec<Step>,
    output: Linear,
    #[module(skip)]
    input: Shape,
    #[module(skip)]
    leaky_slope: f64,
    #[module(skip)]
    output_kind: Output,
    #[module(skip)]
    gradients: Gradients,
    #[module(skip)]
    kernels: Kernels,
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
        let defaults = self.defaults();
        let last = shapes.last().unwrap_or(&input).dense_inputs();
        let output = dense::linear(last, outputs, &defaults, device);
        let layers: Vec<Step> = stack
            .iter()
            .zip(std::iter::once(&input).chain(&shapes))
            .map(|(layer, &before)| layer.build(before, &defaults, device))
            .collect();
        // Burn draws a parameter's initial values when it is first read. Reading them in the
        // order the network kept them before its layers were one list (dense layers, then
        // convolutions, then recurrent layers, then the output layer) keeps the weights of
        // seeded runs what they were.
        let group = |step: &Step| {
            ["hidden", "conv", "recurrent"]
                .iter()
                .position(|g| legacy_group(step).is_some_and(|(group, _)| group == *g))
                .unwrap_or(3)
        };
        let mut order: Vec<&Step> = layers.iter().collect();
        order.sort_by_key(|step| group(step));
        for step in order {
            step.visit(&mut Materialize);
        }
        output.visit(&mut Materialize);
        Network {
            layers,
            output,
            input,
            leaky_slope: self.leaky_slope,
            output_kind: self.output,
            gradients: Gradients::Autodiff,
            kernels: Kernels::default(),
        }
    }
}

/// Reads every parameter it visits, which draws the initial values of a fresh one.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// The group a layer was kept in before the layers were one list (until December 2026), and
/// where its tensors sit inside its step now: checkpoints of that time name their tensors by
/// group (`hidden.<d>`, `conv.<c>`, `recurrent.<r>`; see `store`), and seeded runs drew their
/// initial weights group by group. Kinds added since were in no group.
pub(crate) fn legacy_group(step: &Step) -> Option<(&'static str, &'static str)> {
    match step.variant() {
        "Dense" => Some(("hidden", "Dense.linear.")),
        "Conv2d" => Some(("conv", "Conv2d.conv.")),
        "Lstm" | "Gru" | "Rnn" => Some(("recurrent", "")),
        _ => None,
    }
}

/// The most first-layer units drawn in `first_layer.png`.
pub(crate) const MAX_FILTER_TILES: usize = 256;

/// The largest weight magnitude a loaded file may hold: far above anything a training writes,
/// far below where a product of two such values overflows f32 (`3.4·10³⁸`).
pub(crate) const MAX_WEIGHT: f64 = 1e10;

/// The first parameter entry that is not finite or exceeds [`MAX_WEIGHT`] in magnitude, with its
/// tensor's name.
#[derive(Default)]
struct FirstBadWeight {
    path: Vec<String>,
    found: Option<String>,
}

impl ModuleVisitor for FirstBadWeight {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.found.is_some() {
            return;
        }
        let values = crate::numeric::to_f64s(param.val());
        if let Some((index, value)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && v.abs() <= MAX_WEIGHT))
        {
            self.found = Some(format!(
                "tensor {} holds {value:e} at flat index {index} (weights must be finite and \
                 within ±{MAX_WEIGHT:e})",
                self.path.join(".")
            ));
        }
    }
}

impl Network {
    /// What is wrong with the weights, if any is not finite or absurdly large: checked on every
    /// load, so damaged or foreign weights are refused by name instead of evaluating to NaN.
    pub(crate) fn bad_weight(&self) -> Option<String> {
        let mut visitor = FirstBadWeight::default();
        self.visit(&mut visitor);
        visitor.found
    }

    /// What runs, in order: one step per layer of the stack.
    pub fn steps(&self) -> &[Step] {
        &self.layers
    }

    /// The shape of one input example.
    pub fn input(&self) -> Shape {
        self.input
    }

    /// The output layer.
    pub fn output(&self) -> &Linear {
        &self.output
    }

    /// The dense layers from input to output: each hidden layer, then the output layer.
    pub fn layers(&self) -> impl Iterator<Item = &Linear> {
        self.layers
            .iter()
            .filter_map(|s| s.dense().map(|(linear, _)| linear))
            .chain(std::iter::once(&self.output))
    }

    /// Whether every layer is dense with an element-wise activation: the networks the explicit
    /// back-propagation (`backprop`) covers.
    pub(crate) fn is_dense(&self) -> bool {
        self.layers
            .iter()
            .all(|s| matches!(s.dense(), Some((_, a)) if a != Activation::Maxout))
    }

    /// The same network with its randomness switched off (dropout `p = 0`): what a gradient
    /// check differentiates, since a fresh random mask per forward pass has no finite
    /// differences.
    pub fn without_dropout(mut self) -> Self {
        self.layers = self.layers.into_iter().map(Step::deterministic).collect();
        self
    }

    /// The activation of hidden dense layer `l` (0-based among the dense layers).
    pub(crate) fn hidden_activation(&self, l: usize) -> Activation {
        self.layers
            .iter()
            .filter_map(|s| s.dense().map(|(_, a)| a))
            .nth(l)
            .expect("one dense step per hidden layer")
    }

    pub fn leaky_slope(&self) -> f64 {
        self.leaky_slope
    }

    pub(crate) fn output_kind(&self) -> Output {
        self.output_kind
    }

    /// The float type of the weights (that of the output layer; a module holds one).
    pub(crate) fn weight_dtype(&self) -> burn::tensor::DType {
        self.output.weight.val().dtype()
    }

    /// How the training step computes its gradients.
    pub fn gradients(&self) -> Gradients {
        self.gradients
    }

    /// Selects how the training step computes its gradients.
    pub(crate) fn with_gradients(mut self, gradients: Gradients) -> Self {
        self.gradients = gradients;
        self
    }

    /// Selects the implementation of the layers' steps: the fused CPU kernels where they apply,
    /// or Burn's generic operations everywhere.
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
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
        for layer in &self.layers {
            signal = layer.forward(signal, self.kernels);
        }
        self.output.forward(signal.flat())
    }

    /// The output of each layer of the stack for flat inputs `x` (`[batch, units]`; layers whose
    /// output is not flat are left out): what each hidden unit computes, for the playground's
    /// picture of the network.
    pub(crate) fn layer_outputs(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        let mut signal = Signal::Flat(x);
        let mut outputs = Vec::new();
        for layer in &self.layers {
            signal = match layer.forward(signal, self.kernels) {
                Signal::Flat(y) => {
                    outputs.push(y.clone());
                    Signal::Flat(y)
                }
                other => other,
            };
        }
        outputs
    }

    /// An element-wise activation `g` with the network's leaky slope.
    pub(crate) fn activate<const D: usize>(
        &self,
        activation: Activation,
        z: Tensor<D>,
    ) -> Tensor<D> {
        activation.apply(z, self.leaky_slope)
    }

    /// Class scores with one column per class: a sigmoid output's `z` becomes `[0, z]`, whose
    /// softmax is `[1 − σ(z), σ(z)]`, so accuracy and argmax work for every output kind.
    pub(crate) fn class_scores(&self, output: Tensor<2>) -> Tensor<2> {
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
    /// for flat inputs and for first layers whose weights are not images. At most
    /// `MAX_FILTER_TILES` pictures.
    pub fn first_layer_filters(&self) -> Option<Filters> {
        if !matches!(self.input, Shape::Image { .. }) {
            return None;
        }
        let first = self
            .layers
            .iter()
            .map(|layer| layer.picture(self.input))
            .find(|picture| !matches!(picture, Picture::Transparent));
        let (mut tiles, tile) = match first {
            Some(Picture::Filters(filters)) => filters,
            Some(_) => return None,
            None => dense::filters(&self.output, self.input)?,
        };
        tiles.truncate(MAX_FILTER_TILES);
        Some((tiles, tile))
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
pub(crate) fn half_squared_error(z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let r = z - y;
    (r.clone() * r).sum_dim(1).mean().mul_scalar(0.5)
}
