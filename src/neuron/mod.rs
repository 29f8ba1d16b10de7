//! The single neuron of the course: the catalogue of activation functions with their
//! derivatives, and Rosenblatt's perceptron.

pub mod activations;
pub mod perceptron;
