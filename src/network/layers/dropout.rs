//! Dropout (`type = "dropout"`): while training, each value is zeroed with probability `p` and
//! the rest scaled by `1/(1−p)`, so the expected value is unchanged; evaluating and predicting
//! leave the values as they are. Any shape, kept. No tensors; nothing in ONNX (identity when
//! predicting).

use std::collections::BTreeMap;

use burn::nn::DropoutConfig;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Kernels, Activation, Defaults, Layer, LayerSettings, Picture, Shape, Signal, Source};
use crate::error::Result;
use crate::interop::onnx::Graph;
use crate::interop::tensors::Raw;

/// `[[model.layers]] type = "dropout"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropout {
    pub p: f64,
}

/// The built layer.
#[derive(Module, Debug)]
pub struct DropoutLayer {
    #[module(skip)]
    p: f64,
}

impl LayerSettings for Dropout {
    type Module = DropoutLayer;

    fn check(&self, _defaults: &Defaults) -> std::result::Result<(), String> {
        if (0.0..1.0).contains(&self.p) {
            Ok(())
        } else {
            Err(format!("p must be in [0, 1), got {}", self.p))
        }
    }

    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        Ok(input)
    }

    fn parameters(&self, _input: Shape, _defaults: &Defaults) -> u128 {
        0
    }

    fn summary(&self) -> String {
        format!("dropout {}", self.p)
    }

    fn explicit_backprop(&self, _defaults: &Defaults) -> bool {
        false
    }

    fn build(&self, _input: Shape, _defaults: &Defaults, _device: &Device) -> DropoutLayer {
        DropoutLayer { p: self.p }
    }
}

impl DropoutLayer {
    /// Burn's dropout, or the fused kernel's (one pass, its mask from a counter-based generator).
    fn drop<const D: usize>(&self, x: Tensor<D>, kernels: Kernels) -> Tensor<D> {
        if !x.device().is_autodiff() || self.p == 0.0 {
            x
        } else if kernels.use_fused(&x) {
            super::kernels::dropout::dropout(x, self.p)
        } else {
            DropoutConfig::new(self.p).init().forward(x)
        }
    }
}

impl Layer for DropoutLayer {
    /// Active only on an autodiff device: identity when evaluating or predicting.
    fn forward(&self, x: Signal, kernels: Kernels) -> Signal {
        match x {
            Signal::Flat(x) => Signal::Flat(self.drop(x, kernels)),
            Signal::Image(x) => Signal::Image(self.drop(x, kernels)),
            Signal::Sequence(x) => Signal::Sequence(self.drop(x, kernels)),
        }
    }

    /// `p = 0`: a fresh random mask per forward pass has no finite differences.
    fn deterministic(self) -> Self {
        DropoutLayer { p: 0.0 }
    }

    fn dense(&self) -> Option<(&burn::nn::Linear, Activation)> {
        None
    }

    fn pytorch(&self, _torch: &str, _burn: &str) -> Vec<(String, Source)> {
        Vec::new()
    }

    fn onnx(
        &self,
        _g: &mut Graph,
        x: String,
        _input: Shape,
        _name: &str,
        _tensors: &BTreeMap<String, Raw>,
    ) -> Result<String> {
        Ok(x)
    }

    fn description(&self) -> Value {
        json!({ "type": "dropout", "p": self.p })
    }

    fn picture(&self, _input: Shape) -> Picture {
        Picture::Transparent
    }
}
