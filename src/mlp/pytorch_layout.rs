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
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::interop::tensors::{Raw, read_file};
use crate::interop::tensors::{read, store_error, write};
use crate::mlp::architecture::LayerConfig;
use crate::mlp::model::Network;

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
