//! 2-D convolution over an image (`type = "conv2d"`): `channels` filters of `kernel × kernel`,
//! then the activation. `h′ = ⌊(h + 2p − k)/s⌋ + 1` with `p = (k − 1)/2` for `"same"` (odd `k`;
//! the size is kept at stride 1) and `p = 0` for `"valid"`. PyTorch: `nn.Conv2d` (`weight
//! [out, in, kh, kw]`, `bias [out]`). ONNX: `Conv`, then the activation.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::kernels::conv::conv2d_activated;
use super::{
    Activation, Defaults, Kernels, Layer, LayerSettings, Picture, Shape, Signal, Source,
    size_setting, weight_and_bias,
};
use crate::error::Result;
use crate::interop::onnx::{Graph, attribute_ints};
use crate::interop::tensors::Raw;
use crate::numeric::to_f64s;

/// `[[model.layers]] type = "conv2d"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2d {
    pub channels: usize,
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
    #[serde(default)]
    pub padding: Padding,
    /// Unset: the model's `activation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// `(kernel − 1)/2` zeros on every side: the image keeps its size at stride 1.
    #[default]
    Same,
    /// No padding: the image shrinks by `kernel − 1`.
    Valid,
}

impl Conv2d {
    /// Zeros added on each side: `(kernel − 1)/2` for `"same"`, none for `"valid"`.
    pub fn pad(&self) -> usize {
        match self.padding {
            Padding::Same => (self.kernel - 1) / 2,
            Padding::Valid => 0,
        }
    }
}

/// The built layer (its filters always have a bias).
#[derive(Module, Debug)]
pub struct Conv2dLayer {
    pub conv: burn::nn::conv::Conv2d,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    kernel: usize,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    pad: usize,
    #[module(skip)]
    slope: f64,
}

/// The error of convolution or pooling on anything but an image.
pub(crate) const NEEDS_IMAGE: &str =
    "convolution and pooling need an image: put them before any dense or recurrent layer";

impl LayerSettings for Conv2d {
    type Module = Conv2dLayer;

    fn check(&self, defaults: &Defaults) -> std::result::Result<(), String> {
        size_setting("channels", self.channels)?;
        size_setting("kernel", self.kernel)?;
        size_setting("stride", self.stride)?;
        if self.padding == Padding::Same && self.kernel.is_multiple_of(2) {
            return Err(format!(
                "padding = \"same\" needs an odd kernel (got {}): the padding is (kernel − 1)/2 \
                 on each side",
                self.kernel
            ));
        }
        if self.activation.unwrap_or(defaults.activation) == Activation::Maxout {
            return Err(
                "maxout is a dense-layer activation; give conv2d relu, tanh, sigmoid or \
                 leaky_relu"
                    .into(),
            );
        }
        Ok(())
    }

    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        let Shape::Image { height, width, .. } = input else {
            return Err(NEEDS_IMAGE.into());
        };
        let pad = self.pad();
        let side = |n: usize| {
            (n + 2 * pad)
                .checked_sub(self.kernel)
                .map(|r| r / self.stride + 1)
        };
        match (side(height), side(width)) {
            (Some(h), Some(w)) => Ok(Shape::Image {
                channels: self.channels,
                height: h,
                width: w,
            }),
            _ => Err(format!(
                "its {k}×{k} kernel is larger than the (padded) image",
                k = self.kernel
            )),
        }
    }

    /// The unfolded patches (im2col): `C_in·k²` values per output pixel.
    fn scratch(&self, input: Shape) -> u128 {
        match (input, self.output_shape(input)) {
            (Shape::Image { channels, .. }, Ok(Shape::Image { height, width, .. })) => {
                let k = self.kernel as u128;
                (height * width) as u128 * channels as u128 * k * k
            }
            _ => 0,
        }
    }

    fn parameters(&self, input: Shape, _defaults: &Defaults) -> u128 {
        let channels_in = match input {
            Shape::Image { channels, .. } => channels,
            _ => 0,
        } as u128;
        let k = self.kernel as u128;
        channels_in * self.channels as u128 * k * k + self.channels as u128
    }

    fn summary(&self) -> String {
        format!("conv2d {} {}×{}", self.channels, self.kernel, self.kernel)
    }

    fn explicit_backprop(&self, _defaults: &Defaults) -> bool {
        false
    }

    fn build(&self, input: Shape, defaults: &Defaults, device: &Device) -> Conv2dLayer {
        let Shape::Image { channels, .. } = input else {
            unreachable!("the shape rule refuses a conv2d without an image")
        };
        let pad = self.pad();
        let mut conv = Conv2dConfig::new([channels, self.channels], [self.kernel, self.kernel])
            .with_stride([self.stride, self.stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_initializer(defaults.initializer.clone())
            .init(device);
        conv.bias = Some(Param::from_tensor(Tensor::zeros([self.channels], device)));
        Conv2dLayer {
            conv,
            activation: self.activation.unwrap_or(defaults.activation),
            kernel: self.kernel,
            stride: self.stride,
            pad,
            slope: defaults.leaky_slope,
        }
    }
}

impl Conv2dLayer {
    /// The convolution as batched matrix products over the image's patches (im2col): one
    /// gather copies every `k × k` patch of the zero-padded input into columns
    /// `[batch, c·k·k, h′·w′]`, which the filters `[out, c·k·k]` multiply. The same numbers as
    /// `Conv2d::forward`; on the CPU backend the work and its gradients become matrix products
    /// and a scatter-add, about twice as fast to train as Burn's direct convolution (see
    /// BENCHMARKS.md).
    pub fn convolve(&self, x: Tensor<4>) -> Tensor<4> {
        let (kernel, stride, pad) = (self.kernel, self.stride, self.pad);
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
        // Where column (c, i, j) row (r, q) reads in one padded image, laid out as the filters
        // are.
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
        let weight = self.conv.weight.val();
        let filters = weight.dims()[0];
        let mut z = weight
            .reshape([1, filters, channels * kernel * kernel])
            .matmul(columns);
        if let Some(bias) = &self.conv.bias {
            z = z + bias.val().reshape([1, filters, 1]);
        }
        z.reshape([batch, filters, out_h, out_w])
    }
}

impl Layer for Conv2dLayer {
    /// The fused op (`kernels::conv`: convolution, bias and activation in one pass, with its own
    /// backward) where it applies, else [`Conv2dLayer::convolve`] and the activation.
    fn forward(&self, x: Signal, kernels: Kernels) -> Signal {
        let x = x.image();
        if kernels.use_fused(&x)
            && let Some(bias) = &self.conv.bias
        {
            return Signal::Image(conv2d_activated(
                x,
                self.conv.weight.val(),
                bias.val(),
                self.stride,
                self.pad,
                self.activation,
                self.slope,
            ));
        }
        let z = self.convolve(x);
        Signal::Image(self.activation.apply(z, self.slope))
    }

    fn deterministic(self) -> Self {
        self
    }

    fn dense(&self) -> Option<(&burn::nn::Linear, Activation)> {
        None
    }

    fn pytorch(&self, torch: &str, burn: &str) -> Vec<(String, Source)> {
        weight_and_bias(torch, &format!("{burn}.conv"), false)
    }

    fn onnx(
        &self,
        g: &mut Graph,
        x: String,
        _input: Shape,
        name: &str,
        tensors: &BTreeMap<String, Raw>,
    ) -> Result<String> {
        let (k, s, p) = (self.kernel as i64, self.stride as i64, self.pad as i64);
        let window = vec![
            attribute_ints("kernel_shape", &[k, k]),
            attribute_ints("strides", &[s, s]),
            attribute_ints("pads", &[p, p, p, p]),
        ];
        let z = g.with_weights("Conv", x, tensors, name, window)?;
        Ok(self.activation.onnx(g, &z, self.slope))
    }

    fn description(&self) -> Value {
        json!({
            "type": "conv2d",
            "channels": self.conv.weight.dims()[0],
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.pad,
            "activation": self.activation.name(),
        })
    }

    fn picture(&self, _input: Shape) -> Picture {
        // Each filter's kernel per input channel.
        let weight = self.conv.weight.val();
        let [_, _, kh, kw] = weight.dims();
        let tiles = to_f64s(weight)
            .chunks(kh * kw)
            .map(<[f64]>::to_vec)
            .collect();
        Picture::Filters((tiles, (kh, kw)))
    }
}
