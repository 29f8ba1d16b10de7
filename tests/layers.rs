//! The layer catalogue: stacks from TOML with their shapes checked at load, parameter counts
//! against Burn's own, the im2col convolution against Burn's `Conv2d`, maxout against the
//! activation catalogue, autodiff against finite differences for every layer kind, and every
//! architecture through train → checkpoint → resume → eval → predict.

mod common;

use common::stacks::{CONV_BLOCK, catalogue, device, layer, parse, tiny};

use burn::module::Module;
use neurona::Error;
use neurona::backend::Precision;
use neurona::classifier::eval::{eval_run, load_model};
use neurona::classifier::inference::{ImageSource, predict};
use neurona::classifier::layers::{IMAGE, Shape};
use neurona::classifier::training::{RunMetrics, TrainOptions, train};

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
        assert_eq!(eval_run(&run, None, None).unwrap(), report.test, "{name}");
        let predictions = predict(
            &run,
            &ImageSource::Idx {
                path: common::fashion_file("t10k-images-idx3-ubyte.gz"),
                index: 0,
            },
            None,
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
        "mnist-cnn",
        "fashion-mnist-lstm",
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
