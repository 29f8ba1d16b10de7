//! Sampling rows: a seeded shuffle, a train/validation split, k folds, a Burn dataset of row
//! indices, and a training loader whose order per epoch depends on the seed and the epoch alone. One fixed, documented generator (SplitMix64), so a split is the same on every
//! platform and Burn version.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::Device;

/// SplitMix64: the one generator behind every shuffle, split and generated data set.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on `[0, 1)`, from the top 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller (one of the pair; the generator stays simple to replay).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // (0, 1]: the logarithm stays finite
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Fisher–Yates with SplitMix64.
pub(crate) fn shuffle(items: &mut [usize], seed: u64) {
    let mut generator = SplitMix64::new(seed);
    for i in (1..items.len()).rev() {
        let j = (generator.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Seeded split of `0..n` into (train, validation); validation gets `round(n · fraction)` items,
/// at least one when `fraction > 0`, and training keeps at least one.
pub fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut indices: Vec<usize> = (0..n).collect();
    shuffle(&mut indices, seed);
    let mut n_valid = (n as f64 * fraction).round() as usize;
    if fraction > 0.0 {
        n_valid = n_valid.max(1);
    }
    n_valid = n_valid.min(n.saturating_sub(1));
    let valid = indices.split_off(n - n_valid);
    (indices, valid)
}

/// Row indices of each of `k` folds: contiguous like scikit-learn's `KFold(k)` (the first
/// `n mod k` folds one row longer), after a seeded shuffle when `shuffle = true`.
pub fn folds(n: usize, k: usize, shuffle_rows: bool, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle_rows {
        shuffle(&mut order, seed);
    }
    let mut start = 0;
    (0..k)
        .map(|f| {
            let len = n / k + usize::from(f < n % k);
            let fold = order[start..start + len].to_vec();
            start += len;
            fold
        })
        .collect()
}

/// A dataset of row indices: the rows themselves stay in one shared buffer until batching.
#[derive(Debug, Clone)]
pub(crate) struct IndexDataset(pub Vec<usize>);

impl Dataset<usize> for IndexDataset {
    fn get(&self, index: usize) -> Result<usize, DatasetError> {
        self.0.get(index).copied().ok_or_else(|| {
            DatasetError::new(std::io::Error::other(format!(
                "index {index} out of {}",
                self.0.len()
            )))
        })
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The seed of epoch `epoch`'s order (0 for the first epoch): the run's seed and the epoch mixed
/// so that neighbouring seeds do not share epochs.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch as u64
}

/// Mixed into the run's seed for the device's generator at each epoch, so that it is not the
/// generator that orders the epoch.
const RANDOM_STREAM: u64 = 0xD0D0_5EED_0000_0001;

/// A training-data loader whose epoch `e` visits the rows in the order of a shuffle seeded by
/// the run's seed and `e` alone. Burn's own shuffling draws every epoch from one generator that
/// lives only in memory, so a resumed run saw other batches than an uninterrupted one; here the
/// order needs no saved state, and a run resumed after epoch `k` sees what it would have seen —
/// the same batches and, since the device's generator is reseeded per epoch too, the same
/// dropout masks.
pub(crate) struct EpochShuffled<O> {
    rows: Arc<Vec<usize>>,
    batch_size: usize,
    batcher: Arc<dyn Batcher<usize, O>>,
    device: Device,
    seed: u64,
    /// Epochs started so far, shared with the copies `to_device` and `slice` make.
    epochs: Arc<AtomicUsize>,
}

impl<O> EpochShuffled<O> {
    /// A loader over `rows` whose first epoch is epoch `first_epoch` (0 for a new run).
    pub fn new(
        rows: Vec<usize>,
        batch_size: usize,
        batcher: impl Batcher<usize, O> + 'static,
        device: &Device,
        seed: u64,
        first_epoch: usize,
    ) -> Self {
        crate::transfers::forget_epoch_starts();
        Self {
            rows: Arc::new(rows),
            batch_size: batch_size.max(1),
            batcher: Arc::new(batcher),
            device: device.clone(),
            seed,
            epochs: Arc::new(AtomicUsize::new(first_epoch)),
        }
    }

    fn with_rows(&self, rows: Arc<Vec<usize>>, device: &Device) -> Self {
        Self {
            rows,
            batch_size: self.batch_size,
            batcher: self.batcher.clone(),
            device: device.clone(),
            seed: self.seed,
            epochs: self.epochs.clone(),
        }
    }
}

impl<O: Send + 'static> DataLoader<O> for EpochShuffled<O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let epoch = self.epochs.fetch_add(1, Ordering::SeqCst);
        crate::transfers::mark_epoch_start(epoch);
        // From the second epoch on, the device's generator (dropout's masks) starts each epoch
        // from the run's seed and the epoch alone, like the order: a run resumed after epoch
        // `k` draws the masks an uninterrupted run draws. The first epoch goes on from the
        // weights' initialisation, as it always has.
        if epoch > 0 {
            self.device
                .seed(epoch_seed(self.seed ^ RANDOM_STREAM, epoch));
        }
        let mut order = self.rows.to_vec();
        shuffle(&mut order, epoch_seed(self.seed, epoch));
        Box::new(EpochBatches {
            loader: self,
            order,
            done: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.rows.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        Arc::new(self.with_rows(self.rows.clone(), device))
    }

    /// A slice for one of several devices: its own epoch count (from this loader's), since each
    /// device's slice starts every epoch once.
    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        let end = end.min(self.rows.len());
        let rows = self.rows[start.min(end)..end].to_vec();
        let mut slice = self.with_rows(Arc::new(rows), &self.device);
        slice.epochs = Arc::new(AtomicUsize::new(self.epochs.load(Ordering::SeqCst)));
        Arc::new(slice)
    }
}

/// One epoch of [`EpochShuffled`]: consecutive batches of the epoch's order.
struct EpochBatches<'a, O> {
    loader: &'a EpochShuffled<O>,
    order: Vec<usize>,
    done: usize,
}

impl<O> Iterator for EpochBatches<'_, O> {
    type Item = Result<O, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done >= self.order.len() {
            return None;
        }
        let end = (self.done + self.loader.batch_size).min(self.order.len());
        let items = self.order[self.done..end].to_vec();
        self.done = end;
        Some(Ok(self.loader.batcher.batch(items, &self.loader.device)))
    }
}

impl<O> DataLoaderIterator<O> for EpochBatches<'_, O> {
    fn progress(&self) -> Progress {
        Progress::new(self.done, self.order.len(), None)
    }
}

/// At most `max` of `items` (at least 2 when there are), evenly spaced and always with the
/// first and the last: how curves and scatter plots stay small on big data.
pub(crate) fn thin<T: Clone>(items: &[T], max: usize) -> Vec<T> {
    let max = max.max(2);
    if items.len() <= max {
        return items.to_vec();
    }
    let last = items.len() - 1;
    (0..max)
        .map(|i| items[i * last / (max - 1)].clone())
        .collect()
}
