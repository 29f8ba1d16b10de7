//! Layer stacks shared by the layer tests (f32 in `layers.rs`, f64 in `layer_gradients.rs`).

use std::path::Path;

use burn::prelude::*;
use neurona::Error;
use neurona::backend::{BackendChoice, Precision};
use neurona::classifier::config::MlpConfig;
use neurona::experiment::ExperimentFile;

/// Parses and validates an experiment file, as `neurona train` does.
pub fn parse(text: &str) -> Result<MlpConfig, Error> {
    let config = MlpConfig::parse(text, Path::new("layers.toml"))?;
    config
        .validate()
        .map_err(|e| Error::Config(format!("layers.toml: {e}")))?;
    Ok(config)
}

pub fn layer(kind: &str, keys: &str) -> String {
    format!("[[model.layers]]\ntype = \"{kind}\"\n{keys}\n")
}

pub const CONV_BLOCK: &str = "[[model.layers]]\ntype = \"conv2d\"\nchannels = 4\nkernel = 3\n\
                          [[model.layers]]\ntype = \"max_pool2d\"\nsize = 2\n";

pub fn device(precision: Precision) -> Device {
    let device = neurona::backend::device(BackendChoice::Auto, precision).unwrap();
    device.seed(3);
    device
}

/// Every layer kind in one list of small stacks (each fits 28×28 inputs).
pub fn catalogue() -> Vec<(&'static str, String)> {
    vec![
        (
            "conv+max_pool",
            CONV_BLOCK.to_string() + &layer("dense", "units = 5"),
        ),
        (
            "conv valid+avg_pool",
            layer(
                "conv2d",
                "channels = 3\nkernel = 5\npadding = \"valid\"\nactivation = \"tanh\"",
            ) + &layer("avg_pool2d", "size = 3\nstride = 2"),
        ),
        (
            "conv stride 2",
            layer(
                "conv2d",
                "channels = 2\nkernel = 3\nstride = 2\nactivation = \"sigmoid\"",
            ),
        ),
        (
            "dropout",
            layer("dense", "units = 6") + &layer("dropout", "p = 0.4"),
        ),
        (
            "maxout",
            layer("dense", "units = 4\nactivation = \"maxout\"\npieces = 3"),
        ),
        ("lstm", layer("lstm", "units = 5")),
        (
            "gru",
            layer("gru", "units = 4") + &layer("dense", "units = 3"),
        ),
        (
            "rnn",
            layer("rnn", "units = 4") + &layer("rnn", "units = 3"),
        ),
        // One batch normalisation per stack: a second one would remove most of what a shift
        // (β) of the first does, leaving its gradient at the level of rounding.
        (
            "conv+batch_norm",
            layer("conv2d", "channels = 3\nkernel = 3")
                + &layer("batch_norm", "")
                + &layer("max_pool2d", "size = 2"),
        ),
        (
            "dense+batch_norm",
            layer("dense", "units = 6") + &layer("batch_norm", "momentum = 0.2\nepsilon = 1e-3"),
        ),
    ]
}

/// A quick Fashion-MNIST run of `stack`: 600 training and 200 test images.
pub fn tiny(out: &Path, name: &str, stack: &str, epochs: usize) -> MlpConfig {
    let text = format!(
        "[data]\ndataset = \"fashion-mnist\"\ndir = \"{}\"\ntrain_limit = 600\ntest_limit = 200\n\
         standardize = true\n[training]\nepochs = {epochs}\nbatch_size = 64\n[output]\ndir = \"{}\"\n\
         name = \"{name}\"\n{stack}",
        super::FASHION,
        out.display()
    );
    parse(&text).unwrap()
}
