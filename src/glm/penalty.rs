//! The penalty, in one canonical form whatever the family and whoever's units the experiment
//! uses: minimise `data term + l1·‖w‖₁ + (l2/2)·‖w‖²`, the intercept never penalised, where the
//! data term is `(1/2n)·‖y − Xw − b‖²` (linear) or `(1/n)·NLL` (logistic). Each family converts
//! its `lambda` (or `c`) into the strengths of the L1 and L2 parts; [`PenaltyWeights::split`] is
//! the one place they become `l1` and `l2`.

use serde::{Deserialize, Serialize};

use crate::experiment::Synopsis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Penalty {
    None,
    L2,
    L1,
    Elasticnet,
}

/// Whose scaling the penalty strength refers to (the conversions are in each family's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The course's: linear `Σ(ŷ−y)² + λ/2·Σθ²` (Ridge), `+ λ·Σ|θ|` (Lasso),
    /// `+ λ·(ρ·Σ|θ| + (1−ρ)/2·Σθ²)` (ElasticNet); logistic
    /// `J = −(1/m)Σ[y·log h + (1−y)·log(1−h)] + (λ/2m)Σθ²` (L2), `+ (λ/m)Σ|θ|` (L1),
    /// `+ (λ/m)(ρΣ|θ| + (1−ρ)/2·Σθ²)` (ElasticNet). Strength `lambda`.
    Course,
    /// scikit-learn's: `Ridge` `‖y−Xw‖² + α‖w‖²`, `Lasso` `(1/2n)‖y−Xw‖² + α‖w‖₁`, `ElasticNet`
    /// `(1/2n)‖y−Xw‖² + α·ρ‖w‖₁ + α(1−ρ)/2·‖w‖²` (strength `lambda` = α); `LogisticRegression`
    /// `C·Σ log-loss + ½‖w‖²` (L2), `+ ‖w‖₁` (L1), `+ ρ‖w‖₁ + (1−ρ)/2·‖w‖²` (ElasticNet)
    /// (strength `c`, inverse: larger C, weaker penalty).
    Sklearn,
}

/// The runs list's line for a linear or logistic `model` fitted with `penalty` at `strength`
/// (`λ 0.1`, `C 1`) by `solver`, which names its learning rate when it has one.
pub(crate) fn synopsis(
    model: &str,
    penalty: Penalty,
    strength: String,
    solver: &impl Serialize,
    learning_rate: Option<f64>,
) -> Synopsis {
    let penalty = match penalty {
        Penalty::None => "no penalty".to_string(),
        Penalty::L2 => format!("L2 penalty, {strength}"),
        Penalty::L1 => format!("L1 penalty, {strength}"),
        Penalty::Elasticnet => format!("elastic net, {strength}"),
    };
    Synopsis {
        model: format!("{model}, {penalty}"),
        parameters: None,
        optimizer: serde_name(solver),
        learning_rate,
    }
}

/// The name serde gives a unit variant (`normal_equations`).
pub(crate) fn serde_name(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A penalty strength in a few digits: `10`, `2.804`, `1.5e-6`.
pub(crate) fn short(value: f64) -> String {
    if value == 0.0 || (1e-3..1e5).contains(&value.abs()) {
        let fixed = format!("{value:.4}");
        fixed
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{value:.3e}")
    }
}

/// The canonical weights `l1` and `l2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PenaltyWeights {
    pub l1: f64,
    pub l2: f64,
}

impl PenaltyWeights {
    pub(crate) const NONE: PenaltyWeights = PenaltyWeights { l1: 0.0, l2: 0.0 };

    /// `l1` and `l2` of `penalty`: the L1 part at strength `l1_strength`, the L2 part at
    /// `l2_strength`, ElasticNet sharing them as `ρ` and `1 − ρ`.
    pub fn split(penalty: Penalty, l1_ratio: f64, l1_strength: f64, l2_strength: f64) -> Self {
        match penalty {
            Penalty::None => Self::NONE,
            Penalty::L2 => Self {
                l1: 0.0,
                l2: l2_strength,
            },
            Penalty::L1 => Self {
                l1: l1_strength,
                l2: 0.0,
            },
            Penalty::Elasticnet => Self {
                l1: l1_strength * l1_ratio,
                l2: l2_strength * (1.0 - l1_ratio),
            },
        }
    }

    /// Whether the fit is unpenalised (maximum likelihood, least squares): what inference needs.
    pub fn is_none(&self) -> bool {
        self.l1 == 0.0 && self.l2 == 0.0
    }
}

/// Checks the strength and ElasticNet share that the linear and logistic families take in
/// `[model]` and the 2-D workshop in `[training]` (`section`).
pub fn check(section: &str, lambda: f64, l1_ratio: f64) -> Result<(), String> {
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(format!("{section}.lambda must be ≥ 0, got {lambda}"));
    }
    if !(0.0..=1.0).contains(&l1_ratio) {
        return Err(format!(
            "{section}.l1_ratio must be in [0, 1], got {l1_ratio}"
        ));
    }
    Ok(())
}
