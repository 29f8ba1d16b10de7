//! Runs written by an earlier neurona keep working. `tests/fixtures/runs-40e1dbb/` holds runs
//! trained by the binary of commit 40e1dbb (2026-12-02), before each layer kind had its own
//! file and the network's layers were one list: an image run with conv, pooling, dropout, LSTM
//! and dense layers (its experiment file beside it, `image.toml`), the XOR workshop run and a
//! Lasso run. The reference numbers were printed by that binary on those runs: the test loss
//! and accuracy of `neurona eval`, the truth table of `neurona predict`, its exports
//! (`image-export.safetensors`, `image-export.onnx`), and the training loss of the same image
//! experiment trained for four epochs in one go.

mod common;

use std::path::{Path, PathBuf};

use neurona::classifier::eval::eval_run;
use neurona::interop::Format;
use neurona::interop::tensors::read_file;

const FIXTURES: &str = "tests/fixtures/runs-40e1dbb";

/// A copy of the fixtures (evaluating and resuming write into a run).
fn copy() -> PathBuf {
    let out = common::scratch("old-runs");
    copy_dir(Path::new(FIXTURES), &out);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn an_old_image_run_evaluates_and_exports_as_it_did() {
    let runs = copy();
    let report = eval_run(&runs.join("image"), None, Default::default()).unwrap();
    // `neurona eval` of commit 40e1dbb on this run: eval.json's loss and accuracy.
    assert!(
        (report.loss - 1.7839667367935181).abs() < 1e-6,
        "{}",
        report.loss
    );
    assert_eq!(report.accuracy, 0.28);

    // The same tensors under the same PyTorch names as that binary's export.
    let exported =
        neurona::classifier::export::export(&runs.join("image"), Format::Safetensors, None)
            .unwrap();
    let ours = read_file(&exported).unwrap();
    let theirs = read_file(&Path::new(FIXTURES).join("image-export.safetensors")).unwrap();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, tensor) in &theirs {
        assert_eq!(&ours[name], tensor, "{name}");
    }
    // The ONNX graph too, byte for byte (nodes, names, weights, metadata).
    let onnx =
        neurona::classifier::export::export(&runs.join("image"), Format::Onnx, None).unwrap();
    assert_eq!(
        std::fs::read(onnx).unwrap(),
        std::fs::read(Path::new(FIXTURES).join("image-export.onnx")).unwrap()
    );
}

#[test]
fn an_old_image_run_resumes() {
    let runs = copy();
    // The experiment the run was trained with, one epoch longer, writing into the copy.
    let text = std::fs::read_to_string(runs.join("image.toml"))
        .unwrap()
        .replace("epochs = 3", "epochs = 4")
        .replace(
            "dir = \"runs\"",
            &format!("dir = {:?}", runs.display().to_string()),
        );
    let config = runs.join("image4.toml");
    std::fs::write(&config, text).unwrap();
    let before = std::fs::read_to_string(runs.join("image/metrics.json")).unwrap();
    // The binary, in a process of its own: dropout's masks come from a generator that every
    // thread of a process shares, and the other tests here draw from it too.
    common::neurona_succeeds(&["train", config.to_str().unwrap(), "--resume"]);
    let after = std::fs::read_to_string(runs.join("image/metrics.json")).unwrap();
    let epochs = serde_json::from_str::<serde_json::Value>(&after).unwrap()["epochs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(epochs.len(), 4);
    // The three epochs trained by the old binary are kept as they were.
    let old: serde_json::Value = serde_json::from_str(&before).unwrap();
    for (i, epoch) in epochs.iter().take(3).enumerate() {
        assert_eq!(epoch["train_loss"], old["epochs"][i]["train_loss"]);
    }
    // The fourth epoch continues the training: near what that binary gives the experiment
    // trained for four epochs in one go (1.7523). Not equal: that binary drew the fourth
    // epoch's dropout masks from where its generator stood (its own resume gives 1.7588); this
    // one reseeds it per epoch (1.7619).
    let fourth = epochs[3]["train_loss"].as_f64().unwrap();
    assert!((fourth - 1.7522654893663194).abs() < 0.02, "{fourth}");
}

#[test]
fn an_old_workshop_run_predicts_its_truth_table() {
    let runs = copy();
    // The binary, in a process of its own: the XOR run is f64 and this process holds f32
    // tensors.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neurona"))
        .arg("predict")
        .arg(runs.join("xor"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // P(1) of each row, as `neurona predict` of commit 40e1dbb printed them.
    let printed: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|line| line.split('|').nth(2).unwrap().trim())
        .collect();
    assert_eq!(
        printed,
        ["0.0258", "0.9491", "0.9494", "0.0668"],
        "{stdout}"
    );
}
