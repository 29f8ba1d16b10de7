//! The shape of one example between layers (the batch dimension left out).
//!
//! An image is `channels × height × width` (MNIST: `1 × 28 × 28`), a sequence is
//! `steps × features`, a flat vector has `n` features. Each layer kind says which it takes and
//! what it gives; two readings are shared: a dense layer reads an image flattened (`c·h·w`
//! features) and a sequence's last step, a recurrent layer reads an image row by row (`h` steps
//! of `c·w` features).

use std::fmt;

/// Images are `SIDE × SIDE` pixels (MNIST and Fashion-MNIST).
pub const SIDE: usize = 28;

/// What an image network reads: one grey channel of `SIDE × SIDE` pixels.
pub const IMAGE: Shape = Shape::Image {
    channels: 1,
    height: SIDE,
    width: SIDE,
};

/// The shape of one example between layers (the batch dimension left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Flat(usize),
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    Sequence {
        steps: usize,
        features: usize,
    },
}

impl From<usize> for Shape {
    fn from(n: usize) -> Self {
        Shape::Flat(n)
    }
}

impl Shape {
    /// The values of one example.
    pub fn size(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Image {
                channels,
                height,
                width,
            } => channels * height * width,
            Shape::Sequence { steps, features } => steps * features,
        }
    }

    /// What a recurrent layer reads at each step: an image's row (`c·w` values), a sequence's
    /// step.
    pub(crate) fn step_features(self) -> usize {
        match self {
            Shape::Image {
                channels, width, ..
            } => channels * width,
            Shape::Sequence { features, .. } => features,
            Shape::Flat(n) => n,
        }
    }

    /// What a dense layer reads: an image flattened, a sequence's last step.
    pub(crate) fn dense_inputs(self) -> usize {
        match self {
            Shape::Sequence { features, .. } => features,
            other => other.size(),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Flat(n) => write!(f, "{n} features"),
            Shape::Image {
                channels,
                height,
                width,
            } => write!(f, "{channels}×{height}×{width} image"),
            Shape::Sequence { steps, features } => {
                write!(f, "sequence of {steps} steps × {features} features")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reading_of_a_shape_counts_what_it_says() {
        let image = Shape::Image {
            channels: 3,
            height: 5,
            width: 7,
        };
        assert_eq!(image.size(), 105);
        assert_eq!(image.step_features(), 21, "a row: channels × width");
        assert_eq!(image.dense_inputs(), 105, "flattened");
        let sequence = Shape::Sequence {
            steps: 28,
            features: 64,
        };
        assert_eq!(sequence.size(), 1792);
        assert_eq!(sequence.step_features(), 64);
        assert_eq!(sequence.dense_inputs(), 64, "the last step");
        assert_eq!(Shape::from(10), Shape::Flat(10));
        assert_eq!(Shape::Flat(10).dense_inputs(), 10);
        assert_eq!(IMAGE.size(), 784);
    }
}
