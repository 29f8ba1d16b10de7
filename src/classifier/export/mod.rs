//! `neurona export`: a trained image classifier as a file other tools read.
//!
//! - **safetensors** in PyTorch's layout ([`crate::classifier::pytorch_layout`]), with metadata that
//!   makes the file self-describing: the layer stack with every activation, padding and stride
//!   resolved (`neurona.layers`), the input shape, the preprocessing (`x = (pixel/255 − mean) /
//!   std`), the output and the class names. `safetensors.torch.load_file` gives a `state_dict`
//!   for the PyTorch module the README shows.
//! - **onnx**: the network with its preprocessing as a standard ONNX graph
//!   ([`onnx`]), the same description in its metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::classifier::config::MlpConfig;
use crate::error::Result;
use crate::experiment::ExperimentFile;
use crate::interop::Format;
use crate::network::model::Network;

pub(crate) mod description;
pub mod onnx;

pub(crate) use description::describe;

/// Exports the run's model (`model.bpk`) as `format` to `output` (default: into the run
/// directory); returns the file written.
pub fn export(run_dir: &Path, format: Format, output: Option<&Path>) -> Result<PathBuf> {
    let config = MlpConfig::load_run(run_dir)?;
    let device = config.device()?;
    let model = crate::classifier::eval::load_model(&config, &run_dir.join("model.bpk"), &device)?;
    let path = output.map_or_else(|| run_dir.join(format.default_file()), Path::to_path_buf);
    let bytes = match format {
        Format::Safetensors => safetensors_file(&model, &config)?,
        Format::Onnx => onnx::model_bytes(&model, &config)?,
    };
    crate::run_dir::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// The safetensors file of `model`: its tensors in PyTorch's layout and the metadata.
pub(crate) fn safetensors_file(model: &Network, config: &MlpConfig) -> Result<Vec<u8>> {
    let tensors = crate::classifier::pytorch_layout::to_pytorch(model)?;
    let description = describe(model, config)?;
    let mut metadata: HashMap<String, String> = description
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (format!("neurona.{k}"), v.to_string()))
        .collect();
    // What Hugging Face's tools look for in a PyTorch state dict.
    metadata.insert("format".into(), "pt".into());
    crate::interop::tensors::write(&tensors, Some(metadata))
}
