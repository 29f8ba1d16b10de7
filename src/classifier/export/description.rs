//! What another runtime needs to know of a network besides its tensors: the layer stack with
//! every activation, padding and stride resolved, the input shape, the preprocessing, the output
//! and the class names. Both export formats carry it as metadata (`neurona.<key>`).

use serde_json::{Value, json};

use crate::classifier::config::MlpConfig;
use crate::error::{Error, Result};
use crate::network::layers::Shape;
use crate::network::model::Network;

/// The network as another runtime needs it: resolved layers, input, preprocessing, output.
pub(crate) fn describe(model: &Network, config: &MlpConfig) -> Result<Value> {
    let layers: Vec<Value> = model.steps().iter().map(|s| s.description()).collect();
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
    let spec = config.data.dataset.spec();
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
