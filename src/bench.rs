//! `neurona bench`: the training-step loop of one epoch (default 469 steps of the configured batch
//! size) on each backend, with real images through the same batcher as training, so host→device
//! copies are included. `bench/torch_mlp.py` runs the identical workload in PyTorch; see BENCHMARKS.md.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::Serialize;

use crate::backend::BackendChoice;
use crate::config::{ExperimentConfig, Gradients};
use crate::data::{ImageBatch, ImageBatcher, MnistData, NUM_CLASSES};
use crate::error::Result;
use crate::model::Mlp;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub framework: &'static str,
    pub backend: String,
    pub gradients: Gradients,
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
}

/// Times `steps` training steps (after `warmup` untimed ones) on each backend.
pub fn bench(
    config: &ExperimentConfig,
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
    let batch_size = config.training.batch_size;
    let order = crate::data::split(data.train.len(), 0.0, config.seed).0;
    let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
    let mut results = Vec::new();
    for &backend in backends {
        let (backend, device) = crate::backend::select(backend, config.precision)?;
        let device = device.autodiff();
        device.seed(config.seed);
        let mut model = config
            .model
            .init(batcher.images.pixels_per_image(), NUM_CLASSES, &device);
        let mut optim = crate::training::optimizer(&config.optimizer);
        let lr = config.optimizer.learning_rate;
        // `resident`: the whole training set is uploaded once and batches are gathered on the
        // device, as bench/torch_mlp.py does; otherwise each batch is built on the host and
        // uploaded, as the training pipeline does.
        let all = resident.then(|| batcher.make(&order, &device));
        let mut step = |model: Mlp, i: usize| -> (Mlp, Tensor<1>) {
            let rows = batches[i % batches.len()];
            let batch = match &all {
                Some(all) => {
                    let at: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
                    let at =
                        Tensor::<1, Int>::from_data(TensorData::new(at, [rows.len()]), &device);
                    ImageBatch {
                        images: all.images.clone().select(0, at.clone()),
                        targets: all.targets.clone().select(0, at),
                    }
                }
                None => batcher.make(rows, &device),
            };
            let (loss, grads) = match config.training.gradients {
                Gradients::Autodiff => {
                    let out = model.forward_classification(batch);
                    let grads = GradientsParams::from_grads(out.loss.backward(), &model);
                    (out.loss, grads)
                }
                Gradients::Manual => {
                    let (out, grads) = crate::backprop::classification_step(&model, batch);
                    (out.loss, grads)
                }
            };
            (optim.step(lr, model, grads), loss)
        };
        let mut loss = None;
        for i in 0..warmup {
            (model, _) = step(model, i);
        }
        let start = Instant::now();
        for i in warmup..warmup + steps {
            let (m, l) = step(model, i);
            model = m;
            loss = Some(l);
        }
        // Reading the last loss waits for all queued work (asynchronous backends).
        let final_loss = loss.map_or(f64::NAN, |l| {
            l.into_data()
                .convert::<f64>()
                .try_to_vec::<f64>()
                .expect("loss")[0]
        });
        let seconds = start.elapsed().as_secs_f64();
        results.push(BenchResult {
            framework: "burn",
            backend: backend.name().to_string(),
            gradients: config.training.gradients,
            resident,
            device: format!("{:?}", device.clone().inner()),
            steps,
            batch_size,
            seconds,
            steps_per_s: steps as f64 / seconds,
            peak_rss_mb: peak_rss_mb(),
            final_loss,
        });
    }
    Ok(results)
}

/// VmHWM from /proc/self/status (Linux); NaN elsewhere.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Timing of `neurona cv`'s computation (folds × grid, the full path and the refit; no file output).
#[derive(Debug, Clone, Serialize)]
pub struct CvBenchResult {
    pub framework: &'static str,
    pub folds: usize,
    pub lambdas: usize,
    pub repeats: usize,
    pub median_seconds: f64,
    pub chosen_lambda: f64,
}

/// Runs the configured cross-validation `repeats` times on data loaded once; the median time.
pub fn bench_cv(
    config: &crate::linear::config::LinearConfig,
    repeats: usize,
) -> Result<CvBenchResult> {
    let design = crate::tabular::load(&config.data)?;
    let mut seconds = Vec::with_capacity(repeats);
    let mut chosen = f64::NAN;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let report = crate::linear::cv::cross_validate(config, &design)?;
        seconds.push(start.elapsed().as_secs_f64());
        chosen = report.lambda;
    }
    seconds.sort_by(f64::total_cmp);
    Ok(CvBenchResult {
        framework: "neurona",
        folds: config.cv.folds,
        lambdas: config
            .cv
            .lambdas
            .as_ref()
            .map_or(config.cv.n_lambdas, Vec::len),
        repeats: seconds.len(),
        median_seconds: seconds[seconds.len() / 2],
        chosen_lambda: chosen,
    })
}

/// Timing of a logistic fit with its full report (inference, metrics, ROC); no file output.
#[derive(Debug, Clone, Serialize)]
pub struct FitBenchResult {
    pub framework: &'static str,
    pub rows: usize,
    pub repeats: usize,
    pub median_seconds: f64,
    pub log_likelihood: f64,
}

/// Fits the configured logistic model `repeats` times on data loaded once; the median time.
pub fn bench_logistic(
    config: &crate::logistic::config::LogisticConfig,
    repeats: usize,
) -> Result<FitBenchResult> {
    let (mut design, targets) = crate::tabular::load_labelled(&config.data)?;
    let classes = crate::logistic::binary_target(config, &mut design, &targets)?;
    let mut seconds = Vec::with_capacity(repeats);
    let mut log_likelihood = f64::NAN;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let fit = crate::logistic::fit(config, &design)?;
        let report = crate::logistic::LogisticReport::new(config, classes.clone(), &design, &fit);
        seconds.push(start.elapsed().as_secs_f64());
        log_likelihood = report.log_likelihood;
    }
    seconds.sort_by(f64::total_cmp);
    Ok(FitBenchResult {
        framework: "neurona",
        rows: design.y.len(),
        repeats: seconds.len(),
        median_seconds: seconds[seconds.len() / 2],
        log_likelihood,
    })
}
