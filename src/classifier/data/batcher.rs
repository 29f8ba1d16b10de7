//! Items to tensors, two ways. [`ImageBatcher`] gathers the images of a batch into one host
//! buffer, so each batch costs exactly one host→device copy for the images (and one for the
//! labels). `ResidentImages` copies the whole image set to each device once and gathers every
//! batch there from its row indices: one small copy per batch, which is what makes a GPU or a
//! remote device pay off.

use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;

use super::{LabelledImages, Normalization};
use crate::network::model::Batch;

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
        crate::transfers::record_upload(std::mem::size_of_val(pixels.as_slice()));
        crate::transfers::record_upload(std::mem::size_of_val(labels.as_slice()));
        Batch {
            inputs: Tensor::from_data(TensorData::new(pixels, [indices.len(), width]), device),
            targets: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        }
    }
}

/// The image set resident on the devices: uploaded to each device on its first batch (prepared
/// exactly as [`ImageBatcher`] prepares a batch, so the values are identical), then batches are
/// gathered on the device with `select`.
#[derive(Clone)]
pub(crate) struct ResidentImages {
    batcher: ImageBatcher,
    /// Every image and label, per device (kept without autodiff; training batches get it back).
    on_device: Arc<Mutex<Vec<(Device, Batch)>>>,
}

impl ResidentImages {
    pub fn new(batcher: ImageBatcher) -> Self {
        Self {
            batcher,
            on_device: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// All images on `device`, uploading them on first use.
    fn all_on(&self, device: &Device) -> Batch {
        let mut cache = self.on_device.lock().expect("resident images lock");
        if let Some((_, all)) = cache.iter().find(|(d, _)| d == device) {
            return all.clone();
        }
        let rows: Vec<usize> = (0..self.batcher.images.len()).collect();
        let all = self.batcher.make(&rows, &device.clone().inner());
        cache.push((device.clone(), all.clone()));
        all
    }
}

impl Batcher<usize, Batch> for ResidentImages {
    fn batch(&self, items: Vec<usize>, device: &Device) -> Batch {
        let all = self.all_on(device);
        let rows: Vec<i64> = items.iter().map(|&i| i as i64).collect();
        crate::transfers::record_upload(std::mem::size_of_val(rows.as_slice()));
        let rows = Tensor::<1, Int>::from_data(
            TensorData::new(rows, [items.len()]),
            &device.clone().inner(),
        );
        let batch = Batch {
            inputs: all.inputs.select(0, rows.clone()),
            targets: all.targets.select(0, rows),
        };
        if device.is_autodiff() {
            Batch {
                inputs: batch.inputs.autodiff(),
                targets: batch.targets.autodiff(),
            }
        } else {
            batch
        }
    }
}

impl Batcher<usize, Batch> for ImageBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> Batch {
        self.make(&items, device)
    }
}
