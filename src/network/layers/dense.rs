//! The fully connected layer `A = g(A_prev·W + b)` (`type = "dense"`), and maxout: each unit the
//! largest of `pieces` linear functions of the input (Goodfellow et al., 2013), so the
//! activation itself is learned, piecewise linear. It reads an image flattened and a sequence's
//! last step. PyTorch: `nn.Linear` (`weight [out, in]`, `bias [out]`; maxout has
//! `units·pieces` outputs, the pieces of a unit adjacent). ONNX: `Gemm`, then the activation, or
//! `Reshape` + `ReduceMax` for maxout.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Kernels, 
    Activation, Defaults, Filters, Layer, LayerSettings, Picture, Shape, Signal, Source,
    size_setting, weight_and_bias,
};
use crate::error::Result;
use crate::interop::onnx::{Graph, attribute_int, attribute_ints};
use crate::interop::tensors::Raw;
use crate::numeric::to_f64s;

/// `[[model.layers]] type = "dense"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    pub units: usize,
    /// Unset: the model's `activation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// Maxout only: each unit is the largest of `pieces` linear functions of the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<usize>,
}

impl Dense {
    /// A dense layer of `units` with the model's activation (the `hidden = [..]` shorthand).
    pub fn of(units: usize) -> Self {
        Dense {
            units,
            activation: None,
            pieces: None,
        }
    }
}

/// The built layer: `units × pieces` outputs, then the activation.
#[derive(Module, Debug)]
pub struct DenseLayer {
    pub linear: Linear,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    pieces: usize,
    #[module(skip)]
    slope: f64,
}

/// A linear map of `inputs → outputs` with the model's weight init and zero biases (the
/// course's advice); also the network's output layer.
pub fn linear(inputs: usize, outputs: usize, defaults: &Defaults, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(inputs, outputs)
        .with_initializer(defaults.initializer.clone())
        .with_bias(defaults.bias)
        .init(device);
    if defaults.bias {
        linear.bias = Some(Param::from_tensor(Tensor::zeros([outputs], device)));
    }
    linear
}

impl LayerSettings for Dense {
    type Module = DenseLayer;

    fn check(&self, defaults: &Defaults) -> std::result::Result<(), String> {
        size_setting("units", self.units)?;
        let maxout = self.activation.unwrap_or(defaults.activation) == Activation::Maxout;
        match (maxout, self.pieces) {
            (true, Some(p)) if p >= 2 => size_setting("pieces", p),
            (true, _) => Err("maxout needs `pieces` ≥ 2 (the linear pieces per unit)".into()),
            (false, Some(_)) => Err("`pieces` applies to activation = \"maxout\" only".into()),
            (false, None) => Ok(()),
        }
    }

    fn output_shape(&self, _input: Shape) -> std::result::Result<Shape, String> {
        Ok(Shape::Flat(self.units))
    }

    fn parameters(&self, input: Shape, defaults: &Defaults) -> u128 {
        let outputs = self.units as u128 * self.pieces.unwrap_or(1) as u128;
        input.dense_inputs() as u128 * outputs + u128::from(defaults.bias) * outputs
    }

    fn summary(&self) -> String {
        format!("dense {}", self.units)
    }

    fn explicit_backprop(&self, defaults: &Defaults) -> bool {
        self.activation.unwrap_or(defaults.activation) != Activation::Maxout
    }

    fn build(&self, input: Shape, defaults: &Defaults, device: &Device) -> DenseLayer {
        let pieces = self.pieces.unwrap_or(1);
        DenseLayer {
            linear: linear(input.dense_inputs(), self.units * pieces, defaults, device),
            activation: self.activation.unwrap_or(defaults.activation),
            pieces,
            slope: defaults.leaky_slope,
        }
    }
}

/// Maxout of pre-activations `z` holding `pieces` consecutive columns per unit: each unit takes
/// their largest.
pub fn maxout(z: Tensor<2>, pieces: usize) -> Tensor<2> {
    let [batch, columns] = z.dims();
    let units = columns / pieces;
    z.reshape([batch, units, pieces])
        .max_dim(2)
        .reshape([batch, units])
}

/// ONNX: what a dense layer reads, from `x` of shape `shape` (an image flattened, a sequence's
/// last step).
fn onnx_flat(g: &mut Graph, x: String, shape: Shape) -> String {
    match shape {
        Shape::Flat(_) => x,
        Shape::Image { .. } => g.node("Flatten", &[&x], vec![attribute_int("axis", 1)]),
        Shape::Sequence { steps, .. } => {
            let last = g.int64s("last_step", &[steps as i64 - 1]);
            let step = g.node("Gather", &[&x, &last], vec![attribute_int("axis", 1)]);
            // [batch, 1, features] → [batch, features]
            g.node("Flatten", &[&step], vec![attribute_int("axis", 1)])
        }
    }
}

/// ONNX: the linear map `name` (its PyTorch-layout `weight` and `bias` in `tensors`) on `x` of
/// shape `shape`, read as a dense layer reads it; also the network's output layer.
pub(crate) fn onnx_linear(
    g: &mut Graph,
    x: String,
    shape: Shape,
    name: &str,
    tensors: &BTreeMap<String, Raw>,
) -> Result<String> {
    let x = onnx_flat(g, x, shape);
    g.with_weights("Gemm", x, tensors, name, vec![attribute_int("transB", 1)])
}

/// The input weights of each unit of `linear` over a one-channel image, as pictures; `None` on
/// other inputs.
pub(crate) fn filters(linear: &Linear, input: Shape) -> Option<Filters> {
    let Shape::Image {
        channels: 1,
        height,
        width,
    } = input
    else {
        return None;
    };
    // Burn stores `[inputs, outputs]`: unit j's picture is column j.
    let values = to_f64s(linear.weight.val().transpose());
    let tiles = values.chunks(height * width).map(<[f64]>::to_vec).collect();
    Some((tiles, (height, width)))
}

impl Layer for DenseLayer {
    fn forward(&self, x: Signal, _kernels: Kernels) -> Signal {
        let z = self.linear.forward(x.flat());
        Signal::Flat(if self.activation == Activation::Maxout {
            maxout(z, self.pieces)
        } else {
            self.activation.apply(z, self.slope)
        })
    }

    fn deterministic(self) -> Self {
        self
    }

    fn dense(&self) -> Option<(&Linear, Activation)> {
        Some((&self.linear, self.activation))
    }

    fn pytorch(&self, torch: &str, burn: &str) -> Vec<(String, Source)> {
        weight_and_bias(torch, &format!("{burn}.linear"), true)
    }

    fn onnx(
        &self,
        g: &mut Graph,
        x: String,
        input: Shape,
        name: &str,
        tensors: &BTreeMap<String, Raw>,
    ) -> Result<String> {
        let z = onnx_linear(g, x, input, name, tensors)?;
        if self.activation != Activation::Maxout {
            return Ok(self.activation.onnx(g, &z, self.slope));
        }
        let units = (self.linear.weight.dims()[1] / self.pieces) as i64;
        let dims = g.int64s("maxout_shape", &[-1, units, self.pieces as i64]);
        let grouped = g.node("Reshape", &[&z, &dims], vec![]);
        Ok(g.node(
            "ReduceMax",
            &[&grouped],
            vec![attribute_ints("axes", &[2]), attribute_int("keepdims", 0)],
        ))
    }

    fn description(&self) -> Value {
        json!({
            "type": "dense",
            "units": self.linear.weight.dims()[1] / self.pieces,
            "activation": self.activation.name(),
            "pieces": self.pieces,
        })
    }

    fn picture(&self, input: Shape) -> Picture {
        filters(&self.linear, input).map_or(Picture::None, Picture::Filters)
    }
}
