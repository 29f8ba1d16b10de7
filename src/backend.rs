//! Backend selection. Model code is written once against Burn's backend-agnostic tensors; which
//! devices exist is decided by cargo features, and which one runs is decided here, at run time,
//! from the config's `backend` (or `--backend`). Asking for a backend that was not compiled in is a
//! clear error naming the feature, never a panic deep inside Burn.

use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The first compiled-in CPU backend (flex, else ndarray).
    Auto,
    Flex,
    Ndarray,
    Wgpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        }
    }
}

impl BackendChoice {
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Flex => "flex",
            BackendChoice::Ndarray => "ndarray",
            BackendChoice::Wgpu => "wgpu",
            BackendChoice::Cuda => "cuda",
        }
    }

    /// The concrete backends compiled into this binary, fastest CPU one first.
    pub fn compiled() -> Vec<BackendChoice> {
        let mut all = Vec::new();
        if cfg!(feature = "flex") {
            all.push(BackendChoice::Flex);
        }
        if cfg!(feature = "ndarray") {
            all.push(BackendChoice::Ndarray);
        }
        if cfg!(feature = "wgpu") {
            all.push(BackendChoice::Wgpu);
        }
        if cfg!(feature = "cuda") {
            all.push(BackendChoice::Cuda);
        }
        all
    }

    /// Replaces `auto` by the concrete backend it stands for.
    pub fn resolve(self) -> Result<BackendChoice> {
        if self != BackendChoice::Auto {
            return Ok(self);
        }
        BackendChoice::compiled()
            .into_iter()
            .find(|b| matches!(b, BackendChoice::Flex | BackendChoice::Ndarray))
            .ok_or_else(|| {
                Error::Backend(
                    "backend \"auto\" needs a CPU backend: rebuild with `--features flex`".into(),
                )
            })
    }
}

/// Builds the device for `choice` with `precision` as its default float type.
pub fn device(choice: BackendChoice, precision: Precision) -> Result<Device> {
    let choice = choice.resolve()?;
    let mut device = construct(choice)?;
    let dtype = precision.dtype();
    // Settings lock on a device's first tensor, process-wide: asking again for the same dtype is
    // fine, asking for another one after tensors exist is not.
    if device.configure(dtype).is_err() && device.settings().float_dtype != dtype {
        return Err(Error::Backend(format!(
            "cannot switch backend {} to {precision:?} in this process: it already holds {:?} tensors",
            choice.name(),
            device.settings().float_dtype
        )));
    }
    Ok(device)
}

fn not_compiled(choice: BackendChoice) -> Error {
    let compiled: Vec<_> = BackendChoice::compiled().iter().map(|b| b.name()).collect();
    Error::Backend(format!(
        "backend \"{0}\" is not compiled into this binary (compiled: {1}); rebuild with \
         `cargo build --release --features {0}`",
        choice.name(),
        compiled.join(", ")
    ))
}

#[allow(unreachable_code)]
fn construct(choice: BackendChoice) -> Result<Device> {
    match choice {
        BackendChoice::Auto => unreachable!("resolved above"),
        BackendChoice::Flex => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            Err(not_compiled(choice))
        }
        BackendChoice::Ndarray => {
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // deprecated upstream, still asked for by users
            return Ok(Device::ndarray());
            Err(not_compiled(choice))
        }
        BackendChoice::Wgpu => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(DeviceKind::DefaultDevice));
            Err(not_compiled(choice))
        }
        BackendChoice::Cuda => {
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(0));
            Err(not_compiled(choice))
        }
    }
}
