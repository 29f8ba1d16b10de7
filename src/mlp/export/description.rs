//! What another runtime needs to know of a network besides its tensors: the layer stack with
//! every activation, padding and stride resolved, the input shape, the preprocessing, the output
//! and the class names. Both export formats carry it as metadata (`neurona.<key>`).

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::mlp::architecture::{LayerConfig, Shape};
use crate::mlp::config::MlpConfig;
use crate::mlp::model::{Network, Step};

/// The network as another runtime needs it: resolved layers, input, preprocessing, output.
pub fn describe(model: &Network, config: &MlpConfig) -> Result<Value> {
    let stack = config.model.stack();
    let layers: Vec<Value> = stack
        .iter()
        .zip(model.steps())
        .map(|(layer, step)| layer_description(layer, step))
        .collect();
    let Shape::Image {
        channels,
        height,
        width,
    } = config.input_shape()
    else {
        return Err(Error::Usage(
            "export serves image classifiers (28×28 inputs)".into(),
        ));
    };
    let (mean, std) = match (config.data.standardize, config.data.mean, config.data.std) {
        (true, Some(mean), Some(std)) => (mean, std),
        _ => (0.0, 1.0),
    };
    let spec = config.data.dataset.spec()?;
    Ok(json!({
        "layers": layers,
        "input": { "channels": channels, "height": height, "width": width },
        "preprocessing": {
            "formula": "(pixel / 255 - mean) / std, pixels row by row",
            "mean": mean,
            "std": std,
        },
        "output": { "type": "softmax", "classes": spec.class_names.len() },
        "class_names": spec.class_names,
        "leaky_slope": config.model.leaky_slope,
        "dataset": spec.title,
        "run": config.output.name,
    }))
}

fn activation_name(activation: crate::mlp::config::Activation) -> Value {
    serde_json::to_value(activation).unwrap_or(Value::Null)
}

fn layer_description(layer: &LayerConfig, step: &Step) -> Value {
    match (layer, *step) {
        (LayerConfig::Dense(d), Step::Dense { activation, pieces }) => json!({
            "type": "dense", "units": d.units, "activation": activation_name(activation),
            "pieces": pieces,
        }),
        (
            LayerConfig::Conv2d(c),
            Step::Conv {
                activation,
                kernel,
                stride,
                pad,
            },
        ) => json!({
            "type": "conv2d", "channels": c.channels, "kernel": kernel, "stride": stride,
            "padding": pad, "activation": activation_name(activation),
        }),
        (_, Step::MaxPool { size, stride } | Step::AvgPool { size, stride }) => json!({
            "type": layer.kind(), "size": size, "stride": stride,
        }),
        (_, Step::Dropout { p }) => json!({ "type": "dropout", "p": p }),
        (LayerConfig::Lstm(r) | LayerConfig::Gru(r) | LayerConfig::Rnn(r), _) => json!({
            "type": layer.kind(), "units": r.units,
        }),
        _ => json!({ "type": layer.kind() }),
    }
}
