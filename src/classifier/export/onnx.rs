//! The network as an ONNX graph (opset 17, IR version 8) with its preprocessing: input `pixels`
//! `[batch, 784]` (grey values 0–255, row by row), output `probabilities` `[batch, classes]`.
//!
//! Every layer maps onto standard operators (each kind's file writes its own: `Gemm`, `Conv`,
//! `LSTM`, …), then the output layer's `Gemm` and `Softmax`, so that other tools see the
//! architecture, not a trace. Burn's own
//! exporter (`burn-onnx`'s experimental `export`, which traces tensor operations) cannot express
//! softmax, leaky relu, `max_dim` (maxout), `swap_dims` (an image read row by row) or Burn's
//! LSTM/GRU (`Tensor::empty` and `slice_assign` inside), and would unroll a recurrent layer into
//! about a thousand nodes; so the graph is written here, from the PyTorch-layout tensors
//! ([`crate::classifier::pytorch_layout`]). Weights are stored as float32
//! whatever the run's precision.

use crate::classifier::config::MlpConfig;
use crate::error::Result;
use crate::interop::onnx::{Graph, attribute_int};
use crate::network::layers::{Shape, dense};
use crate::network::model::Network;

/// The ONNX model of `model` (a run's network) with the run's preprocessing.
pub(crate) fn model_bytes(model: &Network, config: &MlpConfig) -> Result<Vec<u8>> {
    let tensors = crate::classifier::pytorch_layout::to_pytorch(model)?;
    let description = super::describe(model, config)?;
    let shapes = config
        .model
        .shapes(config.input_shape())
        .map_err(crate::error::Error::Config)?;
    let mut g = Graph::default();
    let preprocessing = &description["preprocessing"];
    let (mean, std) = (
        preprocessing["mean"].as_f64().unwrap_or(0.0),
        preprocessing["std"].as_f64().unwrap_or(1.0),
    );
    // x = (pixels / 255 − mean) / std, as an image [batch, C, H, W].
    let scale = g.scalar("scale", 255.0);
    let x = g.node("Div", &["pixels", &scale], vec![]);
    let mean = g.scalar("mean", mean as f32);
    let x = g.node("Sub", &[&x, &mean], vec![]);
    let std = g.scalar("std", std as f32);
    let x = g.node("Div", &[&x, &std], vec![]);
    let mut shape = config.input_shape();
    let mut x = match shape {
        Shape::Image {
            channels,
            height,
            width,
        } => {
            let dims = g.int64s(
                "image_shape",
                &[-1, channels as i64, height as i64, width as i64],
            );
            g.node("Reshape", &[&x, &dims], vec![])
        }
        _ => x,
    };
    for (i, (step, after)) in model.steps().iter().zip(&shapes).enumerate() {
        x = step.onnx(&mut g, x, shape, &format!("layers.{i}"), &tensors)?;
        shape = *after;
    }
    let logits = dense::onnx_linear(&mut g, x, shape, "output", &tensors)?;
    g.node("Softmax", &[&logits], vec![attribute_int("axis", 1)]);
    let classes = description["output"]["classes"].as_u64().unwrap_or(10) as usize;
    let metadata = description
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (format!("neurona.{k}"), v.to_string()))
        .collect();
    let inputs = config.input_shape().size();
    Ok(g.finish(
        config.output.name.as_deref().unwrap_or("neurona"),
        format!(
            "{}: pixels [batch, {inputs}] (grey 0-255) -> class probabilities",
            config.model.describe()
        ),
        ("pixels", inputs),
        ("probabilities", classes),
        metadata,
    ))
}
