//! Test-set evaluation: loss, accuracy, confusion matrix and per-class precision/recall, and the
//! image-by-image analysis kept beside them (`analysis`).
//! The same function serves the in-process evaluation after training and `neurona eval` from a
//! checkpoint, with the same batches in the same order, so both give identical numbers.

use std::fmt;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use burn::tensor::activation::softmax;

use crate::classifier::analysis::{self, Analysis, Collector};
use crate::classifier::config::MlpConfig;
use crate::classifier::data::batcher::ImageBatcher;
use crate::classifier::data::{MnistData, NUM_CLASSES};
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Overrides};
use crate::metrics::{ClassMetrics, accuracy, class_metrics};
use crate::network::model::Network;
use crate::numeric::{scalar, to_f64s, to_i64s};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The weights evaluated.
    pub checkpoint: PathBuf,
    pub images: usize,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction in [0, 1].
    pub accuracy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    pub classes: Vec<ClassMetrics>,
}

/// Evaluates `model` on `indices` of the batcher's images, batch by batch in order: the report,
/// and what it gets wrong image by image.
pub fn evaluate(
    model: &Network,
    batcher: &ImageBatcher,
    indices: &[usize],
    batch_size: usize,
    class_names: &[&str],
    device: &Device,
    checkpoint: &Path,
) -> (EvalReport, Analysis) {
    let mut collector = Collector::new(class_names);
    let mut loss_sum = 0.0f64;
    for chunk in indices.chunks(batch_size.max(1)) {
        let out = model.forward_classification(batcher.make(chunk, device));
        loss_sum += scalar(out.loss) * chunk.len() as f64;
        let predicted = to_i64s(out.output.clone().argmax(1));
        let probabilities = to_f64s(softmax(out.output, 1));
        for (row, (&i, &p)) in chunk.iter().zip(&predicted).enumerate() {
            collector.add(
                batcher.images.labels[i] as usize,
                p as usize,
                &probabilities[row * NUM_CLASSES..(row + 1) * NUM_CLASSES],
            );
        }
    }
    let analysis = collector.finish();
    let n = indices.len();
    let confusion = analysis.matrix.clone();
    let classes = class_metrics(&confusion, class_names);
    let report = EvalReport {
        checkpoint: checkpoint.to_path_buf(),
        images: n,
        loss: loss_sum / n.max(1) as f64,
        accuracy: accuracy(&confusion),
        confusion,
        classes,
    };
    (report, analysis)
}

/// Loads weights from `path` into a freshly built model of `config`'s architecture and
/// precision.
pub fn load_model(config: &MlpConfig, path: &Path, device: &Device) -> Result<Network> {
    let network = config
        .model
        .init(config.input_shape(), NUM_CLASSES, device)
        .with_kernels(config.training.kernels);
    let architecture = format!(
        "the model in the run's config ({})",
        config.model.describe()
    );
    // A checkpoint of this run, or weights from elsewhere in PyTorch's layout.
    let model = if crate::network::config::is_pytorch_file(path) {
        crate::classifier::pytorch_layout::load(network, path)?
    } else {
        crate::network::store::load(network, path, &architecture)?
    };
    // Weights of another precision load, but the first matrix product would panic.
    let expected = DType::from(config.precision.dtype());
    let found = model.weight_dtype();
    if found != expected {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!(
                "holds {found:?} weights, but the run computes in {:?} (precision = \"{}\")",
                expected,
                format!("{:?}", config.precision).to_lowercase()
            ),
        });
    }
    Ok(model)
}

/// `neurona eval`: reloads a run's config and weights (best model unless `checkpoint` is given),
/// evaluates on the test set, prints the report and writes `eval.json` into the run directory.
pub fn eval_run(
    run_dir: &Path,
    checkpoint: Option<&Path>,
    overrides: Overrides,
) -> Result<EvalReport> {
    let config = MlpConfig::load_run(run_dir)?.overridden(overrides);
    let device = config.device()?;
    let path = checkpoint
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run_dir.join("model.bpk"));
    let model = load_model(&config, &path, &device)?;
    let data = MnistData::load(&config.data, config.seed)?;
    let (report, analysis) = evaluate_test(&model, &config, &data, &device, &path)?;
    // Finite weights can still overflow on the way to the loss: that is no evaluation to keep.
    if !report.loss.is_finite() {
        return Err(Error::Checkpoint {
            path,
            reason: format!(
                "its test loss is {}: the weights overflow on the test images; eval.json is left \
                 as it was",
                report.loss
            ),
        });
    }
    crate::run_dir::write_json(&run_dir.join("eval.json"), &report)?;
    crate::run_dir::write_json(&run_dir.join(analysis::FILE), &analysis)?;
    Ok(report)
}

/// Evaluation on the whole (possibly limited) test set.
pub(crate) fn evaluate_test(
    model: &Network,
    config: &MlpConfig,
    data: &MnistData,
    device: &Device,
    checkpoint: &Path,
) -> Result<(EvalReport, Analysis)> {
    let batcher = ImageBatcher {
        images: data.test.clone(),
        normalization: data.normalization,
    };
    let indices: Vec<usize> = (0..data.test.len()).collect();
    let names = config.data.dataset.spec().class_names;
    Ok(evaluate(
        model,
        &batcher,
        &indices,
        config.training.batch_size,
        &names,
        device,
        checkpoint,
    ))
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "test images {}  loss {:.4}  accuracy {:.2}%",
            self.images,
            self.loss,
            100.0 * self.accuracy
        )?;
        writeln!(
            f,
            "{:<12} {:>9} {:>9} {:>8}",
            "class", "precision", "recall", "support"
        )?;
        for c in &self.classes {
            writeln!(
                f,
                "{:<12} {:>8.2}% {:>8.2}% {:>8}",
                c.class,
                100.0 * c.precision,
                100.0 * c.recall,
                c.support
            )?;
        }
        writeln!(f, "confusion matrix (rows: true class, columns: predicted)")?;
        for (c, row) in self.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:>5}")).collect();
            writeln!(f, "{:<12} {}", self.classes[c].class, cells.join(""))?;
        }
        Ok(())
    }
}
