//! Classification metrics shared by every classifier: per-class precision and recall from a
//! confusion matrix, and for a binary classifier the confusion matrix at a threshold, the rates
//! derived from it, the ROC curve with its area, and the log-loss.

use std::fmt;

use nalgebra::DVector;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    pub n: usize,
    pub threshold: f64,
    /// `[[TN, FP], [FN, TP]]`: rows are the true class (0, 1), columns the predicted one.
    pub confusion: [[u64; 2]; 2],
    pub accuracy: f64,
    pub precision: f64,
    /// Sensitivity, true-positive rate.
    pub recall: f64,
    /// True-negative rate.
    pub specificity: f64,
    pub f1: f64,
    pub auc: f64,
    /// Mean negative log-likelihood.
    pub log_loss: f64,
    /// `(false-positive rate, true-positive rate)` at every distinct score, from (0, 0) to (1, 1);
    /// with more than [`MAX_ROC_POINTS`] scores, that many evenly spaced along the curve (the
    /// AUC is computed from all of them).
    pub roc: Vec<(f64, f64)>,
}

/// The most points of a ROC curve kept in a report: enough to draw it, small at any data size.
pub const MAX_ROC_POINTS: usize = 500;

/// `a / b`, and 0 when `b` is 0 (a class never predicted has precision 0, not NaN).
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    /// Of the items predicted as this class, the share that are (0 when none is predicted).
    pub precision: f64,
    /// Of the items of this class, the share predicted as it.
    pub recall: f64,
    pub support: u64,
}

/// Precision, recall and support of each class from `confusion[true][predicted]`.
pub(crate) fn class_metrics(
    confusion: &[Vec<u64>],
    class_names: &[impl AsRef<str>],
) -> Vec<ClassMetrics> {
    let k = confusion.len();
    (0..k)
        .map(|c| {
            let predicted: u64 = (0..k).map(|t| confusion[t][c]).sum();
            let support: u64 = confusion[c].iter().sum();
            ClassMetrics {
                class: class_names[c].as_ref().to_string(),
                precision: ratio(confusion[c][c], predicted),
                recall: ratio(confusion[c][c], support),
                support,
            }
        })
        .collect()
}

/// The share of items on the diagonal of `confusion[true][predicted]` (0 for no items).
pub fn accuracy(confusion: &[Vec<u64>]) -> f64 {
    let correct: u64 = (0..confusion.len()).map(|c| confusion[c][c]).sum();
    let total: u64 = confusion.iter().flatten().sum();
    ratio(correct, total)
}

impl BinaryMetrics {
    /// Metrics of the probabilities `p` of the positive class for the 0/1 labels `y`.
    pub fn new(p: &DVector<f64>, y: &DVector<f64>, threshold: f64) -> Self {
        let mut confusion = [[0u64; 2]; 2];
        for (&p, &y) in p.iter().zip(y.iter()) {
            confusion[usize::from(y == 1.0)][usize::from(p >= threshold)] += 1;
        }
        let [[tn, fp], [fn_, tp]] = confusion;
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let log_loss = -p
            .iter()
            .zip(y.iter())
            .map(|(&p, &y)| {
                if y == 1.0 {
                    p.max(1e-300).ln()
                } else {
                    (1.0 - p).max(1e-300).ln()
                }
            })
            .sum::<f64>()
            / y.len() as f64;
        let roc = roc_curve(p, y);
        BinaryMetrics {
            n: y.len(),
            threshold,
            confusion,
            accuracy: ratio(tp + tn, tp + tn + fp + fn_),
            precision,
            recall,
            specificity: ratio(tn, tn + fp),
            f1: if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            },
            // The area from every point of the curve; the record keeps a bounded number of them.
            auc: roc
                .windows(2)
                .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
                .sum(),
            log_loss,
            roc: crate::sampling::thin(&roc, MAX_ROC_POINTS),
        }
    }
}

/// The ROC curve: lower the threshold through every distinct score, from above the highest
/// (nothing predicted positive) to below the lowest (everything positive). Tied scores move
/// together, so the trapezoidal area is the Mann–Whitney AUC.
pub(crate) fn roc_curve(p: &DVector<f64>, y: &DVector<f64>) -> Vec<(f64, f64)> {
    let positives = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let negatives = y.len() as f64 - positives;
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut curve = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if y[i] == 1.0 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&next| p[next] != p[i]);
        if last_of_tie {
            curve.push((
                if negatives > 0.0 { fp / negatives } else { 0.0 },
                if positives > 0.0 { tp / positives } else { 0.0 },
            ));
        }
    }
    curve
}

impl fmt::Display for BinaryMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [[tn, fp], [fn_, tp]] = self.confusion;
        writeln!(
            f,
            "n {}  threshold {}  accuracy {:.4}  precision {:.4}  recall {:.4}  specificity {:.4}  F1 {:.4}  AUC {:.4}  log-loss {:.5}",
            self.n,
            self.threshold,
            self.accuracy,
            self.precision,
            self.recall,
            self.specificity,
            self.f1,
            self.auc,
            self.log_loss
        )?;
        writeln!(
            f,
            "  confusion (rows true, columns predicted):  0: [{tn:>6} {fp:>6}]  1: [{fn_:>6} {tp:>6}]"
        )
    }
}
