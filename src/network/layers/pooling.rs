//! Pooling over an image: the largest (`type = "max_pool2d"`) or the mean
//! (`type = "avg_pool2d"`) of each `size × size` window, windows `stride` apart (unset: `size`,
//! windows that do not overlap); `h′ = ⌊(h − size)/stride⌋ + 1`. No tensors. ONNX: `MaxPool`,
//! `AveragePool`.

use std::collections::BTreeMap;

use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::conv2d::NEEDS_IMAGE;
use super::kernels::pool::max_pool2d;
use super::{
    Activation, Defaults, Kernels, Layer, LayerSettings, Picture, Shape, Signal, Source,
    size_setting,
};
use crate::error::Result;
use crate::interop::onnx::{Graph, attribute_ints};
use crate::interop::tensors::Raw;

/// `[[model.layers]] type = "max_pool2d"` (`MAX`) or `"avg_pool2d"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool<const MAX: bool> {
    pub size: usize,
    /// Unset: `size` (windows that do not overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
}

pub(crate) type MaxPool2d = Pool<true>;
pub(crate) type AvgPool2d = Pool<false>;

impl<const MAX: bool> Pool<MAX> {
    /// The step between windows (`size` when unset).
    pub fn stride(&self) -> usize {
        self.stride.unwrap_or(self.size)
    }

    fn name() -> &'static str {
        if MAX { "max_pool2d" } else { "avg_pool2d" }
    }
}

/// The built layer.
#[derive(Module, Debug)]
pub struct PoolLayer {
    #[module(skip)]
    max: bool,
    #[module(skip)]
    size: usize,
    #[module(skip)]
    stride: usize,
}

impl<const MAX: bool> LayerSettings for Pool<MAX> {
    type Module = PoolLayer;

    fn check(&self, _defaults: &Defaults) -> std::result::Result<(), String> {
        size_setting("size", self.size)?;
        size_setting("stride", self.stride())
    }

    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        let Shape::Image {
            channels,
            height,
            width,
        } = input
        else {
            return Err(NEEDS_IMAGE.into());
        };
        let stride = self.stride();
        let side = |n: usize| n.checked_sub(self.size).map(|r| r / stride + 1);
        match (side(height), side(width)) {
            (Some(h), Some(w)) => Ok(Shape::Image {
                channels,
                height: h,
                width: w,
            }),
            _ => Err(format!(
                "its {s}×{s} window is larger than the image",
                s = self.size
            )),
        }
    }

    fn parameters(&self, _input: Shape, _defaults: &Defaults) -> u128 {
        0
    }

    fn summary(&self) -> String {
        format!("{} {}", Self::name(), self.size)
    }

    fn explicit_backprop(&self, _defaults: &Defaults) -> bool {
        false
    }

    fn build(&self, _input: Shape, _defaults: &Defaults, _device: &Device) -> PoolLayer {
        PoolLayer {
            max: MAX,
            size: self.size,
            stride: self.stride(),
        }
    }
}

impl Layer for PoolLayer {
    /// Max pooling by the fused op (`kernels::pool`) where it applies; average pooling, and
    /// every other backend, by Burn's pooling.
    fn forward(&self, x: Signal, kernels: Kernels) -> Signal {
        let (window, strides) = ([self.size, self.size], [self.stride, self.stride]);
        let x = x.image();
        Signal::Image(if self.max && kernels.use_fused(&x) {
            max_pool2d(x, self.size, self.stride)
        } else if self.max {
            MaxPool2dConfig::new(window)
                .with_strides(strides)
                .init()
                .forward(x)
        } else {
            AvgPool2dConfig::new(window)
                .with_strides(strides)
                .init()
                .forward(x)
        })
    }

    fn deterministic(self) -> Self {
        self
    }

    fn dense(&self) -> Option<(&burn::nn::Linear, Activation)> {
        None
    }

    fn pytorch(&self, _torch: &str, _burn: &str) -> Vec<(String, Source)> {
        Vec::new()
    }

    fn onnx(
        &self,
        g: &mut Graph,
        x: String,
        _input: Shape,
        _name: &str,
        _tensors: &BTreeMap<String, Raw>,
    ) -> Result<String> {
        let op = if self.max { "MaxPool" } else { "AveragePool" };
        let (k, s) = (self.size as i64, self.stride as i64);
        Ok(g.node(
            op,
            &[&x],
            vec![
                attribute_ints("kernel_shape", &[k, k]),
                attribute_ints("strides", &[s, s]),
            ],
        ))
    }

    fn description(&self) -> Value {
        let name = if self.max {
            MaxPool2d::name()
        } else {
            AvgPool2d::name()
        };
        json!({ "type": name, "size": self.size, "stride": self.stride })
    }

    fn picture(&self, _input: Shape) -> Picture {
        Picture::None
    }
}
