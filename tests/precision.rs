//! f64 training in its own test process: a device's float type is fixed process-wide once the
//! first tensor exists, so this cannot share a process with the f32 tests.

mod common;

use std::path::PathBuf;

use burn::module::Param;
use burn::prelude::*;
use common::stacks::{CONV_BLOCK, device, tiny};
use neurona::backend::Precision;
use neurona::classifier::config::{DatasetName, MlpConfig};
use neurona::classifier::eval::eval_run;
use neurona::classifier::training::{TrainOptions, train};
use neurona::network::config::ModelConfig;
use neurona::network::layers::conv2d::{Conv2d, Padding};
use neurona::network::layers::{LayerSettings, Shape};
use neurona::neuron::activations::{maxout, maxout_derivative};

#[test]
fn trains_and_reevaluates_in_f64() {
    let out = common::scratch("precision");
    let mut c = MlpConfig {
        precision: Precision::F64,
        ..MlpConfig::default()
    };
    c.data.dataset = DatasetName::FashionMnist;
    c.data.dir = Some(PathBuf::from(common::FASHION));
    c.data.train_limit = Some(3000);
    c.data.test_limit = Some(500);
    c.model.hidden = Some(vec![32]);
    c.model.activation = neurona::network::config::Activation::Tanh;
    c.model.init = neurona::network::config::Init::Xavier;
    c.training.epochs = 2;
    c.output.dir = out.clone();
    c.output.name = Some("f64".into());
    let report = train(c.clone(), TrainOptions::default()).unwrap();
    assert_eq!(report.metrics.precision, "f64");
    assert!(report.test.accuracy > 0.6, "{}", report.test.accuracy);
    let again =
        neurona::classifier::eval::eval_run(&out.join("f64"), None, Default::default()).unwrap();
    assert_eq!(again, report.test);
    // Asking this process for f32 now is a clear error, not a silent dtype mix.
    let err = neurona::backend::device(c.backend, Precision::F32).unwrap_err();
    assert!(err.to_string().contains("F64"), "{err}");
}

#[test]
fn im2col_convolution_equals_burns_conv2d() {
    let device = device(Precision::F64);
    for (kernel, stride, pad, channels) in [
        (3, 1, 1, 1),
        (3, 1, 0, 4),
        (5, 1, 2, 2),
        (1, 1, 0, 3),
        (3, 2, 1, 2),
        (2, 3, 0, 1),
    ] {
        let settings = Conv2d {
            channels: 6,
            kernel,
            stride,
            padding: if pad > 0 {
                Padding::Same
            } else {
                Padding::Valid
            },
            activation: None,
        };
        assert_eq!(settings.pad(), pad);
        let input = Shape::Image {
            channels,
            height: 9,
            width: 8,
        };
        let defaults = ModelConfig::default().defaults();
        let mut layer = settings.build(input, &defaults, &device);
        // A bias that is not zero, so that adding it is checked too.
        layer.conv.bias = Some(Param::from_tensor(Tensor::random(
            [6],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        )));
        let x = Tensor::<4>::random(
            [3, channels, 9, 8],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let ours = layer.convolve(x.clone());
        let burns = layer.conv.forward(x);
        assert_eq!(ours.dims(), burns.dims());
        let diff = neurona::numeric::scalar((ours - burns).abs().max());
        assert!(
            diff < 1e-12,
            "k {kernel} stride {stride} pad {pad}: {diff:e}"
        );
    }
}

#[test]
fn maxout_takes_the_largest_piece_and_routes_the_gradient_to_it() {
    let device = device(Precision::F64).autodiff();
    // Two rows of two units × three pieces, in the layer's column order (unit-major).
    let z = [
        [0.5, -1.0, 2.0, -3.0, -0.5, -2.0],
        [1.0, 1.5, 0.0, 4.0, 3.0, 3.5],
    ];
    let flat: Vec<f64> = z.iter().flatten().copied().collect();
    let zt = Tensor::<2>::from_data(TensorData::new(flat, [2, 6]), &device).require_grad();
    let a = neurona::network::layers::dense::maxout(zt.clone(), 3);
    let got = neurona::numeric::to_f64s(a.clone());
    let mut expected = Vec::new();
    let mut gradient = Vec::new();
    for row in &z {
        for unit in row.chunks(3) {
            expected.push(maxout(unit).unwrap());
            gradient.extend(maxout_derivative(unit));
        }
    }
    assert_eq!(got, expected);
    let grads = a.sum().backward();
    let autodiff = neurona::numeric::to_f64s(zt.grad(&grads).unwrap());
    assert_eq!(autodiff, gradient);
    assert_eq!(maxout_derivative(&[1.0, 1.0]), vec![1.0, 0.0]);
    assert_eq!(maxout(&[]), None);
}

#[test]
fn a_cnn_trains_in_f64() {
    let out = common::scratch("layers-f64");
    let mut config = tiny(&out, "cnn64", CONV_BLOCK, 1);
    config.precision = Precision::F64;
    let report = train(config, TrainOptions::default()).unwrap();
    assert!(report.test.loss.is_finite());
    assert_eq!(
        eval_run(&out.join("cnn64"), None, Default::default()).unwrap(),
        report.test
    );
}
