//! The course's catalogue of activation functions and their derivatives, as plain `f64`
//! functions: the reference the tensor code (`Network::activate`, `backprop::derivative`) is checked
//! against, and what the perceptron uses.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationFn {
    /// `1` for `x ≥ 0`, else `0` (Heaviside; the perceptron's).
    Step,
    /// `1` for `x ≥ 0`, else `−1`.
    Sign,
    /// `x`.
    Linear,
    /// `0` below −½, `x + ½` in between, `1` above ½ (a ramp).
    PiecewiseLinear,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    Tanh,
    /// `max(0, x)`.
    Relu,
    /// `x` for `x > 0`, else `slope·x`.
    LeakyRelu {
        slope: f64,
    },
}

impl ActivationFn {
    pub fn value(self, x: f64) -> f64 {
        match self {
            ActivationFn::Step => f64::from(u8::from(x >= 0.0)),
            ActivationFn::Sign => {
                if x >= 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
            ActivationFn::Linear => x,
            ActivationFn::PiecewiseLinear => (x + 0.5).clamp(0.0, 1.0),
            ActivationFn::Sigmoid => crate::numeric::sigmoid(x),
            ActivationFn::Tanh => x.tanh(),
            ActivationFn::Relu => x.max(0.0),
            ActivationFn::LeakyRelu { slope } => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
        }
    }

    /// The derivative. At a kink it takes the left-hand value, as back-propagation does
    /// (`relu′(0) = 0`); step and sign have derivative 0 wherever it exists, which is why the
    /// perceptron is trained by Rosenblatt's rule rather than by gradients.
    pub fn derivative(self, x: f64) -> f64 {
        match self {
            ActivationFn::Step | ActivationFn::Sign => 0.0,
            ActivationFn::Linear => 1.0,
            ActivationFn::PiecewiseLinear => f64::from(u8::from(x > -0.5 && x < 0.5)),
            ActivationFn::Sigmoid => {
                let s = crate::numeric::sigmoid(x);
                s * (1.0 - s)
            }
            ActivationFn::Tanh => 1.0 - x.tanh().powi(2),
            ActivationFn::Relu => f64::from(u8::from(x > 0.0)),
            ActivationFn::LeakyRelu { slope } => {
                if x > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
        }
    }
}

/// Maxout (Goodfellow et al., 2013): a unit computes `k` linear pieces `z₁…z_k` of its input and
/// outputs the largest, `max_j z_j`, a learned convex piecewise-linear activation (relu is the
/// case `k = 2` with one piece fixed at 0). `None` for no pieces.
pub fn maxout(pieces: &[f64]) -> Option<f64> {
    pieces.iter().copied().reduce(f64::max)
}

/// `∂ maxout / ∂z_j`: 1 for the largest piece, 0 for the others (the first of equal largest
/// ones, as back-propagation through a max picks one).
pub fn maxout_derivative(pieces: &[f64]) -> Vec<f64> {
    let winner = pieces
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (j, &z)| match best {
            Some((_, b)) if b >= z => best,
            _ => Some((j, z)),
        })
        .map(|(j, _)| j);
    (0..pieces.len())
        .map(|j| f64::from(u8::from(Some(j) == winner)))
        .collect()
}
