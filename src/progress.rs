//! Progress of a training run: the per-epoch record (`metrics.json`), written atomically after
//! every epoch so a killed run keeps everything it completed, and a metrics renderer for
//! burn-train that prints one readable line per epoch and shows a batch progress bar only on a
//! terminal. (Burn's own renderer prints a Debug dump per batch when there is no TTY.) While an
//! epoch runs, it also keeps `live.json` beside the record: where the epoch is and the last
//! batch's loss and accuracy, rewritten a few times a second, for `neurona serve`'s live chart.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::divergence::LossWatch;
use crate::error::{Error, Result};
use crate::run_dir::LIVE_FILE;

/// One completed epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// Fraction in [0, 1]; absent for regression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    /// Absent when no rows are held out for validation (never `null`: files of earlier
    /// versions that wrote `null` read the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_accuracy: Option<f64>,
    /// Wall-clock seconds for the epoch, training and validation together.
    pub seconds: f64,
    /// The host↔device copies the training loop made during the epoch (`crate::transfers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<crate::transfers::Transfers>,
}

/// Contents of `metrics.json`: the run, its epochs, and `T`, the family's final test report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics<T> {
    pub run: String,
    pub dataset: String,
    pub backend: String,
    pub device: String,
    pub precision: String,
    pub epochs: Vec<EpochRecord>,
    /// Epoch with the lowest validation loss (training loss without validation rows); its
    /// weights are `model.bpk`. Absent until an epoch is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// In-process evaluation of `model.bpk` on the test set right after training; absent until
    /// then.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub test: Option<T>,
}

impl<T> Default for RunMetrics<T> {
    fn default() -> Self {
        Self {
            run: String::new(),
            dataset: String::new(),
            backend: String::new(),
            device: String::new(),
            precision: String::new(),
            epochs: Vec::new(),
            best_epoch: None,
            test: None,
        }
    }
}

impl<T: Serialize + DeserializeOwned> RunMetrics<T> {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::Data(format!(
                "{} is not a neurona metrics file: {e}",
                path.display()
            ))
        })
    }

    /// The epoch with the lowest validation loss, or with the lowest training loss when no
    /// rows are held out for validation (the first one on ties).
    pub fn best(&self) -> Option<&EpochRecord> {
        let validated = self.epochs.iter().all(|e| e.valid_loss.is_some());
        let key = |e: &EpochRecord| match e.valid_loss {
            Some(v) if validated => v,
            _ => e.train_loss,
        };
        self.epochs.iter().min_by(|a, b| key(a).total_cmp(&key(b)))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::run_dir::write_json(path, self)
    }
}

/// What a run's final report must be to travel with the renderer across burn-train's threads.
pub(crate) trait Report: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Report for T {}

/// Shared between the renderer (which runs on burn-train's event thread) and the caller.
pub(crate) type SharedMetrics<T> = Arc<Mutex<RunMetrics<T>>>;

/// Contents of `live.json`: the epoch in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LiveProgress {
    /// The epoch running (1-based).
    pub epoch: usize,
    /// `train` or `valid`.
    pub split: String,
    /// Items of the split processed so far, of `total`.
    pub items: usize,
    pub total: usize,
    /// The last training batch's loss and accuracy (fraction), when known.
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
}

/// How often `live.json` is rewritten at most.
const LIVE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Default)]
struct EpochValues {
    /// Set when the training split ends: an epoch cut short (its device server lost, the
    /// process stopped) has none and is not a result.
    train_loss: Option<f64>,
    train_accuracy: Option<f64>,
    valid_loss: Option<f64>,
    valid_accuracy: Option<f64>,
}

pub(crate) struct EpochRenderer<T> {
    metrics: SharedMetrics<T>,
    path: PathBuf,
    names: HashMap<MetricId, String>,
    current: EpochValues,
    total_epochs: usize,
    epoch_started: Instant,
    /// The transfer counts when the epoch started.
    transfers_at_start: crate::transfers::Transfers,
    bar: Option<indicatif::ProgressBar>,
    /// `live.json`'s path (beside `path`), its current contents and when it was last written.
    live_path: PathBuf,
    live: LiveProgress,
    live_written: Option<Instant>,
    /// Which epochs have diverged: those are not results, so they are not recorded.
    divergence: LossWatch,
    /// Whether rows are held out for validation (without, its loss is absent, not NaN).
    validated: bool,
}

impl<T> EpochRenderer<T> {
    /// Records epochs into `metrics` and saves them to `path` after each one; `untrained` is the
    /// loss of a model that has learnt nothing (see [`crate::divergence`]), `validated` whether
    /// rows are held out for validation.
    pub fn new(metrics: SharedMetrics<T>, path: PathBuf, untrained: f64, validated: bool) -> Self {
        Self {
            divergence: LossWatch::new(untrained),
            validated,
            metrics,
            live_path: path.with_file_name(LIVE_FILE),
            live: LiveProgress {
                epoch: 1,
                split: String::new(),
                items: 0,
                total: 0,
                loss: None,
                accuracy: None,
            },
            live_written: None,
            path,
            names: HashMap::new(),
            current: EpochValues::default(),
            total_epochs: 0,
            epoch_started: Instant::now(),
            transfers_at_start: crate::transfers::Transfers::now(),
            bar: None,
        }
    }

    /// Keeps the epoch-level value of each metric (burn-train sends it as `Final` at split end)
    /// and the last training batch's, for `live.json`.
    fn record(&mut self, valid: bool, state: MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id) else {
            return;
        };
        let NumericEntry::Final(value) = value else {
            if !valid {
                let value = value.current();
                match name.as_str() {
                    "Loss" => self.live.loss = Some(value).filter(|v| v.is_finite()),
                    "Accuracy" => self.live.accuracy = Some(value / 100.0),
                    _ => {}
                }
            }
            return;
        };
        let c = &mut self.current;
        match (name.as_str(), valid) {
            ("Loss", false) => c.train_loss = Some(value),
            ("Loss", true) => c.valid_loss = Some(value),
            ("Accuracy", false) => c.train_accuracy = Some(value / 100.0),
            ("Accuracy", true) => c.valid_accuracy = Some(value / 100.0).filter(|v| v.is_finite()),
            _ => {}
        }
    }
}

impl<T> EpochRenderer<T> {
    /// Rewrites `live.json`, at most every [`LIVE_INTERVAL`] unless `now`. Best effort: a page
    /// that misses an update gets the next one.
    fn write_live(&mut self, now: bool) {
        if !now
            && self
                .live_written
                .is_some_and(|t| t.elapsed() < LIVE_INTERVAL)
        {
            return;
        }
        self.live_written = Some(Instant::now());
        let _ = crate::run_dir::write_json(&self.live_path, &self.live);
    }
}

impl<T: Report> MetricsRendererTraining for EpochRenderer<T> {
    fn update_train(&mut self, state: MetricState) {
        self.record(false, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(true, state);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl<T: Report> MetricsRendererEvaluation for EpochRenderer<T> {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}

    fn on_test_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl<T: Report> MetricsRenderer for EpochRenderer<T> {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id, definition.name.to_string());
    }
}

impl<T: Report> TrainingProgressLogger for EpochRenderer<T> {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.live.epoch = starting_epoch;
        if starting_epoch > 1 {
            println!("resuming at epoch {starting_epoch}/{total_epochs}");
        }
        self.epoch_started = Instant::now();
        self.transfers_at_start = crate::transfers::Transfers::now();
    }

    fn update_epoch(&mut self, epoch: usize) {
        let c = std::mem::take(&mut self.current);
        self.live.epoch = epoch + 1;
        let seconds = self.epoch_started.elapsed().as_secs_f64();
        self.epoch_started = Instant::now();
        // Reads happened on this thread, in order; uploads are split where the loader started
        // each epoch (see `crate::transfers`).
        let transfers_now = crate::transfers::Transfers::now();
        let mut transfers = transfers_now.since(self.transfers_at_start);
        self.transfers_at_start = transfers_now;
        if let Some((uploads, bytes)) = crate::transfers::uploads_of_epoch(epoch - 1) {
            transfers.uploads = uploads;
            transfers.upload_bytes = bytes;
        }
        let Some(train_loss) = c.train_loss else {
            // Its training split never ended: nothing of it is reported or recorded.
            return;
        };
        let valid_loss = c.valid_loss.filter(|_| self.validated);
        if let Some((split, detail)) = self.divergence.check_epoch(train_loss, valid_loss) {
            // A diverged epoch is not a result: it is not recorded (the learner stops on it,
            // with the same rule).
            println!(
                "epoch {epoch:>3}/{}  {split} loss {detail}: diverged",
                self.total_epochs
            );
            return;
        }
        let record = EpochRecord {
            epoch,
            train_loss,
            train_accuracy: c.train_accuracy,
            valid_loss,
            valid_accuracy: c.valid_accuracy.filter(|_| self.validated),
            seconds,
            // Families whose loops count nothing (the GLM learner) record nothing.
            transfers: Some(transfers).filter(|t| *t != crate::transfers::Transfers::default()),
        };
        let accuracy =
            |a: Option<f64>| a.map_or(String::new(), |a| format!(" acc {:6.2}%", 100.0 * a));
        let valid = record
            .valid_loss
            .map_or("no validation rows".to_string(), |v| {
                format!("valid loss {v:.4}{}", accuracy(record.valid_accuracy))
            });
        let line = format!(
            "epoch {epoch:>3}/{}  train loss {:.4}{}  {valid}  {seconds:.2}s",
            self.total_epochs,
            record.train_loss,
            accuracy(record.train_accuracy),
        );
        let mut metrics = self.metrics.lock().expect("metrics lock");
        metrics.epochs.retain(|r| r.epoch < epoch);
        metrics.epochs.push(record);
        metrics.best_epoch = metrics.best().map(|r| r.epoch);
        if let Err(e) = metrics.save(&self.path) {
            eprintln!("warning: could not save {}: {e}", self.path.display());
        }
        // Printed after saving: whoever sees the line can rely on the record being on disk.
        println!("{line}");
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.live.split = split.to_string();
        self.live.total = total_items;
        self.live.items = 0;
        self.write_live(true);
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total_items as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg:>5} {bar:40} {pos}/{len} {per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar.set_message(split.to_string());
            self.bar = Some(bar);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        self.live.items = items_processed;
        self.write_live(false);
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
        }
    }

    fn end_split(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Training is over: nothing is live any more.
    fn end(&mut self) {
        let _ = std::fs::remove_file(&self.live_path);
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl<T: Report> EvaluationProgressLogger for EpochRenderer<T> {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}
