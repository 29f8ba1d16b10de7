//! Mini-batch gradient descent for the linear model through burn-train's `SupervisedTraining`, the
//! same learner that trains the MLP: shuffled batches, a loss line per epoch, a checkpoint per
//! epoch. Selected by `solver = "gd"` with `[solver] batch_size` set, for linear (squared loss)
//! and binary logistic (cross-entropy on the logits) models alike.

use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::nn::{Initializer, Linear, LinearConfig as LayerConfig};
use burn::optim::SgdConfig;
use burn::prelude::*;
use burn::train::metric::LossMetric;
use burn::train::{
    InferenceStep, Learner, RegressionOutput, SupervisedTraining, TrainOutput, TrainStep,
};
use nalgebra::DVector;

use super::config::{PenaltyWeights, SolverConfig};
use super::solvers::{Fit, Loss};
use crate::backend::{BackendChoice, Precision};
use crate::data::IndexDataset;
use crate::error::{Error, Result};
use crate::renderer::EpochRenderer;
use crate::report::RunMetrics;
use crate::tabular::Design;

/// `ŷ = x·w + b` with the loss `½·mean((ŷ − y)²) + (l2/2)·‖w‖²`: per batch, the canonical objective.
#[derive(Module, Debug)]
pub struct LinearRegressor {
    linear: Linear,
    #[module(skip)]
    l2: f64,
    #[module(skip)]
    loss: Loss,
}

/// Rows of the design and their targets.
#[derive(Debug, Clone)]
pub struct RowBatch {
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
        let (n, p) = design.x.shape();
        let rows = (0..n)
            .flat_map(|i| design.x.row(i).iter().copied().collect::<Vec<_>>())
            .collect();
        Self {
            rows: Arc::new(rows),
            targets: Arc::new(design.y.as_slice().to_vec()),
            width: p,
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

impl LinearRegressor {
    fn forward_regression(&self, batch: RowBatch) -> RegressionOutput {
        let output = self.linear.forward(batch.x);
        let mut loss = match self.loss {
            Loss::Squared => (output.clone() - batch.y.clone())
                .powi_scalar(2)
                .mean()
                .div_scalar(2.0),
            // softplus(z) − y·z, written so that no exponential overflows.
            Loss::Logistic => {
                let z = output.clone();
                (z.clone().clamp_min(0.0) + z.clone().abs().neg().exp().log1p()
                    - batch.y.clone() * z)
                    .mean()
            }
        };
        if self.l2 > 0.0 {
            loss = loss
                + self
                    .linear
                    .weight
                    .val()
                    .powi_scalar(2)
                    .sum()
                    .mul_scalar(self.l2 / 2.0);
        }
        RegressionOutput {
            loss,
            output,
            targets: batch.y,
        }
    }
}

impl TrainStep for LinearRegressor {
    type Input = RowBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: RowBatch) -> TrainOutput<RegressionOutput> {
        let item = self.forward_regression(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for LinearRegressor {
    type Input = RowBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: RowBatch) -> RegressionOutput {
        self.forward_regression(batch)
    }
}

/// What a mini-batch run needs besides the data: the model's loss and penalty, and the
/// experiment's solver options, backend, precision and seed.
pub struct MiniBatch<'a> {
    pub loss: Loss,
    pub weights: PenaltyWeights,
    pub solver: &'a SolverConfig,
    pub backend: BackendChoice,
    pub precision: Precision,
    pub seed: u64,
}

/// Trains on `train` (validating on `valid`, or on `train` when `valid` is empty) and writes the
/// learner's checkpoints and `training.json` (loss per epoch) into `run_dir`.
pub fn fit(run: &MiniBatch, train: &Design, valid: &Design, run_dir: &Path) -> Result<Fit> {
    let weights = run.weights;
    if weights.l1 > 0.0 {
        return Err(Error::Config(
            "mini-batch gd (solver.batch_size) has no proximal step for an L1 penalty: use solver \
             \"coordinate_descent\" (linear) or \"newton\" (logistic), or full-batch gd by leaving \
             solver.batch_size unset"
                .into(),
        ));
    }
    let batch_size = run.solver.batch_size.expect("mini-batch configs only");
    let device = crate::backend::device(run.backend, run.precision)?;
    device.seed(run.seed);
    let valid = if valid.y.is_empty() { train } else { valid };
    let loader = |design: &Design, shuffle: bool| {
        let builder = DataLoaderBuilder::new(RowBatcher::new(design)).batch_size(batch_size);
        let builder = if shuffle {
            builder.shuffle(run.seed)
        } else {
            builder
        };
        builder.build(IndexDataset((0..design.y.len()).collect()))
    };
    let p = train.x.ncols();
    let model = LinearRegressor {
        linear: LayerConfig::new(p, 1)
            .with_initializer(Initializer::Zeros)
            .init(&device.clone().autodiff()),
        l2: weights.l2,
        loss: run.loss,
    };
    std::fs::create_dir_all(run_dir).map_err(Error::io(run_dir))?;
    let metrics = Arc::new(Mutex::new(RunMetrics::default()));
    let result = SupervisedTraining::new(run_dir, loader(train, true), loader(valid, false))
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .with_default_checkpointers()
        .renderer(Box::new(EpochRenderer::new(
            metrics,
            run_dir.join("training.json"),
        )))
        .num_epochs(run.solver.epochs)
        .launch(Learner::new(
            model,
            SgdConfig::new().init(),
            run.solver.learning_rate,
        ));
    if let Some(error) = result.error {
        return Err(Error::Internal(format!("training failed: {error}")));
    }
    let linear = result.model.linear;
    let to_vec = |t: Tensor<2>| {
        t.into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .expect("f64")
    };
    let coef = DVector::from_vec(to_vec(linear.weight.val()));
    let intercept = linear.bias.map_or(0.0, |b| to_vec(b.val().unsqueeze())[0]);
    if !intercept.is_finite() || coef.iter().any(|c| !c.is_finite()) {
        return Err(Error::Config(format!(
            "mini-batch gd diverged (non-finite weights): lower solver.learning_rate (now {})",
            run.solver.learning_rate
        )));
    }
    let steps = train.y.len().div_ceil(batch_size) * run.solver.epochs;
    Ok(Fit {
        intercept,
        coef,
        iterations: steps,
        converged: true,
    })
}
