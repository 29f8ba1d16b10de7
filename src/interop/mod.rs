//! Model files other tools read: tensors in safetensors (and PyTorch `.pt` files read back), and
//! ONNX graphs. Shared by the model families' exports; it knows no family.

pub mod onnx;
pub mod tensors;
