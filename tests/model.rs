//! The MLP module: initialisation against its closed-form distributions, zero biases, depth,
//! numerically stable cross-entropy and a save/load round trip.

mod common;

use burn::prelude::*;
use neurona::network::config::{Activation, Init, ModelConfig};
use neurona::network::model::Batch;

fn device() -> Device {
    let device = neurona::backend::device(
        neurona::backend::BackendChoice::Auto,
        neurona::backend::Precision::F32,
    )
    .unwrap();
    device.seed(7);
    device
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    (mean, var.sqrt())
}

#[test]
fn initialisations_follow_their_closed_forms_and_biases_start_at_zero() {
    let device = device();
    let (fan_in, fan_out) = (784usize, 512usize);
    for (init, expected_std) in [
        // He normal: N(0, 2 / fan_in).
        (Init::He, (2.0 / fan_in as f64).sqrt()),
        // Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), std a / sqrt(3).
        (
            Init::Xavier,
            (6.0 / (fan_in + fan_out) as f64).sqrt() / 3f64.sqrt(),
        ),
        // U(-0.12, 0.12): std 0.12 / sqrt(3).
        (Init::SmallUniform, 0.12 / 3f64.sqrt()),
    ] {
        let config = ModelConfig {
            hidden: Some(vec![fan_out]),
            init,
            ..ModelConfig::default()
        };
        let model = config.init(fan_in, 10, &device);
        let layers: Vec<_> = model.layers().collect();
        assert_eq!(layers.len(), 2);
        let w = values(layers[0].weight.val());
        assert_eq!(w.len(), fan_in * fan_out);
        let (mean, std) = mean_std(&w);
        // 401,408 samples: the sample std is within 1 % of the true one with overwhelming probability.
        assert!(mean.abs() < 1e-3, "{init:?} mean {mean}");
        assert!(
            (std / expected_std - 1.0).abs() < 0.01,
            "{init:?} std {std} vs {expected_std}"
        );
        if init == Init::SmallUniform {
            assert!(w.iter().all(|x| x.abs() <= 0.12));
        }
        for layer in &layers {
            let b = values(layer.bias.as_ref().unwrap().val());
            assert!(
                b.iter().all(|&x| x == 0.0),
                "{init:?}: biases must start at zero"
            );
        }
    }
}

#[test]
fn depth_and_width_follow_the_config() {
    let device = device();
    let deep = ModelConfig {
        hidden: Some(vec![32, 16, 8]),
        activation: Activation::LeakyRelu,
        ..ModelConfig::default()
    }
    .init(784, 10, &device);
    let shapes: Vec<[usize; 2]> = deep.layers().map(|l| l.weight.val().dims()).collect();
    assert_eq!(shapes, vec![[784, 32], [32, 16], [16, 8], [8, 10]]);
    let softmax_regression = ModelConfig {
        hidden: Some(vec![]),
        ..ModelConfig::default()
    }
    .init(784, 10, &device);
    assert_eq!(softmax_regression.layers().count(), 1);
    for activation in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::LeakyRelu,
    ] {
        let model = ModelConfig {
            hidden: Some(vec![4]),
            activation,
            ..ModelConfig::default()
        }
        .init(3, 2, &device);
        let out = model.forward(Tensor::ones([5, 3], &device));
        assert_eq!(out.dims(), [5, 2]);
    }
}

#[test]
fn cross_entropy_is_stable_for_huge_logits() {
    // Softmax regression with one input: logits = x · w, w = [1000, 0]. For x = 1 and target 0 the
    // cross-entropy is log(1 + e^-1000) ≈ 0; for target 1 it is 1000 (closed form; a naive
    // log(softmax) would give log(0) = -inf).
    let device = device();
    let model = ModelConfig {
        hidden: Some(vec![]),
        ..ModelConfig::default()
    }
    .init(1, 2, &device);
    let model = set_single_weight(model, [1000.0, 0.0], &device);
    for (target, expected) in [(0i64, 0.0), (1, 1000.0)] {
        let batch = Batch {
            inputs: Tensor::from_data(TensorData::new(vec![1.0f32], [1, 1]), &device),
            targets: Tensor::from_data(TensorData::new(vec![target], [1]), &device),
        };
        let loss = values(model.forward_classification(batch).loss)[0];
        assert!(
            (loss - expected).abs() < 1e-3,
            "target {target}: loss {loss}"
        );
    }
}

/// Replaces the (1×2) weight of a softmax-regression model.
fn set_single_weight(
    model: neurona::network::model::Network,
    w: [f32; 2],
    device: &Device,
) -> neurona::network::model::Network {
    use burn::module::{Module, ModuleMapper, Param};
    struct SetWeight([f32; 2], Device);
    impl ModuleMapper for SetWeight {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let tensor = if tensor.dims().as_slice() == [1, 2] {
                Tensor::from_data(TensorData::new(self.0.to_vec(), tensor.shape()), &self.1)
            } else {
                tensor
            };
            Param::from_mapped_value(id, tensor, mapper)
        }
    }
    model.map(&mut SetWeight(w, device.clone()))
}

#[test]
fn save_and_load_round_trip_bit_for_bit() {
    let device = device();
    let config = ModelConfig {
        hidden: Some(vec![20, 10]),
        ..ModelConfig::default()
    };
    let model = config.init(784, 10, &device);
    let dir = common::scratch("roundtrip");
    model.clone().save_file(dir.join("m.bpk")).unwrap();
    let loaded = config
        .init(784, 10, &device)
        .try_load_file(dir.join("m.bpk"))
        .unwrap();
    let x = Tensor::<2>::random([16, 784], burn::tensor::Distribution::Default, &device);
    assert_eq!(values(model.forward(x.clone())), values(loaded.forward(x)));
}
