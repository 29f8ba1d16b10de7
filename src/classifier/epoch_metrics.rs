//! The training loop's loss and accuracy, summed where the batches ran and read back rarely.
//!
//! burn-train's `LossMetric` and `AccuracyMetric` read two numbers back from the device after
//! every batch; on a GPU or a remote device each read is a round trip that stalls the queue. Here
//! each batch only adds `loss · n` and the number of right answers to running sums on its own
//! device (one pair per device when several train together); the host reads them once at the end
//! of each split, for the epoch's values, and every [`LIVE_READ_EVERY`] training batches for the
//! live progress. The epoch values are the same means: `Σ loss_b · n_b / Σ n_b` and the share of
//! right answers.

use std::marker::PhantomData;

use burn::prelude::*;
use burn::tensor::TensorReadError;
use burn::train::ClassificationOutput;
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};

/// Training batches between two reads of the running means, for `live.json` and the page.
pub(crate) const LIVE_READ_EVERY: usize = 50;

/// A per-batch quantity whose epoch mean is tracked: the loss or the accuracy.
pub(crate) trait Quantity: Send + Sync + 'static {
    /// The name burn-train's stores and neurona's renderer know it by.
    const NAME: &'static str;
    /// Reported value = mean · `SCALE` (burn-train reports accuracy in percent).
    const SCALE: f64;
    const HIGHER_IS_BETTER: bool;
    /// The batch's sum (on the batch's device) and its number of items.
    fn batch_sum(output: &ClassificationOutput) -> (Tensor<1>, usize);
}

/// Mean cross-entropy (or the configured loss) per item.
pub struct Loss;

impl Quantity for Loss {
    const NAME: &'static str = "Loss";
    const SCALE: f64 = 1.0;
    const HIGHER_IS_BETTER: bool = false;

    fn batch_sum(output: &ClassificationOutput) -> (Tensor<1>, usize) {
        let [n] = output.targets.dims();
        (output.loss.clone().mean() * n as f64, n)
    }
}

/// Share of items whose most probable class is the label.
pub struct Accuracy;

impl Quantity for Accuracy {
    const NAME: &'static str = "Accuracy";
    const SCALE: f64 = 100.0;
    const HIGHER_IS_BETTER: bool = true;

    fn batch_sum(output: &ClassificationOutput) -> (Tensor<1>, usize) {
        let [n, _] = output.output.dims();
        let predicted = output.output.clone().argmax(1).reshape([n]);
        let right = predicted.equal(output.targets.clone()).float().sum();
        (right, n)
    }
}

/// One batch's contribution to a [`DeviceMean`].
pub(crate) struct Summand<Q> {
    sum: Tensor<1>,
    count: usize,
    quantity: PhantomData<Q>,
}

impl<Q: Quantity> Adaptor<Summand<Q>> for ClassificationOutput {
    fn adapt(&self) -> Summand<Q> {
        let (sum, count) = Q::batch_sum(self);
        Summand {
            sum,
            count,
            quantity: PhantomData,
        }
    }
}

/// The running mean of `Q` over a split, summed on the devices.
pub(crate) struct DeviceMean<Q> {
    /// One running sum per device the batches came from.
    sums: Vec<(Device, Tensor<1>)>,
    count: usize,
    batches: usize,
    /// The last mean read back (for `value`), cleared after it is reported.
    read: Option<f64>,
    quantity: PhantomData<Q>,
}

impl<Q> Clone for DeviceMean<Q> {
    fn clone(&self) -> Self {
        Self {
            sums: self.sums.clone(),
            count: self.count,
            batches: self.batches,
            read: self.read,
            quantity: PhantomData,
        }
    }
}

impl<Q> Default for DeviceMean<Q> {
    fn default() -> Self {
        Self {
            sums: Vec::new(),
            count: 0,
            batches: 0,
            read: None,
            quantity: PhantomData,
        }
    }
}

impl<Q: Quantity> DeviceMean<Q> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The mean so far, reading each device's sum back (one read per device); NaN before any
    /// item.
    fn mean(&self) -> Result<f64, TensorReadError> {
        let mut total = 0.0;
        for (_, sum) in &self.sums {
            total += sum.clone().try_into_scalar::<f64>()?;
            crate::transfers::record_read(std::mem::size_of::<f32>());
        }
        // No items (a split without rows): NaN, which the renderer records as "no value".
        Ok(total / self.count as f64 * Q::SCALE)
    }
}

impl<Q: Quantity> Metric for DeviceMean<Q> {
    type Input = Summand<Q>;

    fn name(&self) -> MetricName {
        MetricName::new(Q::NAME.to_string())
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: Q::HIGHER_IS_BETTER,
        }
        .into()
    }

    fn update(
        &mut self,
        item: &Summand<Q>,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let device = item.sum.device();
        let sum = item.sum.clone().detach();
        match self.sums.iter_mut().find(|(d, _)| *d == device) {
            Some((_, total)) => *total = total.clone() + sum,
            None => self.sums.push((device, sum)),
        }
        self.count += item.count;
        self.batches += 1;
        self.read = None;
        if self.batches.is_multiple_of(LIVE_READ_EVERY) {
            let mean = self.mean()?;
            self.read = Some(mean);
            return Ok(SerializedEntry::new(
                format!("{} {mean:.3} (running)", Q::NAME),
                SerializedEntry::NOT_AVAILABLE.to_string(),
            ));
        }
        Ok(SerializedEntry::not_available(None))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        let mean = self.mean()?;
        self.read = Some(mean);
        Ok(SerializedEntry::new(
            format!("{} {mean:.3}", Q::NAME),
            NumericEntry::Final(mean).serialize(),
        ))
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

impl<Q: Quantity> Numeric for DeviceMean<Q> {
    /// Only after a read: between reads nothing is known on the host.
    fn value(&self) -> Option<NumericEntry> {
        self.read.map(NumericEntry::Value)
    }

    fn running_value(&self) -> Option<NumericEntry> {
        self.value()
    }

    fn final_value(&self) -> NumericEntry {
        NumericEntry::Final(self.read.unwrap_or(f64::NAN))
    }
}
