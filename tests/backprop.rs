//! Explicit back-propagation against Burn's autodiff and central finite differences, in f64, for
//! every hidden activation and every output kind (own process: f64 is fixed per process).

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use neurona::backend::{BackendChoice, Precision, device};
use neurona::backprop::Targets;
use neurona::config::{Activation, Init, ModelConfig, Output};
use neurona::gradcheck::check;

struct ShiftBiases;

impl ModuleMapper for ShiftBiases {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D != 1 {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.add_scalar(0.3).detach().require_grad(), mapper)
    }
}

#[test]
fn manual_gradients_match_autodiff_and_finite_differences() {
    let dev = device(BackendChoice::Auto, Precision::F64)
        .unwrap()
        .autodiff();
    dev.seed(3);
    let (n, inputs) = (7, 6);
    let x = Tensor::<2>::random(
        [n, inputs],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let classes =
        Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2, 1, 2, 0, 1, 1], [n]), &dev);
    let binary =
        Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 1, 0, 0, 1, 1], [n]), &dev);
    let values = Tensor::<2>::random([n, 2], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    for activation in [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
    ] {
        for (output, targets, width) in [
            (Output::Softmax, Targets::Classes(classes.clone()), 3),
            (Output::Sigmoid, Targets::Classes(binary.clone()), 1),
            (Output::Linear, Targets::Values(values.clone()), 2),
        ] {
            for bias in [true, false] {
                let config = ModelConfig {
                    hidden: vec![5, 4],
                    activation,
                    leaky_slope: 0.1,
                    init: Init::Xavier,
                    bias,
                    output,
                    ..ModelConfig::default()
                };
                // Non-zero biases keep ReLU units off their kink at z = 0, where a finite
                // difference straddles two slopes (zero biases and an all-negative input row
                // would put a whole layer exactly there).
                let model = config.init(inputs, width, &dev).map(&mut ShiftBiases);
                for c in check(&model, x.clone(), &targets, 1000, 1) {
                    let what = format!("{activation:?}/{output:?}/bias {bias}: {}", c.name);
                    assert!(
                        c.manual_vs_autodiff <= 1e-10,
                        "{what}: manual vs autodiff {:e}",
                        c.manual_vs_autodiff
                    );
                    assert!(
                        c.manual_vs_finite_difference <= 1e-6,
                        "{what}: manual vs finite differences {:e}",
                        c.manual_vs_finite_difference
                    );
                    assert_eq!(c.finite_difference_elements, c.elements);
                }
            }
        }
    }
}
