//! Counts of the copies between the host and the devices that neurona's training loop makes:
//! batches uploaded (images and labels, or row indices into a device-resident copy) and values
//! read back (the epoch metrics). Process-wide, so `metrics.json` can record them per epoch and
//! show what a data path costs. burn-train's own copies (checkpoints read the weights once per
//! epoch) are not counted here.
//!
//! Uploads happen on the learner's thread and reads on burn-train's event thread, which runs
//! behind it: when the event thread closes epoch `e`, the learner may already be loading epoch
//! `e + 1`. So uploads are split at the moment the training loader starts each epoch
//! (`mark_epoch_start`), on the learner's thread, and reads at the event thread's epoch end.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

static UPLOADS: AtomicU64 = AtomicU64::new(0);
static UPLOAD_BYTES: AtomicU64 = AtomicU64::new(0);
static READS: AtomicU64 = AtomicU64::new(0);
static READ_BYTES: AtomicU64 = AtomicU64::new(0);

/// Copies made between two moments (see [`Transfers::now`] and `Transfers::since`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfers {
    /// Host → device copies and their bytes.
    pub uploads: u64,
    pub upload_bytes: u64,
    /// Device → host reads and their bytes.
    pub reads: u64,
    pub read_bytes: u64,
}

impl Transfers {
    /// The counts since the process started.
    pub fn now() -> Self {
        Self {
            uploads: UPLOADS.load(Ordering::Relaxed),
            upload_bytes: UPLOAD_BYTES.load(Ordering::Relaxed),
            reads: READS.load(Ordering::Relaxed),
            read_bytes: READ_BYTES.load(Ordering::Relaxed),
        }
    }

    /// The copies made since `earlier`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            uploads: self.uploads - earlier.uploads,
            upload_bytes: self.upload_bytes - earlier.upload_bytes,
            reads: self.reads - earlier.reads,
            read_bytes: self.read_bytes - earlier.read_bytes,
        }
    }
}

/// The counts when the training loader started each epoch (its 0-based epoch number).
static EPOCH_STARTS: Mutex<Vec<(usize, Transfers)>> = Mutex::new(Vec::new());

/// Records that the training loader starts epoch `epoch` (0-based). Several devices each start
/// their slice of an epoch; the first start counts.
pub(crate) fn mark_epoch_start(epoch: usize) {
    let now = Transfers::now();
    let mut starts = EPOCH_STARTS.lock().unwrap_or_else(|e| e.into_inner());
    if !starts.iter().any(|(e, _)| *e == epoch) {
        starts.push((epoch, now));
    }
}

/// Forgets the epoch starts of an earlier training in this process (a new loader begins).
pub(crate) fn forget_epoch_starts() {
    EPOCH_STARTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

/// The uploads (count, bytes) of the loader's epoch `epoch`: from its start to the next epoch's,
/// or to now while it is the last one started.
pub(crate) fn uploads_of_epoch(epoch: usize) -> Option<(u64, u64)> {
    // Read the counters before the marks: if the next epoch has not started by the time the
    // marks are read, none of its uploads are in `now`.
    let now = Transfers::now();
    let starts = EPOCH_STARTS.lock().unwrap_or_else(|e| e.into_inner());
    let at = |epoch: usize| starts.iter().find(|(e, _)| *e == epoch).map(|(_, t)| *t);
    let start = at(epoch)?;
    let end = at(epoch + 1).unwrap_or(now);
    let copies = end.since(start);
    Some((copies.uploads, copies.upload_bytes))
}

/// One host → device copy of `bytes`.
pub(crate) fn record_upload(bytes: usize) {
    UPLOADS.fetch_add(1, Ordering::Relaxed);
    UPLOAD_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// One device → host read of `bytes`.
pub(crate) fn record_read(bytes: usize) {
    READS.fetch_add(1, Ordering::Relaxed);
    READ_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}
