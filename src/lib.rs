//! neurona: the models of an introductory ML/DL course as Burn modules, trained from TOML
//! experiments on any compiled-in backend.

pub mod backend;
pub mod config;
pub mod data;
pub mod error;
pub mod model;

pub use error::{Error, Result};
pub mod activations;
pub mod backprop;
pub mod bench;
pub mod eval;
pub mod gradcheck;
pub mod linear;
pub mod logistic;
pub mod perceptron;
pub mod plot;
pub mod predict;
pub mod renderer;
pub mod report;
pub mod tabular;
pub mod training;
pub mod xor;
