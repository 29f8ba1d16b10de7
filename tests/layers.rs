//! The layer catalogue: stacks from TOML with their shapes checked at load, parameter counts
//! against Burn's own, the im2col convolution against Burn's `Conv2d`, maxout against the
//! activation catalogue, autodiff against finite differences for every layer kind, and every
//! architecture through train → checkpoint → resume → eval → predict.

mod common;

use std::ffi::OsStr;

use common::stacks::{CONV_BLOCK, catalogue, device, layer, parse, tiny};

use burn::module::Module;
use burn::prelude::{Tensor, TensorData};
use neurona::Error;
use neurona::backend::{Kernels, Precision};
use neurona::classifier::eval::{eval_run, load_model};
use neurona::classifier::inference::{ImageSource, predict};
use neurona::classifier::training::{RunMetrics, TrainOptions, train};
use neurona::experiment::{ExperimentFile, Overrides};
use neurona::network::layers::{IMAGE, Shape};

#[test]
fn stacks_that_do_not_fit_28x28_images_are_refused_naming_the_layer_and_shapes() {
    for (stack, expected) in [
        // Convolution after a dense layer: its input is flat.
        (
            layer("dense", "units = 8") + &layer("conv2d", "channels = 2\nkernel = 3"),
            "model.layers[1] (conv2d) does not fit its input, a 8 features",
        ),
        // Four 2×2 poolings: 28 → 14 → 7 → 3 → 1, and a fifth has nothing left.
        (
            layer("max_pool2d", "size = 2").repeat(5),
            "model.layers[4] (max_pool2d) does not fit its input, a 1×1×1 image",
        ),
        (
            layer("conv2d", "channels = 2\nkernel = 29\npadding = \"valid\""),
            "model.layers[0] (conv2d) does not fit its input, a 1×28×28 image: its 29×29 kernel",
        ),
        (
            layer("dense", "units = 8") + &layer("lstm", "units = 4"),
            "model.layers[1] (lstm) does not fit its input, a 8 features",
        ),
        (
            layer("conv2d", "channels = 2\nkernel = 4"),
            "model.layers[0] (conv2d): padding = \"same\" needs an odd kernel",
        ),
        (
            layer("dense", "units = 8\nactivation = \"maxout\""),
            "model.layers[0] (dense): maxout needs `pieces`",
        ),
        (
            layer("dense", "units = 8\npieces = 3"),
            "`pieces` applies to activation = \"maxout\" only",
        ),
        (layer("dropout", "p = 1.0"), "p must be in [0, 1)"),
        // Sizes beyond what ONNX and PyTorch hold: a stride of 2⁶⁴ − 1 trained and exported
        // `strides = [-1, -1]`, units × pieces wrapped usize.
        (
            layer(
                "conv2d",
                "channels = 2\nkernel = 3\nstride = 18446744073709551615",
            ),
            "model.layers[0] (conv2d): stride must be in 1..=2147483647",
        ),
        (
            layer(
                "dense",
                "units = 4611686018427387904\nactivation = \"maxout\"\npieces = 8",
            ),
            "model.layers[0] (dense): units must be in 1..=2147483647",
        ),
        (
            layer(
                "dense",
                "units = 8\nactivation = \"maxout\"\npieces = 4611686018427387904",
            ),
            "model.layers[0] (dense): pieces must be in 1..=2147483647",
        ),
        (
            layer("max_pool2d", "size = 2\nstride = 9223372036854775808"),
            "model.layers[0] (max_pool2d): stride must be in",
        ),
        (layer("gru", "units = 0"), "model.layers[0] (gru): units"),
        (
            "[model]\nhidden = [8]\n".to_string() + &layer("dense", "units = 4"),
            "model.hidden and [[model.layers]] both",
        ),
        (
            "[training]\ngradients = \"manual\"\n".to_string() + CONV_BLOCK,
            "train with \"autodiff\"",
        ),
    ] {
        let err = parse(&stack).unwrap_err().to_string();
        assert!(err.contains(expected), "{stack}\n→ {err}");
    }
    // A key a layer does not have, and a type that does not exist, are refused too.
    for (stack, expected) in [
        (layer("max_pool2d", "size = 2\nunits = 3"), "units"),
        (layer("convolution", "channels = 2"), "convolution"),
    ] {
        let err = parse(&stack).unwrap_err().to_string();
        assert!(err.contains(expected), "{stack}\n→ {err}");
    }
}

#[test]
fn shapes_follow_the_closed_forms() {
    let config = parse(
        &(layer("conv2d", "channels = 6\nkernel = 5\npadding = \"valid\"")
            + &layer("avg_pool2d", "size = 2")
            + &layer("conv2d", "channels = 16\nkernel = 3\nstride = 2")
            + &layer("rnn", "units = 5")
            + &layer("dense", "units = 7")),
    )
    .unwrap();
    let shapes = config.model.shapes(IMAGE).unwrap();
    let image = |channels, height, width| Shape::Image {
        channels,
        height,
        width,
    };
    assert_eq!(
        shapes,
        vec![
            image(6, 24, 24), // 28 − 5 + 1
            image(6, 12, 12), // ⌊(24 − 2)/2⌋ + 1
            image(16, 6, 6),  // ⌊(12 + 2 − 3)/2⌋ + 1
            Shape::Sequence {
                steps: 6,
                features: 5
            },
            Shape::Flat(7),
        ]
    );
}

#[test]
fn parameter_counts_match_burns_modules() {
    let device = device(Precision::F32);
    for (name, stack) in catalogue() {
        for bias in [true, false] {
            let mut config = parse(&stack).unwrap();
            config.model.bias = bias;
            let network = config.model.init(IMAGE, 10, &device);
            assert_eq!(
                config.model.parameter_count(IMAGE, 10),
                network.num_params() as u128,
                "{name}, bias {bias}"
            );
        }
    }
}

#[test]
fn every_architecture_trains_resumes_evaluates_and_predicts() {
    let out = common::scratch("layers-e2e");
    for (name, stack) in catalogue() {
        let name = name.replace([' ', '+'], "-");
        train(tiny(&out, &name, &stack, 1), TrainOptions::default()).unwrap();
        let report = train(
            tiny(&out, &name, &stack, 2),
            TrainOptions {
                resume: true,
                force: false,
            },
        )
        .unwrap();
        let run = out.join(&name);
        let epochs: Vec<usize> = report.metrics.epochs.iter().map(|e| e.epoch).collect();
        assert_eq!(epochs, vec![1, 2], "{name}");
        assert!(report.test.loss.is_finite(), "{name}");
        let metrics = RunMetrics::load(&run.join("metrics.json")).unwrap();
        assert_eq!(metrics.test.as_ref(), Some(&report.test), "{name}");
        assert!(run.join("loss.svg").is_file(), "{name}");
        // Recurrent first layers have no picture of their weights.
        let recurrent = ["lstm", "gru", "rnn"].contains(&name.as_str());
        assert_eq!(run.join("first_layer.png").is_file(), !recurrent, "{name}");
        // A fresh process: the config and weights reload and give the same test numbers.
        assert_eq!(
            eval_run(&run, None, Default::default()).unwrap(),
            report.test,
            "{name}"
        );
        let predictions = predict(
            &run,
            &ImageSource::Idx {
                path: common::fashion_file("t10k-images-idx3-ubyte.gz"),
                index: 0,
            },
            Default::default(),
        )
        .unwrap();
        assert_eq!(predictions.len(), 1);
    }
    // Weights of one architecture do not load into another.
    let cnn = tiny(&out, "conv-max_pool", &catalogue()[0].1, 2);
    let lstm = tiny(&out, "lstm", &catalogue()[5].1, 2);
    let device = device(Precision::F32);
    let err = load_model(&lstm, &out.join("conv-max_pool/model.bpk"), &device).unwrap_err();
    assert!(
        matches!(err, Error::Checkpoint { .. }) && err.to_string().contains("lstm 5"),
        "{err}"
    );
    let err = load_model(&cnn, &out.join("lstm/model.bpk"), &device).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
}

#[test]
fn every_shipped_layer_config_loads_and_fits_28x28_images() {
    for name in [
        "fashion-mnist-cnn",
        "fashion-mnist-cnn-bn",
        "mnist-cnn",
        "fashion-mnist-lstm",
        "fashion-mnist-gru",
        "fashion-mnist-maxout",
        "overfit-plain",
        "overfit-dropout",
    ] {
        let path = format!("configs/{name}.toml");
        let config =
            parse(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!config.model.layers.is_empty(), "{path}");
    }
    // conv32-pool-conv64-pool-fc128: (9·32 + 32) + (288·64 + 64) + (3136·128 + 128) + (128·10 + 10).
    let cnn = parse(&std::fs::read_to_string("configs/fashion-mnist-cnn.toml").unwrap()).unwrap();
    assert_eq!(
        cnn.model.parameter_count(IMAGE, 10),
        320 + 18_496 + 401_536 + 1_290
    );
    // With batch normalisation: γ, β, running mean and variance per channel (feature), and a
    // batch count, after each conv and the dense layer.
    let bn = parse(&std::fs::read_to_string("configs/fashion-mnist-cnn-bn.toml").unwrap()).unwrap();
    assert_eq!(
        bn.model.parameter_count(IMAGE, 10),
        320 + 18_496 + 401_536 + 1_290 + (4 * 32 + 1) + (4 * 64 + 1) + (4 * 128 + 1)
    );
}

#[test]
fn first_layer_pictures_are_each_units_input_weights() {
    // Softmax regression: z = x·W + b, so ∂z_j/∂x is unit j's weights, the picture of tile j.
    let device = device(Precision::F32).autodiff();
    let config = parse("[model]\nhidden = []\n").unwrap();
    let network = config.model.init(IMAGE, 10, &device);
    let (tiles, shape) = network.first_layer_filters().unwrap();
    assert_eq!((tiles.len(), shape), (10, (28, 28)));
    let x = burn::tensor::Tensor::<2>::zeros([1, 784], &device).require_grad();
    for (j, tile) in tiles.iter().enumerate() {
        let z = network.forward(x.clone()).narrow(1, j, 1).sum();
        let gradient = neurona::numeric::to_f64s(x.grad(&z.backward()).unwrap());
        assert_eq!(&gradient, tile, "unit {j}");
    }
    // A conv first layer: one tile per filter, of the kernel's size; LSTM: none.
    let cnn = parse(CONV_BLOCK).unwrap().model.init(IMAGE, 10, &device);
    let (tiles, shape) = cnn.first_layer_filters().unwrap();
    assert_eq!((tiles.len(), shape), (4, (3, 3)));
    let lstm = parse(&layer("lstm", "units = 3"))
        .unwrap()
        .model
        .init(IMAGE, 10, &device);
    assert!(lstm.first_layer_filters().is_none());
}

/// Per column of `rows`: the mean and the biased variance.
fn column_statistics(rows: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let n = rows.len() as f64;
    (0..rows[0].len())
        .map(|j| {
            let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
            let variance = rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n;
            (mean, variance)
        })
        .collect()
}

#[test]
fn batch_norm_standardises_with_the_batch_while_training_and_with_running_estimates_after() {
    use neurona::network::layers::batch_norm::BatchNorm;
    use neurona::network::layers::{Layer, LayerSettings, Signal};

    let device = device(Precision::F32).autodiff();
    let rows = vec![
        vec![1.0, -2.0, 0.5],
        vec![3.0, 0.0, 0.5],
        vec![-1.0, 4.0, 2.0],
        vec![5.0, 2.0, -1.0],
    ];
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    let x = Tensor::<2>::from_data(TensorData::new(flat, [4, 3]), &device);
    let (momentum, epsilon) = (0.3, 1e-3);
    let settings = BatchNorm { momentum, epsilon };
    let defaults = neurona::network::config::ModelConfig::default().defaults();
    let layer = settings.build(Shape::Flat(3), &defaults, &device);
    let Signal::Flat(y) = layer.forward(Signal::Flat(x.clone()), Kernels::default()) else {
        panic!("a flat input stays flat")
    };
    let statistics = column_statistics(&rows);
    let got = neurona::numeric::to_f64s(y);
    for (i, row) in rows.iter().enumerate() {
        for (j, &(mean, variance)) in statistics.iter().enumerate() {
            let expected = (row[j] - mean) / (variance + epsilon).sqrt();
            assert!((got[i * 3 + j] - expected).abs() < 1e-5, "({i}, {j})");
        }
    }
    // The running estimates moved by `momentum` towards the batch's mean and unbiased variance
    // (PyTorch's convention), from 0 and 1; one batch counted.
    let running_mean = neurona::numeric::to_f64s(layer.running_mean.value());
    let running_var = neurona::numeric::to_f64s(layer.running_var.value());
    for (j, &(mean, variance)) in statistics.iter().enumerate() {
        assert!(
            (running_mean[j] - momentum * mean).abs() < 1e-6,
            "{running_mean:?} {statistics:?}"
        );
        let unbiased = variance * 4.0 / 3.0;
        assert!((running_var[j] - ((1.0 - momentum) + momentum * unbiased)).abs() < 1e-5);
    }
    assert_eq!(neurona::numeric::to_f64s(layer.batches.value()), [1.0]);

    // Off autodiff (evaluating, predicting) the running estimates standardise, whatever the
    // rest of the batch: one row alone gives its part of the four-row answer.
    let valid = layer.valid();
    let inner = x.inner();
    let alone = inner.clone().narrow(0, 2, 1);
    let Signal::Flat(all) = valid.forward(Signal::Flat(inner), Kernels::default()) else {
        panic!()
    };
    let Signal::Flat(one) = valid.forward(Signal::Flat(alone), Kernels::default()) else {
        panic!()
    };
    let all = neurona::numeric::to_f64s(all);
    let one = neurona::numeric::to_f64s(one);
    for j in 0..3 {
        let expected = (rows[2][j] - running_mean[j]) / (running_var[j] + epsilon).sqrt();
        assert!((all[6 + j] - expected).abs() < 1e-5);
        assert!((one[j] - expected).abs() < 1e-5);
    }
    // The running estimates did not move off autodiff.
    assert_eq!(
        neurona::numeric::to_f64s(valid.running_mean.value()),
        running_mean
    );
}

#[test]
fn batch_norm_over_an_image_normalises_each_channel_over_batch_and_pixels() {
    use neurona::network::layers::batch_norm::BatchNorm;
    use neurona::network::layers::{Layer, LayerSettings, Signal};

    let device = device(Precision::F32).autodiff();
    // Two images of two channels of 2×2 pixels.
    let values: Vec<f64> = (0..16).map(|i| ((i * 7) % 11) as f64 - 3.0).collect();
    let x = Tensor::<4>::from_data(
        TensorData::new(values.iter().map(|&v| v as f32).collect(), [2, 2, 2, 2]),
        &device,
    );
    let settings = BatchNorm {
        momentum: 0.1,
        epsilon: 1e-5,
    };
    let defaults = neurona::network::config::ModelConfig::default().defaults();
    let input = Shape::Image {
        channels: 2,
        height: 2,
        width: 2,
    };
    assert_eq!(settings.output_shape(input), Ok(input));
    let built = settings.build(input, &defaults, &device);
    let Signal::Image(y) = built.forward(Signal::Image(x), Kernels::default()) else {
        panic!("an image stays an image")
    };
    let got = neurona::numeric::to_f64s(y);
    for channel in 0..2 {
        // Index of (image b, channel, pixel p) in [2, 2, 2, 2] row-major order.
        let at = |b: usize, p: usize| b * 8 + channel * 4 + p;
        let members: Vec<f64> = (0..2)
            .flat_map(|b| (0..4).map(move |p| (b, p)))
            .map(|(b, p)| values[at(b, p)])
            .collect();
        let mean = members.iter().sum::<f64>() / 8.0;
        let variance = members.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 8.0;
        for b in 0..2 {
            for p in 0..4 {
                let expected = (values[at(b, p)] - mean) / (variance + 1e-5).sqrt();
                assert!((got[at(b, p)] - expected).abs() < 1e-5, "channel {channel}");
            }
        }
    }
    // After a recurrent layer it is refused with the reason.
    let err = parse(&(layer("lstm", "units = 4") + &layer("batch_norm", "")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.layers[1] (batch_norm) does not fit"),
        "{err}"
    );
    for (keys, expected) in [
        ("momentum = 0.0", "momentum must be in (0, 1]"),
        ("epsilon = -1.0", "epsilon must be a positive number"),
        ("units = 3", "units"),
    ] {
        let err = parse(&layer("batch_norm", keys)).unwrap_err().to_string();
        assert!(err.contains(expected), "{keys}: {err}");
    }
}

/// The fused CPU kernels and Burn's generic operations are two implementations of the same
/// network: a model trained on either evaluates to the same test numbers on the other, and a
/// training without randomness in its steps (no dropout) follows the same losses on both. Each
/// training runs in its own process: this file's other tests draw from the same device
/// generator, which would give the two trainings different initial weights.
#[test]
fn the_fused_kernels_and_the_generic_path_compute_the_same_networks() {
    let out = common::scratch("layers-kernels");
    let other = |kernels: Kernels| match kernels {
        Kernels::Fused => Kernels::Generic,
        Kernels::Generic => Kernels::Fused,
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
    for (name, stack) in catalogue() {
        let mut losses = Vec::new();
        for kernels in [Kernels::Fused, Kernels::Generic] {
            let name = format!("{}-{}", name.replace([' ', '+'], "-"), kernels.name());
            let mut config = tiny(&out, &name, &stack, 2);
            config.training.kernels = kernels;
            let file = out.join(format!("{name}.toml"));
            std::fs::write(&file, config.to_toml()).unwrap();
            common::neurona_succeeds(&[OsStr::new("train"), file.as_os_str()]);
            let run = out.join(&name);
            let metrics = RunMetrics::load(&run.join("metrics.json")).unwrap();
            let test = metrics
                .test
                .clone()
                .expect("a finished run has test numbers");
            let across = eval_run(
                &run,
                None,
                Overrides {
                    kernels: Some(other(kernels)),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(close(across.loss, test.loss), "{name}: {across:?} {test:?}");
            assert_eq!(across.confusion, test.confusion, "{name}");
            losses.push(
                metrics
                    .epochs
                    .iter()
                    .map(|e| e.train_loss)
                    .collect::<Vec<_>>(),
            );
        }
        if !stack.contains("dropout") {
            // Two epochs of Adam from the same weights: rounding differences stay far below the
            // losses' changes.
            for (fused, generic) in losses[0].iter().zip(&losses[1]) {
                assert!(
                    (fused - generic).abs() <= 1e-4 * generic.abs(),
                    "{name}: {losses:?}"
                );
            }
        }
    }
}
