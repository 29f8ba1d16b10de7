//! More than two classes: one-vs-rest (the course's "1 vs. todos": one binary model per class, the
//! class whose model is most confident wins) and softmax (multinomial) regression.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::config::{LogisticConfig, Strategy};
use crate::error::{Error, Result};
use crate::glm::data::Design;
use crate::glm::penalty::PenaltyWeights;
use crate::glm::report::{Estimate, announce, write_run};
use crate::glm::solver::{NEWTON_MAX_STEPS, SolverConfig, halving_step};
use crate::metrics::{ClassMetrics, accuracy, class_metrics};
use crate::numeric::{sigmoid, softmax};

/// `K` linear scores per row: `η = X·coef + intercepts` (`coef` is `p × K`).
#[derive(Debug, Clone, PartialEq)]
pub struct MulticlassFit {
    pub strategy: Strategy,
    pub intercepts: DVector<f64>,
    pub coef: DMatrix<f64>,
    pub iterations: usize,
    pub converged: bool,
}

impl MulticlassFit {
    fn scores(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut eta = x * &self.coef;
        for mut row in eta.row_iter_mut() {
            row += self.intercepts.transpose();
        }
        eta
    }

    /// Class probabilities, `n × K`: softmax of the scores, or (one-vs-rest) each model's
    /// sigmoid normalised to sum to one, as scikit-learn does.
    pub fn probabilities(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let eta = self.scores(x);
        let mut p = DMatrix::zeros(eta.nrows(), eta.ncols());
        for (i, row) in eta.row_iter().enumerate() {
            let values: Vec<f64> = row.iter().copied().collect();
            let probs = match self.strategy {
                Strategy::Ovr => {
                    let s: Vec<f64> = values.iter().map(|&z| sigmoid(z)).collect();
                    let total: f64 = s.iter().sum();
                    s.into_iter().map(|v| v / total).collect()
                }
                _ => softmax(&values),
            };
            for (k, v) in probs.into_iter().enumerate() {
                p[(i, k)] = v;
            }
        }
        p
    }
}

/// `(1/n)·Σᵢ [log Σₖ e^ηᵢₖ − ηᵢ,yᵢ]`: mean cross-entropy from scores, by log-sum-exp.
fn cross_entropy_of_scores(eta: &DMatrix<f64>, labels: &[usize]) -> f64 {
    let total: f64 = eta
        .row_iter()
        .zip(labels)
        .map(|(row, &y)| {
            let max = row.max();
            max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() - row[y]
        })
        .sum();
    total / labels.len() as f64
}

/// The gradient and Hessian of the penalised multinomial objective at `θ` (see
/// [`softmax_newton`]), from the class probabilities `probs[i][c]` of each row: for free classes
/// `a, b`, `∇_a = X̃ᵀ(p_a − y_a)/n` and `H_ab = X̃ᵀ diag(p_a(δ_ab − p_b)) X̃/n`, plus `l2` on the
/// weights (not the intercepts).
fn gradient_and_hessian(
    xt: &DMatrix<f64>,
    probs: &[Vec<f64>],
    labels: &[usize],
    theta: &DVector<f64>,
    l2: f64,
) -> (DVector<f64>, DMatrix<f64>) {
    let (n, q) = (xt.nrows(), xt.ncols());
    let k = probs.first().map_or(1, Vec::len);
    let m = (k - 1) * q;
    let mut gradient = DVector::zeros(m);
    let mut hessian = DMatrix::zeros(m, m);
    for a in 1..k {
        let residual =
            DVector::from_fn(n, |i, _| probs[i][a] - f64::from(u8::from(labels[i] == a)));
        gradient
            .rows_mut((a - 1) * q, q)
            .copy_from(&(xt.tr_mul(&residual) / n as f64));
        for b in 1..k {
            let w = DVector::from_fn(n, |i, _| {
                probs[i][a] * (f64::from(u8::from(a == b)) - probs[i][b])
            });
            let weighted = DMatrix::from_fn(n, q, |i, j| xt[(i, j)] * w[i]);
            hessian
                .view_mut(((a - 1) * q, (b - 1) * q), (q, q))
                .copy_from(&(xt.tr_mul(&weighted) / n as f64));
        }
        for j in 1..q {
            let at = (a - 1) * q + j;
            gradient[at] += l2 * theta[at];
            hessian[(at, at)] += l2;
        }
    }
    (gradient, hessian)
}

/// Multinomial regression by Newton's method. Class 0 is the reference (its scores are fixed at
/// zero), which makes the unpenalised problem identifiable; the other `K − 1` classes each have
/// an intercept and `p` weights. L2 (on the weights only) is supported; L1 is not.
pub(crate) fn softmax_newton(
    x: &DMatrix<f64>,
    labels: &[usize],
    k: usize,
    weights: PenaltyWeights,
    options: &SolverConfig,
) -> Result<MulticlassFit> {
    if weights.l1 > 0.0 {
        return Err(Error::Config(
            "softmax regression supports no L1 part: use penalty \"l2\" or strategy \"ovr\"".into(),
        ));
    }
    let (n, p) = (x.nrows(), x.ncols());
    let xt = x.clone().insert_column(0, 1.0);
    let q = p + 1;
    // θ packs the free classes' [intercept, weights] one after another.
    let scores = |theta: &DVector<f64>| {
        let mut eta = DMatrix::zeros(n, k);
        for c in 1..k {
            eta.set_column(c, &(&xt * theta.rows((c - 1) * q, q)));
        }
        eta
    };
    let objective = |theta: &DVector<f64>| {
        let penalty: f64 = (1..k)
            .map(|c| theta.rows((c - 1) * q + 1, p).norm_squared())
            .sum();
        cross_entropy_of_scores(&scores(theta), labels) + weights.l2 / 2.0 * penalty
    };
    let mut theta = DVector::zeros((k - 1) * q);
    let mut value = objective(&theta);
    for step in 1..=NEWTON_MAX_STEPS {
        let probs: Vec<Vec<f64>> = scores(&theta)
            .row_iter()
            .map(|r| softmax(&r.iter().copied().collect::<Vec<_>>()))
            .collect();
        let (gradient, hessian) = gradient_and_hessian(&xt, &probs, labels, &theta, weights.l2);
        let Some(cholesky) = hessian.cholesky() else {
            // Probabilities saturated at 0 or 1: the classes are separated, the estimate runs off.
            return Ok(pack(theta, k, q, step, false));
        };
        let (next, next_value) =
            halving_step(&theta, &-cholesky.solve(&gradient), value, objective);
        let moved = (&next - &theta).amax();
        let scale = next.amax();
        theta = next;
        let improvement = value - next_value;
        value = next_value;
        if moved <= options.tol * scale.max(1e-300) || moved == 0.0 {
            return Ok(pack(theta, k, q, step, true));
        }
        // Separated classes: the objective creeps towards its infimum while the weights grow.
        if improvement <= f64::EPSILON * value.abs() && scale > 30.0 {
            return Ok(pack(theta, k, q, step, false));
        }
    }
    Ok(pack(theta, k, q, NEWTON_MAX_STEPS, false))
}

fn pack(
    theta: DVector<f64>,
    k: usize,
    q: usize,
    iterations: usize,
    converged: bool,
) -> MulticlassFit {
    let p = q - 1;
    let mut intercepts = DVector::zeros(k);
    let mut coef = DMatrix::zeros(p, k);
    for c in 1..k {
        intercepts[c] = theta[(c - 1) * q];
        coef.set_column(c, &theta.rows((c - 1) * q + 1, p));
    }
    MulticlassFit {
        strategy: Strategy::Softmax,
        intercepts,
        coef,
        iterations,
        converged,
    }
}

/// One binary model per class (that class against all others), each fitted as configured.
pub(crate) fn one_vs_rest(
    config: &LogisticConfig,
    design: &Design,
    labels: &[usize],
    k: usize,
) -> Result<MulticlassFit> {
    let p = design.x.ncols();
    let mut fit = MulticlassFit {
        strategy: Strategy::Ovr,
        intercepts: DVector::zeros(k),
        coef: DMatrix::zeros(p, k),
        iterations: 0,
        converged: true,
    };
    for c in 0..k {
        let mut binary = design.clone();
        binary.y = DVector::from_iterator(
            labels.len(),
            labels.iter().map(|&l| f64::from(u8::from(l == c))),
        );
        let one = super::fit(config, &binary)?;
        fit.intercepts[c] = one.intercept;
        fit.coef.set_column(c, &one.coef);
        fit.iterations += one.iterations;
        fit.converged &= one.converged;
    }
    Ok(fit)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticlassMetrics {
    pub n: usize,
    pub accuracy: f64,
    /// Mean cross-entropy of the predicted class probabilities.
    pub cross_entropy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    pub classes: Vec<ClassMetrics>,
}

impl MulticlassMetrics {
    pub fn new(probabilities: &DMatrix<f64>, labels: &[usize], names: &[String]) -> Self {
        let k = names.len();
        let mut confusion = vec![vec![0u64; k]; k];
        let mut ce = 0.0;
        for (row, &y) in probabilities.row_iter().zip(labels) {
            let predicted = (0..k)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .expect("classes");
            confusion[y][predicted] += 1;
            ce -= row[y].max(1e-300).ln();
        }
        let n = labels.len();
        MulticlassMetrics {
            n,
            accuracy: accuracy(&confusion),
            cross_entropy: ce / n as f64,
            classes: class_metrics(&confusion, names),
            confusion,
        }
    }
}

/// Everything `neurona train` reports for a multiclass model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticlassReport {
    pub strategy: Strategy,
    pub classes: Vec<String>,
    pub feature_names: Vec<String>,
    /// Every level of each one-hot encoded column (the first is the reference).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categorical_levels: BTreeMap<String, Vec<String>>,
    /// Per class: intercept then one weight per feature (softmax: the first class is the
    /// reference, all zeros).
    pub coefficients: Vec<Vec<f64>>,
    /// With `standardize = true`: the same rows for the features on their original scale
    /// (what `neurona export` writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coefficients_original: Option<Vec<Vec<f64>>>,
    pub iterations: usize,
    pub converged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separation: Option<String>,
    pub train: MulticlassMetrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<MulticlassMetrics>,
}

/// The fitted model in a multiclass run's `coefficients.json` (a [`MulticlassReport`]), as
/// `neurona predict` and `export` read it back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct MulticlassModelFile {
    pub classes: Vec<String>,
    pub feature_names: Vec<String>,
    /// Absent in runs written before the levels were recorded.
    #[serde(default)]
    pub categorical_levels: BTreeMap<String, Vec<String>>,
    /// Per class: intercept then one weight per feature.
    pub coefficients: Vec<Vec<Estimate>>,
    /// Absent in runs written before `neurona export` (and when not standardised).
    pub coefficients_original: Option<Vec<Vec<Estimate>>>,
}

/// The class index of each target value (classes in sorted order).
pub fn encode_labels(targets: &[(usize, String)]) -> (Vec<String>, Vec<usize>) {
    let mut classes: Vec<String> = targets.iter().map(|(_, v)| v.clone()).collect();
    classes.sort_unstable();
    classes.dedup();
    let labels = targets
        .iter()
        .map(|(_, v)| classes.binary_search(v).expect("listed"))
        .collect();
    (classes, labels)
}

/// Fits the configured multiclass strategy on `design` with class indices `labels`.
pub fn fit(
    config: &LogisticConfig,
    design: &Design,
    labels: &[usize],
    k: usize,
) -> Result<MulticlassFit> {
    match config.model.strategy {
        Strategy::Ovr => one_vs_rest(config, design, labels, k),
        _ => softmax_newton(
            &design.x,
            labels,
            k,
            config.model.weights(labels.len()),
            &config.solver,
        ),
    }
}

/// Codes the target as class indices (classes in sorted order) into `design.y`; at least two
/// classes. Returns the class names and each row's index.
pub(crate) fn code_labels(
    config: &LogisticConfig,
    design: &mut Design,
    targets: &[(usize, String)],
) -> Result<(Vec<String>, Vec<usize>)> {
    let (classes, labels) = encode_labels(targets);
    if classes.len() < 2 {
        return Err(Error::Data(format!(
            "{:?} has a single class: a classifier needs at least two",
            config.data.target
        )));
    }
    design.y = DVector::from_iterator(labels.len(), labels.iter().map(|&l| l as f64));
    Ok((classes, labels))
}

/// The class indices held in `design.y` (see [`code_labels`]).
pub(crate) fn labels_of(design: &Design) -> Vec<usize> {
    design.y.iter().map(|&v| v as usize).collect()
}

/// Fits the configured strategy on `train` (class indices in `y`) and reports it, with metrics
/// on `valid` when it has rows.
pub(crate) fn fit_report(
    config: &LogisticConfig,
    train: &Design,
    valid: &Design,
    classes: Vec<String>,
) -> Result<MulticlassReport> {
    let (train_labels, valid_labels) = (labels_of(train), labels_of(valid));
    let k = classes.len();
    let fit = fit(config, train, &train_labels, k)?;
    let coefficients: Vec<Vec<f64>> = (0..k)
        .map(|c| {
            std::iter::once(fit.intercepts[c])
                .chain(fit.coef.column(c).iter().copied())
                .collect()
        })
        .collect();
    let coefficients_original = train.scaling.as_ref().map(|scaling| {
        (0..k)
            .map(|c| {
                let (intercept, coef) =
                    scaling.unscale(fit.intercepts[c], &fit.coef.column(c).into_owned());
                std::iter::once(intercept).chain(coef).collect()
            })
            .collect()
    });
    Ok(MulticlassReport {
        strategy: config.model.strategy,
        feature_names: train.feature_names.clone(),
        categorical_levels: train.levels.clone(),
        coefficients,
        coefficients_original,
        iterations: fit.iterations,
        converged: fit.converged,
        separation: (!fit.converged).then(|| {
            "the fit did not converge: some classes are (quasi-)separated, so the unpenalised \
             estimate runs off to infinity; its probabilities are still usable, its coefficients \
             are not — add an L2 penalty for finite ones"
                .to_string()
        }),
        train: MulticlassMetrics::new(&fit.probabilities(&train.x), &train_labels, &classes),
        valid: (!valid_labels.is_empty())
            .then(|| MulticlassMetrics::new(&fit.probabilities(&valid.x), &valid_labels, &classes)),
        classes,
    })
}

/// `neurona train` for `strategy = "ovr" | "softmax"`.
pub fn train(
    config: &LogisticConfig,
    mut design: Design,
    targets: &[(usize, String)],
) -> Result<MulticlassReport> {
    let (classes, _) = code_labels(config, &mut design, targets)?;
    let (train, valid) = design.split(config.data.validation_fraction, config.seed);
    let report = fit_report(config, &train, &valid, classes)?;
    let run_dir = config.output.run_dir();
    write_run(&run_dir, config, &report)?;
    announce(&run_dir, &report);
    Ok(report)
}

impl std::fmt::Display for MulticlassReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:?} regression over {} classes, {} iterations",
            self.strategy,
            self.classes.len(),
            self.iterations
        )?;
        if let Some(w) = &self.separation {
            writeln!(f, "WARNING: {w}")?;
        }
        write!(f, "{:<14}", "class")?;
        for name in
            std::iter::once("(intercept)").chain(self.feature_names.iter().map(String::as_str))
        {
            write!(f, " {name:>13}")?;
        }
        writeln!(f)?;
        for (class, row) in self.classes.iter().zip(&self.coefficients) {
            write!(f, "{class:<14}")?;
            for v in row {
                write!(f, " {v:>13.5}")?;
            }
            writeln!(f)?;
        }
        for (split, m) in [("train", Some(&self.train)), ("valid", self.valid.as_ref())] {
            let Some(m) = m else { continue };
            writeln!(
                f,
                "{split}: n {}  accuracy {:.4}  cross-entropy {:.6}",
                m.n, m.accuracy, m.cross_entropy
            )?;
            for (c, row) in m.classes.iter().zip(&m.confusion) {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:>5}")).collect();
                writeln!(
                    f,
                    "  {:<12} precision {:.4} recall {:.4} support {:>5}   confusion {}",
                    c.class,
                    c.precision,
                    c.recall,
                    c.support,
                    cells.join("")
                )?;
            }
        }
        Ok(())
    }
}

crate::fit_report!(MulticlassReport, MulticlassMetrics);
