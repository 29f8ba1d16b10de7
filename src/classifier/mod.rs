//! The multi-layer perceptron family, laid out like Burn's `examples/guide`: the experiment file
//! ([`config`]), MNIST-format data ([`data`]), the network ([`model`]) and its explicit
//! back-propagation ([`backprop`]), training with checkpoints ([`training`], [`optim`]),
//! evaluation ([`eval`]) and prediction ([`inference`]); beside them the gradient check, the
//! training-step benchmark and the 2-D workshop ([`points`]), which trains the same network on
//! XOR's four points or a generated set of points in the plane.

pub mod backprop;
pub mod bench;
pub mod config;
pub mod data;
pub mod epoch_metrics;
pub mod eval;
pub mod export;
pub mod gradcheck;
pub mod inference;
pub mod layers;
pub mod model;
pub mod optim;
pub mod points;
pub mod pytorch_layout;
pub mod store;
pub mod training;
