//! What a run leaves behind besides weights: `metrics.json` (per epoch, then the test metrics),
//! written atomically after every epoch so a killed run keeps everything it completed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::EvalReport;

/// One completed epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// Fraction in [0, 1]; absent for regression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    pub valid_loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_accuracy: Option<f64>,
    /// Wall-clock seconds for the epoch, training and validation together.
    pub seconds: f64,
}

/// Contents of `metrics.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub run: String,
    pub dataset: String,
    pub backend: String,
    pub device: String,
    pub precision: String,
    pub epochs: Vec<EpochRecord>,
    /// Epoch with the lowest validation loss; its weights are `model.bpk`.
    pub best_epoch: Option<usize>,
    /// In-process evaluation of `model.bpk` on the test set right after training.
    pub test: Option<EvalReport>,
}

impl RunMetrics {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::Data(format!(
                "{} is not a neurona metrics file: {e}",
                path.display()
            ))
        })
    }

    /// The epoch with the lowest validation loss (the first one on ties).
    pub fn best(&self) -> Option<&EpochRecord> {
        self.epochs
            .iter()
            .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

/// Writes pretty JSON through a temporary file and a rename, so readers never see half a file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}
