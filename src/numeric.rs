//! Small numeric helpers shared by every model family: the logistic and softmax functions in a
//! form that cannot overflow, and host copies of tensors.

use burn::prelude::*;

/// `log(1 + eᶻ)` without overflow: `max(z, 0) + log(1 + e^(−|z|))`.
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// `1 / (1 + e⁻ᶻ)` without overflow.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `softmax(z)ᵢ = e^(zᵢ − max z) / Σⱼ e^(zⱼ − max z)`: subtracting the maximum changes nothing
/// mathematically and keeps every exponent ≤ 0, so large scores cannot overflow.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Element-wise binary cross-entropy of logits `z` against 0/1 targets `y`:
/// `softplus(z) − y·z = −[y·log σ(z) + (1 − y)·log(1 − σ(z))]`, with
/// `softplus(z) = max(z, 0) + log(1 + e^(−|z|))` so that no exponential overflows.
pub(crate) fn logistic_loss(z: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let softplus = z.clone().clamp_min(0.0) + z.clone().abs().neg().exp().log1p();
    softplus - y * z
}

/// A host copy of a float tensor's values as `f64`, row-major.
pub fn to_f64s<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("a float tensor converts to f64")
}

/// The value of a one-element float tensor (a loss, say) as `f64`.
pub fn scalar(t: Tensor<1>) -> f64 {
    to_f64s(t)[0]
}

/// A host copy of an integer tensor's values (class indices, say).
pub(crate) fn to_i64s<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("an int tensor converts to i64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safe_forms_equal_the_textbook_ones_and_never_overflow() {
        for z in [-30.0, -2.5, -1e-3, 0.0, 0.7, 4.0, 30.0] {
            let naive_sigmoid = 1.0 / (1.0 + f64::exp(-z));
            assert!(
                (sigmoid(z) - naive_sigmoid).abs() < 1e-15,
                "σ({z}): {} vs {naive_sigmoid}",
                sigmoid(z)
            );
            let naive_softplus = f64::ln(1.0 + f64::exp(z));
            assert!(
                (softplus(z) - naive_softplus).abs() < 1e-12,
                "softplus({z})"
            );
        }
        // Where the textbook forms overflow, the limits.
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(softplus(1000.0), 1000.0);
        assert_eq!(softplus(-1000.0), 0.0);
        let p = softmax(&[1000.0, 1000.0 + 2f64.ln()]);
        assert!(
            (p[0] - 1.0 / 3.0).abs() < 1e-12 && (p[1] - 2.0 / 3.0).abs() < 1e-12,
            "{p:?}"
        );
        let q = softmax(&[0.0, 1.0, 2.0]);
        let e = [1.0, 1f64.exp(), 2f64.exp()];
        let sum: f64 = e.iter().sum();
        for (qi, ei) in q.iter().zip(e) {
            assert!((qi - ei / sum).abs() < 1e-15);
        }
    }
}
