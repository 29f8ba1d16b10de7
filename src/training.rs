//! `neurona train`: burn-train's `SupervisedTraining` with a checkpoint every epoch, the best model
//! by validation loss kept as `model.bpk`, resumable from the last completed epoch, and a test
//! evaluation at the end.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::OptimizerRecord;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::{Aggregate, Direction, EventStoreClient, Split};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Learner, MetricEarlyStoppingStrategy, StoppingCondition, SupervisedTraining};

use crate::config::{ExperimentConfig, OptimizerConfig, OptimizerKind, Schedule};
use crate::data::{ImageBatcher, IndexDataset, MnistData, NUM_CLASSES};
use crate::error::{Error, Result};
use crate::eval::{EvalReport, evaluate_test, load_model};
use crate::renderer::EpochRenderer;
use crate::report::RunMetrics;

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

/// The resolved config a run was trained with (`<run>/config.toml`).
pub fn load_run_config(run_dir: &Path) -> Result<ExperimentConfig> {
    let path = run_dir.join("config.toml");
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{} is not a run directory: it has no config.toml (train first with `neurona train <config.toml>`)",
            run_dir.display()
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
    let task = crate::config::Task::detect(&text, &path)?;
    if task != crate::config::Task::ImageClassification {
        return Err(Error::Usage(format!(
            "{} holds a {task:?} run: its results are in coefficients.json and metrics.json \
             (eval and predict serve image classification runs)",
            run_dir.display()
        )));
    }
    let config = ExperimentConfig::parse(&text, &path)?;
    config
        .validate()
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    Ok(config)
}

fn checkpoint_path(run_dir: &Path, kind: &str, epoch: usize) -> PathBuf {
    run_dir
        .join("checkpoint")
        .join(format!("{kind}-{epoch}.bpk"))
}

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

/// Saves every epoch; pruning waits until the run ends, when the best epoch is known for sure
/// (also across resumes, which burn-train's metric strategy does not see).
struct EveryEpoch;

impl CheckpointingStrategy for EveryEpoch {
    fn checkpointing(
        &mut self,
        _epoch: usize,
        _store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        vec![CheckpointingAction::Save]
    }
}

pub fn optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.kind {
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(config.beta_1 as f32)
            .with_beta_2(config.beta_2 as f32)
            .with_epsilon(config.epsilon as f32)
            .with_weight_decay(decay)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum((config.momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(config.momentum)
                    .with_dampening(0.0)
            }))
            .init(),
    }
}

/// The learning rate per step; `total_steps` is the length of the whole run.
fn lr_schedule(config: &OptimizerConfig, total_steps: usize) -> Result<ModuleLrScheduler> {
    match config.schedule {
        Schedule::Constant => Ok(config.learning_rate.into()),
        Schedule::Cosine => {
            CosineAnnealingLrSchedulerConfig::new(config.learning_rate, total_steps.max(1))
                .with_min_lr(config.min_learning_rate)
                .init()
                .map_err(|e| Error::Config(format!("optimizer.schedule: {e}")))
        }
    }
}

/// Trains the experiment; see the module docs.
pub fn train(mut config: ExperimentConfig, options: TrainOptions) -> Result<TrainReport> {
    let run_dir = config.run_dir();
    let metrics_path = run_dir.join("metrics.json");
    let mut metrics = RunMetrics::default();
    let mut resume_from = None;
    if options.resume {
        let saved = load_run_config(&run_dir)?;
        if saved.model != config.model || saved.data.dataset != config.data.dataset {
            return Err(Error::Usage(format!(
                "cannot resume {}: its [model] or data set differs from this config's",
                run_dir.display()
            )));
        }
        // The normalisation fitted at the start of the run stays fixed.
        config.data.mean = saved.data.mean;
        config.data.std = saved.data.std;
        if metrics_path.is_file() {
            metrics = RunMetrics::load(&metrics_path)?;
        }
        resume_from = last_checkpoint(&run_dir, metrics.epochs.len());
        metrics.epochs.retain(|r| Some(r.epoch) <= resume_from);
        metrics.test = None;
        if let Some(done) = resume_from
            && done >= config.training.epochs
        {
            return Err(Error::Usage(format!(
                "{} already completed {done} epochs; raise training.epochs to continue it",
                run_dir.display()
            )));
        }
    } else if run_dir.join("config.toml").exists() {
        if !options.force {
            return Err(Error::Usage(format!(
                "{} already holds a run: pass --resume to continue it or --force to start over",
                run_dir.display()
            )));
        }
        std::fs::remove_dir_all(&run_dir).map_err(Error::io(&run_dir))?;
    }

    let (backend, device) = crate::backend::select(config.backend, config.precision)?;
    device.seed(config.seed);
    let data = MnistData::load(&config.data, config.seed)?;
    if config.data.standardize {
        config.data.mean = Some(data.normalization.mean);
        config.data.std = Some(data.normalization.std);
    }
    std::fs::create_dir_all(&run_dir).map_err(Error::io(&run_dir))?;
    crate::report::write_atomic(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;

    metrics.run = config.output.name.clone().unwrap_or_default();
    metrics.dataset = config.data.dataset.spec()?.title.to_string();
    metrics.backend = backend.name().to_string();
    metrics.device = format!("{device:?}");
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

    let batcher = ImageBatcher {
        images: data.train.clone(),
        normalization: data.normalization,
    };
    let batch_size = config.training.batch_size;
    let train_loader = DataLoaderBuilder::new(batcher.clone())
        .batch_size(batch_size)
        .shuffle(config.seed)
        .build(IndexDataset(data.train_indices.clone()));
    let valid_loader = DataLoaderBuilder::new(batcher)
        .batch_size(batch_size)
        .build(IndexDataset(data.valid_indices.clone()));

    let inputs = data.train.pixels_per_image();
    let model = config
        .model
        .init(inputs, NUM_CLASSES, &device.clone().autodiff())
        .with_gradients(config.training.gradients);
    let shared = Arc::new(Mutex::new(metrics));
    let mut training = SupervisedTraining::new(&run_dir, train_loader, valid_loader)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .with_default_checkpointers()
        .with_checkpointing_strategy(EveryEpoch)
        .renderer(Box::new(EpochRenderer::new(
            shared.clone(),
            metrics_path.clone(),
        )))
        .num_epochs(config.training.epochs);
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    if let Some(n_epochs) = config.training.early_stopping_patience {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &LossMetric::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince { n_epochs },
        ));
    }
    let steps_per_epoch = data.train_indices.len().div_ceil(batch_size);
    let schedule = lr_schedule(&config.optimizer, steps_per_epoch * config.training.epochs)?;
    let result = training.launch(Learner::new(model, optimizer(&config.optimizer), schedule));
    if let Some(error) = result.error {
        return Err(Error::Internal(format!("training failed: {error}")));
    }

    let mut metrics = shared.lock().expect("metrics lock").clone();
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
        result.model
    } else {
        load_model(&config, &checkpoint_path(&run_dir, "model", best), &device)?
    };
    best_model
        .clone()
        .save_file(&model_path)
        .map_err(|e| Error::Checkpoint {
            path: model_path.clone(),
            reason: format!("cannot save: {e}"),
        })?;
    prune_checkpoints(&run_dir, best, last);
    let losses: Vec<f64> = metrics.epochs.iter().map(|e| e.train_loss).collect();
    crate::plot::series(
        &run_dir.join("loss.svg"),
        "Training loss",
        "cross-entropy",
        &losses,
    )?;

    let test = evaluate_test(&best_model, &config, &data, &device, &model_path)?;
    metrics.best_epoch = Some(best);
    metrics.test = Some(test.clone());
    metrics.save(&metrics_path)?;
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
