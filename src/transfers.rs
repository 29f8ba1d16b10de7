//! Counts of the copies between the host and the devices that neurona's training loop makes:
//! batches uploaded (images and labels, or row indices into a device-resident copy) and values
//! read back (the epoch metrics). Process-wide, so `metrics.json` can record them per epoch and
//! show what a data path costs. burn-train's own copies (checkpoints read the weights once per
//! epoch) are not counted here.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

static UPLOADS: AtomicU64 = AtomicU64::new(0);
static UPLOAD_BYTES: AtomicU64 = AtomicU64::new(0);
static READS: AtomicU64 = AtomicU64::new(0);
static READ_BYTES: AtomicU64 = AtomicU64::new(0);

/// Copies made between two moments (see [`Transfers::now`] and [`Transfers::since`]).
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
    pub fn since(self, earlier: Self) -> Self {
        Self {
            uploads: self.uploads - earlier.uploads,
            upload_bytes: self.upload_bytes - earlier.upload_bytes,
            reads: self.reads - earlier.reads,
            read_bytes: self.read_bytes - earlier.read_bytes,
        }
    }
}

/// One host → device copy of `bytes`.
pub fn record_upload(bytes: usize) {
    UPLOADS.fetch_add(1, Ordering::Relaxed);
    UPLOAD_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// One device → host read of `bytes`.
pub fn record_read(bytes: usize) {
    READS.fetch_add(1, Ordering::Relaxed);
    READ_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}
