//! neurona: the models of an introductory ML/DL course as Burn modules, trained from TOML
//! experiments on any compiled-in backend. See ARCHITECTURE.md for the layers:
//! leaves (`error`, `numeric`) ← shared infrastructure (with `network`, the network two
//! families train) ← model families (`neuron`, `classifier`, `points`, `glm`) ← `commands` and
//! `serve` (the web page) ← the binary.

pub mod error;
pub(crate) mod files;
pub mod numeric;

pub mod backend;
pub mod devices;
pub(crate) mod divergence;
pub mod experiment;
pub mod interop;
pub mod metrics;
pub mod network;
pub mod plot;
pub(crate) mod progress;
pub mod remote;
pub mod remote_guard;
pub mod run_dir;
pub mod sampling;
pub(crate) mod timing;
pub mod transfers;

pub mod classifier;
pub mod glm;
pub mod neuron;
pub mod points;

pub mod commands;
pub mod serve;

pub use error::{Error, Result};
