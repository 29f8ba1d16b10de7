//! The 2-D workshop: a small network classifying points in the plane — the four points of the
//! XOR truth table (the course's 3-4-1 sigmoid net has no biases and a constant input 1 instead)
//! or a generated set (circle, two moons, spirals, blobs; see [`data`]), configured by [`config`]. Trained
//! full-batch by gradient descent on cross-entropy, stopped as soon as the loss is below
//! [`TARGET_LOSS`] with every training point right. A generated set also draws as many test
//! points, independently, and reports the test loss per epoch and the test accuracy.
//! Writes the model, the losses, `loss.svg` and `decision.svg`.

use std::ops::ControlFlow;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

pub mod config;
pub mod data;

use self::config::{DEFAULT_NOISE, PointsConfig};
use self::data::PointSet;
pub use self::data::TRUTH_TABLE;
pub(crate) use self::data::region;
use crate::divergence::{Divergence, LossWatch};
use crate::error::{Error, Result};
use crate::experiment::ExperimentFile;
use crate::glm::penalty::PenaltyWeights;
use crate::network::model::{Batch, Network};
use crate::numeric::{scalar, to_f64s};
use crate::run_dir::Start;
use crate::run_dir::{RunKind, RunLayout};
use burn::optim::GradientsParams;

/// The loss below which (with every training point right) training stops.
pub const TARGET_LOSS: f64 = 0.05;

/// What a 2-D workshop run holds: its network with its checksum, the loss curve and the
/// decision regions.
pub(crate) const RUN: RunLayout = RunLayout {
    kind: RunKind::Points,
    files: &["model.bpk", "model.bpk.sha256", "loss.svg", "decision.svg"],
    dirs: &[],
};

/// Mixed into the seed for the test points, so they are drawn independently of the training
/// points (and of another seed's training points).
const TEST_STREAM: u64 = 0x7E57_5E7D_0F0F_1234;

/// The training and test points of a config: XOR's truth table (tested on itself), or a
/// generated set of `data.points` points and as many test points.
pub fn point_sets(config: &PointsConfig) -> (PointSet, Option<PointSet>) {
    let dataset = config.data.dataset;
    if !dataset.is_generated() {
        return (PointSet::truth_table(), None);
    }
    let (count, tests) = config.data.counts();
    let noise = config.data.noise.unwrap_or(DEFAULT_NOISE);
    let train = PointSet::generate(dataset, count, noise, config.seed);
    let test = PointSet::generate(dataset, tests, noise, config.seed ^ TEST_STREAM);
    (train, Some(test))
}

/// Network inputs for `points`: the constant 1 if the config asks for it, then each of its
/// features (`[x1, x2]` unless told otherwise).
pub fn inputs(config: &PointsConfig, points: &[[f64; 2]], device: &Device) -> Tensor<2> {
    let features = config.data.features();
    let constant = config.data.constant_input.then_some(1.0);
    let width = usize::from(constant.is_some()) + features.len();
    let values: Vec<f64> = points
        .iter()
        .flat_map(|p| {
            constant
                .into_iter()
                .chain(features.iter().map(|feature| feature.of(*p)))
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [points.len(), width]), device)
}

/// The names of [`inputs`]' columns.
pub fn input_names(config: &PointsConfig) -> Vec<String> {
    let constant = config.data.constant_input.then(|| "1".to_string());
    constant
        .into_iter()
        .chain(config.data.features().iter().map(|f| f.name()))
        .collect()
}

fn batch(config: &PointsConfig, set: &PointSet, device: &Device) -> Batch {
    Batch {
        inputs: inputs(config, &set.points, device),
        targets: Tensor::from_data(TensorData::new(set.labels.clone(), [set.len()]), device),
    }
}

/// The loss and accuracy on a set of points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub loss: f64,
    pub accuracy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointsReport {
    /// Mean cross-entropy on the training points after each epoch's update.
    pub losses: Vec<f64>,
    /// Generated sets: mean cross-entropy on the test points after each epoch's update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_losses: Vec<f64>,
    /// The first epoch after which the loss was below 0.05 with every training point right;
    /// absent if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged_epoch: Option<usize>,
    /// `P(class 1)` for each training point (XOR: each row of the truth table).
    pub probabilities: Vec<f64>,
    /// The training points after the last epoch.
    pub train: Score,
    /// Generated sets: the test points after the last epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Score>,
}

/// `P(class 1)` for each point.
pub fn probabilities(
    model: &Network,
    config: &PointsConfig,
    points: &[[f64; 2]],
    device: &Device,
) -> Vec<f64> {
    to_f64s(sigmoid(model.forward(inputs(config, points, device))))
}

fn accuracy(probabilities: &[f64], labels: &[i64]) -> f64 {
    let right = probabilities
        .iter()
        .zip(labels)
        .filter(|(p, y)| (**p >= 0.5) == (**y == 1))
        .count();
    right as f64 / labels.len().max(1) as f64
}

fn score(model: &Network, config: &PointsConfig, set: &PointSet, device: &Device) -> Score {
    let loss = scalar(
        model
            .forward_classification(batch(config, set, device))
            .loss,
    );
    let p = probabilities(model, config, &set.points, device);
    Score {
        loss,
        accuracy: accuracy(&p, &set.labels),
    }
}

/// Trains the configured network on its points, full-batch, for at most `training.epochs`
/// epochs, and writes the run: `config.toml`, `metrics.json`, `model.bpk`, `loss.svg`,
/// `decision.svg`.
pub fn train(config: &PointsConfig, start: Start) -> Result<PointsReport> {
    if start == Start::Resume {
        return Err(Error::Usage(
            "a 2-D workshop run trains in one go (full batch, stopped when learnt): --resume \
             does not apply; use --force to train it again"
                .into(),
        ));
    }
    let device = crate::backend::device(config.backend, config.precision)?.autodiff();
    device.seed(config.seed);
    let run_dir = config.run_dir();
    let _claim = crate::run_dir::claim(&run_dir, &RUN, start)?;
    let (train_set, test_set) = point_sets(config);
    let (model, report) = fit(
        config,
        &train_set,
        test_set.as_ref(),
        &device,
        |_, _, _, _| ControlFlow::Continue(()),
    )?;
    let resolved = resolved(config);
    crate::run_dir::create(
        &run_dir,
        &resolved.to_toml(),
        resolved.architecture().as_ref(),
    )?;
    crate::run_dir::write_json(&run_dir.join("metrics.json"), &report)?;
    crate::network::store::save(&model, &run_dir.join("model.bpk"))?;
    crate::plot::series(
        &run_dir.join("loss.svg"),
        "Training loss",
        "cross-entropy",
        &report.losses,
    )?;
    plot_regions(&run_dir, &model, config, &train_set, &device)?;
    let name = config.data.dataset.slug();
    match report.converged_epoch {
        Some(e) => println!(
            "{name} learnt after {e} epochs (loss {:.4} < {TARGET_LOSS}, every training point right)",
            report.losses[e - 1]
        ),
        None => println!(
            "{name} not learnt within {} epochs (loss {:.4}, {:.1} % of the training points \
             right): raise training.epochs or the learning rate, or widen the network",
            config.training.epochs,
            report.train.loss,
            100.0 * report.train.accuracy
        ),
    }
    match (&report.test, &test_set) {
        (Some(test), Some(set)) => println!(
            "test: {:.1} % of {} independent points right, loss {:.4}",
            100.0 * test.accuracy,
            set.len(),
            test.loss
        ),
        _ => print_truth_table(&report.probabilities),
    }
    println!("wrote {}", run_dir.display());
    Ok(report)
}

/// The config with the generated set's point count and noise written out, as the run records it.
fn resolved(config: &PointsConfig) -> PointsConfig {
    let mut resolved = config.clone();
    if config.data.dataset.is_generated() {
        let (points, tests) = config.data.counts();
        resolved.data.points = Some(points);
        resolved.data.test_points = Some(tests);
        resolved.data.noise = Some(config.data.noise.unwrap_or(DEFAULT_NOISE));
    }
    resolved
}

/// The training loop on the config's [`point_sets`]: one optimizer step on all training points
/// per epoch, until the loss is below [`TARGET_LOSS`] with every training point right.
/// `observe(epoch, loss, test_loss, model)` sees every epoch (the web page's playground paints
/// the decision regions as they change) and may stop the training (the page that asked for it
/// has gone).
pub fn fit(
    config: &PointsConfig,
    train_set: &PointSet,
    test_set: Option<&PointSet>,
    device: &Device,
    mut observe: impl FnMut(usize, f64, Option<f64>, &Network) -> ControlFlow<()>,
) -> Result<(Network, PointsReport)> {
    let train_batch = batch(config, train_set, device);
    let test_batch = test_set.map(|set| batch(config, set, device));
    let mut model = config
        .model
        .init(config.input_shape(), 2, device)
        .with_gradients(config.training.gradients)
        .with_kernels(config.training.kernels);
    let mut optimizer = config.optimizer.init(config.training.kernels);
    let lr = config.optimizer.learning_rate;
    let training = &config.training;
    let weights = PenaltyWeights::split(
        training.penalty,
        training.l1_ratio,
        training.lambda,
        training.lambda,
    );
    let mut order = Shuffle::new(config, train_set.len());
    let mut losses = Vec::new();
    let mut test_losses = Vec::new();
    let mut converged_epoch = None;
    // Two classes: a model that has learnt nothing guesses ½ (loss ln 2).
    let divergence = LossWatch::new(std::f64::consts::LN_2);
    for epoch in 1..=config.training.epochs {
        for batch in order.batches(&train_batch, device) {
            let (_, grads) = crate::network::backprop::step(&model, batch);
            let grads = penalised(&model, grads, weights);
            model = optimizer.step(lr, model, grads);
        }
        let loss = scalar(model.forward_classification(train_batch.clone()).loss);
        let test_loss = test_batch
            .as_ref()
            .map(|test| scalar(model.forward_classification(test.clone()).loss));
        if let Some((split, detail)) = divergence.check_epoch(loss, test_loss) {
            return Err(Divergence {
                epoch,
                split,
                detail,
            }
            .error(&config.optimizer.remedy()));
        }
        losses.push(loss);
        test_losses.extend(test_loss);
        if observe(epoch, loss, test_loss, &model).is_break() {
            return Err(Error::Usage(format!(
                "the training was stopped at epoch {epoch}"
            )));
        }
        if loss < TARGET_LOSS {
            let p = probabilities(&model, config, &train_set.points, device);
            if accuracy(&p, &train_set.labels) == 1.0 {
                converged_epoch = Some(epoch);
                break;
            }
        }
    }
    let report = PointsReport {
        losses,
        test_losses,
        converged_epoch,
        probabilities: probabilities(&model, config, &train_set.points, device),
        train: score(&model, config, train_set, device),
        test: test_set.map(|set| score(&model, config, set, device)),
    };
    Ok((model, report))
}

/// The order the training points are visited in: all at once, or shuffled each epoch into
/// batches of `training.batch_size` (its own random stream of the seed: one seed, one run).
struct Shuffle {
    /// The seed of the next epoch's shuffle; `None` when training is full-batch.
    seed: Option<u64>,
    order: Vec<usize>,
    batch_size: usize,
}

/// Mixed into the seed for the order of the training points.
const SHUFFLE_STREAM: u64 = 0x5A0F_F1E5_0BA7_C4E5;

impl Shuffle {
    fn new(config: &PointsConfig, count: usize) -> Self {
        let batch_size = config.training.batch_of(count);
        Self {
            seed: (batch_size < count).then_some(config.seed ^ SHUFFLE_STREAM),
            order: (0..count).collect(),
            batch_size,
        }
    }

    /// This epoch's batches of `all`.
    fn batches(&mut self, all: &Batch, device: &Device) -> Vec<Batch> {
        let Some(seed) = &mut self.seed else {
            return vec![all.clone()];
        };
        crate::sampling::shuffle(&mut self.order, *seed);
        *seed = seed.wrapping_add(1);
        self.order
            .chunks(self.batch_size)
            .map(|chunk| {
                let indices: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
                let indices =
                    Tensor::<1, Int>::from_data(TensorData::new(indices, [chunk.len()]), device);
                Batch {
                    inputs: all.inputs.clone().select(0, indices.clone()),
                    targets: all.targets.clone().select(0, indices),
                }
            })
            .collect()
    }
}

/// `grads` with the penalty's gradient added to each weight's (never a bias's):
/// `l1·sign(w) + l2·w`, the (sub)gradient of `l1·Σ|w| + (l2/2)·Σw²`.
fn penalised(
    model: &Network,
    mut grads: GradientsParams,
    weights: PenaltyWeights,
) -> GradientsParams {
    if weights.is_none() {
        return grads;
    }
    for linear in model.layers() {
        let w = linear.weight.val().inner();
        let penalty = w.clone().sign().mul_scalar(weights.l1) + w.mul_scalar(weights.l2);
        let id = linear.weight.id;
        let gradient = match grads.remove::<2>(id) {
            Some(gradient) => gradient + penalty,
            None => penalty,
        };
        grads.register(id, gradient);
    }
    grads
}

/// Prints `x1 x2 | target | P(1) | prediction` for the four points.
pub(crate) fn print_truth_table(probabilities: &[f64]) {
    println!(" x1  x2 | XOR | P(1)   | predicted");
    for ((p, y), prob) in TRUTH_TABLE.iter().zip(probabilities) {
        println!(
            " {:>2}  {:>2} | {:>3} | {prob:.4} | {}",
            p[0],
            p[1],
            y,
            u8::from(*prob >= 0.5)
        );
    }
}

/// `P(1)` over a `side × side` grid of the square `region`², row by row from the top
/// (`x2` = its high end) — what the playground paints.
pub fn probability_grid(
    model: &Network,
    config: &PointsConfig,
    device: &Device,
    side: usize,
) -> Vec<f64> {
    probabilities(model, config, &grid_points(config, side), device)
}

/// The points of a `side × side` grid of the square `region`², row by row from the top.
fn grid_points(config: &PointsConfig, side: usize) -> Vec<[f64; 2]> {
    let (lo, hi) = region(config.data.dataset);
    let at = |i: usize| lo + (hi - lo) * i as f64 / (side - 1) as f64;
    (0..side)
        .flat_map(|row| (0..side).map(move |col| [at(col), at(side - 1 - row)]))
        .collect()
}

/// Each hidden unit's output over the same grid as [`probability_grid`], layer by layer
/// (`[layer][unit][cell]`): what the playground's picture of the network paints in each unit.
pub fn unit_grids(
    model: &Network,
    config: &PointsConfig,
    device: &Device,
    side: usize,
) -> Vec<Vec<Vec<f64>>> {
    let x = inputs(config, &grid_points(config, side), device);
    model.layer_outputs(x).into_iter().map(columns).collect()
}

/// Each of [`inputs`]' columns over the same grid as [`probability_grid`]: what the network
/// reads of the plane.
pub fn input_grids(config: &PointsConfig, device: &Device, side: usize) -> Vec<Vec<f64>> {
    columns(inputs(config, &grid_points(config, side), device))
}

/// The columns of a `[rows, columns]` tensor.
fn columns(matrix: Tensor<2>) -> Vec<Vec<f64>> {
    let width = matrix.dims()[1];
    let values = to_f64s(matrix);
    (0..width)
        .map(|c| values.iter().skip(c).step_by(width).copied().collect())
        .collect()
}

fn plot_regions(
    run_dir: &Path,
    model: &Network,
    config: &PointsConfig,
    set: &PointSet,
    device: &Device,
) -> Result<()> {
    let points: Vec<(f64, f64)> = set.points.iter().map(|p| (p[0], p[1])).collect();
    let positive: Vec<bool> = set.labels.iter().map(|y| *y == 1).collect();
    let probability = |a: f64, b: f64| probabilities(model, config, &[[a, b]], device)[0];
    crate::plot::decision_regions(
        &run_dir.join("decision.svg"),
        ["x1", "x2"],
        &points,
        &positive,
        probability,
        0.5,
    )
}

/// The run's trained network (`model.bpk`) on its device.
fn trained(run_dir: &Path, config: &PointsConfig) -> Result<(Network, Device)> {
    let device = crate::backend::device(config.backend, config.precision)?;
    let path = run_dir.join("model.bpk");
    let network = config.model.init(config.input_shape(), 2, &device);
    let model = crate::network::store::load(network, &path, "the run's 2-D network")?;
    Ok((model, device))
}

/// `neurona predict` of a 2-D run at given points: `P(1)` of each, printed with its class.
pub(crate) fn predict_at(
    run_dir: &Path,
    config: &PointsConfig,
    points: &[[f64; 2]],
) -> Result<Vec<f64>> {
    if let Some(p) = points
        .iter()
        .find(|p| !(p[0].is_finite() && p[1].is_finite()))
    {
        return Err(Error::Usage(format!(
            "the point ({}, {}) is not a pair of finite numbers",
            p[0], p[1]
        )));
    }
    let (model, device) = trained(run_dir, config)?;
    let p = probabilities(&model, config, points, &device);
    println!("      x1       x2 | P(1)   | predicted");
    for (point, prob) in points.iter().zip(&p) {
        println!(
            "{:>8.4} {:>8.4} | {prob:.4} | {}",
            point[0],
            point[1],
            u8::from(*prob >= 0.5)
        );
    }
    Ok(p)
}

/// `neurona predict` of a 2-D run: reloads `model.bpk` and prints the truth table (XOR) or the
/// score on the regenerated training and test points. Returns `P(1)` per training point.
pub fn predict(run_dir: &Path, config: &PointsConfig) -> Result<Vec<f64>> {
    let (model, device) = trained(run_dir, config)?;
    let (train_set, test_set) = point_sets(config);
    let p = probabilities(&model, config, &train_set.points, &device);
    match test_set {
        None => print_truth_table(&p),
        Some(test_set) => {
            for (what, set) in [("training", &train_set), ("test", &test_set)] {
                let s = score(&model, config, set, &device);
                println!(
                    "{what}: {:.1} % of {} points right, loss {:.4}",
                    100.0 * s.accuracy,
                    set.len(),
                    s.loss
                );
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The penalty's gradient, added to each weight's and to no bias's, is `l1·sign(w) + l2·w`
    /// of the model's own weights, read back as numbers.
    #[test]
    fn the_penalty_adds_its_subgradient_to_the_weights_only() {
        let device = Device::flex().autodiff();
        let config = PointsConfig::default();
        let mut model_config = config.model.clone();
        model_config.hidden = Some(vec![3]);
        let model = model_config.init(config.input_shape(), 2, &device);
        let weights = PenaltyWeights { l1: 0.3, l2: 0.05 };
        let penalised = penalised(&model, GradientsParams::new(), weights);
        for linear in model.layers() {
            let w = to_f64s(linear.weight.val());
            let got = to_f64s(
                penalised
                    .get::<2>(linear.weight.id)
                    .expect("a weight's gradient"),
            );
            for (g, w) in got.iter().zip(&w) {
                let expected = 0.3 * w.signum() * f64::from(u8::from(*w != 0.0)) + 0.05 * w;
                assert!((g - expected).abs() < 1e-6, "{g} vs {expected} at w = {w}");
            }
            if let Some(bias) = &linear.bias {
                assert!(
                    penalised.get::<1>(bias.id).is_none(),
                    "a bias was penalised"
                );
            }
        }
        let none = super::penalised(&model, GradientsParams::new(), PenaltyWeights::NONE);
        assert!(none.is_empty());
    }
}
