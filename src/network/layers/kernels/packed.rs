//! A small matrix product whose right-hand side is packed once and used many times: the
//! recurrent kernel multiplies each step's states by the same `U` (forward) and `Uᵀ` (backward),
//! 28 times a sequence, on a few dozen rows per thread. A general gemm packs its operands again
//! at every call (7–8 % of an LSTM step went to that), and its blocking is tuned for large
//! products.
//!
//! `B [k, n]` is stored as panels of [`PANEL`] columns, each panel `k` rows of [`PANEL`]
//! contiguous values (columns past `n` are zero). One block of [`ROWS`] output rows × one panel
//! is computed in registers: for each `k`, one row of the panel (two 8-lane vectors) times each
//! row's `A[r, k]`, accumulated — 12 accumulators, the register file of AVX2 — and written once.
//! A panel (`k·PANEL` values, 8 KB for `k = 128`) stays in L1 while every block of rows uses it.
//! With AVX2 + FMA the accumulation is a fused multiply-add; the portable build multiplies then
//! adds, so the two builds can differ in the last bits.

/// Columns of one panel: two AVX2 vectors.
const PANEL: usize = 16;
/// Output rows computed at once.
const ROWS: usize = 6;

/// A right-hand side `B [k, n]`, packed in panels.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl Packed {
    /// Packs `B`, whose `(r, c)` value is `values[r·row + c·column]`.
    pub(crate) fn new(values: &[f32], k: usize, n: usize, row: usize, column: usize) -> Packed {
        let count = n.div_ceil(PANEL);
        let mut panels = vec![0.0f32; count * k * PANEL];
        for (p, panel) in panels.chunks_exact_mut(k * PANEL).enumerate() {
            for (r, line) in panel.chunks_exact_mut(PANEL).enumerate() {
                for (j, value) in line.iter_mut().enumerate() {
                    let c = p * PANEL + j;
                    if c < n {
                        *value = values[r * row + c * column];
                    }
                }
            }
        }
        Packed { k, n, panels }
    }

    /// `out [m, n]` (row-major) `= A·B`, added to `out` when `accumulate`. `A`'s row `r` is
    /// `a[r·a_row..][..k]`. The AVX2 + FMA build is chosen at run time, as [`super::simd`]'s
    /// `vectorised!` does; written out here because the two builds differ in one instruction,
    /// the fused multiply-add, which the portable build must not call (without the instruction
    /// it is a slow library function).
    pub(crate) fn multiply(
        &self,
        out: &mut [f32],
        m: usize,
        a: &[f32],
        a_row: usize,
        accumulate: bool,
    ) {
        assert!(out.len() >= m * self.n, "the product's output");
        assert!(
            m == 0 || (m - 1) * a_row + self.k <= a.len(),
            "the product's left side"
        );
        #[cfg(target_arch = "x86_64")]
        if super::simd::avx2() {
            // SAFETY: the CPU running this has AVX2 and FMA (asked at run time).
            return unsafe { self.multiply_fused(out, m, a, a_row, accumulate) };
        }
        self.all_panels::<false>(out, m, a, a_row, accumulate)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn multiply_fused(
        &self,
        out: &mut [f32],
        m: usize,
        a: &[f32],
        a_row: usize,
        accumulate: bool,
    ) {
        self.all_panels::<true>(out, m, a, a_row, accumulate)
    }

    /// Every panel times every block of rows.
    #[inline(always)]
    fn all_panels<const FMA: bool>(
        &self,
        out: &mut [f32],
        m: usize,
        a: &[f32],
        a_row: usize,
        accumulate: bool,
    ) {
        let (k, n) = (self.k, self.n);
        for (p, panel) in self.panels.chunks_exact(k * PANEL).enumerate() {
            let column = p * PANEL;
            let width = PANEL.min(n - column);
            let mut row = 0;
            while row + ROWS <= m {
                block::<ROWS, FMA>(panel, k, n, out, row, column, width, a, a_row, accumulate);
                row += ROWS;
            }
            match m - row {
                0 => {}
                1 => block::<1, FMA>(panel, k, n, out, row, column, width, a, a_row, accumulate),
                2 => block::<2, FMA>(panel, k, n, out, row, column, width, a, a_row, accumulate),
                3 => block::<3, FMA>(panel, k, n, out, row, column, width, a, a_row, accumulate),
                4 => block::<4, FMA>(panel, k, n, out, row, column, width, a, a_row, accumulate),
                _ => block::<5, FMA>(panel, k, n, out, row, column, width, a, a_row, accumulate),
            }
        }
    }
}

/// `R` rows × one panel of the product, in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const R: usize, const FMA: bool>(
    panel: &[f32],
    k: usize,
    n: usize,
    out: &mut [f32],
    row: usize,
    column: usize,
    width: usize,
    a: &[f32],
    a_row: usize,
    accumulate: bool,
) {
    let lines: [&[f32]; R] = std::array::from_fn(|i| &a[(row + i) * a_row..][..k]);
    let panel = &panel[..k * PANEL];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `FMA` is only set in the build that runs where the CPU has AVX2 and FMA, and the
    // slices above hold the `k` values of each row and the `k` lines of the panel it reads.
    let sums = if FMA {
        unsafe { sums_avx2(panel, k, lines) }
    } else {
        sums_portable(panel, lines)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let sums = sums_portable(panel, lines);
    for (i, sum) in sums.iter().enumerate() {
        let target = &mut out[(row + i) * n + column..][..width];
        if accumulate {
            for (t, s) in target.iter_mut().zip(sum) {
                *t += s;
            }
        } else {
            target.copy_from_slice(&sum[..width]);
        }
    }
}

/// One block's sums, plain code: the compiler vectorises the multiply and the add.
#[inline(always)]
fn sums_portable<const R: usize>(panel: &[f32], lines: [&[f32]; R]) -> [[f32; PANEL]; R] {
    let mut sums = [[0.0f32; PANEL]; R];
    for (r, line) in panel.chunks_exact(PANEL).enumerate() {
        for i in 0..R {
            let x = lines[i][r];
            for j in 0..PANEL {
                sums[i][j] += x * line[j];
            }
        }
    }
    sums
}

/// One block's sums with AVX2 + FMA, written with the instructions themselves: as plain code
/// the compiler kept the accumulators in memory.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `panel` holds `k` lines of [`PANEL`] values and each of
/// `lines` at least `k` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sums_avx2<const R: usize>(
    panel: &[f32],
    k: usize,
    lines: [&[f32]; R],
) -> [[f32; PANEL]; R] {
    use std::arch::x86_64::*;
    let b = panel.as_ptr();
    let x: [*const f32; R] = std::array::from_fn(|i| lines[i].as_ptr());
    let mut low = [_mm256_setzero_ps(); R];
    let mut high = [_mm256_setzero_ps(); R];
    for r in 0..k {
        // SAFETY: r < k, within the panel's lines and each row (the caller's promise).
        unsafe {
            let b_low = _mm256_loadu_ps(b.add(r * PANEL));
            let b_high = _mm256_loadu_ps(b.add(r * PANEL + 8));
            for i in 0..R {
                let xi = _mm256_broadcast_ss(&*x[i].add(r));
                low[i] = _mm256_fmadd_ps(xi, b_low, low[i]);
                high[i] = _mm256_fmadd_ps(xi, b_high, high[i]);
            }
        }
    }
    let mut sums = [[0.0f32; PANEL]; R];
    for i in 0..R {
        // SAFETY: each row of `sums` holds PANEL = 16 values.
        unsafe {
            _mm256_storeu_ps(sums[i].as_mut_ptr(), low[i]);
            _mm256_storeu_ps(sums[i].as_mut_ptr().add(8), high[i]);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` values in [−1, 1) from a fixed linear congruential sequence.
    fn floats(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn the_packed_product_equals_the_sum_of_products_for_every_block_and_panel_edge() {
        // Rows around the block of 6, columns around the panel of 16, a strided left side, a
        // transposed right side, and accumulation into what `out` held.
        for (m, k, n) in [
            (1, 1, 1),
            (5, 3, 15),
            (6, 7, 16),
            (7, 2, 17),
            (13, 9, 33),
            (64, 20, 40),
        ] {
            for accumulate in [false, true] {
                let a_row = k + 3;
                let a = floats(m * a_row, 1);
                let b = floats(k * n, 2);
                let start = floats(m * n, 3);
                let mut out = start.clone();
                // B given as the transpose of a row-major [n, k] matrix.
                let transposed: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
                Packed::new(&transposed, k, n, 1, k).multiply(&mut out, m, &a, a_row, accumulate);
                for r in 0..m {
                    for c in 0..n {
                        let product: f64 = (0..k)
                            .map(|j| a[r * a_row + j] as f64 * b[j * n + c] as f64)
                            .sum();
                        let expected = product
                            + if accumulate {
                                start[r * n + c] as f64
                            } else {
                                0.0
                            };
                        let got = out[r * n + c] as f64;
                        assert!(
                            (got - expected).abs() <= 1e-5 * (1.0 + expected.abs()),
                            "{m}×{k}×{n} accumulate {accumulate}: ({r}, {c}) {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}
