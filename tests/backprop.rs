//! Explicit back-propagation against Burn's autodiff and central finite differences, in f64, for
//! every hidden activation and every output kind (own process: f64 is fixed per process).

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use neurona::backend::{BackendChoice, Precision, device};
use neurona::classifier::gradcheck::check;
use neurona::experiment::ExperimentFile;
use neurona::network::backprop::Targets;
use neurona::network::config::{Activation, Init, ModelConfig, Output};
use neurona::run_dir::Start;

/// Burn seeds one random generator per backend, shared by the whole process: tests that draw
/// random numbers take this lock so that parallel tests cannot interleave their draws.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    let _rng = RNG.lock().unwrap();
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
                    hidden: Some(vec![5, 4]),
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
                    let manual = c
                        .manual_vs_autodiff
                        .expect("a dense network has manual gradients");
                    assert!(manual <= 1e-10, "{what}: manual vs autodiff {manual:e}");
                    let manual_fd = c.manual_vs_finite_difference.expect("manual gradients");
                    assert!(
                        manual_fd <= 1e-6,
                        "{what}: manual vs finite differences {manual_fd:e}"
                    );
                    assert!(
                        c.autodiff_vs_finite_difference <= 1e-6,
                        "{what}: autodiff vs finite differences {:e}",
                        c.autodiff_vs_finite_difference
                    );
                    assert_eq!(c.finite_difference_elements, c.elements);
                }
            }
        }
    }
}

fn xor_config(name: &str) -> neurona::points::config::PointsConfig {
    let text = std::fs::read_to_string(format!("configs/{name}.toml")).unwrap();
    let mut config =
        neurona::points::config::PointsConfig::parse(&text, std::path::Path::new(name)).unwrap();
    config.output.dir =
        std::env::temp_dir().join(format!("neurona-test-{}-xor", std::process::id()));
    config.output.name = Some(name.into());
    config
}

#[test]
fn the_course_xor_network_learns_within_1000_epochs() {
    let _rng = RNG.lock().unwrap();
    // Reference: a numpy implementation of the same 3-4-1 network needs about 500 epochs.
    let config = xor_config("xor");
    let report = neurona::points::train(&config, Start::New).unwrap();
    let epochs = report.converged_epoch.expect("XOR must be learnt");
    assert!(epochs <= 1000, "{epochs} epochs");
    assert!(report.losses[epochs - 1] < neurona::points::TARGET_LOSS);
    for (p, (_, y)) in report
        .probabilities
        .iter()
        .zip(neurona::points::TRUTH_TABLE)
    {
        assert_eq!(*p >= 0.5, y == 1, "P = {p} for target {y}");
    }
    // Manual and autodiff gradients drive the same optimizer to the same place.
    let mut autodiff = config.clone();
    autodiff.training.gradients = neurona::network::config::Gradients::Autodiff;
    autodiff.output.name = Some("xor-autodiff".into());
    let again = neurona::points::train(&autodiff, Start::New).unwrap();
    assert_eq!(again.converged_epoch, report.converged_epoch);
    // The saved model reproduces the truth table.
    let run = config.run_dir();
    let p = neurona::points::predict(&run, &config).unwrap();
    assert_eq!(p, report.probabilities);
    for plot in ["loss.svg", "decision.svg"] {
        assert!(run.join(plot).is_file());
    }
    // The 2-2-1 network with biases also gets there (more slowly).
    let small = neurona::points::train(&xor_config("xor-bias"), Start::New).unwrap();
    assert!(small.converged_epoch.is_some());
}

#[test]
fn zero_initialisation_keeps_hidden_units_identical() {
    // All weights zero: every hidden unit computes the same function and receives the same
    // gradient, so after any number of steps the units are still copies of each other.
    let _rng = RNG.lock().unwrap();
    let dev = device(BackendChoice::Auto, Precision::F64)
        .unwrap()
        .autodiff();
    dev.seed(5);
    let config = ModelConfig {
        hidden: Some(vec![4]),
        activation: Activation::Sigmoid,
        init: Init::Zeros,
        ..ModelConfig::default()
    };
    let mut model = config.init(6, 3, &dev);
    let x = Tensor::<2>::random([9, 6], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(vec![0i64, 1, 2, 0, 0, 1, 2, 2, 0], [9]),
        &dev,
    );
    let mut optimizer = burn::optim::SgdConfig::new().init();
    for _ in 0..50 {
        let batch = neurona::network::model::Batch {
            inputs: x.clone(),
            targets: y.clone(),
        };
        let (_, grads) = neurona::network::backprop::classification_step(&model, batch);
        model = optimizer.step(0.5, model, grads);
    }
    let hidden: Vec<f64> = model
        .layers()
        .next()
        .unwrap()
        .weight
        .val()
        .into_data()
        .convert::<f64>()
        .try_to_vec()
        .unwrap();
    // Weights [6 inputs, 4 units], row-major: each input's weights to the four units are equal…
    for row in hidden.chunks(4) {
        assert!(
            row.iter().all(|w| *w == row[0]),
            "hidden units differ: {row:?}"
        );
    }
    // …and they did change: it is the symmetry, not a vanishing gradient, that keeps them equal.
    assert!(hidden.iter().any(|w| *w != 0.0));
}

#[test]
fn activation_derivatives_match_finite_differences() {
    use neurona::neuron::activations::ActivationFn::{self, *};
    let all = [
        Step,
        Sign,
        Linear,
        PiecewiseLinear,
        Sigmoid,
        Tanh,
        Relu,
        LeakyRelu { slope: 0.1 },
    ];
    let h = 1e-6;
    for f in all {
        // Points away from the kinks (0 and ±½), where the derivative exists.
        for x in [-3.0, -1.2, -0.3, -0.1, 0.2, 0.45, 0.7, 2.5] {
            let numeric = (f.value(x + h) - f.value(x - h)) / (2.0 * h);
            assert!(
                (numeric - f.derivative(x)).abs() < 1e-7,
                "{f:?} at {x}: {numeric} vs {}",
                f.derivative(x)
            );
        }
    }
    // The closed forms the course quotes.
    let s = ActivationFn::Sigmoid.value(0.3);
    assert!((ActivationFn::Sigmoid.derivative(0.3) - s * (1.0 - s)).abs() < 1e-15);
    let t = 0.3f64.tanh();
    assert!((ActivationFn::Tanh.derivative(0.3) - (1.0 - t * t)).abs() < 1e-15);
    assert_eq!(
        (Step.value(0.0), Sign.value(-0.0001), Relu.derivative(0.0)),
        (1.0, -1.0, 0.0)
    );
}

#[test]
fn the_perceptron_learns_and_and_or_but_not_xor() {
    use neurona::neuron::perceptron::{Gate, train};
    for gate in [Gate::And, Gate::Or] {
        let run = train(gate, 100, 1.0).unwrap();
        assert!(run.converged_epoch.is_some(), "{gate:?}");
        for (x, y) in gate.truth_table() {
            assert_eq!(run.predict(x), y, "{gate:?} {x:?}");
        }
    }
    let xor = train(Gate::Xor, 1000, 1.0).unwrap();
    assert_eq!(xor.converged_epoch, None);
    // Whatever line it ends on, at least one of the four points is on the wrong side.
    assert!(
        Gate::Xor
            .truth_table()
            .iter()
            .any(|(x, y)| xor.predict(*x) != *y)
    );
    // From zero weights the learning rate only scales the line: a huge one learns AND the same
    // way, and one whose updates overflow f64 is an error, not "inseparable".
    let (small, huge) = (
        train(Gate::And, 100, 1.0).unwrap(),
        train(Gate::And, 100, 1e300).unwrap(),
    );
    assert_eq!(small.converged_epoch, huge.converged_epoch);
    assert_eq!(huge.weights.map(|w| w / 1e300), small.weights);
    assert!(train(Gate::Xor, 100, f64::MAX).is_err());
}
