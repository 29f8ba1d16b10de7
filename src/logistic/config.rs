//! The experiment file of a logistic or softmax regression (`task = "logistic_regression"`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::config::{OutputConfig, Task};
use crate::error::Result;
use crate::linear::config::{Penalty, PenaltyWeights, SolverConfig};
use crate::tabular::TabularConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticConfig {
    /// `"logistic_regression"`.
    pub task: Task,
    /// Backend of the `gd` solver (Newton runs in f64 on the CPU).
    pub backend: BackendChoice,
    pub precision: Precision,
    pub seed: u64,
    pub data: TabularConfig,
    pub model: LogisticModelConfig,
    pub solver: SolverConfig,
    pub output: OutputConfig,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        Self {
            task: Task::LogisticRegression,
            backend: BackendChoice::Auto,
            precision: Precision::F64,
            seed: 42,
            data: TabularConfig::default(),
            model: LogisticModelConfig::default(),
            solver: SolverConfig {
                tol: 1e-10,
                max_iter: 100_000,
                ..SolverConfig::default()
            },
            output: OutputConfig::default(),
        }
    }
}

/// Whose scaling the penalty strength has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogisticObjective {
    /// `J = −(1/m)Σ[y·log h + (1−y)·log(1−h)] + (λ/2m)Σθ²` (L2), `+ (λ/m)Σ|θ|` (L1),
    /// `+ (λ/m)(ρΣ|θ| + (1−ρ)/2·Σθ²)` (ElasticNet); strength `lambda`.
    Course,
    /// scikit-learn's `LogisticRegression`: `C·Σ log-loss + ½‖w‖²` (L2), `+ ‖w‖₁` (L1),
    /// `+ ρ‖w‖₁ + (1−ρ)/2·‖w‖²` (ElasticNet); strength `c` (inverse: larger C, weaker penalty).
    Sklearn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogisticSolver {
    /// Newton–Raphson (IRLS) in f64; with an L1 part each Newton step is solved by coordinate
    /// descent (proximal Newton). Statistical inference comes from its Hessian.
    Newton,
    /// Full-batch gradient descent through Burn's autodiff on the configured backend.
    Gd,
}

/// How many classes, and how they are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Two classes, one sigmoid model (with statistical inference).
    Binary,
    /// One binary model per class against the rest; the most probable class wins.
    Ovr,
    /// Multinomial regression: one score per class through a softmax, cross-entropy loss.
    Softmax,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticModelConfig {
    pub strategy: Strategy,
    pub penalty: Penalty,
    /// Penalty strength for `objective = "course"`.
    pub lambda: f64,
    /// Inverse penalty strength for `objective = "sklearn"`.
    pub c: f64,
    pub l1_ratio: f64,
    pub objective: LogisticObjective,
    pub solver: LogisticSolver,
    /// Predict the positive class when its probability is at least this.
    pub threshold: f64,
    /// The positive class (the target value coded 1); unset means the second one in sorted order.
    pub positive: Option<String>,
}

impl Default for LogisticModelConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Binary,
            penalty: Penalty::None,
            lambda: 0.0,
            c: 1.0,
            l1_ratio: 0.5,
            objective: LogisticObjective::Course,
            solver: LogisticSolver::Newton,
            threshold: 0.5,
            positive: None,
        }
    }
}

impl LogisticModelConfig {
    /// The canonical weights of `(1/n)·NLL + l1‖w‖₁ + (l2/2)‖w‖²` for `n` observations:
    /// course `l2 = λ/n`, `l1 = λ/n` (split by ρ for ElasticNet); scikit-learn `l2 = 1/(nC)`,
    /// `l1 = 1/(nC)` (split by ρ) — each objective divided by `n` (course) or `nC` (sklearn).
    pub fn weights(&self, n: usize) -> PenaltyWeights {
        let scale = match self.objective {
            LogisticObjective::Course => self.lambda / n as f64,
            LogisticObjective::Sklearn => 1.0 / (n as f64 * self.c),
        };
        let (l1, l2) = match self.penalty {
            Penalty::None => (0.0, 0.0),
            Penalty::L2 => (0.0, scale),
            Penalty::L1 => (scale, 0.0),
            Penalty::Elasticnet => (scale * self.l1_ratio, scale * (1.0 - self.l1_ratio)),
        };
        PenaltyWeights { l1, l2 }
    }
}

impl LogisticConfig {
    pub fn load(path: &Path) -> Result<Self> {
        crate::config::load_experiment(path, |c: &mut Self| &mut c.output, Self::validate)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.task != Task::LogisticRegression {
            return Err(format!("task {:?} is not a logistic regression", self.task));
        }
        self.data.validate()?;
        let m = &self.model;
        if !(m.lambda.is_finite() && m.lambda >= 0.0) {
            return Err(format!("model.lambda must be ≥ 0, got {}", m.lambda));
        }
        if !(m.c.is_finite() && m.c > 0.0) {
            return Err(format!("model.c must be > 0, got {}", m.c));
        }
        if !(0.0..=1.0).contains(&m.l1_ratio) {
            return Err(format!(
                "model.l1_ratio must be in [0, 1], got {}",
                m.l1_ratio
            ));
        }
        if !(m.threshold > 0.0 && m.threshold < 1.0) {
            return Err(format!(
                "model.threshold must be in (0, 1), got {}",
                m.threshold
            ));
        }
        let s = &self.solver;
        if !(s.learning_rate.is_finite() && s.learning_rate > 0.0) {
            return Err(format!(
                "solver.learning_rate must be > 0, got {}",
                s.learning_rate
            ));
        }
        if s.max_iter == 0 || !(s.tol.is_finite() && s.tol > 0.0) {
            return Err("solver.max_iter must be ≥ 1 and solver.tol > 0".into());
        }
        self.output.validate()
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a LogisticConfig always serialises to TOML")
    }
}
