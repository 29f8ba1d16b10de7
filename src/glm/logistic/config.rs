//! The experiment file of a logistic or softmax regression (`task = "logistic_regression"`).

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
    /// `neurona cv`: the grid is `cv.lambdas` (objective "course") or `cv.cs` (objective
    /// "sklearn"); the score is the held-out log-loss.
    pub cv: CvConfig,
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
            cv: CvConfig::default(),
            output: OutputConfig::default(),
        }
    }
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
    pub objective: Objective,
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
            objective: Objective::Course,
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
            Objective::Course => self.lambda / n as f64,
            Objective::Sklearn => 1.0 / (n as f64 * self.c),
        };
        PenaltyWeights::split(self.penalty, self.l1_ratio, scale, scale)
    }

    /// The penalty strength in the objective's units: `lambda` (course) or `c` (sklearn).
    pub fn strength(&self) -> f64 {
        match self.objective {
            Objective::Course => self.lambda,
            Objective::Sklearn => self.c,
        }
    }

    /// This model with penalty strength `value` in the objective's units.
    pub(crate) fn with_strength(&self, value: f64) -> Self {
        let mut model = self.clone();
        match self.objective {
            Objective::Course => model.lambda = value,
            Objective::Sklearn => model.c = value,
        }
        model
    }
}

impl ExperimentFile for LogisticConfig {
    const TASK: Task = Task::LogisticRegression;

    fn synopsis(&self) -> Synopsis {
        let m = &self.model;
        let strength = match m.objective {
            Objective::Course => format!("λ {}", penalty::short(m.lambda)),
            Objective::Sklearn => format!("C {}", penalty::short(m.c)),
        };
        penalty::synopsis(
            &format!("logistic ({})", penalty::serde_name(&m.strategy)),
            m.penalty,
            strength,
            &m.solver,
            (m.solver == LogisticSolver::Gd).then_some(self.solver.learning_rate),
        )
    }

    fn validate(&self) -> Result<(), String> {
        if self.task != Task::LogisticRegression {
            return Err(format!("task {:?} is not a logistic regression", self.task));
        }
        self.data.validate()?;
        let m = &self.model;
        crate::glm::penalty::check("model", m.lambda, m.l1_ratio)?;
        if !(m.c.is_finite() && m.c > 0.0) {
            return Err(format!("model.c must be > 0, got {}", m.c));
        }
        if !(m.threshold > 0.0 && m.threshold < 1.0) {
            return Err(format!(
                "model.threshold must be in (0, 1), got {}",
                m.threshold
            ));
        }
        self.solver.validate()?;
        self.cv.validate()?;
        match m.objective {
            Objective::Course if self.cv.cs.is_some() => Err(
                "cv.cs is a grid of C for objective = \"sklearn\"; with objective = \"course\" \
                 the grid is cv.lambdas"
                    .into(),
            ),
            Objective::Sklearn if self.cv.lambdas.is_some() => Err(
                "cv.lambdas is a grid of λ for objective = \"course\"; with objective = \"sklearn\" \
                 the grid is cv.cs"
                    .into(),
            ),
            _ => self.output.validate(),
        }
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

impl LogisticConfig {
    /// Where the `gd` solver runs.
    pub fn engine(&self) -> Engine {
        Engine {
            backend: self.backend,
            precision: self.precision,
            seed: self.seed,
        }
    }
}
