//! Config parsing and validation: defaults, unknown keys, wrong types, invalid values.

mod common;

use std::path::Path;

use neurona::backend::{BackendChoice, Precision};
use neurona::classifier::config::{DatasetName, MlpConfig};
use neurona::experiment::ExperimentFile;
use neurona::network::config::{Activation, Init, Schedule};

fn parse(text: &str) -> Result<MlpConfig, String> {
    let config = MlpConfig::parse(text, Path::new("exp.toml")).map_err(|e| e.to_string())?;
    config.validate()?;
    Ok(config)
}

#[test]
fn empty_file_gives_the_documented_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.backend, BackendChoice::Auto);
    assert_eq!(c.precision, Precision::F32);
    assert_eq!(c.data.dataset, DatasetName::Mnist);
    assert_eq!(c.model.hidden, None);
    assert_eq!(c.model.stack().len(), 1);
    assert_eq!(c.model.activation, Activation::Relu);
    assert_eq!(c.model.init, Init::He);
    assert_eq!((c.training.epochs, c.training.batch_size), (10, 128));
    assert_eq!(c.optimizer.learning_rate, 1e-3);
}

#[test]
fn shipped_mnist_config_writes_out_exactly_the_defaults() {
    // configs/mnist.toml documents every default: parsing it must give the default config,
    // except for the one deliberate choice of a cosine learning-rate schedule.
    let shipped = MlpConfig::load(Path::new("configs/mnist.toml")).unwrap();
    let mut expected = MlpConfig::default();
    expected.output.name = Some("mnist".into());
    expected.optimizer.schedule = Schedule::Cosine;
    expected.model.hidden = Some(vec![512]);
    assert_eq!(shipped, expected);
    let fashion = MlpConfig::load(Path::new("configs/fashion-mnist.toml")).unwrap();
    assert_eq!(fashion.data.dataset, DatasetName::FashionMnist);
    assert_eq!(fashion.model.hidden, Some(vec![512]));
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let err = parse("seed = 1\n\n[model]\nhiden = [64]\n").unwrap_err();
    assert!(err.contains("exp.toml"), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("unknown field `hiden`"), "{err}");
    let err = parse("[modle]\n").unwrap_err();
    assert!(err.contains("line 1") && err.contains("modle"), "{err}");
}

#[test]
fn wrong_type_names_line_and_shows_it() {
    let err = parse("[training]\nepochs = \"ten\"\n").unwrap_err();
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("epochs = \"ten\""), "{err}");
    let err = parse("[model]\nactivation = \"softplus\"\n").unwrap_err();
    assert!(
        err.contains("softplus") && err.contains("leaky_relu"),
        "{err}"
    );
    let err = parse("backend = \"tpu\"\n").unwrap_err();
    assert!(err.contains("tpu") && err.contains("wgpu"), "{err}");
    let err = parse("[training\nepochs = 1\n").unwrap_err();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn invalid_values_are_rejected_with_the_key() {
    for (text, key) in [
        (
            "[optimizer]\nlearning_rate = 0.0",
            "optimizer.learning_rate",
        ),
        (
            "[optimizer]\nlearning_rate = -1.0",
            "optimizer.learning_rate",
        ),
        ("[optimizer]\nbeta_1 = 1.0", "optimizer.beta_1"),
        ("[optimizer]\nweight_decay = -0.1", "optimizer.weight_decay"),
        ("[training]\nepochs = 0", "training.epochs"),
        (
            "[optimizer]\nschedule = \"cosine\"\nlearning_rate = 2.0",
            "optimizer.learning_rate",
        ),
        (
            "[optimizer]\nschedule = \"cosine\"\nmin_learning_rate = 0.1",
            "optimizer.min_learning_rate",
        ),
        ("[training]\nbatch_size = 0", "training.batch_size"),
        (
            "[training]\nearly_stopping_patience = 0",
            "training.early_stopping_patience",
        ),
        (
            "[data]\nvalidation_fraction = 1.0",
            "data.validation_fraction",
        ),
        ("[data]\nstd = 0.0", "data.std"),
        ("[data]\ntrain_limit = 0", "data.train_limit"),
        ("[model]\nhidden = [64, 0]", "model.hidden[1]"),
        ("[model]\ninit_scale = 0.0", "model.init_scale"),
        ("[output]\nname = \"a/b\"", "output.name"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(key), "{text:?} gave {err}");
    }
    assert!(
        parse("[training]\nepochs = -3")
            .unwrap_err()
            .contains("line 2")
    );
}

#[test]
fn resolved_config_round_trips_through_toml() {
    let mut c = parse("[model]\nhidden = [32, 16]\nactivation = \"tanh\"\n[data]\nstandardize = true\nmean = 0.5\nstd = 0.25").unwrap();
    c.output.name = Some("x".into());
    let again = MlpConfig::parse(&c.to_toml(), Path::new("resolved.toml")).unwrap();
    assert_eq!(again, c);
}

#[test]
fn every_shipped_config_loads_as_its_kind() {
    let mut names: Vec<_> = std::fs::read_dir("configs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    for path in names {
        let experiment = neurona::commands::Experiment::load(&path, Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        // Each file names its run after itself, under artifacts/.
        assert_eq!(
            experiment.run_dir(),
            std::path::Path::new("artifacts").join(&stem),
            "{}",
            path.display()
        );
    }
}
