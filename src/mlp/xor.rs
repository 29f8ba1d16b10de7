//! The XOR workshop: the four points of the truth table, a small sigmoid network trained by
//! full-batch gradient descent on cross-entropy (the course's 3-4-1 net has no biases and a
//! constant input 1 instead), stopped as soon as the loss is below 0.05 with all four points
//! right. Writes the model, the loss per epoch, `loss.svg` and `decision.svg`.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::ExperimentFile;
use crate::mlp::config::MlpConfig;
use crate::mlp::data::batcher::Batch;
use crate::mlp::model::Network;
use crate::numeric::{scalar, to_f64s};
use crate::run_dir::Start;

/// The truth table: `(x1, x2) → x1 XOR x2`.
pub const TRUTH_TABLE: [([f64; 2], i64); 4] = [
    ([0.0, 0.0], 0),
    ([0.0, 1.0], 1),
    ([1.0, 0.0], 1),
    ([1.0, 1.0], 0),
];

/// The loss below which (with all four points right) training stops.
pub const TARGET_LOSS: f64 = 0.05;

/// Network inputs for `points`: `[1, x1, x2]` with a constant input, else `[x1, x2]`.
pub fn inputs(config: &MlpConfig, points: &[[f64; 2]], device: &Device) -> Tensor<2> {
    let width = 2 + usize::from(config.data.constant_input);
    let values: Vec<f64> = points
        .iter()
        .flat_map(|p| {
            let constant = config.data.constant_input.then_some(1.0);
            constant.into_iter().chain(p.iter().copied())
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [points.len(), width]), device)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XorReport {
    /// Mean cross-entropy after each epoch's update.
    pub losses: Vec<f64>,
    /// The first epoch after which the loss was below 0.05 with all four points right.
    pub converged_epoch: Option<usize>,
    /// `P(x1 XOR x2 = 1)` for each row of the truth table.
    pub probabilities: Vec<f64>,
}

/// `P(1)` for each point of the truth table.
pub fn probabilities(model: &Network, config: &MlpConfig, device: &Device) -> Vec<f64> {
    let points: Vec<[f64; 2]> = TRUTH_TABLE.iter().map(|(p, _)| *p).collect();
    to_f64s(sigmoid(model.forward(inputs(config, &points, device))))
}

fn all_right(probabilities: &[f64]) -> bool {
    probabilities
        .iter()
        .zip(TRUTH_TABLE)
        .all(|(p, (_, y))| (*p >= 0.5) == (y == 1))
}

/// Trains the configured network on XOR, full-batch, for at most `training.epochs` epochs, and
/// writes the run: `config.toml`, `metrics.json`, `model.bpk`, `loss.svg`, `decision.svg`.
pub fn train(config: &MlpConfig, start: Start) -> Result<XorReport> {
    if start == Start::Resume {
        return Err(Error::Usage(
            "an XOR run trains in one go (full batch, stopped when learnt): --resume does not apply; \
             use --force to train it again"
                .into(),
        ));
    }
    let device = crate::backend::device(config.backend, config.precision)?.autodiff();
    device.seed(config.seed);
    let run_dir = config.run_dir();
    let _claim = crate::run_dir::claim(&run_dir, "xor", start)?;
    let (model, report) = fit(config, &device, |_, _, _| {})?;
    crate::run_dir::create(&run_dir, &config.to_toml())?;
    crate::run_dir::write_json(&run_dir.join("metrics.json"), &report)?;
    let model_path = run_dir.join("model.bpk");
    crate::mlp::store::save(&model, &model_path)?;
    crate::plot::series(
        &run_dir.join("loss.svg"),
        "Training loss",
        "cross-entropy",
        &report.losses,
    )?;
    plot_regions(&run_dir, &model, config, &device)?;
    match report.converged_epoch {
        Some(e) => println!(
            "XOR learnt after {e} epochs (loss {:.4} < {TARGET_LOSS}, all four points right)",
            report.losses[e - 1]
        ),
        None => println!(
            "XOR not learnt within {} epochs (loss {:.4}): raise training.epochs or the learning rate",
            config.training.epochs,
            report.losses.last().copied().unwrap_or(f64::NAN)
        ),
    }
    print_truth_table(&report.probabilities);
    println!("wrote {}", run_dir.display());
    Ok(report)
}

/// The training loop: one optimizer step on all four points per epoch, until the loss is below
/// [`TARGET_LOSS`] with all four points right. `observe(epoch, loss, model)` sees every epoch
/// (the web page's playground keeps snapshots of the decision regions).
pub fn fit(
    config: &MlpConfig,
    device: &Device,
    mut observe: impl FnMut(usize, f64, &Network),
) -> Result<(Network, XorReport)> {
    let points: Vec<[f64; 2]> = TRUTH_TABLE.iter().map(|(p, _)| *p).collect();
    let batch = Batch {
        inputs: inputs(config, &points, device),
        targets: Tensor::from_data(
            TensorData::new(TRUTH_TABLE.map(|(_, y)| y).to_vec(), [4]),
            device,
        ),
    };
    let mut model = config
        .model
        .init(config.input_shape(), 2, device)
        .with_gradients(config.training.gradients);
    let mut optimizer = config.optimizer.init();
    let lr = config.optimizer.learning_rate;
    let mut report = XorReport {
        losses: Vec::new(),
        converged_epoch: None,
        probabilities: Vec::new(),
    };
    for epoch in 1..=config.training.epochs {
        let (_, grads) = crate::mlp::backprop::step(&model, batch.clone());
        model = optimizer.step(lr, model, grads);
        let loss = scalar(model.forward_classification(batch.clone()).loss);
        if !loss.is_finite() {
            return Err(Error::Config(format!(
                "XOR training diverged at epoch {epoch}: lower optimizer.learning_rate"
            )));
        }
        report.losses.push(loss);
        observe(epoch, loss, &model);
        if loss < TARGET_LOSS && all_right(&probabilities(&model, config, device)) {
            report.converged_epoch = Some(epoch);
            break;
        }
    }
    report.probabilities = probabilities(&model, config, device);
    Ok((model, report))
}

/// Prints `x1 x2 | target | P(1) | prediction` for the four points.
pub fn print_truth_table(probabilities: &[f64]) {
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

/// `P(1)` over a `side × side` grid of the square [`REGION`]², row by row from the top
/// (`x2` = its high end) — what the playground paints.
pub fn probability_grid(
    model: &Network,
    config: &MlpConfig,
    device: &Device,
    side: usize,
) -> Vec<f64> {
    let (lo, hi) = REGION;
    let at = |i: usize| lo + (hi - lo) * i as f64 / (side - 1) as f64;
    let points: Vec<[f64; 2]> = (0..side)
        .flat_map(|row| (0..side).map(move |col| [at(col), at(side - 1 - row)]))
        .collect();
    to_f64s(sigmoid(model.forward(inputs(config, &points, device))))
}

/// The square the decision regions are drawn over: the unit square with a margin.
pub const REGION: (f64, f64) = (-0.25, 1.25);

fn plot_regions(
    run_dir: &Path,
    model: &Network,
    config: &MlpConfig,
    device: &Device,
) -> Result<()> {
    let points: Vec<(f64, f64)> = TRUTH_TABLE.iter().map(|(p, _)| (p[0], p[1])).collect();
    let positive: Vec<bool> = TRUTH_TABLE.iter().map(|(_, y)| *y == 1).collect();
    let probability =
        |a: f64, b: f64| to_f64s(sigmoid(model.forward(inputs(config, &[[a, b]], device))))[0];
    crate::plot::decision_regions(
        &run_dir.join("decision.svg"),
        ["x1", "x2"],
        &points,
        &positive,
        probability,
        0.5,
    )
}

/// `neurona predict` of an XOR run: reloads `model.bpk` and prints the truth table.
pub fn predict(run_dir: &Path, config: &MlpConfig) -> Result<Vec<f64>> {
    let device = crate::backend::device(config.backend, config.precision)?;
    let path = run_dir.join("model.bpk");
    let network = config.model.init(config.input_shape(), 2, &device);
    let model = crate::mlp::store::load(network, &path, "the run's XOR network")?;
    let p = probabilities(&model, config, &device);
    print_truth_table(&p);
    Ok(p)
}
