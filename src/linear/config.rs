//! The experiment file of a linear regression (`task = "linear_regression"`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::config::{OutputConfig, Task};
use crate::error::Result;
use crate::tabular::TabularConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearConfig {
    /// `"linear_regression"`.
    pub task: Task,
    /// Backend of the `gd` solver (the other solvers run in f64 on the CPU).
    pub backend: BackendChoice,
    pub precision: Precision,
    /// Seeds shuffled cross-validation folds and the `gd` solver's initial weights.
    pub seed: u64,
    pub data: TabularConfig,
    pub model: LinearModelConfig,
    pub solver: SolverConfig,
    pub cv: CvConfig,
    pub output: OutputConfig,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            task: Task::LinearRegression,
            backend: BackendChoice::Auto,
            precision: Precision::F64,
            seed: 42,
            data: TabularConfig::default(),
            model: LinearModelConfig::default(),
            solver: SolverConfig::default(),
            cv: CvConfig::default(),
            output: OutputConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Penalty {
    None,
    L2,
    L1,
    Elasticnet,
}

/// Whose scaling of the penalty `lambda` refers to; see [`PenaltyWeights::from_config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// `Σ(ŷ−y)² + λ/2·Σθ²` (Ridge), `Σ(ŷ−y)² + λ·Σ|θ|` (Lasso),
    /// `Σ(ŷ−y)² + λ·(ρ·Σ|θ| + (1−ρ)/2·Σθ²)` (ElasticNet).
    Course,
    /// scikit-learn: `‖y−Xw‖² + α‖w‖²` (Ridge), `(1/2n)‖y−Xw‖² + α‖w‖₁` (Lasso),
    /// `(1/2n)‖y−Xw‖² + α·ρ‖w‖₁ + α(1−ρ)/2·‖w‖²` (ElasticNet).
    Sklearn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// `normal_equations` without an L1 term, else `coordinate_descent`.
    Auto,
    /// Closed form `(XᵀX + nλ₂I)w = Xᵀy`, Cholesky in f64. No L1 term.
    NormalEquations,
    /// Full-batch gradient descent through Burn's autodiff; L1 by a proximal (soft-threshold) step.
    Gd,
    /// Cyclic coordinate descent with soft-thresholding: exact zeros for L1.
    CoordinateDescent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearModelConfig {
    pub penalty: Penalty,
    /// Penalty strength λ (α in scikit-learn), in the units of `objective`.
    pub lambda: f64,
    /// ElasticNet's share ρ of L1 in the penalty, in [0, 1].
    pub l1_ratio: f64,
    pub objective: Objective,
    pub solver: Solver,
}

impl Default for LinearModelConfig {
    fn default() -> Self {
        Self {
            penalty: Penalty::None,
            lambda: 0.0,
            l1_ratio: 0.5,
            objective: Objective::Sklearn,
            solver: Solver::Auto,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SolverConfig {
    /// Step size of `gd`.
    pub learning_rate: f64,
    /// Iterations of `gd`, sweeps of `coordinate_descent`.
    pub max_iter: usize,
    /// `gd`: stop when the objective changes by less than `tol` (relative);
    /// `coordinate_descent`: when no coefficient moves by more than `tol` (relative to the largest).
    pub tol: f64,
    /// `gd` only: train in mini-batches of this size through burn-train's learner (the MLP's),
    /// for `epochs` epochs; unset means full-batch gradient descent.
    pub batch_size: Option<usize>,
    pub epochs: usize,
}

impl Default for SolverConfig {
    fn default() -> Self {
        Self {
            learning_rate: 0.1,
            max_iter: 100_000,
            tol: 1e-12,
            batch_size: None,
            epochs: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvRule {
    /// The λ with the lowest mean validation MSE.
    Min,
    /// The largest λ whose mean MSE is within one standard error of the minimum.
    OneSe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CvConfig {
    pub folds: usize,
    /// Shuffle rows (seeded) before cutting folds; false keeps contiguous folds like `KFold(k)`.
    pub shuffle: bool,
    /// Explicit λ grid (objective units); unset means `n_lambdas` log-spaced values from λ_max, the
    /// smallest λ that zeroes every coefficient, down to `lambda_min_ratio · λ_max` (L1/ElasticNet).
    pub lambdas: Option<Vec<f64>>,
    pub n_lambdas: usize,
    pub lambda_min_ratio: f64,
    pub rule: CvRule,
}

impl Default for CvConfig {
    fn default() -> Self {
        Self {
            folds: 5,
            shuffle: false,
            lambdas: None,
            n_lambdas: 50,
            lambda_min_ratio: 1e-3,
            rule: CvRule::Min,
        }
    }
}

impl LinearConfig {
    pub fn load(path: &Path) -> Result<Self> {
        crate::config::load_experiment(path, |c: &mut Self| &mut c.output, Self::validate)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.task != Task::LinearRegression {
            return Err(format!("task {:?} is not a linear regression", self.task));
        }
        self.data.validate()?;
        let m = &self.model;
        if !(m.lambda.is_finite() && m.lambda >= 0.0) {
            return Err(format!("model.lambda must be ≥ 0, got {}", m.lambda));
        }
        if !(0.0..=1.0).contains(&m.l1_ratio) {
            return Err(format!(
                "model.l1_ratio must be in [0, 1], got {}",
                m.l1_ratio
            ));
        }
        if m.solver == Solver::NormalEquations
            && matches!(m.penalty, Penalty::L1 | Penalty::Elasticnet)
        {
            return Err("solver \"normal_equations\" has no closed form with an L1 penalty: use \"coordinate_descent\" or \"gd\"".into());
        }
        let s = &self.solver;
        if !(s.learning_rate.is_finite() && s.learning_rate > 0.0) {
            return Err(format!(
                "solver.learning_rate must be > 0, got {}",
                s.learning_rate
            ));
        }
        if s.max_iter == 0 {
            return Err("solver.max_iter must be at least 1".into());
        }
        if s.batch_size == Some(0) || s.epochs == 0 {
            return Err("solver.batch_size and solver.epochs must be at least 1".into());
        }
        if !(s.tol.is_finite() && s.tol > 0.0) {
            return Err(format!("solver.tol must be > 0, got {}", s.tol));
        }
        let cv = &self.cv;
        if cv.folds < 2 {
            return Err(format!("cv.folds must be at least 2, got {}", cv.folds));
        }
        if let Some(l) = &cv.lambdas
            && (l.is_empty() || l.iter().any(|v| !(v.is_finite() && *v >= 0.0)))
        {
            return Err("cv.lambdas must be a non-empty list of numbers ≥ 0".into());
        }
        if cv.n_lambdas < 2 {
            return Err("cv.n_lambdas must be at least 2".into());
        }
        if !(cv.lambda_min_ratio > 0.0 && cv.lambda_min_ratio < 1.0) {
            return Err(format!(
                "cv.lambda_min_ratio must be in (0, 1), got {}",
                cv.lambda_min_ratio
            ));
        }
        self.output.validate()
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a LinearConfig always serialises to TOML")
    }
}

/// The penalty in one canonical form, whatever the objective convention:
/// minimise `(1/2n)·‖y − Xw − b‖² + l1·‖w‖₁ + (l2/2)·‖w‖²` (the intercept `b` is never penalised).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PenaltyWeights {
    pub l1: f64,
    pub l2: f64,
}

impl PenaltyWeights {
    /// Converts `lambda` of `objective` for `n` observations. Dividing each objective by `2n`
    /// (which moves no minimum) gives: course Ridge `l2 = λ/(2n)`, course Lasso `l1 = λ/(2n)`,
    /// course ElasticNet `l1 = λρ/(2n)`, `l2 = λ(1−ρ)/(2n)`; scikit-learn Ridge `l2 = α/n`,
    /// Lasso `l1 = α`, ElasticNet `l1 = αρ`, `l2 = α(1−ρ)`.
    pub fn new(
        penalty: Penalty,
        objective: Objective,
        lambda: f64,
        l1_ratio: f64,
        n: usize,
    ) -> Self {
        let n = n as f64;
        let (l1, l2) = match penalty {
            Penalty::None => (0.0, 0.0),
            Penalty::L2 => (0.0, lambda),
            Penalty::L1 => (lambda, 0.0),
            Penalty::Elasticnet => (lambda * l1_ratio, lambda * (1.0 - l1_ratio)),
        };
        match (objective, penalty) {
            (Objective::Course, _) => Self {
                l1: l1 / (2.0 * n),
                l2: l2 / (2.0 * n),
            },
            (Objective::Sklearn, Penalty::L2) => Self {
                l1: 0.0,
                l2: l2 / n,
            },
            (Objective::Sklearn, _) => Self { l1, l2 },
        }
    }

    /// The inverse of [`new`](Self::new) for the L1 part: the `lambda` that gives canonical `l1`.
    pub fn lambda_for_l1(
        l1: f64,
        penalty: Penalty,
        objective: Objective,
        l1_ratio: f64,
        n: usize,
    ) -> f64 {
        let rho = if penalty == Penalty::Elasticnet {
            l1_ratio
        } else {
            1.0
        };
        match objective {
            Objective::Course => l1 * 2.0 * n as f64 / rho,
            Objective::Sklearn => l1 / rho,
        }
    }
}
