//! The hidden activation `g` of a dense or convolutional layer, on tensors and as an ONNX node.

use burn::prelude::*;
use burn::tensor::activation;
use serde::{Deserialize, Serialize};

use crate::interop::onnx::{Graph, attribute_float};

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

impl Activation {
    /// `g(z)` element-wise, `slope` being leaky relu's for negative inputs (maxout is a dense
    /// layer's own: see `dense::maxout`).
    pub fn apply<const D: usize>(self, z: Tensor<D>, slope: f64) -> Tensor<D> {
        match self {
            Activation::Tanh => activation::tanh(z),
            Activation::Relu => activation::relu(z),
            Activation::Sigmoid => activation::sigmoid(z),
            Activation::LeakyRelu => activation::leaky_relu(z, slope),
            Activation::Maxout => unreachable!("maxout is a dense layer's, not element-wise"),
        }
    }

    /// The ONNX node of `g` on `x`.
    pub fn onnx(self, g: &mut Graph, x: &str, slope: f64) -> String {
        match self {
            Activation::Relu => g.node("Relu", &[x], vec![]),
            Activation::Tanh => g.node("Tanh", &[x], vec![]),
            Activation::Sigmoid => g.node("Sigmoid", &[x], vec![]),
            Activation::LeakyRelu => g.node(
                "LeakyRelu",
                &[x],
                vec![attribute_float("alpha", slope as f32)],
            ),
            Activation::Maxout => unreachable!("maxout is a dense layer's"),
        }
    }

    /// The name in the experiment file.
    pub fn name(self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
