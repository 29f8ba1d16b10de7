//! When a training has diverged — one rule for every trainer, so no run ends with exit 0 and a
//! number that means nothing.
//!
//! A split's loss has diverged when it is not finite, or when it exceeds [`GROWTH`] times the
//! loss of a model that has learnt nothing — `ln C` for a uniform guess among `C` classes, the
//! all-zero start for the linear models. Learning lowers a loss; steps that overshoot make it
//! grow geometrically, and three orders of magnitude above knowing nothing is never a model
//! worth keeping (an MSE of 10²⁸ or a cross-entropy of 10³⁵ is still finite). The yardstick is
//! that fixed loss, not the run's own best: a training loss near 0 that wobbles by a factor of
//! a thousand is still near 0.

use std::sync::{Arc, Mutex};

use burn::train::metric::store::{Aggregate, EventStoreClient, Split};
use burn::train::{EarlyStoppingStrategy, MetricEarlyStoppingStrategy};

use crate::error::Error;

/// How many times its reference a loss may grow before the training counts as diverged.
pub(crate) const GROWTH: f64 = 1e3;

/// One split's losses, checked as they come.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LossWatch {
    untrained: f64,
}

impl LossWatch {
    /// `untrained`: the loss of a model that has learnt nothing (floored at f64's epsilon, so a
    /// target that is all zeros does not make every rounding error a divergence).
    pub(crate) fn new(untrained: f64) -> LossWatch {
        LossWatch {
            untrained: untrained.max(f64::EPSILON),
        }
    }

    /// The split whose loss shows divergence after an epoch, and what is wrong with it; `valid`
    /// is `None` when no rows are held out (its mean over no rows is NaN, and means nothing).
    pub(crate) fn check_epoch(
        &self,
        train: f64,
        valid: Option<f64>,
    ) -> Option<(&'static str, String)> {
        [("training", Some(train)), ("validation", valid)]
            .into_iter()
            .find_map(|(split, loss)| Some((split, self.check(loss?)?)))
    }

    /// What is wrong with a loss, if it shows divergence.
    pub(crate) fn check(&self, loss: f64) -> Option<String> {
        if !loss.is_finite() {
            Some(format!("is {loss}"))
        } else if loss > GROWTH * self.untrained {
            Some(format!(
                "is {loss:.3e}, over {GROWTH:.0} times that of a model that has learnt nothing ({:.3e})",
                self.untrained
            ))
        } else {
            None
        }
    }
}

/// Where a training diverged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Divergence {
    pub(crate) epoch: usize,
    /// `"training"`, `"validation"`.
    pub(crate) split: &'static str,
    /// What the loss was, from [`LossWatch::check`].
    pub(crate) detail: String,
}

impl Divergence {
    /// The user's error: where it diverged, and `remedy` (the knobs that tame it, with their
    /// values now).
    pub(crate) fn error(&self, remedy: &str) -> Error {
        Error::Config(format!(
            "training diverged at epoch {}: the {} loss {}; {remedy}",
            self.epoch, self.split, self.detail
        ))
    }
}

/// burn-train's early stopping for a trainer: stops at the first epoch whose training or
/// validation loss (the metric named `metric`; validation only when `validated`, rows are held
/// out) diverges, and records where; otherwise defers to `patience` when there is one.
#[derive(Clone)]
pub(crate) struct StopOnDivergence {
    metric: String,
    watch: LossWatch,
    validated: bool,
    patience: Option<MetricEarlyStoppingStrategy>,
    found: Arc<Mutex<Option<Divergence>>>,
}

impl StopOnDivergence {
    pub(crate) fn new(
        metric: String,
        untrained: f64,
        validated: bool,
        patience: Option<MetricEarlyStoppingStrategy>,
    ) -> StopOnDivergence {
        StopOnDivergence {
            metric,
            watch: LossWatch::new(untrained),
            validated,
            patience,
            found: Arc::new(Mutex::new(None)),
        }
    }

    /// Where the training diverged, once it has run; shared with the clone burn-train keeps.
    pub(crate) fn found(&self) -> Arc<Mutex<Option<Divergence>>> {
        self.found.clone()
    }
}

impl EarlyStoppingStrategy for StopOnDivergence {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        let loss = |split| store.find_metric(&self.metric, epoch, Aggregate::Mean, &split);
        let train = loss(Split::Train);
        let valid = if self.validated {
            loss(Split::Valid)
        } else {
            None
        };
        // An epoch without a training loss did not finish: nothing to judge.
        if let Some((split, detail)) = train.and_then(|t| self.watch.check_epoch(t, valid)) {
            *self.found.lock().expect("divergence lock") = Some(Divergence {
                epoch,
                split,
                detail,
            });
            return true;
        }
        self.patience
            .as_mut()
            .is_some_and(|p| p.should_stop(epoch, store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_diverges_when_not_finite_or_a_thousand_times_an_untrained_models() {
        let watch = LossWatch::new(2.0);
        assert_eq!(watch.check(2.0), None);
        assert_eq!(watch.check(1999.0), None);
        assert!(watch.check(2001.0).is_some());
        assert!(watch.check(f64::NAN).is_some());
        assert!(watch.check(f64::INFINITY).is_some());
        assert!(watch.check(f64::NEG_INFINITY).is_some());
        // A loss near 0 that wobbles is not divergence.
        assert_eq!(watch.check(1e-9), None);
        assert_eq!(watch.check(1e-3), None);
        // The maxout network of the issue: 4.7e35 against ln 10.
        assert!(LossWatch::new(10f64.ln()).check(4.7e35).is_some());
    }
}
