//! Model files other tools read: tensors in safetensors (and PyTorch `.pt` files read back), and
//! ONNX graphs. Shared by the model families' exports; it knows no family.

pub mod onnx;
pub mod tensors;

/// What `neurona export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// safetensors, tensors named and laid out as the equivalent PyTorch module's.
    Safetensors,
    /// ONNX (opset 17).
    Onnx,
}

impl Format {
    /// The file the export writes in the run directory unless told otherwise.
    pub(crate) const ALL: [Format; 2] = [Format::Safetensors, Format::Onnx];

    pub(crate) fn default_file(self) -> &'static str {
        match self {
            Format::Safetensors => "model.safetensors",
            Format::Onnx => "model.onnx",
        }
    }
}
