//! `neurona export`: a trained image classifier as a file other tools read.
//!
//! - **safetensors** in PyTorch's layout ([`crate::mlp::pytorch_layout`]), with metadata that
//!   makes the file self-describing: the layer stack with every activation, padding and stride
//!   resolved (`neurona.layers`), the input shape, the preprocessing (`x = (pixel/255 − mean) /
//!   std`), the output and the class names. `safetensors.torch.load_file` gives a `state_dict`
//!   for the PyTorch module the README shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::mlp::architecture::{LayerConfig, Shape};
use crate::mlp::config::MlpConfig;
use crate::mlp::model::{Network, Step};

/// What `neurona export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// safetensors, tensors named and laid out as the PyTorch module's.
    Safetensors,
}

impl Format {
    /// The file the export writes in the run directory unless told otherwise.
    pub fn default_file(self) -> &'static str {
        match self {
            Format::Safetensors => "model.safetensors",
        }
    }
}

/// Exports the run's model (`model.bpk`) as `format` to `output` (default: into the run
/// directory); returns the file written.
pub fn export(run_dir: &Path, format: Format, output: Option<&Path>) -> Result<PathBuf> {
    let config = MlpConfig::load_run(run_dir)?;
    if config.is_points() {
        return Err(Error::Usage(format!(
            "{} is a 2-D workshop run: export serves image classifiers",
            run_dir.display()
        )));
    }
    let device = crate::backend::device(config.backend, config.precision)?;
    let model = crate::mlp::eval::load_model(&config, &run_dir.join("model.bpk"), &device)?;
    let path = output.map_or_else(|| run_dir.join(format.default_file()), Path::to_path_buf);
    let bytes = match format {
        Format::Safetensors => safetensors_file(&model, &config)?,
    };
    crate::run_dir::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// The safetensors file of `model`: its tensors in PyTorch's layout and the metadata.
pub fn safetensors_file(model: &Network, config: &MlpConfig) -> Result<Vec<u8>> {
    let stack = config.model.stack();
    let tensors = crate::mlp::pytorch_layout::to_pytorch(model, &stack)?;
    let description = describe(model, config)?;
    let mut metadata: HashMap<String, String> = description
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (format!("neurona.{k}"), v.to_string()))
        .collect();
    // What Hugging Face's tools look for in a PyTorch state dict.
    metadata.insert("format".into(), "pt".into());
    crate::mlp::pytorch_layout::write(&tensors, Some(metadata))
}

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
