//! `neurona bench`: the training-step loop of one epoch (default 469 steps of the configured batch
//! size) on each backend, with real images through the same batcher as training, so host→device
//! copies are included. `bench/torch_mlp.py` runs the identical workload in PyTorch; see BENCHMARKS.md.

use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use serde::Serialize;

use crate::backend::{BackendChoice, Kernels};
use crate::classifier::config::MlpConfig;
use crate::classifier::data::batcher::{ImageBatcher, ResidentImages};
use crate::classifier::data::{MnistData, NUM_CLASSES};
use crate::devices::{Placement, RemoteConfig};
use crate::error::Result;
use crate::network::config::Gradients;
use crate::numeric::scalar;
use crate::remote::CountingRelay;
use crate::timing::peak_rss_mb;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub framework: &'static str,
    pub backend: String,
    pub gradients: Gradients,
    /// `[training] kernels` as asked (the fused ones run on flex in f32 only).
    pub kernels: Kernels,
    /// The instruction set the fused kernels' loops run with on this CPU.
    pub simd: &'static str,
    /// Batches gathered from a device-resident copy of the data (no per-batch upload).
    pub resident: bool,
    pub device: String,
    pub steps: usize,
    pub batch_size: usize,
    pub seconds: f64,
    pub steps_per_s: f64,
    /// Peak resident memory of the whole process so far (VmHWM), in MiB.
    pub peak_rss_mb: f64,
    pub final_loss: f64,
    /// Remote devices only: bytes on the wire per timed step, counted by a relay in front of
    /// each device server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire: Option<Wire>,
}

/// Traffic between this process and its device servers, per training step.
#[derive(Debug, Clone, Serialize)]
pub struct Wire {
    pub sent_bytes_per_step: f64,
    pub received_bytes_per_step: f64,
}

/// Times `steps` training steps (after `warmup` untimed ones) on each backend.
pub fn bench(
    config: &MlpConfig,
    backends: &[BackendChoice],
    steps: usize,
    warmup: usize,
    resident: bool,
) -> Result<Vec<BenchResult>> {
    let data = MnistData::load(&config.data, config.seed)?;
    let batcher = ImageBatcher {
        images: data.train.clone(),
        normalization: data.normalization,
    };
    let order = crate::sampling::split(data.train.len(), 0.0, config.seed).0;
    let workload = Workload {
        batcher: &batcher,
        order: &order,
        steps,
        warmup,
        resident,
    };
    backends
        .iter()
        .map(|&backend| workload.run(config, backend))
        .collect()
}

/// The batches of one epoch and how they reach the device.
struct Workload<'a> {
    batcher: &'a ImageBatcher,
    /// Training image indices in batch order.
    order: &'a [usize],
    steps: usize,
    warmup: usize,
    resident: bool,
}

impl Workload<'_> {
    fn run(&self, config: &MlpConfig, backend: BackendChoice) -> Result<BenchResult> {
        // A remote device is reached through counting relays, which measure its traffic.
        let relays = match backend {
            BackendChoice::Remote => config
                .remote
                .hosts
                .iter()
                .map(|url| CountingRelay::start(url))
                .collect::<Result<Vec<_>>>()?,
            _ => Vec::new(),
        };
        let remote = RemoteConfig {
            hosts: relays.iter().map(|r| r.url.clone()).collect(),
            ..config.remote.clone()
        };
        let wire = || {
            relays.iter().fold((0, 0), |(s, r), relay| {
                let (sent, received) = relay.bytes();
                (s + sent, r + received)
            })
        };
        let placement = Placement::open(backend, None, &remote, config.precision)?;
        let device = placement.main().clone().autodiff();
        device.seed(config.seed);
        let batch_size = config.training.batch_size;
        let batches: Vec<&[usize]> = self.order.chunks(batch_size).collect();
        let mut model = config
            .model
            .init(config.input_shape(), NUM_CLASSES, &device)
            .with_gradients(config.training.gradients)
            .with_kernels(config.training.kernels);
        let mut optim = config.optimizer.init(config.training.kernels);
        let lr = config.optimizer.learning_rate;
        // `resident`: the whole training set is uploaded once and batches are gathered on the
        // device, as training does on GPUs and remote devices (and bench/torch_mlp.py); otherwise
        // each batch is built on the host and uploaded, as training does on the CPU.
        let resident = ResidentImages::new(self.batcher.clone());
        let batch = |i: usize| {
            let rows = batches[i % batches.len()];
            if self.resident {
                resident.batch(rows.to_vec(), &device)
            } else {
                self.batcher.make(rows, &device)
            }
        };
        let mut loss: Option<Tensor<1>> = None;
        let mut start = Instant::now();
        let mut wire_at_start = wire();
        for i in 0..self.warmup + self.steps {
            if i == self.warmup {
                // The warm-up's queued work finishes before the clock starts.
                if let Some(l) = &loss {
                    scalar(l.clone());
                }
                start = Instant::now();
                wire_at_start = wire();
            }
            let (out, grads) = crate::network::backprop::step(&model, batch(i));
            model = optim.step(lr, model, grads);
            loss = Some(out.loss);
        }
        // Reading the last loss waits for all queued work (asynchronous backends).
        let final_loss = match loss {
            Some(l) if self.steps > 0 => scalar(l),
            _ => f64::NAN,
        };
        let seconds = start.elapsed().as_secs_f64();
        let (sent, received) = wire();
        let per_step = |bytes: u64| bytes as f64 / self.steps.max(1) as f64;
        Ok(BenchResult {
            framework: "burn",
            backend: placement.backend.clone(),
            gradients: config.training.gradients,
            kernels: config.training.kernels,
            simd: crate::network::layers::kernels::simd::instruction_set(),
            resident: self.resident,
            device: format!("{:?}", device.clone().inner()),
            steps: self.steps,
            batch_size,
            seconds,
            steps_per_s: self.steps as f64 / seconds,
            peak_rss_mb: peak_rss_mb(),
            final_loss,
            wire: (!relays.is_empty()).then(|| Wire {
                sent_bytes_per_step: per_step(sent - wire_at_start.0),
                received_bytes_per_step: per_step(received - wire_at_start.1),
            }),
        })
    }
}
