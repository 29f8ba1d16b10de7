//! Models that leave neurona and come back: PyTorch's own weights (`.pt` fixtures written by
//! PyTorch, with PyTorch's answers) give PyTorch's answers; an exported run imports back to the
//! same predictions; a file that does not fit is refused naming the tensors. The numpy check of
//! exported files is `tests/interop/check.py` (another runtime, run by `.ci/run`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use neurona::classifier::config::MlpConfig;
use neurona::classifier::pytorch_layout;
use neurona::experiment::ExperimentFile;
use neurona::interop::tensors::Raw;
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/torch";

fn fixture_config(name: &str) -> MlpConfig {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}.toml")).unwrap();
    MlpConfig::checked(&text, Path::new(&format!("{name}.toml"))).unwrap()
}

fn probabilities(config: &MlpConfig, weights: &Path, inputs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let device = neurona::backend::device(config.backend, config.precision).unwrap();
    let network = config.model.init(config.input_shape(), 10, &device);
    let model = pytorch_layout::load(network, weights).unwrap();
    let flat: Vec<f64> = inputs.iter().flatten().copied().collect();
    let x = Tensor::<2>::from_data(TensorData::new(flat, [inputs.len(), 784]), &device);
    let p = neurona::numeric::to_f64s(softmax(model.forward(x), 1));
    p.chunks(10).map(<[f64]>::to_vec).collect()
}

#[test]
fn pytorch_weights_give_pytorchs_answers() {
    // Written once by PyTorch (tests/fixtures/torch/make.py): conv + max-pool + dense, maxout,
    // LSTM, GRU + dense, strided valid conv + RNN, conv + batch norm + max-pool + dense + batch
    // norm (eval mode: PyTorch's running estimates, set away from 0 and 1). Gate orders, weight layouts, the reset gate's
    // place in the GRU and the image read row by row all have to agree for these to match.
    let expected: Value =
        serde_json::from_slice(&std::fs::read(format!("{FIXTURES}/expected.json")).unwrap())
            .unwrap();
    let inputs: Vec<Vec<f64>> = serde_json::from_value(expected["inputs"].clone()).unwrap();
    let answers = expected["probabilities"].as_object().unwrap();
    assert_eq!(answers.len(), 6);
    for (name, torch) in answers {
        let torch: Vec<Vec<f64>> = serde_json::from_value(torch.clone()).unwrap();
        let ours = probabilities(
            &fixture_config(name),
            Path::new(&format!("{FIXTURES}/{name}.pt")),
            &inputs,
        );
        let worst = ours
            .iter()
            .flatten()
            .zip(torch.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!("{name}: max |Δp| against PyTorch {worst:.1e}");
        assert!(worst < 1e-5, "{name}: max |Δp| = {worst:e}");
        // Not a trivial agreement: the answers are far from uniform.
        let top = torch.iter().flatten().fold(0.0, |a: f64, b| a.max(*b));
        let bottom = torch.iter().flatten().fold(1.0, |a: f64, b| a.min(*b));
        assert!(
            top - bottom > 0.2,
            "{name}: PyTorch's answers are all near 0.1"
        );
    }
}

fn tensors_of(path: &Path) -> BTreeMap<String, Raw> {
    neurona::interop::tensors::read_file(path).unwrap()
}

#[test]
fn an_exported_run_evaluates_the_same_and_a_file_that_does_not_fit_is_refused_by_name() {
    let out = common::scratch("export");
    let stack = common::stacks::layer("conv2d", "channels = 3\nkernel = 3")
        + &common::stacks::layer("max_pool2d", "size = 2")
        + &common::stacks::layer("lstm", "units = 4");
    let config = common::stacks::tiny(&out, "run", &stack, 1);
    neurona::classifier::training::train(config.clone(), Default::default()).unwrap();
    let run = out.join("run");
    let bin = env!("CARGO_BIN_EXE_neurona");
    let ok = |args: &[&str]| {
        let done = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(
            done.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        String::from_utf8_lossy(&done.stdout).to_string()
    };
    ok(&["export", run.to_str().unwrap()]);
    let file = run.join("model.safetensors");
    // PyTorch's names and shapes: a conv weight [out, in, kh, kw], the LSTM's four gates stacked
    // [4H, in], the output layer [out, in].
    let tensors = tensors_of(&file);
    let shapes: BTreeMap<&str, Vec<usize>> = tensors
        .iter()
        .map(|(k, v)| (k.as_str(), v.shape.clone()))
        .collect();
    assert_eq!(
        shapes,
        BTreeMap::from([
            ("layers.0.weight", vec![3, 1, 3, 3]),
            ("layers.0.bias", vec![3]),
            ("layers.2.weight_ih_l0", vec![16, 42]),
            ("layers.2.weight_hh_l0", vec![16, 4]),
            ("layers.2.bias_ih_l0", vec![16]),
            ("layers.2.bias_hh_l0", vec![16]),
            ("output.weight", vec![10, 4]),
            ("output.bias", vec![10]),
        ])
    );
    // The ONNX export is a protobuf model whose graph names the layers' operators (onnxruntime
    // runs it in tests/interop/check.py).
    ok(&["export", run.to_str().unwrap(), "--format", "onnx"]);
    let onnx = std::fs::read(run.join("model.onnx")).unwrap();
    let model =
        <neurona::interop::onnx::proto::ModelProto as prost::Message>::decode(&onnx[..]).unwrap();
    let graph = model.graph.unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    for op in ["Conv", "MaxPool", "LSTM", "Gemm", "Softmax"] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    assert_eq!(model.opset_import[0].version, 17);
    assert_eq!(graph.input[0].name, "pixels");
    assert_eq!(graph.output[0].name, "probabilities");
    // Evaluating the exported weights instead of model.bpk gives the recorded test metrics.
    let recorded: Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    ok(&[
        "eval",
        run.to_str().unwrap(),
        "--checkpoint",
        file.to_str().unwrap(),
    ]);
    let evaluated: Value =
        serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(evaluated["accuracy"], recorded["test"]["accuracy"]);
    assert_eq!(evaluated["loss"], recorded["test"]["loss"]);

    // Weights that are not finite or absurdly large are refused naming the tensor, by eval and
    // by init_from alike, and a refused eval leaves the good eval.json as it was.
    let good_eval = std::fs::read(run.join("eval.json")).unwrap();
    for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38] {
        let mut poisoned = tensors.clone();
        let weight = poisoned.get_mut("layers.2.weight_hh_l0").unwrap();
        assert_eq!(weight.bytes.len(), 16 * 4 * 4, "f32 weights");
        weight.bytes[20..24].copy_from_slice(&value.to_le_bytes());
        let file = out.join("poisoned.safetensors");
        std::fs::write(
            &file,
            neurona::interop::tensors::write(&poisoned, None).unwrap(),
        )
        .unwrap();
        let done = std::process::Command::new(bin)
            .args(["eval", run.to_str().unwrap(), "--checkpoint"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(2), "{value}: {stderr}");
        assert!(
            stderr.contains("layers.2") && stderr.contains("flat index 5"),
            "{value}: {stderr}"
        );
        assert_eq!(std::fs::read(run.join("eval.json")).unwrap(), good_eval);
        let mut start = config.clone();
        start.output.dir = out.join("from-poisoned");
        start.model.init_from = Some(file.clone());
        let error = neurona::classifier::training::train(start, Default::default()).unwrap_err();
        assert!(error.to_string().contains("flat index 5"), "{error}");
    }

    // Missing, extra and misshapen tensors are named.
    let mut broken = tensors.clone();
    broken.remove("layers.2.bias_hh_l0");
    let extra = broken["output.bias"].clone();
    broken.insert("layers.5.weight".into(), extra);
    let mut wide = broken["output.weight"].clone();
    wide.shape = vec![5, 8];
    broken.insert("output.weight".into(), wide);
    let bad = out.join("bad.safetensors");
    std::fs::write(
        &bad,
        neurona::interop::tensors::write(&broken, None).unwrap(),
    )
    .unwrap();
    let device = neurona::backend::device(config.backend, config.precision).unwrap();
    let network = config.model.init(config.input_shape(), 10, &device);
    let error = pytorch_layout::load(network, &bad).unwrap_err().to_string();
    for needle in [
        "missing: layers.2.bias_hh_l0 [16]",
        "not in the network: layers.5.weight [10]",
        "output.weight is [5, 8] in the file, the network needs [10, 4]",
    ] {
        assert!(error.contains(needle), "{needle}\n{error}");
    }
    // The CLI says the same with exit code 2, as for any bad input.
    let done = std::process::Command::new(bin)
        .args(["eval", run.to_str().unwrap(), "--checkpoint"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&done.stderr).contains("missing: layers.2.bias_hh_l0"));
}

#[test]
fn a_new_run_starts_from_imported_weights() {
    // A run trained for 3 epochs, exported; a new run from its weights with a learning rate too
    // small to move them validates as the first did at its end, while one from a random init
    // does not come close.
    let out = common::scratch("init-from");
    let stack = common::stacks::layer("dense", "units = 32");
    let mut source = common::stacks::tiny(&out, "source", &stack, 3);
    source.data.validation_fraction = 0.2;
    neurona::classifier::training::train(source.clone(), Default::default()).unwrap();
    neurona::classifier::export::export(
        &out.join("source"),
        neurona::interop::Format::Safetensors,
        None,
    )
    .unwrap();
    let last_loss = |run: &str| -> f64 {
        let m: Value =
            serde_json::from_slice(&std::fs::read(out.join(run).join("metrics.json")).unwrap())
                .unwrap();
        m["epochs"].as_array().unwrap().last().unwrap()["valid_loss"]
            .as_f64()
            .unwrap()
    };
    let start = |name: &str, init_from: Option<std::path::PathBuf>| {
        let mut config = source.clone();
        config.output.name = Some(name.into());
        config.training.epochs = 1;
        config.optimizer.learning_rate = 1e-9;
        config.model.init_from = init_from;
        neurona::classifier::training::train(config, Default::default()).unwrap();
        last_loss(name)
    };
    // Weights that do not fit are refused before the run is written.
    let mut narrow = source.clone();
    narrow.output.name = Some("narrow".into());
    narrow.model.layers = vec![];
    narrow.model.hidden = Some(vec![8]);
    narrow.model.init_from = Some(out.join("source").join("model.safetensors"));
    let error = neurona::classifier::training::train(narrow, Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("wrong shape: layers.0.bias is [32]"),
        "{error}"
    );
    assert!(!out.join("narrow").join("config.toml").exists());
    let imported = start(
        "imported",
        Some(out.join("source").join("model.safetensors")),
    );
    let fresh = start("fresh", None);
    let trained = last_loss("source");
    assert!(
        (imported - trained).abs() < 1e-4 * trained,
        "{imported} vs {trained}"
    );
    assert!(fresh > 1.5 * trained, "{fresh} vs {trained}");
}

#[test]
fn a_linear_model_exports_on_the_original_scale() {
    // Lasso on Hitters, fitted on z-scored features: the exported weights apply to the raw
    // design rows and give the training error the fit reported.
    let out = common::scratch("glm-export");
    let text = std::fs::read_to_string("configs/hitters-lasso.toml").unwrap();
    let mut config = neurona::glm::linear::config::LinearConfig::checked(
        &text,
        Path::new("configs/hitters-lasso.toml"),
    )
    .unwrap();
    config.output.dir = out.clone();
    assert!(config.data.standardize);
    let report = neurona::glm::linear::train(&config, neurona::run_dir::Start::New).unwrap();
    let run = out.join("hitters-lasso");
    let model = neurona::glm::export::linear_model(&run).unwrap();
    let mut raw = config.data.clone();
    raw.standardize = false;
    let design = neurona::glm::data::load(&raw).unwrap();
    assert_eq!(model.features, design.feature_names);
    let predictions = &design.x * nalgebra::DVector::from_vec(model.weight[0].clone());
    let mse = predictions
        .iter()
        .zip(design.y.iter())
        .map(|(p, y)| (p + model.bias[0] - y).powi(2))
        .sum::<f64>()
        / design.y.len() as f64;
    assert!(
        (mse / report.train.mse - 1.0).abs() < 1e-9,
        "{mse} vs {}",
        report.train.mse
    );
    // Both files are written beside the run's results.
    for format in [
        neurona::interop::Format::Safetensors,
        neurona::interop::Format::Onnx,
    ] {
        let file = neurona::glm::export::export(&run, format, None).unwrap();
        assert!(std::fs::metadata(file).unwrap().len() > 100);
    }
    let tensors = neurona::interop::tensors::read_file(&run.join("model.safetensors")).unwrap();
    assert_eq!(
        tensors["linear.weight"].shape,
        vec![1, model.features.len()]
    );
}
