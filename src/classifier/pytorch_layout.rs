//! The network's tensors under the names and layouts the equivalent PyTorch module has, and back.
//!
//! The PyTorch module is the layer stack of `[[model.layers]]` as an `nn.ModuleList` called
//! `layers` (index = position in the stack; layers without tensors hold none) and an `nn.Linear`
//! called `output`. Each layer kind's file says which PyTorch module it is and how its tensors
//! are made of Burn's ([`crate::network::layers::Layer::pytorch`]): Burn keeps a dense
//! layer's weight as `[in, out]` and one small linear map per recurrent gate, where PyTorch
//! keeps `[out, in]` and stacks the gates into one matrix per input. A per-tensor adapter
//! (`burn::store::BurnToPyTorchAdapter`) cannot concatenate, so the mapping is one list of
//! PyTorch tensors each made of Burn tensors ([`Source`]). Export reads the list forwards;
//! import reads it backwards, after checking the file against the layout of the network it
//! loads into. Burn's own tensors come and go through `burn::store::SafetensorsStore`.

use std::collections::BTreeMap;

use burn::store::{ModuleSnapshot, SafetensorsStore};
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::interop::tensors::{Raw, read_file};
use crate::interop::tensors::{read, store_error, write};
use crate::network::layers::{Source, weight_and_bias};
use crate::network::model::Network;

/// Every PyTorch tensor of `model` (whose biases may be absent) and its source: each layer's
/// own (see its kind's file), then the output layer's.
fn layout(model: &Network) -> Vec<(String, Source)> {
    let mut list = Vec::new();
    for (i, step) in model.steps().iter().enumerate() {
        let burn = format!("layers.{i}.{}", step.variant());
        list.extend(step.pytorch(&format!("layers.{i}"), &burn));
    }
    list.extend(weight_and_bias("output", "output", true));
    list
}

/// Burn's own tensors of `model`, by Burn's names.
fn burn_tensors(model: &Network) -> Result<BTreeMap<String, Raw>> {
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).map_err(store_error)?;
    read(&store.get_bytes().map_err(store_error)?).map_err(store_error)
}

/// The network's tensors as the PyTorch module names and lays them out.
pub(crate) fn to_pytorch(model: &Network) -> Result<BTreeMap<String, Raw>> {
    let burn = burn_tensors(model)?;
    let mut torch = BTreeMap::new();
    for (name, source) in layout(model) {
        match source {
            Source::Stacked { parts, transpose } => {
                let parts: Vec<Raw> = parts
                    .iter()
                    .filter_map(|p| burn.get(p))
                    .map(|p| if transpose { p.transposed() } else { p.clone() })
                    .collect();
                if parts.is_empty() {
                    continue; // a bias the network does not have (`model.bias = false`)
                }
                torch.insert(name, Raw::stacked(&parts));
            }
            Source::Count(part) => {
                let Some(raw) = burn.get(&part) else {
                    continue;
                };
                let count = raw.converted(Dtype::F64)?;
                let value = f64::from_le_bytes(count.bytes[..8].try_into().expect("8 bytes"));
                torch.insert(
                    name,
                    Raw {
                        dtype: Dtype::I64,
                        shape: Vec::new(),
                        bytes: (value.round() as i64).to_le_bytes().to_vec(),
                    },
                );
            }
        }
    }
    Ok(torch)
}

/// Loads tensors named and laid out as the PyTorch module's (from `origin`, named in errors)
/// into `model`. The file must hold exactly the network's tensors with their shapes; any float
/// type is converted to the network's.
pub(crate) fn from_pytorch(
    mut model: Network,
    tensors: &BTreeMap<String, Raw>,
    origin: &std::path::Path,
) -> Result<Network> {
    let expected = to_pytorch(&model)?;
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
    let dtype = expected
        .values()
        .find(|r| r.dtype != Dtype::I64)
        .map_or(Dtype::F32, |r| r.dtype);
    let converted = |name: &str, raw: &Raw| {
        raw.converted(dtype)
            .map_err(|e| Error::Usage(format!("{}: {name}: {e}", origin.display())))
    };
    let mut burn = BTreeMap::new();
    for (name, source) in layout(&model) {
        let Some(tensor) = tensors.get(&name) else {
            continue;
        };
        match source {
            Source::Stacked { parts, transpose } => {
                let tensor = converted(&name, tensor)?;
                for (part, raw) in parts.iter().zip(tensor.split(parts.len())) {
                    let raw = if transpose { raw.transposed() } else { raw };
                    burn.insert(part.clone(), raw);
                }
            }
            Source::Count(part) => {
                let count = match tensor.dtype {
                    Dtype::I64 => i64::from_le_bytes(
                        tensor.bytes[..8]
                            .try_into()
                            .map_err(|_| store_error(format!("{name} holds no value")))?,
                    ) as f64,
                    _ => return Err(store_error(format!("{name} must be an int64 count"))),
                };
                let one = Raw {
                    dtype: Dtype::F64,
                    shape: vec![1],
                    bytes: count.to_le_bytes().to_vec(),
                };
                burn.insert(part, converted(&name, &one)?);
            }
        }
    }
    let mut store = SafetensorsStore::from_bytes(Some(write(&burn, None)?));
    let applied = model.load_from(&mut store).map_err(store_error)?;
    if !applied.errors.is_empty() || !applied.missing.is_empty() {
        return Err(store_error(format!("{applied:?}")));
    }
    Ok(model)
}

/// `model` with the weights of a PyTorch-layout file (see [`read_file`] and `from_pytorch`).
pub fn load(model: Network, path: &std::path::Path) -> Result<Network> {
    if !path.exists() {
        return Err(Error::Usage(format!(
            "{}: no such weights file",
            path.display()
        )));
    }
    let model = from_pytorch(model, &read_file(path)?, path)?;
    match model.bad_weight() {
        Some(reason) => Err(Error::Checkpoint {
            path: path.to_path_buf(),
            reason,
        }),
        None => Ok(model),
    }
}
