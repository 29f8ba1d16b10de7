//! Gradients of every layer kind, in f64: autodiff against central finite differences (dropout
//! is switched off for those; its own derivative, the kept mask scaled by `1/(1 − p)`, is checked
//! directly).

mod common;

use burn::prelude::*;
use common::stacks::{catalogue, device, parse};
use neurona::backend::Precision;
use neurona::classifier::gradcheck::check;
use neurona::network::backprop::Targets;
use neurona::network::layers::IMAGE;

#[test]
fn autodiff_matches_finite_differences_for_every_layer_kind() {
    let device = device(Precision::F64).autodiff();
    let x = Tensor::<2>::random(
        [3, 784],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let targets = Targets::Classes(Tensor::<1, Int>::from_data(
        TensorData::new(vec![1i64, 7, 3], [3]),
        &device,
    ));
    for (name, stack) in catalogue() {
        let config = parse(&stack).unwrap();
        let network = config.model.init(IMAGE, 10, &device);
        let checks = check(&network, x.clone(), &targets, 12, 5);
        assert!(checks.len() >= 4, "{name}: {} tensors", checks.len());
        for c in checks {
            assert!(
                c.autodiff_vs_finite_difference <= 1e-6,
                "{name} {}: {:e}",
                c.name,
                c.autodiff_vs_finite_difference
            );
            // Only dense networks have the explicit back-propagation.
            assert!(c.manual_vs_autodiff.is_none(), "{name}");
        }
    }
}

#[test]
fn dropout_passes_the_gradient_through_its_mask_scaled() {
    let device = device(Precision::F64).autodiff();
    let p = 0.25;
    let x = Tensor::<2>::ones([50, 40], &device).require_grad();
    let y = burn::nn::DropoutConfig::new(p).init().forward(x.clone());
    let kept = neurona::numeric::to_f64s(y.clone());
    // Each value is either dropped (0) or kept and scaled by 1/(1 − p).
    assert!(
        kept.iter()
            .all(|&v| v == 0.0 || (v - 1.0 / (1.0 - p)).abs() < 1e-15)
    );
    let share = kept.iter().filter(|&&v| v == 0.0).count() as f64 / kept.len() as f64;
    assert!((share - p).abs() < 0.05, "dropped share {share}");
    // y = x ⊙ m/(1 − p) with x = 1, so ∂Σy/∂x = m/(1 − p) = y.
    let gradient = neurona::numeric::to_f64s(x.grad(&y.sum().backward()).unwrap());
    assert_eq!(gradient, kept);
}
