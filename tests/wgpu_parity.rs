//! Backend parity, compiled only with `--features wgpu`: the same weights give the same outputs
//! on wgpu as on flex, training steps land in the same place, and checkpoints move between them.
//! Without a GPU it runs on Mesa's software Vulkan driver (lavapipe: `mesa-vulkan-drivers`).
#![cfg(feature = "wgpu")]

mod common;

use std::path::PathBuf;

use burn::prelude::*;
use neurona::backend::{BackendChoice, Precision, device};
use neurona::classifier::config::{DatasetName, MlpConfig};
use neurona::classifier::data::MnistData;
use neurona::classifier::data::batcher::ImageBatcher;
use neurona::network::config::ModelConfig;
use neurona::network::layers::IMAGE;

fn values(t: Tensor<2>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn subset() -> MlpConfig {
    let mut c = MlpConfig::default();
    c.data.dataset = DatasetName::FashionMnist;
    c.data.dir = Some(PathBuf::from(common::FASHION));
    c.data.train_limit = Some(2000);
    c.data.test_limit = Some(500);
    c.model.hidden = Some(vec![64]);
    c.training.epochs = 1;
    c
}

#[test]
fn same_weights_same_outputs_and_training_steps() {
    let dense = ModelConfig {
        hidden: Some(vec![64, 32]),
        ..ModelConfig::default()
    };
    let stack = |text: &str| common::stacks::parse(text).unwrap().model;
    let cnn = stack(
        &(common::stacks::CONV_BLOCK.to_string()
            + &common::stacks::layer("dense", "units = 16")
            + &common::stacks::layer("dropout", "p = 0.3")),
    );
    let lstm = stack(&common::stacks::layer("lstm", "units = 16"));
    // Lavapipe runs the shaders on the CPU: the convolution and the 28-step recurrence get a
    // smaller workload than the dense network.
    for (name, model_config, rows, steps) in [
        ("dense", dense, 256, 10),
        ("cnn", cnn, 32, 3),
        ("lstm", lstm, 32, 3),
    ] {
        parity(name, &model_config, rows, steps);
    }
}

/// The same weights on flex and wgpu: forward outputs on `rows` images, then `steps` Adam steps
/// on the same batches of a quarter of them.
fn parity(name: &str, model_config: &ModelConfig, rows: usize, steps: usize) {
    let flex = device(BackendChoice::Flex, Precision::F32).unwrap();
    let gpu = device(BackendChoice::Wgpu, Precision::F32).unwrap();
    let config = subset();
    let data = MnistData::load(&config.data, 1).unwrap();
    let batcher = ImageBatcher {
        images: data.train.clone(),
        normalization: data.normalization,
    };
    let batch = rows / 4;
    let rows: Vec<usize> = (0..rows).collect();
    let dir = common::scratch("parity");
    model_config
        .init(IMAGE, 10, &flex)
        .save_file(dir.join("init.bpk"))
        .unwrap();
    let on = |d: &Device| {
        model_config
            .init(IMAGE, 10, d)
            .load_file(dir.join("init.bpk"))
    };
    let (a, b) = (on(&flex), on(&gpu));
    let outputs = |m: &neurona::network::model::Network, d: &Device| {
        values(m.forward(batcher.make(&rows, d).inputs))
    };
    let diff = max_abs_diff(&outputs(&a, &flex), &outputs(&b, &gpu));
    assert!(diff < 1e-4, "{name}: forward outputs differ by {diff}");

    // Adam steps on the same batches from the same weights (dropout switched off: the two
    // backends draw different masks).
    let train = |d: &Device| {
        let ad = d.clone().autodiff();
        let mut model = model_config
            .init(IMAGE, 10, &ad)
            .load_file(dir.join("init.bpk"))
            .without_dropout();
        let mut optim = burn::optim::AdamConfig::new().init();
        for step in 0..steps {
            let chunk: Vec<usize> = (step * batch..(step + 1) * batch).collect();
            let out = model.forward_classification(batcher.make(&chunk, &ad));
            let grads = burn::optim::GradientsParams::from_grads(out.loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        let out = model.forward_classification(batcher.make(&rows, &ad));
        out.loss
            .into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .unwrap()[0]
    };
    let (lf, lg) = (train(&flex), train(&gpu));
    assert!(
        (lf - lg).abs() < 1e-3 * lf.abs(),
        "{name}: loss after {steps} steps: flex {lf}, wgpu {lg}"
    );
}

#[test]
fn a_checkpoint_trained_on_flex_evaluates_the_same_on_wgpu() {
    let mut config = subset();
    config.output.dir = common::scratch("parity-run");
    config.output.name = Some("flex".into());
    config.backend = BackendChoice::Flex;
    let report = neurona::classifier::training::train(config.clone(), Default::default()).unwrap();
    let run = config.run_dir();
    let on_gpu = neurona::classifier::eval::eval_run(
        &run,
        None,
        neurona::experiment::Overrides {
            backend: Some(BackendChoice::Wgpu),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(on_gpu.confusion, report.test.confusion);
    assert!(
        (on_gpu.loss - report.test.loss).abs() < 1e-4,
        "{} vs {}",
        on_gpu.loss,
        report.test.loss
    );
}
