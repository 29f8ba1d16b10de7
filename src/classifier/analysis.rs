//! What a classifier gets wrong on its test set, kept in the run as `analysis.json` by
//! `neurona eval` and at the end of `neurona train`, for the page (the confusion heatmap, the
//! images of a cell, the most confidently wrong images) and for any other tool:
//!
//! - `classes`: the class names; `matrix[t][p]`: test images of true class `t` predicted as `p`;
//! - `per_class`: precision `m[c][c]/Σₜm[t][c]`, recall `m[c][c]/Σₚm[c][p]`, their harmonic mean
//!   F1 `2PR/(P + R)` (0 where undefined) and support;
//! - `labels`, `predictions`, `confidence`: each test image's true class, predicted class and the
//!   probability the model gave its prediction, in test-set order (index `i` is the `i`-th image
//!   of the test IDX file), so the images of any cell are found without running the model again;
//! - `most_confidently_wrong`: the wrong predictions with the highest probability on the wrong
//!   class, at most [`MOST_WRONG`], each with its top three classes.

use serde::{Deserialize, Serialize};

use crate::metrics::class_metrics;

/// How many of the most confidently wrong images the analysis keeps.
pub const MOST_WRONG: usize = 48;

/// The file a run keeps its analysis in.
pub const FILE: &str = "analysis.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

/// One class and the probability the model gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub class: usize,
    pub probability: f64,
}

/// A wrong prediction: the test image's index, its true class and the model's top three.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mistake {
    pub index: usize,
    pub true_class: usize,
    pub predicted: usize,
    pub top: Vec<Ranked>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub classes: Vec<String>,
    pub images: usize,
    /// `matrix[true][predicted]`.
    pub matrix: Vec<Vec<u64>>,
    pub per_class: Vec<ClassScore>,
    pub labels: Vec<u8>,
    pub predictions: Vec<u8>,
    /// The predicted class's probability, to 4 decimals.
    pub confidence: Vec<f32>,
    pub most_confidently_wrong: Vec<Mistake>,
}

/// Builds an analysis from the test images in order: `labels[i]` and the model's class
/// probabilities `probabilities[i]` (one row per image).
#[derive(Debug)]
pub struct Collector {
    classes: Vec<String>,
    labels: Vec<u8>,
    predictions: Vec<u8>,
    confidence: Vec<f32>,
    wrong: Vec<Mistake>,
}

impl Collector {
    pub fn new(classes: &[impl AsRef<str>]) -> Self {
        Self {
            classes: classes.iter().map(|c| c.as_ref().to_string()).collect(),
            labels: Vec::new(),
            predictions: Vec::new(),
            confidence: Vec::new(),
            wrong: Vec::new(),
        }
    }

    /// The next image: its true class, the class the model predicts (the argmax of its scores)
    /// and its probabilities for each class.
    pub fn add(&mut self, label: usize, predicted: usize, probabilities: &[f64]) {
        let mut ranked: Vec<Ranked> = probabilities
            .iter()
            .enumerate()
            .map(|(class, &probability)| Ranked { class, probability })
            .collect();
        // Stable: equal probabilities keep the lower class first.
        ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        let index = self.labels.len();
        self.labels.push(label as u8);
        self.predictions.push(predicted as u8);
        self.confidence
            .push(((probabilities[predicted] * 1e4).round() / 1e4) as f32);
        if predicted != label {
            ranked.truncate(3);
            self.wrong.push(Mistake {
                index,
                true_class: label,
                predicted,
                top: ranked,
            });
            if self.wrong.len() > 4 * MOST_WRONG {
                self.keep_most_wrong();
            }
        }
    }

    fn keep_most_wrong(&mut self) {
        // By the probability given to the wrong prediction.
        self.wrong.sort_by(|a, b| {
            b.top[0]
                .probability
                .total_cmp(&a.top[0].probability)
                .then(a.index.cmp(&b.index))
        });
        self.wrong.truncate(MOST_WRONG);
    }

    pub fn finish(mut self) -> Analysis {
        let k = self.classes.len();
        let mut matrix = vec![vec![0u64; k]; k];
        for (&t, &p) in self.labels.iter().zip(&self.predictions) {
            matrix[t as usize][p as usize] += 1;
        }
        let per_class = class_metrics(&matrix, &self.classes)
            .into_iter()
            .map(|c| ClassScore {
                f1: if c.precision + c.recall > 0.0 {
                    2.0 * c.precision * c.recall / (c.precision + c.recall)
                } else {
                    0.0
                },
                class: c.class,
                precision: c.precision,
                recall: c.recall,
                support: c.support,
            })
            .collect();
        self.keep_most_wrong();
        Analysis {
            images: self.labels.len(),
            classes: self.classes,
            matrix,
            per_class,
            labels: self.labels,
            predictions: self.predictions,
            confidence: self.confidence,
            most_confidently_wrong: self.wrong,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_scores_and_mistakes_follow_the_images() {
        let mut collector = Collector::new(&["a", "b", "c"]);
        // true a: right, right, wrong (b, 0.7); true b: wrong (c, 0.9), right; true c: right.
        for (label, p) in [
            (0, [0.8, 0.1, 0.1]),
            (0, [0.5, 0.25, 0.25]),
            (0, [0.2, 0.7, 0.1]),
            (1, [0.05, 0.05, 0.9]),
            (1, [0.3, 0.4, 0.3]),
            (2, [0.0, 0.0, 1.0]),
        ] {
            let predicted = (0..3).fold(0, |best, c| if p[c] > p[best] { c } else { best });
            collector.add(label, predicted, &p);
        }
        let a = collector.finish();
        assert_eq!(a.matrix, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert_eq!(a.images, 6);
        assert_eq!(a.predictions, vec![0, 0, 1, 2, 1, 2]);
        // b: precision 1/2, recall 1/2, F1 1/2; c: precision 1/2, recall 1, F1 2/3.
        assert_eq!(a.per_class[1].f1, 0.5);
        assert!((a.per_class[2].f1 - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(a.per_class[0].precision, 1.0);
        let wrong: Vec<(usize, usize, usize)> = a
            .most_confidently_wrong
            .iter()
            .map(|m| (m.index, m.true_class, m.predicted))
            .collect();
        assert_eq!(wrong, vec![(3, 1, 2), (2, 0, 1)]);
        assert_eq!(a.most_confidently_wrong[0].top[1].class, 0);
        assert_eq!(a.confidence[1], 0.5);
    }
}
