//! The XOR workshop: the four points of the truth table, a small sigmoid network trained by
//! full-batch gradient descent on cross-entropy (the course's 3-4-1 net has no biases and a
//! constant input 1 instead), stopped as soon as the loss is below 0.05 with all four points
//! right. Writes the model, the loss per epoch, `loss.svg` and `decision.svg`.

use std::path::Path;

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, Gradients};
use crate::data::ImageBatch;
use crate::error::{Error, Result};
use crate::model::Mlp;

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
pub fn inputs(config: &ExperimentConfig, points: &[[f64; 2]], device: &Device) -> Tensor<2> {
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
pub fn probabilities(model: &Mlp, config: &ExperimentConfig, device: &Device) -> Vec<f64> {
    let points: Vec<[f64; 2]> = TRUTH_TABLE.iter().map(|(p, _)| *p).collect();
    let p = sigmoid(model.forward(inputs(config, &points, device)));
    p.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("f64")
}

fn all_right(probabilities: &[f64]) -> bool {
    probabilities
        .iter()
        .zip(TRUTH_TABLE)
        .all(|(p, (_, y))| (*p >= 0.5) == (y == 1))
}

/// Trains the configured network on XOR, full-batch, for at most `training.epochs` epochs.
pub fn train(config: &ExperimentConfig) -> Result<XorReport> {
    if config.model.output != crate::config::Output::Sigmoid {
        return Err(Error::Config(
            "the XOR workshop needs model.output = \"sigmoid\" (one output unit)".into(),
        ));
    }
    let device = crate::backend::device(config.backend, config.precision)?.autodiff();
    device.seed(config.seed);
    let points: Vec<[f64; 2]> = TRUTH_TABLE.iter().map(|(p, _)| *p).collect();
    let x = inputs(config, &points, &device);
    let targets: Tensor<1, Int> = Tensor::from_data(
        TensorData::new(TRUTH_TABLE.map(|(_, y)| y).to_vec(), [4]),
        &device,
    );
    let mut model = config.model.init(x.dims()[1], 2, &device);
    let mut optimizer = crate::training::optimizer(&config.optimizer);
    let lr = config.optimizer.learning_rate;
    let mut report = XorReport {
        losses: Vec::new(),
        converged_epoch: None,
        probabilities: Vec::new(),
    };
    for epoch in 1..=config.training.epochs {
        let batch = ImageBatch {
            images: x.clone(),
            targets: targets.clone(),
        };
        let grads = match config.training.gradients {
            Gradients::Autodiff => GradientsParams::from_grads(
                model.forward_classification(batch).loss.backward(),
                &model,
            ),
            Gradients::Manual => crate::backprop::classification_step(&model, batch).1,
        };
        model = optimizer.step(lr, model, grads);
        let loss = model
            .forward_classification(ImageBatch {
                images: x.clone(),
                targets: targets.clone(),
            })
            .loss;
        let loss = loss
            .into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .expect("f64")[0];
        if !loss.is_finite() {
            return Err(Error::Config(format!(
                "XOR training diverged at epoch {epoch}: lower optimizer.learning_rate"
            )));
        }
        report.losses.push(loss);
        if loss < TARGET_LOSS && all_right(&probabilities(&model, config, &device)) {
            report.converged_epoch = Some(epoch);
            break;
        }
    }
    report.probabilities = probabilities(&model, config, &device);
    let run_dir = config.run_dir();
    std::fs::create_dir_all(&run_dir).map_err(Error::io(&run_dir))?;
    crate::report::write_atomic(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    crate::report::write_json(&run_dir.join("metrics.json"), &report)?;
    let model_path = run_dir.join("model.bpk");
    model
        .clone()
        .save_file(&model_path)
        .map_err(|e| Error::Checkpoint {
            path: model_path,
            reason: format!("cannot save: {e}"),
        })?;
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

fn plot_regions(
    run_dir: &Path,
    model: &Mlp,
    config: &ExperimentConfig,
    device: &Device,
) -> Result<()> {
    let points: Vec<(f64, f64)> = TRUTH_TABLE.iter().map(|(p, _)| (p[0], p[1])).collect();
    let positive: Vec<bool> = TRUTH_TABLE.iter().map(|(_, y)| *y == 1).collect();
    let probability = |a: f64, b: f64| {
        let p = sigmoid(model.forward(inputs(config, &[[a, b]], device)));
        p.into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .expect("f64")[0]
    };
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
pub fn predict(run_dir: &Path, config: &ExperimentConfig) -> Result<Vec<f64>> {
    let device = crate::backend::device(config.backend, config.precision)?;
    let width = 2 + usize::from(config.data.constant_input);
    let path = run_dir.join("model.bpk");
    let model = config
        .model
        .init(width, 2, &device)
        .try_load_file(&path)
        .map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: format!("does not fit the run's XOR network: {e}"),
        })?;
    let p = probabilities(&model, config, &device);
    print_truth_table(&p);
    Ok(p)
}
