//! The network as an ONNX graph (opset 17, IR version 8) with its preprocessing: input `pixels`
//! `[batch, 784]` (grey values 0–255, row by row), output `probabilities` `[batch, classes]`.
//!
//! Every layer maps onto one standard operator — `Gemm`, `Conv`, `MaxPool`, `AveragePool`,
//! `LSTM`, `GRU`, `RNN`, `Relu`/`Tanh`/`Sigmoid`/`LeakyRelu`, maxout as `Reshape` +
//! `ReduceMax`, `Softmax` — so that other tools see the architecture, not a trace. Burn's own
//! exporter (`burn-onnx`'s experimental `export`, which traces tensor operations) cannot express
//! softmax, leaky relu, `max_dim` (maxout), `swap_dims` (an image read row by row) or Burn's
//! LSTM/GRU (`Tensor::empty` and `slice_assign` inside), and would unroll a recurrent layer into
//! about a thousand nodes; so the graph is written here, from the PyTorch-layout tensors
//! ([`crate::mlp::pytorch_layout`]) with ONNX's gate orders. Weights are stored as float32
//! whatever the run's precision.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::interop::onnx::{Graph, attribute_float, attribute_int, attribute_ints};
use crate::interop::tensors::Raw;
use crate::mlp::architecture::{LayerConfig, Shape};
use crate::mlp::config::{Activation, MlpConfig};
use crate::mlp::model::{Network, Step};

/// An element-wise activation (maxout is a dense layer's: see [`model_bytes`]).
fn activate(g: &mut Graph, activation: Activation, slope: f64, x: &str) -> String {
    match activation {
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

/// What a dense layer reads: an image flattened, a sequence's last step.
fn flat(g: &mut Graph, x: String, shape: Shape) -> String {
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

/// The four gates of PyTorch's LSTM (i, f, g, o) in ONNX's order (i, o, f, c), and PyTorch's
/// GRU gates (r, z, n) in ONNX's (z, r, h).
fn reorder(raw: &Raw, kind: &str) -> Raw {
    let order: &[usize] = match kind {
        "lstm" => &[0, 3, 1, 2],
        "gru" => &[1, 0, 2],
        _ => return raw.clone(),
    };
    let parts = raw.split(order.len());
    Raw::stacked(&order.iter().map(|&k| parts[k].clone()).collect::<Vec<_>>())
}

/// The ONNX model of `model` (a run's network) with the run's preprocessing.
pub fn model_bytes(model: &Network, config: &MlpConfig) -> Result<Vec<u8>> {
    let stack = config.model.stack();
    let tensors = crate::mlp::pytorch_layout::to_pytorch(model, &stack)?;
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
    let slope = config.model.leaky_slope;
    for (i, ((layer, step), after)) in stack.iter().zip(model.steps()).zip(&shapes).enumerate() {
        let name = format!("layers.{i}");
        x = match *step {
            Step::Dense { activation, pieces } => {
                let input = flat(&mut g, x, shape);
                let transposed = vec![attribute_int("transB", 1)];
                let z = g.with_weights("Gemm", input, &tensors, &name, transposed)?;
                if activation == Activation::Maxout {
                    let units = after.size() as i64;
                    let dims = g.int64s("maxout_shape", &[-1, units, pieces as i64]);
                    let grouped = g.node("Reshape", &[&z, &dims], vec![]);
                    g.node(
                        "ReduceMax",
                        &[&grouped],
                        vec![attribute_ints("axes", &[2]), attribute_int("keepdims", 0)],
                    )
                } else {
                    activate(&mut g, activation, slope, &z)
                }
            }
            Step::Conv {
                activation,
                kernel,
                stride,
                pad,
            } => {
                let (k, s, p) = (kernel as i64, stride as i64, pad as i64);
                let window = vec![
                    attribute_ints("kernel_shape", &[k, k]),
                    attribute_ints("strides", &[s, s]),
                    attribute_ints("pads", &[p, p, p, p]),
                ];
                let z = g.with_weights("Conv", x, &tensors, &name, window)?;
                activate(&mut g, activation, slope, &z)
            }
            Step::MaxPool { size, stride } | Step::AvgPool { size, stride } => {
                let op = if matches!(step, Step::MaxPool { .. }) {
                    "MaxPool"
                } else {
                    "AveragePool"
                };
                let (k, s) = (size as i64, stride as i64);
                g.node(
                    op,
                    &[&x],
                    vec![
                        attribute_ints("kernel_shape", &[k, k]),
                        attribute_ints("strides", &[s, s]),
                    ],
                )
            }
            // Identity when predicting.
            Step::Dropout { .. } => x,
            Step::Recurrent => recurrent(&mut g, x, shape, layer, &name, &tensors)?,
        };
        shape = *after;
    }
    let input = flat(&mut g, x, shape);
    let transposed = vec![attribute_int("transB", 1)];
    let logits = g.with_weights("Gemm", input, &tensors, "output", transposed)?;
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

/// A recurrent layer as ONNX's `LSTM`/`GRU`/`RNN` (sequence first, so the batch dimension moves
/// to the middle and back), returning the sequence of hidden states `[batch, steps, units]`.
fn recurrent(
    g: &mut Graph,
    x: String,
    shape: Shape,
    layer: &LayerConfig,
    name: &str,
    tensors: &BTreeMap<String, Raw>,
) -> Result<String> {
    let kind = layer.kind();
    // An image is read row by row: [batch, C, H, W] → [batch, H, C·W].
    let sequence = match shape {
        Shape::Image {
            channels,
            height,
            width,
        } => {
            let rows = g.node(
                "Transpose",
                &[&x],
                vec![attribute_ints("perm", &[0, 2, 1, 3])],
            );
            let dims = g.int64s(
                "sequence_shape",
                &[0, height as i64, (channels * width) as i64],
            );
            g.node("Reshape", &[&rows, &dims], vec![])
        }
        _ => x,
    };
    let time_first = g.node(
        "Transpose",
        &[&sequence],
        vec![attribute_ints("perm", &[1, 0, 2])],
    );
    let w_ih = reorder(&tensors[&format!("{name}.weight_ih_l0")], kind);
    let w_hh = reorder(&tensors[&format!("{name}.weight_hh_l0")], kind);
    let units = w_hh.shape[1];
    let w = g.weight(
        &format!("{name}.W"),
        &w_ih,
        &[1, w_ih.shape[0], w_ih.shape[1]],
    )?;
    let r = g.weight(
        &format!("{name}.R"),
        &w_hh,
        &[1, w_hh.shape[0], w_hh.shape[1]],
    )?;
    let mut inputs = vec![time_first, w, r];
    if let (Some(b_ih), Some(b_hh)) = (
        tensors.get(&format!("{name}.bias_ih_l0")),
        tensors.get(&format!("{name}.bias_hh_l0")),
    ) {
        let b = Raw::stacked(&[reorder(b_ih, kind), reorder(b_hh, kind)]);
        inputs.push(g.weight(&format!("{name}.B"), &b, &[1, b.shape[0]])?);
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut attributes = vec![attribute_int("hidden_size", units as i64)];
    if kind == "gru" {
        // PyTorch's and Burn's GRU apply the reset gate after the hidden transform.
        attributes.push(attribute_int("linear_before_reset", 1));
    }
    let op = match kind {
        "lstm" => "LSTM",
        "gru" => "GRU",
        _ => "RNN",
    };
    // Y: [steps, directions = 1, batch, units].
    let y = g.node(op, &inputs, attributes);
    let axes = g.int64s("direction_axis", &[1]);
    let y = g.node("Squeeze", &[&y, &axes], vec![]);
    Ok(g.node("Transpose", &[&y], vec![attribute_ints("perm", &[1, 0, 2])]))
}
