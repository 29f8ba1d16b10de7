//! The 2-D data sets of the workshop: XOR's truth table, three generated sets whose two classes
//! no straight line separates and two Gaussian blobs that one does, as TensorFlow Playground
//! offers them.
//!
//! With `u, v ~ U[0, 1)` and `σ = data.noise` added to both coordinates as `N(0, σ²)`:
//! - **circle**: class 1 at radius `0.5·u`, class 0 in the ring `0.7 + 0.3·u`, angle `2πv`;
//! - **moons**: scikit-learn's `make_moons` — class 0 on `(cos t, sin t)`, class 1 on
//!   `(1 − cos t, ½ − sin t)`, `t = πu` — centred and scaled by 0.6 into `[-0.9, 0.9]`;
//! - **spirals**: class `c` at radius `s = u` and angle `3.5π·s + cπ`, i.e. `(s sin θ, s cos θ)`:
//!   two arms of 1¾ turns each;
//! - **blobs**: class 0 around `(−½, −½)`, class 1 around `(½, ½)`, each a round Gaussian of
//!   standard deviation ¼ (Box–Muller: radius `¼·√(−2 ln(1 − u))`, angle `2πv`).
//!
//! Points alternate between the classes, so every set is balanced. One seed gives one set on
//! every platform (`sampling::SplitMix64`).

use std::f64::consts::PI;

use super::config::PointSetName;
use crate::sampling::SplitMix64;

/// The truth table: `(x1, x2) → x1 XOR x2`.
pub const TRUTH_TABLE: [([f64; 2], i64); 4] = [
    ([0.0, 0.0], 0),
    ([0.0, 1.0], 1),
    ([1.0, 0.0], 1),
    ([1.0, 1.0], 0),
];

/// Points in the plane and their classes (0 or 1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointSet {
    pub points: Vec<[f64; 2]>,
    pub labels: Vec<i64>,
}

impl PointSet {
    /// XOR's four points.
    pub fn truth_table() -> Self {
        Self {
            points: TRUTH_TABLE.iter().map(|(p, _)| *p).collect(),
            labels: TRUTH_TABLE.iter().map(|(_, y)| *y).collect(),
        }
    }

    /// `count` points of a generated set, noise `σ = noise`. XOR is not generated: it gives
    /// the truth table.
    pub fn generate(dataset: PointSetName, count: usize, noise: f64, seed: u64) -> Self {
        // Where a point of `class` lands for the uniform draws `u`, `v`, before noise.
        let place: fn(i64, f64, f64) -> [f64; 2] = match dataset {
            PointSetName::Circle => |class, u, v| {
                let r = if class == 1 { 0.5 * u } else { 0.7 + 0.3 * u };
                let angle = 2.0 * PI * v;
                [r * angle.cos(), r * angle.sin()]
            },
            PointSetName::Moons => |class, u, _| {
                let t = PI * u;
                let [a, b] = if class == 0 {
                    [t.cos(), t.sin()]
                } else {
                    [1.0 - t.cos(), 0.5 - t.sin()]
                };
                [0.6 * (a - 0.5), 0.6 * (b - 0.25)]
            },
            PointSetName::Spirals => |class, u, _| {
                let angle = 3.5 * PI * u + class as f64 * PI;
                [u * angle.sin(), u * angle.cos()]
            },
            PointSetName::Blobs => |class, u, v| {
                let centre = if class == 0 { -0.5 } else { 0.5 };
                let r = 0.25 * (-2.0 * (1.0 - u).ln()).sqrt();
                let angle = 2.0 * PI * v;
                [centre + r * angle.cos(), centre + r * angle.sin()]
            },
            PointSetName::Xor => return Self::truth_table(),
        };
        let mut random = SplitMix64::new(seed);
        let mut set = Self {
            points: Vec::with_capacity(count),
            labels: Vec::with_capacity(count),
        };
        for i in 0..count {
            let class = (i % 2) as i64;
            let (u, v) = (random.uniform(), random.uniform());
            let [x, y] = place(class, u, v);
            set.points
                .push([x + noise * random.normal(), y + noise * random.normal()]);
            set.labels.push(class);
        }
        set
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The square `[lo, hi]²` a data set's decision regions are drawn over.
pub(crate) fn region(dataset: PointSetName) -> (f64, f64) {
    match dataset {
        // The unit square with a margin.
        PointSetName::Xor => (-0.25, 1.25),
        // Every generated point but the blobs' rare tails lies within radius 1 before noise.
        PointSetName::Circle
        | PointSetName::Moons
        | PointSetName::Spirals
        | PointSetName::Blobs => (-1.3, 1.3),
    }
}
