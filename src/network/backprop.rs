//! Back-propagation written out, as the course derives it, on Burn tensors without autodiff:
//! a forward pass that keeps every layer's input `A[l−1]` and pre-activation `Z[l]`, then
//! `∂L/∂Z[L] = (A[L] − Y)/n` for softmax + cross-entropy, sigmoid + binary cross-entropy and
//! linear + ½·squared error alike, and for each layer from the top
//! `dW[l] = A[l−1]ᵀ·dZ[l]`, `db[l] = Σ_rows dZ[l]`, `dZ[l−1] = (dZ[l]·W[l]ᵀ) ⊙ g′(Z[l−1])` with
//! `σ′ = a(1−a)`, `tanh′ = 1 − a²`, `relu′ = [z > 0]`, `leaky_relu′ = [z > 0] + s·[z ≤ 0]`.
//! The gradients feed the same optimizer step as autodiff's (`gradients = "manual"`).

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation;
use burn::train::ClassificationOutput;

use crate::network::config::{Activation, Gradients, Output};
use crate::network::model::Batch;
use crate::network::model::{Network, cross_entropy, half_squared_error};
use crate::numeric::logistic_loss;

/// What the network is trained to produce.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Class indices (softmax or sigmoid output).
    Classes(Tensor<1, Int>),
    /// Target values, one column per output unit (linear output).
    Values(Tensor<2>),
}

/// `∂L/∂W` and `∂L/∂b` of one layer.
#[derive(Debug, Clone)]
pub(crate) struct LayerGradients {
    pub weight: Tensor<2>,
    pub bias: Option<Tensor<1>>,
}

/// The mean loss, the output scores `Z[L]` and every layer's gradients (input to output), all
/// computed by the formulas in the module docs. Tensors are taken off autodiff first, so no
/// graph is built.
pub(crate) fn loss_and_gradients(
    model: &Network,
    x: Tensor<2>,
    targets: &Targets,
) -> (Tensor<1>, Tensor<2>, Vec<LayerGradients>) {
    let layers: Vec<_> = model.layers().collect();
    let weight = |l: usize| layers[l].weight.val().inner();
    let bias = |l: usize| layers[l].bias.as_ref().map(|b| b.val().inner());
    let affine = |l: usize, a: Tensor<2>| {
        let z = a.matmul(weight(l));
        match bias(l) {
            Some(b) => z + b.unsqueeze(),
            None => z,
        }
    };
    // Forward: inputs[l] is A[l−1], the input of layer l; pre[l] is Z[l] of hidden layer l.
    let mut inputs = vec![x.inner()];
    let mut pre = Vec::new();
    for l in 0..layers.len() - 1 {
        let z = affine(l, inputs[l].clone());
        inputs.push(model.activate(model.hidden_activation(l), z.clone()));
        pre.push(z);
    }
    let last = layers.len() - 1;
    let z = affine(last, inputs[last].clone());
    let n = z.dims()[0] as f64;
    let (loss, mut delta) = match (model.output_kind(), targets) {
        (Output::Softmax, Targets::Classes(t)) => {
            let t = t.clone().inner();
            let y: Tensor<2> = t.clone().one_hot::<2>(z.dims()[1]).float();
            let p = activation::softmax(z.clone(), 1);
            (cross_entropy(z.clone(), t), (p - y).div_scalar(n))
        }
        (Output::Sigmoid, Targets::Classes(t)) => {
            let y: Tensor<2> = t.clone().inner().float().unsqueeze_dim(1);
            let loss = logistic_loss(z.clone(), y.clone()).mean();
            (loss, (activation::sigmoid(z.clone()) - y).div_scalar(n))
        }
        (Output::Linear, Targets::Values(y)) => {
            let residual = z.clone() - y.clone().inner();
            (
                half_squared_error(z.clone(), y.clone().inner()),
                residual.div_scalar(n),
            )
        }
        (kind, _) => panic!("targets do not match a {kind:?} output"),
    };
    // Backward, from the output layer down.
    let mut gradients = Vec::with_capacity(layers.len());
    for l in (0..layers.len()).rev() {
        gradients.push(LayerGradients {
            weight: inputs[l].clone().transpose().matmul(delta.clone()),
            bias: layers[l]
                .bias
                .as_ref()
                .map(|_| delta.clone().sum_dim(0).squeeze_dim(0)),
        });
        if l > 0 {
            let upstream = delta.matmul(weight(l).transpose());
            let g = model.hidden_activation(l - 1);
            delta = upstream * derivative(g, model.leaky_slope(), &pre[l - 1], &inputs[l]);
        }
    }
    gradients.reverse();
    (loss, z, gradients)
}

/// `g′(Z)` of an element-wise hidden activation, from `Z` and `A = g(Z)`.
pub fn derivative(activation: Activation, slope: f64, z: &Tensor<2>, a: &Tensor<2>) -> Tensor<2> {
    match activation {
        Activation::Sigmoid => a.clone() * a.clone().neg().add_scalar(1.0),
        Activation::Tanh => a.clone().powi_scalar(2).neg().add_scalar(1.0),
        Activation::Relu => z.clone().greater_elem(0.0).float(),
        Activation::LeakyRelu => z
            .clone()
            .greater_elem(0.0)
            .float()
            .mul_scalar(1.0 - slope)
            .add_scalar(slope),
        Activation::Maxout => unreachable!("the config refuses manual gradients for maxout"),
    }
}

/// The gradients keyed by parameter, ready for the optimizer.
pub(crate) fn to_params(model: &Network, gradients: Vec<LayerGradients>) -> GradientsParams {
    let mut params = GradientsParams::new();
    for (layer, g) in model.layers().zip(gradients) {
        params.register(layer.weight.id, g.weight);
        if let (Some(b), Some(gb)) = (&layer.bias, g.bias) {
            params.register(b.id, gb);
        }
    }
    params
}

/// One training step of a classification batch with manual gradients.
pub fn classification_step(
    model: &Network,
    batch: Batch,
) -> (ClassificationOutput, GradientsParams) {
    let targets = batch.targets.inner();
    let (loss, z, gradients) =
        loss_and_gradients(model, batch.inputs, &Targets::Classes(targets.clone()));
    let item = ClassificationOutput {
        loss,
        output: model.class_scores(z),
        targets,
    };
    (item, to_params(model, gradients))
}

/// The mean loss, class scores and gradients of one training batch, by Burn's autodiff or by
/// the explicit formulas above, as the model is configured (`training.gradients`). Both feed
/// the same optimizer step.
pub fn step(model: &Network, batch: Batch) -> (ClassificationOutput, GradientsParams) {
    match model.gradients() {
        Gradients::Autodiff => {
            let item = model.forward_classification(batch);
            let grads = GradientsParams::from_grads(item.loss.backward(), model);
            (item, grads)
        }
        Gradients::Manual => classification_step(model, batch),
    }
}
