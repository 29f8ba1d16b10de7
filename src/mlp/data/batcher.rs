//! Items to tensors: the images of a batch gathered into one host buffer, so each batch costs
//! exactly one host→device copy for the images (and one for the labels).

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;

use super::{LabelledImages, Normalization};

/// A batch of inputs (flattened images, XOR points) and their class labels.
#[derive(Debug, Clone)]
pub struct Batch {
    pub inputs: Tensor<2>,
    pub targets: Tensor<1, Int>,
}

/// Gathers the images of a batch into one host buffer.
#[derive(Debug, Clone)]
pub struct ImageBatcher {
    pub images: Arc<LabelledImages>,
    pub normalization: Normalization,
}

impl ImageBatcher {
    /// The batch for `indices` on `device`.
    pub fn make(&self, indices: &[usize], device: &Device) -> Batch {
        let width = self.images.pixels_per_image();
        let mut pixels = Vec::with_capacity(indices.len() * width);
        for &i in indices {
            self.normalization.extend(self.images.image(i), &mut pixels);
        }
        let labels: Vec<i64> = indices
            .iter()
            .map(|&i| self.images.labels[i] as i64)
            .collect();
        Batch {
            inputs: Tensor::from_data(TensorData::new(pixels, [indices.len(), width]), device),
            targets: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        }
    }
}

impl Batcher<usize, Batch> for ImageBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> Batch {
        self.make(&items, device)
    }
}
