//! What the kernels share for speed on any CPU: each hot loop is compiled twice from one body —
//! for AVX2 with FMA, taken when the CPU running it has them (asked once, at run time), and for
//! the baseline target (x86-64 without them, aarch64) — so the shipped binary needs no
//! `target-cpu` flag. `NEURONA_SIMD=portable` forces the baseline build, as on a CPU without AVX2.
//!
//! The element-wise functions are written branch-free so those loops vectorise:
//! - `exp(x)`: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (`ln 2` split in two parts so `r` is exact),
//!   `n` rounded by adding and removing 1.5·2²³, `eʳ` by its Taylor series to `r⁷/7!` (truncation below `r⁸/8! < 6·10⁻⁹`), `2ⁿ` by the
//!   exponent bits; `x` clamped to `[−87, 88]`, where f32's `eˣ` is finite and normal.
//! - `σ(x) = 1/(1 + e⁻ˣ)`;
//! - `tanh(x) = sign(x)·(1 − 2/(e^{2|x|} + 1))`, and for `|x| < ¼` its odd Taylor series to
//!   `x⁹` (next term `1382/155925·x¹¹ < 10⁻⁸·|x|`), where the first form would lose digits.
//!
//! Both stay within a few units in the last place of f32 (the unit test measures the largest
//! error against f64 over [−20, 20]).

use std::sync::OnceLock;

/// Whether the AVX2 + FMA build of the kernels' loops runs.
pub(crate) fn avx2() -> bool {
    static CHOICE: OnceLock<bool> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        let forced = std::env::var("NEURONA_SIMD").is_ok_and(|v| v == "portable");
        #[cfg(target_arch = "x86_64")]
        {
            !forced && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = forced;
            false
        }
    })
}

/// The instruction set the kernels' loops run with on this CPU, for reports.
pub(crate) fn instruction_set() -> &'static str {
    if avx2() { "avx2+fma" } else { "portable" }
}

/// A function whose body is compiled for AVX2 + FMA and for the baseline target, the first
/// called when [`avx2`] says this CPU has them.
macro_rules! vectorised {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::network::layers::kernels::simd::avx2() {
                // SAFETY: the CPU running this has AVX2 and FMA (asked at run time).
                return unsafe { fast($($arg),*) };
            }
            body($($arg),*)
        }
    };
}

/// `eˣ` in f32, branch-free (see the module's notes).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with few enough bits that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    // Rounded to the nearest integer by adding and removing 1.5·2²³ (exact for |x·log₂e| < 2²²),
    // which vectorises on every target.
    // The sum's bits are ROUND's plus n (its unit in the last place is 1), so `2ⁿ` comes from
    // integer arithmetic on them: a float-to-int conversion (`as i32`, which saturates) would
    // be done one lane at a time.
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let exponent = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    p * f32::from_bits(exponent << 23)
}

/// The logistic function `σ(x) = 1/(1 + e⁻ˣ)`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`, branch-free (see the module's notes).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let e = exp(2.0 * a);
    let far = 1.0 - 2.0 / (e + 1.0);
    let x2 = x * x;
    let near = x
        * (1.0
            + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
    if a < 0.25 { near } else { far.copysign(x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest error relative to max(|f(x)|, 2⁻²⁰) over a fine grid of [−20, 20].
    fn worst(f: fn(f32) -> f32, reference: fn(f64) -> f64) -> f64 {
        (0..=400_000)
            .map(|i| -20.0 + i as f64 * 1e-4)
            .map(|x| {
                let exact = reference(x as f32 as f64);
                ((f(x as f32) as f64 - exact).abs()) / exact.abs().max(2f64.powi(-20))
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_element_wise_functions_are_within_a_few_units_in_the_last_place() {
        let exp_error = worst(exp, f64::exp);
        let sigmoid_error = worst(sigmoid, |x| 1.0 / (1.0 + (-x).exp()));
        let tanh_error = worst(tanh, f64::tanh);
        // f32's unit in the last place is 2⁻²³ ≈ 1.2e-7 of the value.
        assert!(exp_error < 5e-7, "exp {exp_error:e}");
        assert!(sigmoid_error < 5e-7, "sigmoid {sigmoid_error:e}");
        assert!(tanh_error < 5e-7, "tanh {tanh_error:e}");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(-1e-30), -1e-30);
        assert_eq!(tanh(30.0), 1.0);
    }
}
