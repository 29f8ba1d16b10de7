//! Mini-batch gradient descent for a GLM through burn-train's `SupervisedTraining`, the learner
//! that trains the MLP: shuffled batches, a loss line per epoch, a checkpoint per epoch.
//! Selected by `solver = "gd"` with `[solver] batch_size` set, for linear (squared loss) and
//! binary logistic (cross-entropy on the logits) models alike.

use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::nn::Linear;
use burn::optim::SgdConfig;
use burn::prelude::*;
use burn::train::logger::InMemoryMetricLogger;
use burn::train::metric::{LossMetric, Metric};
use burn::train::{
    InferenceStep, Learner, RegressionOutput, SupervisedTraining, TrainOutput, TrainStep,
};

use super::Fit;
use super::data::Design;
use super::penalty::PenaltyWeights;
use super::solver::{Engine, Loss, SolverConfig, read_linear, row_major, zero_linear};
use crate::divergence::StopOnDivergence;
use crate::error::{Error, Result};
use crate::progress::{EpochRenderer, RunMetrics};
use crate::sampling::IndexDataset;

/// The linear predictor `η = x·w + b` with its loss: per batch, the canonical objective
/// without its L1 part.
#[derive(Module, Debug)]
pub(crate) struct LinearPredictor {
    linear: Linear,
    #[module(skip)]
    l2: f64,
    #[module(skip)]
    loss: Loss,
}

/// Rows of the design and their targets.
#[derive(Debug, Clone)]
pub(crate) struct RowBatch {
    pub x: Tensor<2>,
    pub y: Tensor<2>,
}

/// Gathers rows of a row-major copy of the design into one tensor per batch.
#[derive(Debug, Clone)]
struct RowBatcher {
    rows: Arc<Vec<f64>>,
    targets: Arc<Vec<f64>>,
    width: usize,
}

impl RowBatcher {
    fn new(design: &Design) -> Self {
        Self {
            rows: Arc::new(row_major(&design.x)),
            targets: Arc::new(design.y.as_slice().to_vec()),
            width: design.x.ncols(),
        }
    }
}

impl Batcher<usize, RowBatch> for RowBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> RowBatch {
        let p = self.width;
        let x: Vec<f64> = items
            .iter()
            .flat_map(|&i| self.rows[i * p..(i + 1) * p].iter().copied())
            .collect();
        let y: Vec<f64> = items.iter().map(|&i| self.targets[i]).collect();
        RowBatch {
            x: Tensor::from_data(TensorData::new(x, [items.len(), p]), device),
            y: Tensor::from_data(TensorData::new(y, [items.len(), 1]), device),
        }
    }
}

impl LinearPredictor {
    fn forward_regression(&self, batch: RowBatch) -> RegressionOutput {
        let (output, loss) = self
            .loss
            .penalised(&self.linear, batch.x, batch.y.clone(), self.l2);
        RegressionOutput {
            loss,
            output,
            targets: batch.y,
        }
    }
}

impl TrainStep for LinearPredictor {
    type Input = RowBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: RowBatch) -> TrainOutput<RegressionOutput> {
        let item = self.forward_regression(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for LinearPredictor {
    type Input = RowBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: RowBatch) -> RegressionOutput {
        self.forward_regression(batch)
    }
}

/// What a mini-batch run needs besides the data: the model's loss and penalty, the experiment's
/// solver options, and where it runs.
pub struct MiniBatchSettings<'a> {
    pub loss: Loss,
    pub weights: PenaltyWeights,
    pub solver: &'a SolverConfig,
    pub engine: Engine,
}

/// Trains on `train` (validating on `valid`, or on `train` when `valid` is empty) and writes the
/// learner's checkpoints and `training.json` (loss per epoch) into `run_dir`.
pub fn fit(run: &MiniBatchSettings, train: &Design, valid: &Design, run_dir: &Path) -> Result<Fit> {
    if run.weights.l1 > 0.0 {
        return Err(Error::Config(
            "mini-batch gd (solver.batch_size) has no proximal step for an L1 penalty: use solver \
             \"coordinate_descent\" (linear) or \"newton\" (logistic), or full-batch gd by leaving \
             solver.batch_size unset"
                .into(),
        ));
    }
    let batch_size = run.solver.batch_size.expect("mini-batch configs only");
    let device = run.engine.device()?;
    let valid = if valid.y.is_empty() { train } else { valid };
    let loader = |design: &Design, shuffle: bool| {
        let builder = DataLoaderBuilder::new(RowBatcher::new(design)).batch_size(batch_size);
        let builder = if shuffle {
            builder.shuffle(run.engine.seed)
        } else {
            builder
        };
        builder.build(IndexDataset((0..design.y.len()).collect()))
    };
    let model = LinearPredictor {
        linear: zero_linear(train.x.ncols(), &device.clone().autodiff()),
        l2: run.weights.l2,
        loss: run.loss,
    };
    std::fs::create_dir_all(run_dir).map_err(Error::io(run_dir))?;
    let metrics = Arc::new(Mutex::new(RunMetrics::<()>::default()));
    let untrained = run.loss.untrained(&train.y);
    // Without held-out rows the training rows validate (see above): always rows.
    let watch = StopOnDivergence::new(LossMetric::new().name().to_string(), untrained, true, None);
    let diverged = watch.found();
    let result = SupervisedTraining::new(run_dir, loader(train, true), loader(valid, false))
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        // In memory, as the image classifier's (see there): no per-batch files.
        .with_metric_logger(InMemoryMetricLogger::default())
        .with_default_checkpointers()
        .renderer(Box::new(EpochRenderer::new(
            metrics,
            run_dir.join("training.json"),
            untrained,
            true,
        )))
        .early_stopping(watch)
        .num_epochs(run.solver.epochs)
        .launch(Learner::new(
            model,
            SgdConfig::new().init(),
            run.solver.learning_rate,
        ));
    if let Some(error) = result.error {
        return Err(Error::from_failure("training failed", &error.to_string()));
    }
    if let Some(divergence) = diverged.lock().expect("divergence lock").take() {
        return Err(divergence.error(&format!(
            "lower solver.learning_rate (now {})",
            run.solver.learning_rate
        )));
    }
    let steps = train.y.len().div_ceil(batch_size) * run.solver.epochs;
    let fit = read_linear(&result.model.linear, steps, true);
    // Finite but huge weights diverge too: their predictions overflow.
    if fit.predict(&train.x).iter().any(|v| !v.is_finite()) {
        return Err(Error::Config(format!(
            "mini-batch gd diverged (non-finite weights): lower solver.learning_rate (now {})",
            run.solver.learning_rate
        )));
    }
    Ok(fit)
}
