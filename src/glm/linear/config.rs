//! The experiment file of a linear regression (`task = "linear_regression"`).

use serde::{Deserialize, Serialize};

use crate::backend::{BackendChoice, Precision};
use crate::experiment::{ExperimentFile, Synopsis, Task};
use crate::glm::cv::CvConfig;
use crate::glm::data::TabularConfig;
use crate::glm::penalty::{self, Objective, Penalty, PenaltyWeights};
use crate::glm::solver::{Engine, SolverConfig};
use crate::run_dir::OutputConfig;

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

impl ExperimentFile for LinearConfig {
    const TASK: Task = Task::LinearRegression;

    fn synopsis(&self) -> Synopsis {
        let m = &self.model;
        penalty::synopsis(
            "linear",
            m.penalty,
            format!("λ {}", penalty::short(m.lambda)),
            &m.solver,
            (m.solver == Solver::Gd).then_some(self.solver.learning_rate),
        )
    }

    fn validate(&self) -> Result<(), String> {
        if self.task != Task::LinearRegression {
            return Err(format!("task {:?} is not a linear regression", self.task));
        }
        self.data.validate()?;
        let m = &self.model;
        crate::glm::penalty::check("model", m.lambda, m.l1_ratio)?;
        if m.solver == Solver::NormalEquations
            && matches!(m.penalty, Penalty::L1 | Penalty::Elasticnet)
        {
            return Err("solver \"normal_equations\" has no closed form with an L1 penalty: use \"coordinate_descent\" or \"gd\"".into());
        }
        self.solver.validate()?;
        self.cv.validate()?;
        if self.cv.cs.is_some() {
            return Err(
                "cv.cs (a grid of C) applies to logistic models with objective = \"sklearn\"; \
                 a linear model's grid is cv.lambdas"
                    .into(),
            );
        }
        self.output.validate()
    }

    fn output_mut(&mut self) -> &mut OutputConfig {
        &mut self.output
    }

    /// The CSV file the model is fitted to.
    fn named_outside(&self) -> Vec<&'static str> {
        vec!["data.path"]
    }

    fn seed_and_backend(&mut self) -> (&mut u64, &mut BackendChoice) {
        (&mut self.seed, &mut self.backend)
    }
}

impl LinearConfig {
    /// Where the `gd` solver runs.
    pub fn engine(&self) -> Engine {
        Engine {
            backend: self.backend,
            precision: self.precision,
            seed: self.seed,
        }
    }
}

impl LinearModelConfig {
    /// The canonical weights for `n` observations. Dividing each objective by `2n` (which moves
    /// no minimum) gives: course Ridge `l2 = λ/(2n)`, course Lasso `l1 = λ/(2n)`, course
    /// ElasticNet `l1 = λρ/(2n)`, `l2 = λ(1−ρ)/(2n)`; scikit-learn Ridge `l2 = α/n`, Lasso
    /// `l1 = α`, ElasticNet `l1 = αρ`, `l2 = α(1−ρ)`.
    pub fn weights(&self, n: usize) -> PenaltyWeights {
        let (lambda, n) = (self.lambda, n as f64);
        match (self.objective, self.penalty) {
            (Objective::Course, _) => {
                let w = PenaltyWeights::split(self.penalty, self.l1_ratio, lambda, lambda);
                PenaltyWeights {
                    l1: w.l1 / (2.0 * n),
                    l2: w.l2 / (2.0 * n),
                }
            }
            (Objective::Sklearn, Penalty::L2) => {
                PenaltyWeights::split(Penalty::L2, 0.0, 0.0, lambda / n)
            }
            (Objective::Sklearn, _) => {
                PenaltyWeights::split(self.penalty, self.l1_ratio, lambda, lambda)
            }
        }
    }

    /// The inverse of [`weights`](Self::weights) for the L1 part: the `lambda` that gives
    /// canonical `l1` on `n` observations.
    pub(crate) fn lambda_for_l1(&self, l1: f64, n: usize) -> f64 {
        let rho = if self.penalty == Penalty::Elasticnet {
            self.l1_ratio
        } else {
            1.0
        };
        match self.objective {
            Objective::Course => l1 * 2.0 * n as f64 / rho,
            Objective::Sklearn => l1 / rho,
        }
    }
}
