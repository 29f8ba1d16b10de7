//! Backend selection. Model code is written once against Burn's backend-agnostic tensors; which
//! devices exist is decided by cargo features, and which one runs is decided here, at run time,
//! from the config's `backend` (or `--backend`). Asking for a backend that was not compiled in is a
//! clear error naming the feature, never a panic deep inside Burn.

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A compiled-in GPU backend that answers (cuda, then wgpu), else the first CPU one (flex,
    /// else ndarray).
    Auto,
    Flex,
    Ndarray,
    Wgpu,
    Cuda,
    /// The devices of `neurona device-server`s (`[remote] hosts`, image experiments only; see
    /// `devices`).
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    /// The float type of every tensor at this precision.
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        }
    }

    /// Bytes per float.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

/// Which implementation of a network's layer steps runs (`network::layers::kernels`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// Burn's operations composed, on every backend.
    Generic,
    /// The fused kernels where they apply (flex, f32); the generic path elsewhere.
    #[default]
    Fused,
}

impl Kernels {
    /// Whether a step on `x` takes the fused path: asked for, `x` on the flex backend (with or
    /// without autodiff), in f32.
    pub(crate) fn use_fused<const D: usize>(self, x: &Tensor<D>) -> bool {
        self == Kernels::Fused && x.dtype() == DType::F32 && x.device().inner() == Device::flex()
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernels::Generic => "generic",
            Kernels::Fused => "fused",
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
            BackendChoice::Remote => "remote",
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
        if cfg!(feature = "remote") {
            all.push(BackendChoice::Remote);
        }
        all
    }

    fn is_gpu(self) -> bool {
        matches!(self, BackendChoice::Wgpu | BackendChoice::Cuda)
    }

    /// The first compiled-in CPU backend (what `auto` falls back to).
    fn cpu() -> Result<BackendChoice> {
        BackendChoice::compiled()
            .into_iter()
            .find(|b| matches!(b, BackendChoice::Flex | BackendChoice::Ndarray))
            .ok_or_else(|| {
                Error::Backend("no CPU backend compiled in: rebuild with `--features flex`".into())
            })
    }
}

/// The device for `choice` with `precision` as its default float type.
pub fn device(choice: BackendChoice, precision: Precision) -> Result<Device> {
    select(choice, precision).map(|(_, device)| device)
}

/// The concrete backend and its device. `auto` tries the compiled-in GPU backends (cuda, then
/// wgpu) and falls back to the CPU with a one-line notice when none works; an explicitly requested
/// GPU backend that does not work is an error.
pub fn select(choice: BackendChoice, precision: Precision) -> Result<(BackendChoice, Device)> {
    if choice != BackendChoice::Auto {
        return Ok((choice, configured(choice, precision)?));
    }
    for gpu in [BackendChoice::Cuda, BackendChoice::Wgpu] {
        if BackendChoice::compiled().contains(&gpu) {
            match configured(gpu, precision) {
                Ok(device) => return Ok((gpu, device)),
                Err(e) => eprintln!("notice: backend \"auto\" skips {}: {e}", gpu.name()),
            }
        }
    }
    let cpu = BackendChoice::cpu()?;
    Ok((cpu, configured(cpu, precision)?))
}

/// Device `index` of a local backend (`wgpu:1`, `cuda:2`; 0 is the backend's default device).
pub(crate) fn indexed(choice: BackendChoice, index: usize, precision: Precision) -> Result<Device> {
    match (choice, index) {
        (_, 0) => device(choice, precision),
        (BackendChoice::Wgpu | BackendChoice::Cuda, _) => {
            let device = construct_indexed(choice, index)?;
            with_precision(device, choice, precision)
        }
        _ => Err(Error::Backend(format!(
            "backend \"{}\" has no device {index}",
            choice.name()
        ))),
    }
}

fn configured(choice: BackendChoice, precision: Precision) -> Result<Device> {
    with_precision(construct(choice)?, choice, precision)
}

/// `device` with `precision` as its float type, answering its first operation (GPUs).
pub(crate) fn with_precision(
    mut device: Device,
    choice: BackendChoice,
    precision: Precision,
) -> Result<Device> {
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
    if choice.is_gpu() {
        probe(&device, choice)?;
    }
    Ok(device)
}

/// How long a GPU backend may take to answer its first operation (shader compilation included).
const PROBE_SECONDS: u64 = 120;

/// A GPU backend without a usable adapter, driver or Vulkan loader fails at its first operation
/// by panicking deep inside the backend, or hangs. One tiny round trip in a watched thread turns
/// either into an error.
fn probe(device: &Device, choice: BackendChoice) -> Result<()> {
    let device = device.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| {
            Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &device)
                .sum()
                .into_data()
        });
        let _ = sender.send(outcome.map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    let answer = receiver.recv_timeout(std::time::Duration::from_secs(PROBE_SECONDS));
    std::panic::set_hook(quiet);
    match answer {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(reason)) => Err(Error::Backend(format!(
            "backend \"{}\" has no usable device ({}); on Linux without a GPU, install Mesa's \
             software Vulkan driver (apt-get install mesa-vulkan-drivers libvulkan1), or use --backend flex",
            choice.name(),
            reason
                .lines()
                .next()
                .unwrap_or("it failed at its first operation")
        ))),
        Err(_) => Err(Error::Backend(format!(
            "backend \"{}\" did not answer its first operation within {PROBE_SECONDS} s (no GPU adapter or \
             Vulkan loader?); use --backend flex",
            choice.name()
        ))),
    }
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
        BackendChoice::Remote => Err(Error::Backend(
            "backend \"remote\" runs on the device servers of an image experiment's [remote] \
             hosts; the linear, logistic and 2-D experiments run on this machine (flex, wgpu, ...)"
                .into(),
        )),
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

/// Device `index` (≥ 1) of a GPU backend.
#[allow(unreachable_code, unused_variables)]
fn construct_indexed(choice: BackendChoice, index: usize) -> Result<Device> {
    match choice {
        BackendChoice::Wgpu => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(DeviceKind::DiscreteGpu(index)));
            Err(not_compiled(choice))
        }
        BackendChoice::Cuda => {
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(index));
            Err(not_compiled(choice))
        }
        _ => unreachable!("only GPU backends have indexed devices"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused kernels are f32 code for the flex backend: anything else takes Burn's path.
    #[test]
    fn only_flex_in_f32_takes_the_fused_kernels() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            let x = Tensor::<2>::zeros([2, 3], &device);
            assert!(Kernels::Fused.use_fused(&x));
            assert!(!Kernels::Generic.use_fused(&x));
            assert!(!Kernels::Fused.use_fused(&x.cast(FloatDType::F64)));
        }
    }
}
