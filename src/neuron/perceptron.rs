//! Rosenblatt's perceptron: `ŷ = step(w·x + b)`, and after each misclassified example
//! `w ← w + η(y − ŷ)x`, `b ← b + η(y − ŷ)`. It converges on linearly separable data (AND, OR)
//! and never on XOR — which is what motivates hidden layers and back-propagation.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::neuron::activations::ActivationFn;

/// The three two-input logic gates of the course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Gate {
    And,
    Or,
    Xor,
}

impl Gate {
    pub fn truth_table(self) -> [([f64; 2], f64); 4] {
        let out = |a: bool, b: bool| {
            f64::from(u8::from(match self {
                Gate::And => a && b,
                Gate::Or => a || b,
                Gate::Xor => a != b,
            }))
        };
        [(false, false), (false, true), (true, false), (true, true)]
            .map(|(a, b)| ([f64::from(u8::from(a)), f64::from(u8::from(b))], out(a, b)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerceptronRun {
    pub weights: [f64; 2],
    pub bias: f64,
    /// The epoch (pass over the four examples) after which every example was right, if any.
    pub converged_epoch: Option<usize>,
    /// Misclassified examples in each epoch.
    pub errors: Vec<usize>,
}

impl PerceptronRun {
    pub fn predict(&self, x: [f64; 2]) -> f64 {
        ActivationFn::Step.value(self.net_input(x))
    }

    /// `w·x + b`.
    fn net_input(&self, x: [f64; 2]) -> f64 {
        self.weights[0] * x[0] + self.weights[1] * x[1] + self.bias
    }
}

/// Trains from zero weights for at most `epochs` passes with learning rate `eta`. From zero
/// weights `eta` only scales the line the perceptron learns, so the one way it can fail is
/// overflow: weights or net inputs `w·x + b` that leave f64's range are an error, never a result (they would make
/// every example look wrong and the gate look inseparable).
pub fn train(gate: Gate, epochs: usize, eta: f64) -> Result<PerceptronRun> {
    let mut run = PerceptronRun {
        weights: [0.0; 2],
        bias: 0.0,
        converged_epoch: None,
        errors: Vec::new(),
    };
    for epoch in 1..=epochs {
        let mut errors = 0;
        for (x, y) in gate.truth_table() {
            let update = eta * (y - run.predict(x));
            if update != 0.0 {
                errors += 1;
                run.weights[0] += update * x[0];
                run.weights[1] += update * x[1];
                run.bias += update;
            }
        }
        let table = gate.truth_table();
        if !table.iter().all(|(x, _)| run.net_input(*x).is_finite()) {
            return Err(Error::Config(format!(
                "the perceptron overflowed at epoch {epoch} (w = [{:e}, {:e}], b = {:e}: w·x + b \
                 leaves f64's range): \
                 lower --learning-rate (now {eta:e}); from zero weights it only scales the line, \
                 so 1 learns the same gates",
                run.weights[0], run.weights[1], run.bias
            )));
        }
        run.errors.push(errors);
        if errors == 0 {
            run.converged_epoch = Some(epoch);
            break;
        }
    }
    Ok(run)
}

/// Four examples converge within a few epochs when they can at all; a million is only a mistake
/// (and the per-epoch error record would grow without bound).
pub(crate) const MAX_EPOCHS: usize = 1_000_000;

/// `neurona perceptron <gate>`: trains, prints the weights and truth table, and says plainly
/// when the gate cannot be learnt.
pub fn run(gate: Gate, epochs: usize, eta: f64) -> Result<PerceptronRun> {
    if !((1..=MAX_EPOCHS).contains(&epochs) && eta.is_finite() && eta > 0.0) {
        return Err(Error::Usage(format!(
            "--epochs must be in 1..={MAX_EPOCHS} and --learning-rate > 0 (a finite number)"
        )));
    }
    let result = train(gate, epochs, eta)?;
    println!(
        "perceptron on {gate:?}: w = [{:.3}, {:.3}], b = {:.3}",
        result.weights[0], result.weights[1], result.bias
    );
    for (x, y) in gate.truth_table() {
        println!(
            "  {} {} -> {} (target {})",
            x[0],
            x[1],
            result.predict(x),
            y
        );
    }
    match result.converged_epoch {
        Some(e) => println!("learnt in {e} epochs"),
        None => println!(
            "not learnt in {epochs} epochs ({} of 4 still wrong in the last one): {gate:?} is not \
             linearly separable, so no line w·x + b = 0 splits its classes — a single perceptron \
             cannot represent it; a hidden layer can (see configs/xor.toml)",
            result.errors.last().copied().unwrap_or(0)
        ),
    }
    Ok(result)
}
