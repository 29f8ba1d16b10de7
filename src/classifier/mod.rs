//! The image classifier, laid out like Burn's `examples/guide`: the experiment file
//! ([`config`]), MNIST-format data ([`data`]), training with checkpoints ([`training`]) on the
//! shared network (`crate::network`), evaluation ([`eval`]) with what the model gets wrong
//! image by image ([`analysis`]) and prediction ([`inference`]),
//! import and export in PyTorch's layout ([`pytorch_layout`], [`export`]); beside them the
//! gradient check and the training-step benchmark.

pub mod analysis;
pub mod bench;
pub mod config;
pub mod data;
pub(crate) mod epoch_metrics;
pub mod eval;
pub mod export;
pub mod gradcheck;
pub mod inference;
pub mod pytorch_layout;
pub mod training;
