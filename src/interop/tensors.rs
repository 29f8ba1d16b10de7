//! Tensors as bytes with their element type and shape, and the files that hold them:
//! safetensors (read and written with the `safetensors` crate) and PyTorch's pickled `.pt`
//! state dicts (read with `burn::store`'s PyTorch reader). What both model families export and
//! import goes through here.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

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
    pub(crate) fn transposed(&self) -> Raw {
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
    pub(crate) fn converted(&self, dtype: Dtype) -> Result<Raw> {
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

pub(crate) fn store_error(e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("cannot convert the model's tensors: {e}"))
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

/// The largest safetensors header read: the format's own limit (100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Checks a safetensors file's header — an 8-byte little-endian length, then that much JSON
/// naming each tensor's byte range, read as the safetensors crate's own `Metadata` — against
/// the file's `length`, reading the header only.
fn check_safetensors_header(
    file: &mut std::fs::File,
    length: u64,
) -> std::result::Result<(), String> {
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)
        .map_err(|_| "shorter than a safetensors header (8 bytes)".to_string())?;
    let header = u64::from_le_bytes(prefix);
    if header > MAX_HEADER || 8 + header > length {
        return Err(format!(
            "not a safetensors file: its first 8 bytes declare a {header}-byte header in a file \
             of {length} bytes"
        ));
    }
    let mut text = vec![0u8; header as usize];
    file.read_exact(&mut text).map_err(|e| e.to_string())?;
    let metadata: safetensors::tensor::Metadata =
        serde_json::from_slice(&text).map_err(|e| format!("not a safetensors header: {e}"))?;
    let data = metadata.data_len() as u64;
    if 8 + header + data != length {
        return Err(format!(
            "its header describes {data} bytes of data, the file holds {}",
            length - 8 - header
        ));
    }
    Ok(())
}

/// The tensors of a weights file: `.safetensors`, or `.pt`/`.pth` (a pickled
/// `state_dict`, read by `burn::store`'s PyTorch reader, also under a `state_dict` key).
pub fn read_file(path: &std::path::Path) -> Result<BTreeMap<String, Raw>> {
    let unreadable = |e: String| Error::Usage(format!("cannot read {}: {e}", path.display()));
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match extension {
        "safetensors" => {
            let (mut file, length) = crate::files::open_regular(path).map_err(unreadable)?;
            // The header first: a file that is not safetensors, or whose size disagrees with
            // what its header declares, is refused before its data is read.
            check_safetensors_header(&mut file, length).map_err(unreadable)?;
            let mut bytes = Vec::with_capacity(length as usize);
            file.rewind().map_err(Error::io(path))?;
            file.read_to_end(&mut bytes).map_err(Error::io(path))?;
            read(&bytes).map_err(unreadable)
        }
        "pt" | "pth" => {
            use burn::store::pytorch_reader::{DType as TorchType, PytorchReader};
            // Only a regular file: the reader would block on a pipe.
            crate::files::open_regular(path).map_err(unreadable)?;
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
                    // Counts (a batch-norm layer's `num_batches_tracked`).
                    TorchType::I64 => Dtype::I64,
                    other => {
                        return Err(unreadable(format!(
                            "{name} holds {other:?} values, neither float weights nor int64 counts"
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
