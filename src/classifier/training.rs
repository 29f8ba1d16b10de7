//! `neurona train` for image classification: burn-train's `SupervisedTraining` with a checkpoint
//! every epoch, the best model by validation loss kept as `model.bpk`, resumable from the last
//! completed epoch, and a test evaluation at the end. The model's `TrainStep` and
//! `InferenceStep` live here, so the model itself imports no training code.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::logger::InMemoryMetricLogger;
use burn::train::metric::Metric;
use burn::train::metric::store::{Aggregate, Direction, EventStoreClient, Split};
use burn::train::{
    ClassificationOutput, ExecutionStrategy, InferenceStep, Learner, MetricEarlyStoppingStrategy,
    MultiDeviceOptim, StoppingCondition, SupervisedTraining, TrainOutput, TrainStep,
};

use crate::classifier::config::{DataPath, KeepCheckpoints, MlpConfig};
use crate::classifier::data::batcher::{ImageBatcher, ResidentImages};
use crate::classifier::data::{MnistData, NUM_CLASSES};
use crate::classifier::epoch_metrics::{Accuracy, DeviceMean, Loss};
use crate::classifier::eval::{EvalReport, evaluate_test, load_model};
use crate::devices::Placement;
use crate::divergence::StopOnDivergence;
use crate::error::{Error, Result};
use crate::experiment::ExperimentFile;
use crate::network::model::Batch;
use crate::network::model::Network;
use crate::progress::EpochRenderer;
use crate::run_dir::Start;
use crate::run_dir::{RunKind, RunLayout};
use crate::sampling::{EpochShuffled, IndexDataset};

/// `metrics.json` of an image run: its epochs and the final test evaluation.
pub type RunMetrics = crate::progress::RunMetrics<EvalReport>;

impl TrainStep for Network {
    type Input = Batch;
    type Output = ClassificationOutput;

    fn step(&self, batch: Batch) -> TrainOutput<ClassificationOutput> {
        let (item, grads) = crate::network::backprop::step(self, batch);
        TrainOutput { grads, item }
    }
}

impl InferenceStep for Network {
    type Input = Batch;
    type Output = ClassificationOutput;

    fn step(&self, batch: Batch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    /// Continue the run in the config's run directory from its last completed epoch.
    pub resume: bool,
    /// Delete an existing run directory and start over.
    pub force: bool,
}

#[derive(Debug, Clone)]
pub struct TrainReport {
    pub run_dir: PathBuf,
    pub metrics: RunMetrics,
    pub test: EvalReport,
}

fn checkpoint_path(run_dir: &Path, kind: &str, epoch: usize) -> PathBuf {
    run_dir
        .join("checkpoint")
        .join(format!("{kind}-{epoch}.bpk"))
}

/// What an image classification run holds: the epoch in progress, checkpoints and burn-train's
/// logs while it trains, the best model with its checksum, plots, the test report, exports.
pub(crate) const RUN: RunLayout = RunLayout {
    kind: RunKind::ImageClassification,
    files: &[
        crate::run_dir::LIVE_FILE,
        "eval.json",
        "analysis.json",
        "model.bpk",
        "model.bpk.sha256",
        "model.safetensors",
        "model.onnx",
        "loss.svg",
        "first_layer.png",
        "experiment.log",
    ],
    dirs: &["checkpoint", "train", "valid"],
};

/// The last epoch, no later than `max`, whose model, optimizer and scheduler checkpoints all
/// load. burn-train writes them in the background and not atomically, so a run killed at the
/// wrong moment can leave a half-written file: that epoch is skipped rather than crashing resume.
pub fn last_checkpoint(run_dir: &Path, max: usize) -> Option<usize> {
    (1..=max).rev().find(|&e| {
        ModuleRecord::load(checkpoint_path(run_dir, "model", e)).is_ok()
            && OptimizerRecord::load(checkpoint_path(run_dir, "optim", e)).is_ok()
            && LrSchedulerRecord::load(checkpoint_path(run_dir, "scheduler", e)).is_ok()
    })
}

/// Whether the run has any model checkpoint at all.
fn has_checkpoints(run_dir: &Path) -> bool {
    std::fs::read_dir(run_dir.join("checkpoint")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("model-"))
    })
}

/// Saves every epoch and, with `keep_checkpoints = "last_and_best"`, deletes as the run goes the
/// recorded epochs that are neither among the last two nor the best (the choice `model.bpk` is
/// made by, read from the run's own record), so a long run holds three epochs' files, not one
/// per epoch. Crash-safe: the files deleted are at least two epochs old, long written, and a
/// diverged epoch is never recorded, so the last good one stays.
struct LastAndBest {
    keep: KeepCheckpoints,
    /// The run's record (`metrics.json`), as the renderer keeps it.
    metrics: crate::progress::SharedMetrics<EvalReport>,
    /// The epochs already deleted.
    deleted: std::collections::BTreeSet<usize>,
}

impl CheckpointingStrategy for LastAndBest {
    fn checkpointing(
        &mut self,
        epoch: usize,
        _store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        let mut actions = vec![CheckpointingAction::Save];
        if self.keep == KeepCheckpoints::All {
            return actions;
        }
        let metrics = self.metrics.lock().expect("metrics lock");
        let best = metrics.best().map(|r| r.epoch);
        for e in metrics.epochs.iter().map(|r| r.epoch) {
            if e + 1 < epoch && Some(e) != best && self.deleted.insert(e) {
                actions.push(CheckpointingAction::Delete(e));
            }
        }
        actions
    }
}

/// Where a run starts: the epochs already recorded and the last loadable checkpoint (resume), or
/// nothing (a new run).
fn starting_point(
    config: &mut MlpConfig,
    options: TrainOptions,
) -> Result<(RunMetrics, Option<usize>)> {
    let run_dir = config.run_dir();
    if !options.resume {
        return Ok((RunMetrics::default(), None));
    }
    let saved = MlpConfig::load_run(&run_dir)?;
    if saved.model != config.model
        || saved.data.dataset != config.data.dataset
        || saved.precision != config.precision
    {
        return Err(Error::Usage(format!(
            "cannot resume {}: its [model], data set or precision differs from this config's",
            run_dir.display()
        )));
    }
    // The normalisation fitted at the start of the run stays fixed.
    config.data.mean = saved.data.mean;
    config.data.std = saved.data.std;
    let metrics_path = run_dir.join("metrics.json");
    let mut metrics = if metrics_path.is_file() {
        RunMetrics::load(&metrics_path)?
    } else if has_checkpoints(&run_dir) {
        // Without the record, the checkpoints cannot be matched to completed epochs.
        return Err(Error::Data(format!(
            "{} has checkpoints but no metrics.json, so which epochs completed is unknown; \
             start over with --force",
            run_dir.display()
        )));
    } else {
        RunMetrics::default()
    };
    let resume_from = last_checkpoint(&run_dir, metrics.epochs.len());
    metrics.epochs.retain(|r| Some(r.epoch) <= resume_from);
    let evaluated = metrics.test.take().is_some();
    if let Some(done) = resume_from
        && done >= config.training.epochs
        && evaluated
    {
        return Err(Error::Usage(format!(
            "{} already completed {done} epochs; raise training.epochs to continue it",
            run_dir.display()
        )));
    }
    Ok((metrics, resume_from))
}

/// Trains the experiment; see the module docs.
pub fn train(mut config: MlpConfig, options: TrainOptions) -> Result<TrainReport> {
    check_memory(&config)?;
    let run_dir = config.run_dir();
    let start = Start::from_flags(options.resume, options.force);
    let _claim = crate::run_dir::claim(&run_dir, &RUN, start)?;
    let (mut metrics, resume_from) = starting_point(&mut config, options)?;
    let placement = Placement::open(
        config.backend,
        config.training.devices.as_deref(),
        &config.remote,
        config.precision,
    )?;
    let device = placement.main().clone();
    for (_, d) in &placement.devices {
        d.seed(config.seed);
    }
    let data = MnistData::load(&config.data, config.seed)?;
    if config.data.standardize {
        config.data.mean = Some(data.normalization.mean);
        config.data.std = Some(data.normalization.std);
    }
    // Weights from elsewhere are checked against the network before the run is written.
    if let (Some(path), None) = (&config.model.init_from, resume_from) {
        let network = config
            .model
            .init(config.input_shape(), NUM_CLASSES, &device);
        crate::classifier::pytorch_layout::load(network, path)?;
    }
    crate::run_dir::create(&run_dir, &config.to_toml(), config.architecture().as_ref())?;
    metrics.run = config.output.name.clone().unwrap_or_default();
    metrics.dataset = config.data.dataset.spec().title.to_string();
    metrics.backend = placement.backend.clone();
    metrics.device = placement.describe();
    metrics.precision = format!("{:?}", config.precision).to_lowercase();
    println!(
        "training {} on {} ({} train / {} valid / {} test images), backend {}, run dir {}",
        metrics.run,
        metrics.dataset,
        data.train_indices.len(),
        data.valid_indices.len(),
        data.test.len(),
        metrics.device,
        run_dir.display()
    );
    watching_servers(&placement, || {
        let (model, metrics) = match resume_from {
            // Every epoch completed, but the run stopped before its test evaluation: finish it.
            Some(done) if done >= config.training.epochs => {
                let last = checkpoint_path(&run_dir, "model", done);
                (load_model(&config, &last, &device)?, metrics)
            }
            _ => launch(&config, &data, &placement, metrics, resume_from)?,
        };
        finish(&config, &data, &device, model, metrics)
    })
}

/// Refuses a network whose training state (weights, gradients and two optimizer moments per
/// parameter) cannot fit in the memory available now, before anything is allocated or written:
/// the allocation would abort the process.
pub(crate) fn check_memory(config: &MlpConfig) -> Result<()> {
    let parameters = config
        .model
        .parameter_count(config.input_shape(), NUM_CLASSES);
    let bytes = config.precision.bytes();
    let weights = parameters * 4 * bytes as u128;
    let (batch, largest) =
        config
            .model
            .batch_memory(config.input_shape(), config.training.batch_size, bytes);
    let Some(available) = available_memory() else {
        return Ok(());
    };
    let gib = |bytes: u128| bytes as f64 / f64::from(1u32 << 30);
    if weights > available {
        return Err(Error::Config(format!(
            "the model ({}) has {parameters} parameters: training them needs about {:.1} GiB \
             (weights, gradients, optimizer state), more than the {:.1} GiB of memory available; \
             use fewer or narrower layers",
            config.model.describe(),
            gib(weights),
            gib(available)
        )));
    }
    if weights + batch > available {
        let culprit = largest.map_or_else(String::new, |(i, share)| {
            format!(
                ", {:.1} GiB of it in model.layers[{i}] ({})",
                gib(share),
                config.model.stack()[i].summary()
            )
        });
        return Err(Error::Config(format!(
            "one training batch of {} images needs about {:.1} GiB for the layers' values and \
             gradients{culprit}, and the weights {:.1} GiB more: over the {:.1} GiB of memory \
             available; lower the batch size (training.batch_size, or gradcheck's --batch) or \
             make that layer smaller",
            config.training.batch_size,
            gib(batch),
            gib(weights),
            gib(available)
        )));
    }
    Ok(())
}

/// `MemAvailable` of /proc/meminfo (Linux), in bytes.
fn available_memory() -> Option<u128> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs burn-train's learner over the remaining epochs; returns the final model and the
/// recorded epochs.
fn launch(
    config: &MlpConfig,
    data: &MnistData,
    placement: &Placement,
    metrics: RunMetrics,
    resume_from: Option<usize>,
) -> Result<(Network, RunMetrics)> {
    let run_dir = config.run_dir();
    let device = placement.main();
    let batcher = ImageBatcher {
        images: data.train.clone(),
        normalization: data.normalization,
    };
    let batch_size = config.training.batch_size;
    let resident = match config.training.data_path {
        DataPath::Auto => !placement.on_cpu,
        path => path == DataPath::Resident,
    };
    let (train_loader, valid_loader) = if resident {
        loaders(
            config,
            data,
            ResidentImages::new(batcher),
            device,
            resume_from,
        )
    } else {
        loaders(config, data, batcher, device, resume_from)
    };
    let model = config
        .model
        .init(
            config.input_shape(),
            NUM_CLASSES,
            &device.clone().autodiff(),
        )
        .with_gradients(config.training.gradients)
        .with_kernels(config.training.kernels);
    // A new run may start from weights trained elsewhere; a resumed one has its checkpoint.
    let model = match (&config.model.init_from, resume_from) {
        (Some(path), None) => crate::classifier::pytorch_layout::load(model, path)?,
        _ => model,
    };
    let shared = Arc::new(Mutex::new(metrics));
    // A uniform guess among the classes: what divergence is measured against.
    let untrained = (NUM_CLASSES as f64).ln();
    let validated = !data.valid_indices.is_empty();
    let renderer = EpochRenderer::new(
        shared.clone(),
        run_dir.join("metrics.json"),
        untrained,
        validated,
    );
    let mut training = SupervisedTraining::new(&run_dir, train_loader, valid_loader)
        .metrics((DeviceMean::<Accuracy>::new(), DeviceMean::<Loss>::new()))
        // The epochs' metrics in memory, for early stopping and the checkpoint choice:
        // burn-train's default writes every batch's values to train/ and valid/, which nothing
        // reads, and panics (then aborts) when that write meets a full disk.
        .with_metric_logger(InMemoryMetricLogger::default())
        .with_default_checkpointers()
        .with_checkpointing_strategy(LastAndBest {
            keep: config.training.keep_checkpoints,
            metrics: shared.clone(),
            deleted: Default::default(),
        })
        .renderer(Box::new(renderer))
        .num_epochs(config.training.epochs);
    if let Some(epoch) = resume_from {
        let checkpoint = checkpoint_path(&run_dir, "model", epoch);
        if crate::network::store::migrate_checkpoint(model.clone(), &checkpoint)? {
            println!(
                "{}: written by an earlier neurona; its tensors now have this version's names",
                checkpoint.display()
            );
        }
        training = training.checkpoint(epoch);
    }
    let watch = StopOnDivergence::new(
        DeviceMean::<Loss>::new().name().to_string(),
        untrained,
        validated,
        config.training.early_stopping_patience.map(|n_epochs| {
            MetricEarlyStoppingStrategy::new(
                &DeviceMean::<Loss>::new(),
                Aggregate::Mean,
                Direction::Lowest,
                Split::Valid,
                StoppingCondition::NoImprovementSince { n_epochs },
            )
        }),
    );
    let diverged = watch.found();
    training = training.early_stopping(watch);
    let devices: Vec<Device> = placement.devices.iter().map(|(_, d)| d.clone()).collect();
    let steps_per_epoch =
        optimizer_steps_per_epoch(data.train_indices.len(), batch_size, devices.len());
    if devices.len() > 1 {
        training = training.with_training_strategy(
            ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice).into(),
        );
    }
    let optimizer = &config.optimizer;
    let schedule = optimizer.schedule(steps_per_epoch * config.training.epochs)?;
    if !placement.servers().is_empty() {
        // burn-train's panic banner points at this log, which says nothing about a lost server
        // (see `watching_servers`).
        training = training.with_application_logger(None);
    }
    let result = training.launch(Learner::new(
        model,
        optimizer.init(config.training.kernels),
        schedule,
    ));
    if let Some(error) = result.error {
        return Err(lost_server(placement).unwrap_or_else(|| {
            // A full disk: say how much an epoch's checkpoint needs (the weights, and Adam's two
            // moments or SGD's momentum beside them).
            let parameters = config
                .model
                .parameter_count(config.input_shape(), NUM_CLASSES);
            let epoch_bytes = parameters * 3 * config.precision.bytes() as u128;
            let what = format!(
                "training failed (each epoch's checkpoint needs about {:.1} MB in {})",
                epoch_bytes as f64 / 1e6,
                run_dir.join("checkpoint").display()
            );
            Error::from_failure(&what, &error.to_string())
        }));
    }
    if let Some(divergence) = diverged.lock().expect("divergence lock").take() {
        return Err(divergence.error(&optimizer.remedy()));
    }
    let metrics = shared.lock().expect("metrics lock").clone();
    Ok((result.model, metrics))
}

/// The training and validation loaders over `batcher` (streamed or resident).
fn loaders<B: Batcher<usize, Batch> + Clone + 'static>(
    config: &MlpConfig,
    data: &MnistData,
    batcher: B,
    device: &Device,
    resume_from: Option<usize>,
) -> (Arc<dyn DataLoader<Batch>>, Arc<dyn DataLoader<Batch>>) {
    let batch_size = config.training.batch_size;
    let train = Arc::new(EpochShuffled::new(
        data.train_indices.clone(),
        batch_size,
        batcher.clone(),
        device,
        config.seed,
        resume_from.unwrap_or(0),
    ));
    let valid = DataLoaderBuilder::new(batcher)
        .batch_size(batch_size)
        .build(IndexDataset(data.valid_indices.clone()));
    (train, valid)
}

/// Optimizer steps in one epoch of `rows` training rows: one per batch, or with several devices
/// one per round of a batch on each, burn-train giving each device an equal slice of the rows
/// (the last one the remainder).
fn optimizer_steps_per_epoch(rows: usize, batch_size: usize, devices: usize) -> usize {
    let devices = devices.max(1);
    let largest = rows - (devices - 1) * (rows / devices);
    largest.div_ceil(batch_size)
}

/// Runs `work` (training and the test evaluation). On device servers, a server that goes away
/// makes Burn panic at the next read from it (a checkpoint, a metric) rather than return an
/// error: the panic is caught here, quietly, and reported as the lost server, or as an internal
/// error when every server still answers. Without servers, `work` runs as it is.
fn watching_servers<T>(placement: &Placement, work: impl FnOnce() -> Result<T>) -> Result<T> {
    if placement.servers().is_empty() {
        return work();
    }
    let panic_message = Arc::new(Mutex::new(None::<String>));
    let recorded = panic_message.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut first) = recorded.lock() {
            first.get_or_insert_with(|| info.to_string());
        }
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    std::panic::set_hook(previous);
    outcome.unwrap_or_else(|_| {
        Err(lost_server(placement).unwrap_or_else(|| {
            let message = panic_message.lock().ok().and_then(|m| m.clone());
            Error::from_failure(
                "training failed",
                &message.unwrap_or_else(|| "a panic inside burn-train".into()),
            )
        }))
    })
}

/// The error for a training that failed because a device server went away: which one, and how
/// to continue. `None` when every server still answers (the failure was something else).
fn lost_server(placement: &Placement) -> Option<Error> {
    // A server being killed drops its connections a moment before its listening socket closes
    // (and the kernel accepts connections for a listener nobody serves), so one successful
    // connect proves little: look a few times.
    let gone = |url: &str| {
        (0..5).find_map(|attempt| {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            crate::remote::reachable(url).err()
        })
    };
    placement.servers().into_iter().find_map(|url| {
        gone(url).map(|reason| {
            Error::Backend(format!(
                "lost the device server {url} during training ({reason}); the completed epochs \
                 are kept: continue with `neurona train <config> --resume` once it is back, or \
                 on this machine with `--resume --backend flex`"
            ))
        })
    })
}

/// Keeps the best epoch's model as `model.bpk`, prunes the other checkpoints, plots the loss
/// and evaluates the best model on the test set.
fn finish(
    config: &MlpConfig,
    data: &MnistData,
    device: &Device,
    last_model: Network,
    mut metrics: RunMetrics,
) -> Result<TrainReport> {
    let run_dir = config.run_dir();
    let (best, last) = match (metrics.best(), metrics.epochs.last()) {
        (Some(b), Some(l)) => (b.epoch, l.epoch),
        _ => {
            return Err(Error::Internal(
                "training ended without completing an epoch".into(),
            ));
        }
    };
    let model_path = run_dir.join("model.bpk");
    // The final in-memory model is the best one unless validation loss rose at the end.
    let best_model = if best == last {
        last_model
    } else {
        load_model(config, &checkpoint_path(&run_dir, "model", best), device)?
    };
    crate::network::store::save(&best_model, &model_path)?;
    prune_checkpoints(&run_dir, best, last);
    draw_run(&run_dir, &metrics, &best_model)?;
    let (test, analysis) = evaluate_test(&best_model, config, data, device, &model_path)?;
    crate::run_dir::write_json(&run_dir.join(crate::classifier::analysis::FILE), &analysis)?;
    metrics.best_epoch = Some(best);
    metrics.test = Some(test.clone());
    metrics.save(&run_dir.join("metrics.json"))?;
    println!(
        "best epoch {best} (lowest validation loss) saved as {}",
        model_path.display()
    );
    print!("{test}");
    Ok(TrainReport {
        run_dir,
        metrics,
        test,
    })
}

/// The run's pictures: `loss.svg` (training and validation loss and accuracy per epoch, so
/// overfitting shows as the curves parting) and `first_layer.png` (what the first layer's units
/// or filters look at; not for recurrent first layers).
fn draw_run(run_dir: &Path, metrics: &RunMetrics, model: &Network) -> Result<()> {
    let column = |f: fn(&crate::progress::EpochRecord) -> Option<f64>| -> Vec<Option<f64>> {
        metrics.epochs.iter().map(f).collect()
    };
    let train_loss: Vec<f64> = metrics.epochs.iter().map(|e| e.train_loss).collect();
    crate::plot::learning_curves(
        &run_dir.join("loss.svg"),
        &format!("{}: learning curves", metrics.run),
        &crate::plot::LearningCurves {
            train_loss: &train_loss,
            valid_loss: &column(|e| e.valid_loss),
            train_accuracy: &column(|e| e.train_accuracy),
            valid_accuracy: &column(|e| e.valid_accuracy),
        },
    )?;
    if let Some((tiles, shape)) = model.first_layer_filters() {
        let columns = (tiles.len() as f64).sqrt().ceil() as usize;
        crate::plot::weight_tiles(&run_dir.join("first_layer.png"), &tiles, shape, columns)?;
    }
    Ok(())
}

/// Deletes checkpoints other than the best epoch's model and the last epoch's full state
/// (kept so that `--resume` with more epochs can continue).
fn prune_checkpoints(run_dir: &Path, best: usize, last: usize) {
    for epoch in 1..last {
        for kind in ["model", "optim", "scheduler"] {
            if !(epoch == best && kind == "model") {
                let _ = std::fs::remove_file(checkpoint_path(run_dir, kind, epoch));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::optimizer_steps_per_epoch;

    #[test]
    fn several_devices_step_once_per_round_of_their_largest_slice() {
        // One device: one step per batch, the last one short.
        assert_eq!(optimizer_steps_per_epoch(1801, 100, 1), 19);
        // Two devices get 900 rows each: 9 rounds.
        assert_eq!(optimizer_steps_per_epoch(1800, 100, 2), 9);
        // 1801 rows: 900 and 901, so the second needs a tenth round.
        assert_eq!(optimizer_steps_per_epoch(1801, 100, 2), 10);
        // Three devices over 10 rows: 3, 3 and 4.
        assert_eq!(optimizer_steps_per_epoch(10, 3, 3), 2);
    }
}
