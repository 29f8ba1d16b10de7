//! The optimizer and learning-rate schedule of `[optimizer]`, shared by the learner, the XOR
//! workshop and the benchmark.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};

use crate::backend::Kernels;
use crate::error::{Error, Result};
use crate::network::config::{OptimizerConfig, OptimizerKind, Schedule};
use crate::network::layers::kernels::adam::{AdamSettings, FusedAdam};

impl OptimizerConfig {
    /// Adam or SGD (with momentum and weight decay when set); with fused `kernels`, Adam steps
    /// the parameters on flex in f32 in one pass each (`layers::kernels::adam`, same bits).
    pub fn init(&self, kernels: Kernels) -> ModuleOptimizer {
        let decay =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        let clipping = match (self.clip_norm, self.clip_value) {
            (Some(norm), _) => Some(GradientClippingConfig::Norm(norm as f32)),
            (None, Some(value)) => Some(GradientClippingConfig::Value(value as f32)),
            (None, None) => None,
        };
        match self.kind {
            OptimizerKind::Adam => {
                let settings = AdamSettings {
                    beta_1: self.beta_1 as f32,
                    beta_2: self.beta_2 as f32,
                    epsilon: self.epsilon as f32,
                    weight_decay: self.weight_decay as f32,
                };
                let config = AdamConfig::new()
                    .with_beta_1(settings.beta_1)
                    .with_beta_2(settings.beta_2)
                    .with_epsilon(settings.epsilon)
                    .with_weight_decay(decay)
                    .with_grad_clipping(clipping.clone());
                match kernels {
                    Kernels::Generic => config.init(),
                    Kernels::Fused => {
                        let optim = ModuleOptimizer::from(FusedAdam::new(settings, config.build()));
                        match clipping {
                            Some(clipping) => optim.with_grad_clipping(clipping.init()),
                            None => optim,
                        }
                    }
                }
            }
            OptimizerKind::Sgd => SgdConfig::new()
                .with_weight_decay(decay)
                .with_gradient_clipping(clipping)
                .with_momentum((self.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(self.momentum)
                        .with_dampening(0.0)
                }))
                .init(),
        }
    }

    /// What tames a diverging training, with this config's values: named in the error that
    /// stops it.
    pub(crate) fn remedy(&self) -> String {
        let clipping = match (self.clip_norm, self.clip_value) {
            (Some(norm), _) => format!("lower optimizer.clip_norm (now {norm})"),
            (None, Some(value)) => format!("lower optimizer.clip_value (now {value})"),
            (None, None) => "clip the gradients (optimizer.clip_norm = 1.0, say)".into(),
        };
        format!(
            "lower optimizer.learning_rate (now {}) or {clipping}; the checkpoints of the epochs \
             before it are kept (--resume continues from the last of them)",
            self.learning_rate
        )
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
