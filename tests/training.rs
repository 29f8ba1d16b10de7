//! Training end to end on a Fashion-MNIST subset: accuracy, checkpoints, evaluation from a
//! checkpoint, resuming, and loading weights into the wrong architecture.

mod common;

use std::path::{Path, PathBuf};

use neurona::Error;
use neurona::classifier::config::{DatasetName, MlpConfig};
use neurona::classifier::eval::{eval_run, load_model};
use neurona::classifier::training::RunMetrics;
use neurona::classifier::training::{TrainOptions, last_checkpoint, train};
use neurona::experiment::ExperimentFile;

/// A small but real experiment: 6,000 training images, 2,000 test images, one hidden layer of 64.
fn subset_config(out: &Path, name: &str, epochs: usize) -> MlpConfig {
    let mut c = MlpConfig::default();
    c.data.dataset = DatasetName::FashionMnist;
    c.data.dir = Some(PathBuf::from(common::FASHION));
    c.data.train_limit = Some(6000);
    c.data.test_limit = Some(2000);
    c.data.standardize = true;
    c.model.hidden = Some(vec![64]);
    c.training.epochs = epochs;
    c.output.dir = out.to_path_buf();
    c.output.name = Some(name.into());
    c
}

#[test]
fn short_run_learns_and_eval_from_checkpoint_reproduces_its_test_metrics() {
    let out = common::scratch("train-eval");
    let report = train(subset_config(&out, "short", 3), TrainOptions::default()).unwrap();
    // Chance is 10 %; the bar for this subset is 70 %.
    assert!(
        report.test.accuracy > 0.70,
        "test accuracy {}",
        report.test.accuracy
    );
    assert_eq!(report.test.images, 2000);
    let confusion_total: u64 = report.test.confusion.iter().flatten().sum();
    assert_eq!(confusion_total, 2000);

    let run = out.join("short");
    for file in ["config.toml", "model.bpk", "metrics.json"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let metrics = RunMetrics::load(&run.join("metrics.json")).unwrap();
    assert_eq!(
        metrics.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        metrics
            .epochs
            .iter()
            .all(|e| e.train_loss.is_finite() && e.valid_accuracy.unwrap() > 0.1)
    );
    assert_eq!(metrics.test.as_ref(), Some(&report.test));
    // The best epoch's model is kept, and so is the last epoch's full state for --resume.
    let best = metrics.best_epoch.unwrap();
    assert!(run.join(format!("checkpoint/model-{best}.bpk")).is_file());
    assert!(run.join("checkpoint/optim-3.bpk").is_file());

    // A fresh process would do exactly this: reload config and weights, evaluate on the test set.
    let reloaded = eval_run(&run, None, Default::default()).unwrap();
    assert_eq!(
        reloaded, report.test,
        "eval from model.bpk must reproduce the in-process numbers exactly"
    );
    let from_json: neurona::classifier::eval::EvalReport =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(from_json, report.test);

    // The best epoch's checkpoint is the same weights as model.bpk.
    let via_checkpoint = eval_run(
        &run,
        Some(&run.join(format!("checkpoint/model-{best}.bpk"))),
        Default::default(),
    )
    .unwrap();
    assert_eq!(
        (via_checkpoint.loss, via_checkpoint.accuracy),
        (report.test.loss, report.test.accuracy)
    );

    // Weights of a 64-unit network do not load into a 32-unit one.
    let mut other = subset_config(&out, "short", 3);
    other.model.hidden = Some(vec![32]);
    let device = neurona::backend::device(other.backend, other.precision).unwrap();
    let err = load_model(&other, &run.join("model.bpk"), &device).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");

    // Training into an existing run needs --resume or --force.
    let err = train(subset_config(&out, "short", 3), TrainOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
}

#[test]
fn resume_continues_from_the_last_completed_epoch() {
    let out = common::scratch("train-resume");
    train(subset_config(&out, "resumed", 1), TrainOptions::default()).unwrap();
    let run = out.join("resumed");
    let first = RunMetrics::load(&run.join("metrics.json")).unwrap();
    assert_eq!(first.epochs.len(), 1);

    // A half-written checkpoint (a kill during burn-train's background save) is not resumable.
    let ckpt = run.join("checkpoint");
    for kind in ["model", "optim", "scheduler"] {
        std::fs::copy(
            ckpt.join(format!("{kind}-1.bpk")),
            ckpt.join(format!("{kind}-2.bpk")),
        )
        .unwrap();
    }
    assert_eq!(last_checkpoint(&run, 2), Some(2));
    let whole = std::fs::read(ckpt.join("model-2.bpk")).unwrap();
    std::fs::write(ckpt.join("model-2.bpk"), &whole[..whole.len() / 2]).unwrap();
    assert_eq!(last_checkpoint(&run, 2), Some(1));
    for kind in ["model", "optim", "scheduler"] {
        std::fs::remove_file(ckpt.join(format!("{kind}-2.bpk"))).unwrap();
    }

    let report = train(
        subset_config(&out, "resumed", 3),
        TrainOptions {
            resume: true,
            force: false,
        },
    )
    .unwrap();
    let epochs: Vec<usize> = report.metrics.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, vec![1, 2, 3]);
    // Epoch 1 is the record of the first process, untouched.
    assert_eq!(report.metrics.epochs[0], first.epochs[0]);
    // Training went on from epoch 1's weights: the training loss keeps falling.
    assert!(report.metrics.epochs[2].train_loss < first.epochs[0].train_loss);

    // Nothing left to do, and a changed architecture cannot resume.
    let err = train(
        subset_config(&out, "resumed", 3),
        TrainOptions {
            resume: true,
            force: false,
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("already completed 3 epochs"),
        "{err}"
    );
    let mut changed = subset_config(&out, "resumed", 5);
    changed.model.hidden = Some(vec![128]);
    let err = train(
        changed,
        TrainOptions {
            resume: true,
            force: false,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("[model]"), "{err}");
}

/// Each run is a `neurona train` process of its own: the devices of one process share one random
/// generator, so two trainings at once in this test binary (its tests run in parallel) would
/// draw their initial weights and batch orders from each other's seeds.
#[test]
fn the_same_seed_gives_the_same_run() {
    let out = common::scratch("train-seed");
    let runs: Vec<serde_json::Value> = ["a", "b"]
        .iter()
        .map(|name| {
            let file = out.join(format!("{name}.toml"));
            std::fs::write(
                &file,
                format!(
                    "[data]\ndataset = \"fashion-mnist\"\ndir = {:?}\ntrain_limit = 6000\n\
                     test_limit = 2000\nstandardize = true\n[model]\nhidden = [64]\n\
                     [training]\nepochs = 1\n[output]\ndir = {:?}\n",
                    common::FASHION,
                    out.display().to_string()
                ),
            )
            .unwrap();
            common::neurona_succeeds(&[std::ffi::OsStr::new("train"), file.as_os_str()]);
            serde_json::from_slice(&std::fs::read(out.join(name).join("metrics.json")).unwrap())
                .unwrap()
        })
        .collect();
    let strip = |m: &serde_json::Value| {
        let epochs: Vec<_> = m["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["train_loss"].clone(),
                    e["valid_loss"].clone(),
                    e["valid_accuracy"].clone(),
                )
            })
            .collect();
        (
            epochs,
            m["test"]["loss"].clone(),
            m["test"]["accuracy"].clone(),
        )
    };
    assert!(runs[0]["test"]["loss"].is_f64());
    assert_eq!(strip(&runs[0]), strip(&runs[1]));
}

#[test]
fn fashion_mnist_config_reaches_89_percent_test_accuracy() {
    let mut config = MlpConfig::load(Path::new("configs/fashion-mnist.toml")).unwrap();
    config.output.dir = common::scratch("fashion-full");
    config.data.dir = Some(PathBuf::from(common::FASHION));
    let report = train(config, TrainOptions::default()).unwrap();
    assert_eq!(report.test.images, 10_000);
    assert!(
        report.test.accuracy >= 0.89,
        "test accuracy {}",
        report.test.accuracy
    );
}

#[test]
fn early_stopping_ends_the_run_after_patience_epochs_without_improvement() {
    // A high learning rate on 2,700 images overfits within a few epochs, so validation loss stops
    // falling long before epoch 12.
    let out = common::scratch("train-early");
    let mut config = subset_config(&out, "early", 12);
    config.data.train_limit = Some(3000);
    config.data.standardize = false;
    config.optimizer.learning_rate = 0.02;
    config.training.early_stopping_patience = Some(2);
    let report = train(config, TrainOptions::default()).unwrap();
    let last = report.metrics.epochs.last().unwrap().epoch;
    assert!(last < 12, "ran all {last} epochs");
    assert_eq!(report.metrics.best_epoch, Some(last - 2));
}

#[test]
fn a_diverging_run_stops_with_an_error_and_keeps_no_nan_model() {
    let out = common::scratch("train-diverge");
    let mut config = subset_config(&out, "diverge", 3);
    config.data.train_limit = Some(1000);
    config.optimizer.kind = neurona::network::config::OptimizerKind::Sgd;
    config.optimizer.learning_rate = 1e6;
    let err = train(config, TrainOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("diverged at epoch"), "{err}");
    let run = out.join("diverge");
    assert!(
        !run.join("model.bpk").exists(),
        "no model from a diverged run"
    );
    // What was recorded stays readable (no nulls for NaN), so the run can be resumed.
    if run.join("metrics.json").exists() {
        let metrics = RunMetrics::load(&run.join("metrics.json")).unwrap();
        assert!(metrics.epochs.iter().all(|e| e.train_loss.is_finite()));
    }
}

#[test]
fn without_validation_rows_the_best_epoch_is_chosen_by_training_loss() {
    let out = common::scratch("train-novalid");
    let mut config = subset_config(&out, "novalid", 2);
    config.data.validation_fraction = 0.0;
    train(config.clone(), TrainOptions::default()).unwrap();
    let run = out.join("novalid");
    let metrics = RunMetrics::load(&run.join("metrics.json")).unwrap();
    assert!(metrics.epochs.iter().all(|e| e.valid_loss.is_none()));
    // A value that does not exist is absent from the file, never `null`.
    let text = std::fs::read_to_string(run.join("metrics.json")).unwrap();
    assert!(
        !text.contains("null") && !text.contains("valid_loss"),
        "{text}"
    );
    let lowest = metrics
        .epochs
        .iter()
        .min_by(|a, b| a.train_loss.total_cmp(&b.train_loss))
        .unwrap()
        .epoch;
    assert_eq!(metrics.best_epoch, Some(lowest));
    // The record loads, so the run resumes.
    config.training.epochs = 3;
    let resumed = train(
        config,
        TrainOptions {
            resume: true,
            force: false,
        },
    )
    .unwrap();
    assert_eq!(resumed.metrics.epochs.len(), 3);
}

#[test]
fn a_run_stopped_before_its_test_evaluation_is_finished_by_resume() {
    let out = common::scratch("train-finish");
    let done = train(subset_config(&out, "finish", 2), TrainOptions::default()).unwrap();
    let run = out.join("finish");
    // As if killed after the last epoch's checkpoint, before the evaluation: no model.bpk and
    // no test record.
    std::fs::remove_file(run.join("model.bpk")).unwrap();
    let mut metrics = RunMetrics::load(&run.join("metrics.json")).unwrap();
    metrics.test = None;
    metrics.save(&run.join("metrics.json")).unwrap();
    let resume = TrainOptions {
        resume: true,
        force: false,
    };
    let finished = train(subset_config(&out, "finish", 2), resume).unwrap();
    assert_eq!(finished.metrics.epochs, done.metrics.epochs);
    assert_eq!(finished.test.confusion, done.test.confusion);
    assert!(run.join("model.bpk").is_file());
    // Without metrics.json the checkpoints cannot be matched to epochs: refused, not restarted.
    std::fs::remove_file(run.join("metrics.json")).unwrap();
    let err = train(subset_config(&out, "finish", 3), resume).unwrap_err();
    assert!(err.to_string().contains("no metrics.json"), "{err}");
    // Nor can another precision resume the run.
    let mut f64_config = subset_config(&out, "finish", 3);
    f64_config.precision = neurona::backend::Precision::F64;
    let err = train(f64_config, resume).unwrap_err();
    assert!(err.to_string().contains("precision"), "{err}");
}
