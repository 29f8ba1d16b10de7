//! Sampling rows: a seeded shuffle, a train/validation split, k folds, and a Burn dataset of row
//! indices. One fixed, documented generator (SplitMix64), so a split is the same on every
//! platform and Burn version.

use burn::data::dataset::{Dataset, DatasetError};

/// Fisher–Yates with SplitMix64.
pub fn shuffle(items: &mut [usize], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
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
pub struct IndexDataset(pub Vec<usize>);

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
