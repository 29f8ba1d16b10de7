//! The optimizer and learning-rate schedule of `[optimizer]`, shared by the learner, the XOR
//! workshop and the benchmark.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};

use crate::error::{Error, Result};
use crate::network::config::{OptimizerConfig, OptimizerKind, Schedule};

impl OptimizerConfig {
    /// Adam or SGD (with momentum and weight decay when set).
    pub fn init(&self) -> ModuleOptimizer {
        let decay =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        match self.kind {
            OptimizerKind::Adam => AdamConfig::new()
                .with_beta_1(self.beta_1 as f32)
                .with_beta_2(self.beta_2 as f32)
                .with_epsilon(self.epsilon as f32)
                .with_weight_decay(decay)
                .init(),
            OptimizerKind::Sgd => SgdConfig::new()
                .with_weight_decay(decay)
                .with_momentum((self.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(self.momentum)
                        .with_dampening(0.0)
                }))
                .init(),
        }
    }

    /// The learning rate per step; `total_steps` is the length of the whole run.
    pub fn schedule(&self, total_steps: usize) -> Result<ModuleLrScheduler> {
        match self.schedule {
            Schedule::Constant => Ok(self.learning_rate.into()),
            Schedule::Cosine => {
                CosineAnnealingLrSchedulerConfig::new(self.learning_rate, total_steps.max(1))
                    .with_min_lr(self.min_learning_rate)
                    .init()
                    .map_err(|e| Error::Config(format!("optimizer.schedule: {e}")))
            }
        }
    }
}
