//! The network the image classifier and the 2-D workshop both train, written once against
//! Burn's backend-agnostic tensors: its part of the experiment file ([`config`]: `[model]` and
//! `[optimizer]`), its layer kinds ([`layers`], one file each), the module with its output layer
//! and losses ([`model`]), the course's explicit back-propagation ([`backprop`]), the optimizer
//! ([`optim`]) and its weights on disk ([`store`]). It imports no family and no training loop.

pub mod backprop;
pub mod config;
pub mod layers;
pub mod model;
pub mod optim;
pub mod store;
