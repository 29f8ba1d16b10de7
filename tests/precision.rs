//! f64 training in its own test process: a device's float type is fixed process-wide once the
//! first tensor exists, so this cannot share a process with the f32 tests.

mod common;

use std::path::PathBuf;

use neurona::backend::Precision;
use neurona::mlp::config::{DatasetName, MlpConfig};
use neurona::mlp::training::{TrainOptions, train};

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
    c.model.activation = neurona::mlp::config::Activation::Tanh;
    c.model.init = neurona::mlp::config::Init::Xavier;
    c.training.epochs = 2;
    c.output.dir = out.clone();
    c.output.name = Some("f64".into());
    let report = train(c.clone(), TrainOptions::default()).unwrap();
    assert_eq!(report.metrics.precision, "f64");
    assert!(report.test.accuracy > 0.6, "{}", report.test.accuracy);
    let again = neurona::mlp::eval::eval_run(&out.join("f64"), None, None).unwrap();
    assert_eq!(again, report.test);
    // Asking this process for f32 now is a clear error, not a silent dtype mix.
    let err = neurona::backend::device(c.backend, Precision::F32).unwrap_err();
    assert!(err.to_string().contains("F64"), "{err}");
}
