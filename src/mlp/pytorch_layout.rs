//! The network's tensors under the names and layouts the equivalent PyTorch module has, and back.
//!
//! The PyTorch module is the layer stack of `[[model.layers]]` as an `nn.ModuleList` called
//! `layers` (index = position in the stack; pooling and dropout hold no tensors) and an
//! `nn.Linear` called `output`:
//!
//! | layer | PyTorch module | tensors |
//! |---|---|---|
//! | dense (and maxout: `units·pieces` outputs, pieces of a unit adjacent) | `nn.Linear` | `weight [out, in]`, `bias [out]` |
//! | conv2d | `nn.Conv2d` | `weight [out, in, kh, kw]`, `bias [out]` |
//! | lstm | `nn.LSTM(batch_first=True)` | `weight_ih_l0 [4H, in]`, `weight_hh_l0 [4H, H]`, `bias_ih_l0`, `bias_hh_l0`, gates in PyTorch's order i, f, g, o |
//! | gru | `nn.GRU(batch_first=True)` | the same with `3H`, gates r, z, n |
//! | rnn | `nn.RNN(batch_first=True)` (tanh) | the same with `H` |
//!
//! Burn keeps a dense layer's weight as `[in, out]` and one small linear map per gate (input and
//! hidden transforms of each gate); PyTorch stacks the gates into one matrix per input. A
//! per-tensor adapter (`burn::store::BurnToPyTorchAdapter`) cannot concatenate, so the mapping
//! is written here once, as a list of PyTorch tensors each made of Burn tensors: transposed
//! when they are matrices, stacked along the first axis when there are several. Export reads the
//! list forwards; import reads it backwards, after checking the file against the layout of the
//! network it loads into. Burn's own tensors come and go through `burn::store::SafetensorsStore`.

use std::collections::BTreeMap;

use burn::store::{ModuleSnapshot, SafetensorsStore};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::mlp::architecture::LayerConfig;
use crate::mlp::model::Network;

/// A tensor as bytes (little-endian), with its element type and shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Raw {
    fn element(&self) -> usize {
        self.dtype.bitsize() / 8
    }

    /// A matrix transposed (other ranks unchanged).
    pub fn transposed(&self) -> Raw {
        let &[rows, columns] = self.shape.as_slice() else {
            return self.clone();
        };
        let size = self.element();
        let mut bytes = vec![0u8; self.bytes.len()];
        for r in 0..rows {
            for c in 0..columns {
                let from = (r * columns + c) * size;
                let to = (c * rows + r) * size;
                bytes[to..to + size].copy_from_slice(&self.bytes[from..from + size]);
            }
        }
        Raw {
            dtype: self.dtype,
            shape: vec![columns, rows],
            bytes,
        }
    }

    /// Tensors of the same type and trailing shape, one after another along the first axis.
    pub fn stacked(parts: &[Raw]) -> Raw {
        let mut shape = parts[0].shape.clone();
        shape[0] = parts.iter().map(|p| p.shape[0]).sum();
        Raw {
            dtype: parts[0].dtype,
            shape,
            bytes: parts.iter().flat_map(|p| p.bytes.iter().copied()).collect(),
        }
    }

    /// `n` equal parts along the first axis (the inverse of [`Raw::stacked`]).
    pub fn split(&self, n: usize) -> Vec<Raw> {
        let mut shape = self.shape.clone();
        shape[0] /= n;
        self.bytes
            .chunks(self.bytes.len() / n)
            .map(|chunk| Raw {
                dtype: self.dtype,
                shape: shape.clone(),
                bytes: chunk.to_vec(),
            })
            .collect()
    }

    /// The values converted to `dtype` (F32 or F64, from F32, F64, F16 or BF16).
    pub fn converted(&self, dtype: Dtype) -> Result<Raw> {
        if self.dtype == dtype {
            return Ok(self.clone());
        }
        let values: Vec<f64> = match self.dtype {
            Dtype::F32 => self
                .bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                .collect(),
            Dtype::F64 => self
                .bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            Dtype::F16 => self
                .bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64())
                .collect(),
            Dtype::BF16 => self
                .bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64())
                .collect(),
            other => {
                return Err(Error::Usage(format!(
                    "{other:?} tensors cannot hold network weights: give float weights"
                )));
            }
        };
        let bytes = match dtype {
            Dtype::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            _ => values
                .iter()
                .flat_map(|v| (*v as f32).to_le_bytes())
                .collect(),
        };
        Ok(Raw {
            dtype,
            shape: self.shape.clone(),
            bytes,
        })
    }
}

/// How one PyTorch tensor is made of Burn tensors: `parts`, each transposed when `transpose`
/// (matrices), stacked along the first axis.
struct Source {
    parts: Vec<String>,
    transpose: bool,
}

fn one(part: String, transpose: bool) -> Source {
    Source {
        parts: vec![part],
        transpose,
    }
}

/// Every PyTorch tensor of the network `stack` (whose biases may be absent) and its source.
fn layout(stack: &[LayerConfig]) -> Vec<(String, Source)> {
    let mut list = Vec::new();
    let (mut dense, mut conv, mut recurrent) = (0, 0, 0);
    let linear = |list: &mut Vec<(String, Source)>, torch: String, burn: String| {
        list.push((
            format!("{torch}.weight"),
            one(format!("{burn}.weight"), true),
        ));
        list.push((format!("{torch}.bias"), one(format!("{burn}.bias"), false)));
    };
    for (i, layer) in stack.iter().enumerate() {
        let torch = format!("layers.{i}");
        let gates: &[&str] = match layer {
            LayerConfig::Dense(_) => {
                linear(&mut list, torch, format!("hidden.{dense}"));
                dense += 1;
                continue;
            }
            LayerConfig::Conv2d(_) => {
                for tensor in ["weight", "bias"] {
                    list.push((
                        format!("{torch}.{tensor}"),
                        one(format!("conv.{conv}.{tensor}"), false),
                    ));
                }
                conv += 1;
                continue;
            }
            LayerConfig::MaxPool2d(_) | LayerConfig::AvgPool2d(_) | LayerConfig::Dropout(_) => {
                continue;
            }
            LayerConfig::Lstm(_) => &[
                "Lstm.input_gate",
                "Lstm.forget_gate",
                "Lstm.cell_gate",
                "Lstm.output_gate",
            ],
            LayerConfig::Gru(_) => &["Gru.reset_gate", "Gru.update_gate", "Gru.new_gate"],
            LayerConfig::Rnn(_) => &["Rnn.gate"],
        };
        for (side, transform) in [("ih", "input_transform"), ("hh", "hidden_transform")] {
            for (tensor, transpose) in [("weight", true), ("bias", false)] {
                let parts = gates
                    .iter()
                    .map(|gate| format!("recurrent.{recurrent}.{gate}.{transform}.{tensor}"))
                    .collect();
                list.push((
                    format!("{torch}.{tensor}_{side}_l0"),
                    Source { parts, transpose },
                ));
            }
        }
        recurrent += 1;
    }
    linear(&mut list, "output".into(), "output".into());
    list
}

fn store_error(e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("cannot convert the network's tensors: {e}"))
}

/// The tensors of a safetensors file, by name.
pub fn read(bytes: &[u8]) -> std::result::Result<BTreeMap<String, Raw>, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    Ok(file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let raw = Raw {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                bytes: view.data().to_vec(),
            };
            (name, raw)
        })
        .collect())
}

/// Serialises tensors (and string metadata) as a safetensors file.
pub fn write(
    tensors: &BTreeMap<String, Raw>,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, raw)| {
            safetensors::tensor::TensorView::new(raw.dtype, raw.shape.clone(), &raw.bytes)
                .map(|view| (name.clone(), view))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(store_error)?;
    safetensors::serialize(views, metadata).map_err(store_error)
}

/// Burn's own tensors of `model`, by Burn's names.
fn burn_tensors(model: &Network) -> Result<BTreeMap<String, Raw>> {
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).map_err(store_error)?;
    read(&store.get_bytes().map_err(store_error)?).map_err(store_error)
}

/// The network's tensors as the PyTorch module names and lays them out.
pub fn to_pytorch(model: &Network, stack: &[LayerConfig]) -> Result<BTreeMap<String, Raw>> {
    let burn = burn_tensors(model)?;
    let mut torch = BTreeMap::new();
    for (name, source) in layout(stack) {
        let parts: Vec<&Raw> = source.parts.iter().filter_map(|p| burn.get(p)).collect();
        if parts.is_empty() {
            continue; // a bias the network does not have (`model.bias = false`)
        }
        let parts: Vec<Raw> = parts
            .into_iter()
            .map(|p| {
                if source.transpose {
                    p.transposed()
                } else {
                    p.clone()
                }
            })
            .collect();
        torch.insert(name, Raw::stacked(&parts));
    }
    Ok(torch)
}

/// Loads tensors named and laid out as the PyTorch module's (from `origin`, named in errors)
/// into `model`. The file must hold exactly the network's tensors with their shapes; any float
/// type is converted to the network's.
pub fn from_pytorch(
    mut model: Network,
    stack: &[LayerConfig],
    tensors: &BTreeMap<String, Raw>,
    origin: &std::path::Path,
) -> Result<Network> {
    let expected = to_pytorch(&model, stack)?;
    let shape = |s: &[usize]| format!("{s:?}");
    let missing: Vec<String> = expected
        .iter()
        .filter(|(name, _)| !tensors.contains_key(*name))
        .map(|(name, raw)| format!("{name} {}", shape(&raw.shape)))
        .collect();
    let extra: Vec<String> = tensors
        .iter()
        .filter(|(name, _)| !expected.contains_key(*name))
        .map(|(name, raw)| format!("{name} {}", shape(&raw.shape)))
        .collect();
    let misshapen: Vec<String> = expected
        .iter()
        .filter_map(|(name, want)| {
            let got = tensors.get(name)?;
            (got.shape != want.shape).then(|| {
                format!(
                    "{name} is {} in the file, the network needs {}",
                    shape(&got.shape),
                    shape(&want.shape)
                )
            })
        })
        .collect();
    let mut problems = Vec::new();
    for (what, list) in [
        ("missing", &missing),
        ("not in the network", &extra),
        ("wrong shape", &misshapen),
    ] {
        if !list.is_empty() {
            problems.push(format!("{what}: {}", list.join(", ")));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "{} does not fit the network ({} tensors expected, named as its PyTorch module \
             names them): {}",
            origin.display(),
            expected.len(),
            problems.join("; ")
        )));
    }
    let dtype = expected.values().next().map_or(Dtype::F32, |r| r.dtype);
    let mut burn = BTreeMap::new();
    for (name, source) in layout(stack) {
        let Some(tensor) = tensors.get(&name) else {
            continue;
        };
        let tensor = tensor
            .converted(dtype)
            .map_err(|e| Error::Usage(format!("{}: {name}: {e}", origin.display())))?;
        for (part, raw) in source.parts.iter().zip(tensor.split(source.parts.len())) {
            let raw = if source.transpose {
                raw.transposed()
            } else {
                raw
            };
            burn.insert(part.clone(), raw);
        }
    }
    let mut store = SafetensorsStore::from_bytes(Some(write(&burn, None)?));
    let applied = model.load_from(&mut store).map_err(store_error)?;
    if !applied.errors.is_empty() || !applied.missing.is_empty() {
        return Err(store_error(format!("{applied:?}")));
    }
    Ok(model)
}

/// The tensors of a PyTorch-layout weights file: `.safetensors`, or `.pt`/`.pth` (a pickled
/// `state_dict`, read by `burn::store`'s PyTorch reader, also under a `state_dict` key).
pub fn read_file(path: &std::path::Path) -> Result<BTreeMap<String, Raw>> {
    let unreadable = |e: String| Error::Usage(format!("cannot read {}: {e}", path.display()));
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match extension {
        "safetensors" => {
            let bytes = std::fs::read(path).map_err(Error::io(path))?;
            read(&bytes).map_err(unreadable)
        }
        "pt" | "pth" => {
            use burn::store::pytorch_reader::{DType as TorchType, PytorchReader};
            let reader = PytorchReader::new(path)
                .or_else(|_| PytorchReader::with_top_level_key(path, "state_dict"))
                .map_err(|e| unreadable(e.to_string()))?;
            let mut tensors = BTreeMap::new();
            for (name, tensor) in reader.into_tensors() {
                let dtype = match tensor.dtype() {
                    TorchType::F32 => Dtype::F32,
                    TorchType::F64 => Dtype::F64,
                    TorchType::F16 => Dtype::F16,
                    TorchType::BF16 => Dtype::BF16,
                    other => {
                        return Err(unreadable(format!(
                            "{name} holds {other:?} values, not float weights"
                        )));
                    }
                };
                let shape = tensor.shape().to_vec();
                let bytes = tensor.read().map_err(|e| unreadable(e.to_string()))?;
                tensors.insert(
                    name,
                    Raw {
                        dtype,
                        shape,
                        bytes,
                    },
                );
            }
            Ok(tensors)
        }
        _ => Err(Error::Usage(format!(
            "{}: weights from elsewhere come as .safetensors or .pt/.pth (PyTorch state_dict) files",
            path.display()
        ))),
    }
}

/// `model` with the weights of a PyTorch-layout file (see [`read_file`] and [`from_pytorch`]).
pub fn load(model: Network, stack: &[LayerConfig], path: &std::path::Path) -> Result<Network> {
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{}: no such weights file",
            path.display()
        )));
    }
    from_pytorch(model, stack, &read_file(path)?, path)
}

pub use crate::mlp::config::is_pytorch_file;
