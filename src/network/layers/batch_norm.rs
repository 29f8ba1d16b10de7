//! Batch normalisation (`type = "batch_norm"`; Ioffe & Szegedy, 2015): each channel of an image
//! (after conv2d or pooling) or each feature of a flat input (after a dense layer) is
//! standardised, `x̂ = (x − μ)/√(σ² + ε)`, then scaled and shifted by trained values,
//! `y = γ·x̂ + β`. While training, μ and σ² are the batch's own (over the batch and, for an
//! image, every pixel of the channel), and running estimates follow them,
//! `μ_run ← (1 − m)·μ_run + m·μ`, `σ²_run ← (1 − m)·σ²_run + m·σ²·n/(n − 1)` (the unbiased
//! variance, as PyTorch keeps it); evaluating and predicting use the running estimates, so a
//! prediction does not depend on the rest of its batch. `momentum` m and `epsilon` ε default to
//! PyTorch's 0.1 and 1e-5.
//!
//! PyTorch: `nn.BatchNorm2d` after an image, `nn.BatchNorm1d` after a dense layer: `weight`
//! (γ), `bias` (β), `running_mean`, `running_var`, `num_batches_tracked` (an int64 count, here
//! the training batches seen). ONNX: `BatchNormalization` with the running estimates.

use std::collections::BTreeMap;

use burn::module::{Param, RunningState};
use burn::nn::Initializer;
use burn::prelude::*;
use burn::tensor::module::{batch_norm, batch_norm_train};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Kernels, Activation, Defaults, Layer, LayerSettings, Picture, Shape, Signal, Source};
use crate::error::Result;
use crate::interop::onnx::{Graph, attribute_float};
use crate::interop::tensors::Raw;

/// `[[model.layers]] type = "batch_norm"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm {
    /// How far the running estimates move towards each batch's statistics.
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Added to the variance before the square root.
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
}

fn default_momentum() -> f64 {
    0.1
}

fn default_epsilon() -> f64 {
    1e-5
}

/// The built layer.
#[derive(Module, Debug)]
pub struct BatchNormLayer {
    /// γ, one per channel or feature.
    pub gamma: Param<Tensor<1>>,
    /// β.
    pub beta: Param<Tensor<1>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    /// Training batches seen, as one value (PyTorch's `num_batches_tracked`).
    pub batches: RunningState<Tensor<1>>,
    #[module(skip)]
    momentum: f64,
    #[module(skip)]
    epsilon: f64,
}

/// The channels (image) or features (flat) normalised.
fn features(input: Shape) -> usize {
    match input {
        Shape::Image { channels, .. } => channels,
        other => other.size(),
    }
}

impl LayerSettings for BatchNorm {
    type Module = BatchNormLayer;

    fn check(&self, _defaults: &Defaults) -> std::result::Result<(), String> {
        if !(self.momentum > 0.0 && self.momentum <= 1.0) {
            return Err(format!("momentum must be in (0, 1], got {}", self.momentum));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(format!(
                "epsilon must be a positive number, got {}",
                self.epsilon
            ));
        }
        Ok(())
    }

    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        match input {
            Shape::Sequence { .. } => Err(
                "batch_norm normalises an image's channels or a flat input's features; after a \
                 recurrent layer, put a dense layer before it"
                    .into(),
            ),
            other => Ok(other),
        }
    }

    /// γ and β, and the running mean and variance and the batch count Burn keeps beside them.
    fn parameters(&self, input: Shape, _defaults: &Defaults) -> u128 {
        4 * features(input) as u128 + 1
    }

    fn summary(&self) -> String {
        "batch_norm".into()
    }

    fn explicit_backprop(&self, _defaults: &Defaults) -> bool {
        false
    }

    fn build(&self, input: Shape, _defaults: &Defaults, device: &Device) -> BatchNormLayer {
        let n = features(input);
        BatchNormLayer {
            gamma: Initializer::Ones.init([n], device),
            beta: Initializer::Zeros.init([n], device),
            running_mean: RunningState::new(Tensor::zeros([n], device)),
            running_var: RunningState::new(Tensor::ones([n], device)),
            batches: RunningState::new(Tensor::zeros([1], device)),
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }
}

impl BatchNormLayer {
    fn normalise<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let device = x.device();
        if !device.is_autodiff() {
            return batch_norm(
                x,
                self.gamma.val(),
                self.beta.val(),
                self.running_mean.value().to_device(&device),
                self.running_var.value().to_device(&device),
                self.epsilon,
            );
        }
        let values: usize = x.dims().iter().product();
        let per_feature = values / x.dims()[1];
        let out = batch_norm_train(x, self.gamma.val(), self.beta.val(), self.epsilon);
        let m = self.momentum;
        // PyTorch keeps the unbiased variance (a batch of one has none: the biased one is kept).
        let unbiased = if per_feature > 1 {
            per_feature as f64 / (per_feature - 1) as f64
        } else {
            1.0
        };
        let mean = self.running_mean.value_sync().to_device(&device);
        let var = self.running_var.value_sync().to_device(&device);
        let batches = self.batches.value_sync().to_device(&device);
        self.running_mean.update(
            mean.mul_scalar(1.0 - m)
                .add(out.mean.detach().mul_scalar(m))
                .detach(),
        );
        self.running_var.update(
            var.mul_scalar(1.0 - m)
                .add(out.variance.detach().mul_scalar(m * unbiased))
                .detach(),
        );
        self.batches.update(batches.add_scalar(1.0).detach());
        // Burn keeps an update aside until the next one; folding it in now means a checkpoint
        // saved after this batch holds the estimates this batch gave.
        for state in [&self.running_mean, &self.running_var, &self.batches] {
            let _ = state.value_sync();
        }
        out.output
    }
}

impl Layer for BatchNormLayer {
    fn forward(&self, x: Signal, _kernels: Kernels) -> Signal {
        match x {
            Signal::Flat(x) => Signal::Flat(self.normalise(x)),
            Signal::Image(x) => Signal::Image(self.normalise(x)),
            Signal::Sequence(_) => unreachable!("the shape rule refuses batch_norm here"),
        }
    }

    fn deterministic(self) -> Self {
        self
    }

    fn dense(&self) -> Option<(&burn::nn::Linear, Activation)> {
        None
    }

    fn pytorch(&self, torch: &str, burn: &str) -> Vec<(String, Source)> {
        let mut list: Vec<(String, Source)> = [
            ("weight", "gamma"),
            ("bias", "beta"),
            ("running_mean", "running_mean"),
            ("running_var", "running_var"),
        ]
        .into_iter()
        .map(|(theirs, ours)| {
            (
                format!("{torch}.{theirs}"),
                Source::one(format!("{burn}.{ours}"), false),
            )
        })
        .collect();
        list.push((
            format!("{torch}.num_batches_tracked"),
            Source::Count(format!("{burn}.batches")),
        ));
        list
    }

    fn onnx(
        &self,
        g: &mut Graph,
        x: String,
        _input: Shape,
        name: &str,
        tensors: &BTreeMap<String, Raw>,
    ) -> Result<String> {
        let mut inputs = vec![x];
        for part in ["weight", "bias", "running_mean", "running_var"] {
            let name = format!("{name}.{part}");
            inputs.push(g.weight(&name, &tensors[&name], &tensors[&name].shape)?);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(g.node(
            "BatchNormalization",
            &inputs,
            vec![attribute_float("epsilon", self.epsilon as f32)],
        ))
    }

    fn description(&self) -> Value {
        json!({
            "type": "batch_norm",
            "features": self.gamma.dims()[0],
            "momentum": self.momentum,
            "epsilon": self.epsilon,
        })
    }

    fn picture(&self, _input: Shape) -> Picture {
        // A per-channel scale and shift: the first layer with weights comes after it.
        Picture::Transparent
    }
}
