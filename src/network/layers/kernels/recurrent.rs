//! A recurrent layer's whole sequence as one operation, forward and backward through time (BPTT).
//!
//! Shapes: `x [B, T, F]` (batch, steps, features), `H` units, `G` gates. The gates' weights are
//! concatenated along the output axis in the kernel's order — LSTM `i, f, g, o`, GRU `r, z, n`,
//! plain RNN one gate — as `W [F, G·H]` (input side) and `U [H, G·H]` (hidden side), with biases
//! `b [G·H]` and `c [G·H]` (zeros when the model has none). `h₀ = 0` (and LSTM's `c₀ = 0`).
//! With `aₜ = xₜW + b` (input side, all steps) and `uₜ = hₜ₋₁U` (hidden side, step by step),
//! per gate slice `·ᵍ`:
//! - LSTM: `i, f, o = σ(aᵍ + uᵍ + cᵍ)`, `g = tanh(aᵍ + uᵍ + cᵍ)`, `cₜ = f·cₜ₋₁ + i·g`,
//!   `hₜ = o·tanh(cₜ)`;
//! - GRU (reset after the hidden transform, as Burn and PyTorch): `r, z = σ(aᵍ + uᵍ + cᵍ)`,
//!   `n = tanh(aⁿ + r·(uⁿ + cⁿ))`, `hₜ = (1 − z)·n + z·hₜ₋₁`;
//! - RNN: `hₜ = tanh(a + u + c)`.
//!
//! Forward: one gemm for every step's input projection `[B·T, F]·[F, G·H]`, then per step a
//! `[B, H]·[H, G·H]` gemm and one pass of gate arithmetic ([`super::simd`]'s branch-free σ and
//! tanh, vectorised). The batch is split in one contiguous run of rows per thread, each run going
//! through all steps on its own, so the steps need no synchronisation; a run's rows are
//! contiguous in every buffer (rows are `b·T + t`).
//!
//! Backward, from `∂hₜ` (the output's gradient plus what step `t + 1` sends back), steps in
//! reverse, per thread again: the pre-activation gradients `∂A` (input side) and `∂Ã` (hidden
//! side; the same except GRU's `n` slice, `∂Ãⁿ = ∂Aⁿ·r`) overwrite the saved activations, and
//! `∂hₜ₋₁ = ∂Ãₜ·Uᵀ` (+ `∂hₜ·z` for GRU). LSTM: `∂o = ∂h·tanh(cₜ)`,
//! `∂cₜ = ∂h·o·(1 − tanh²cₜ) + ∂cₜ₊₁·fₜ₊₁`, `∂i = ∂cₜ·g`, `∂f = ∂cₜ·cₜ₋₁`, `∂g = ∂cₜ·i`. GRU: `∂n = ∂h·(1 − z)`,
//! `∂z = ∂h·(hₜ₋₁ − n)`, `∂r = ∂Aⁿ·(uⁿ + cⁿ)`. Each times its activation's derivative
//! (`σ' = σ(1 − σ)`, `tanh' = 1 − tanh²`). Then four whole-sequence gemms: `∂W = Xᵀ·∂A`,
//! `∂U = Hₚᵀ·∂Ã` (`Hₚ` the states shifted one step, `h₋₁ = 0`), `∂x = ∂A·Wᵀ` (only when `x` is
//! tracked: a stacked recurrent layer's input), `∂b`/`∂c` the column sums of `∂A`/`∂Ã`.

use std::ops::Range;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use gemm::Parallelism;
use rayon::prelude::*;

use super::packed::Packed;
use super::simd::{sigmoid, tanh};
use super::{flex_tensor, values};

/// Which recurrence the kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Lstm,
    Gru,
    Rnn,
}

impl CellKind {
    /// Gates, in the order their weights are concatenated.
    pub(crate) fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
            CellKind::Rnn => 1,
        }
    }

    /// Values per row the backward pass needs beyond the gates' activations: LSTM `cₜ` and
    /// `tanh(cₜ)`, GRU `uⁿ + cⁿ`.
    fn extra(self, units: usize) -> usize {
        match self {
            CellKind::Lstm => 2 * units,
            CellKind::Gru => units,
            CellKind::Rnn => 0,
        }
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait RecurrentKernel: Backend {
    /// All hidden states `[B, T, H]` of the `cell` recurrence over `x [B, T, F]`, from the
    /// concatenated weights `w_input [F, G·H]`, `w_hidden [H, G·H]` and biases `[G·H]`.
    fn recurrent_sequence(
        x: FloatTensor<Self>,
        w_input: FloatTensor<Self>,
        w_hidden: FloatTensor<Self>,
        b_input: FloatTensor<Self>,
        b_hidden: FloatTensor<Self>,
        cell: CellKind,
    ) -> FloatTensor<Self>;
}

/// The `cell` recurrence's hidden states over `x` (see [`RecurrentKernel::recurrent_sequence`]).
pub(crate) fn sequence(
    x: Tensor<3>,
    w_input: Tensor<2>,
    w_hidden: Tensor<2>,
    b_input: Tensor<1>,
    b_hidden: Tensor<1>,
    cell: CellKind,
) -> Tensor<3> {
    Tensor::from_dispatch(
        <burn::backend::Dispatch as RecurrentKernel>::recurrent_sequence(
            x.into_dispatch(),
            w_input.into_dispatch(),
            w_hidden.into_dispatch(),
            b_input.into_dispatch(),
            b_hidden.into_dispatch(),
            cell,
        ),
    )
}

impl RecurrentKernel for Flex {
    fn recurrent_sequence(
        x: FlexTensor,
        w_input: FlexTensor,
        w_hidden: FlexTensor,
        b_input: FlexTensor,
        b_hidden: FlexTensor,
        cell: CellKind,
    ) -> FlexTensor {
        Tape::record(cell, x, w_input, w_hidden, &b_input, &b_hidden).h
    }
}

impl<C: CheckpointStrategy> RecurrentKernel for Autodiff<Flex, C> {
    fn recurrent_sequence(
        x: FloatTensor<Self>,
        w_input: FloatTensor<Self>,
        w_hidden: FloatTensor<Self>,
        b_input: FloatTensor<Self>,
        b_hidden: FloatTensor<Self>,
        cell: CellKind,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SequenceBackward;

        impl Backward<Flex, 5> for SequenceBackward {
            type State = Tape;

            fn backward(self, ops: Ops<Tape, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [x, w_input, w_hidden, b_input, b_hidden] = ops.parents;
                let grad = grads.consume::<Flex>(&ops.node);
                let wanted = [&x, &w_input, &w_hidden, &b_input, &b_hidden].map(Option::is_some);
                let found = ops.state.backward(&grad, wanted);
                for (parent, gradient) in [x, w_input, w_hidden, b_input, b_hidden]
                    .into_iter()
                    .zip(found)
                {
                    if let (Some(parent), Some(gradient)) = (parent, gradient) {
                        grads.register::<Flex>(parent.id, gradient);
                    }
                }
            }
        }

        let nodes = [
            x.node(),
            w_input.node(),
            w_hidden.node(),
            b_input.node(),
            b_hidden.node(),
        ];
        let tape = Tape::record(
            cell,
            x.primitive().clone(),
            w_input.primitive().clone(),
            w_hidden.primitive().clone(),
            b_input.primitive(),
            b_hidden.primitive(),
        );
        match SequenceBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let h = tape.h.clone();
                prep.finish(tape, h)
            }
            OpsKind::UnTracked(prep) => prep.finish(tape.h),
        }
    }
}

/// The sizes of one call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    batch: usize,
    steps: usize,
    features: usize,
    units: usize,
    cell: CellKind,
}

impl Dims {
    /// `G·H`: one row of the gates.
    fn width(&self) -> usize {
        self.cell.gates() * self.units
    }

    /// `B·T`: the rows of every per-step buffer.
    fn rows(&self) -> usize {
        self.batch * self.steps
    }

    /// The batch in one contiguous run of rows per thread.
    fn runs(&self) -> Vec<Range<usize>> {
        let count = rayon::current_num_threads().clamp(1, self.batch.max(1));
        (0..count)
            .map(|k| self.batch * k / count..self.batch * (k + 1) / count)
            .collect()
    }
}

/// The forward pass's results and what the backward pass needs of it.
#[derive(Debug, Clone)]
struct Tape {
    dims: Dims,
    x: FlexTensor,
    w_input: FlexTensor,
    w_hidden: FlexTensor,
    /// The output, all hidden states `[B·T, H]`.
    h: FlexTensor,
    /// The gates' activations `[B·T, G·H]` (RNN: `hₜ` again).
    gates: Arc<Vec<f32>>,
    /// [`CellKind::extra`] per row.
    extra: Arc<Vec<f32>>,
}

impl Tape {
    /// Runs the recurrence forward.
    fn record(
        cell: CellKind,
        x: FlexTensor,
        w_input: FlexTensor,
        w_hidden: FlexTensor,
        b_input: &FlexTensor,
        b_hidden: &FlexTensor,
    ) -> Tape {
        let [batch, steps, features] = dims::<3>(&x);
        let [_, width] = dims::<2>(&w_input);
        let units = width / cell.gates();
        let d = Dims {
            batch,
            steps,
            features,
            units,
            cell,
        };
        assert_eq!(dims::<2>(&w_input), [features, d.width()], "input weights");
        assert_eq!(dims::<2>(&w_hidden), [units, d.width()], "hidden weights");
        assert_eq!(dims::<1>(b_input), [d.width()], "input bias");
        assert_eq!(dims::<1>(b_hidden), [d.width()], "hidden bias");
        let (xs, w, u) = (values(&x), values(&w_input), values(&w_hidden));
        let (b, c) = (values(b_input), values(b_hidden));

        let mut gates = vec![0.0f32; d.rows() * d.width()];
        matmul(
            &mut gates,
            d.rows(),
            d.width(),
            features,
            View::rows(&xs, features),
            View::rows(&w, d.width()),
            false,
            Parallelism::Rayon(0),
        );
        let extra_width = cell.extra(units);
        let mut h = vec![0.0f32; d.rows() * units];
        let mut extra = vec![0.0f32; d.rows() * extra_width];
        let runs = d.runs();
        let u = Packed::new(&u, units, d.width(), d.width(), 1);
        split(&mut gates, &runs, steps * d.width())
            .into_par_iter()
            .zip(split(&mut extra, &runs, steps * extra_width))
            .zip(split(&mut h, &runs, steps * units))
            .zip(runs.par_iter())
            .for_each(|(((gates, extra), h), run)| {
                forward_run(&d, run.len(), gates, extra, h, &u, &b, &c)
            });
        drop((xs, w));
        Tape {
            dims: d,
            x,
            w_input,
            w_hidden,
            h: flex_tensor(h, [batch, steps, units]),
            gates: Arc::new(gates),
            extra: Arc::new(extra),
        }
    }

    /// The gradients of `x`, `w_input`, `w_hidden`, `b_input`, `b_hidden` for the output's
    /// gradient `grad`, each computed where `wanted`.
    fn backward(self, grad: &FlexTensor, wanted: [bool; 5]) -> [Option<FlexTensor>; 5] {
        let d = self.dims;
        let (rows, width, units, features) = (d.rows(), d.width(), d.units, d.features);
        let dy = values(grad);
        let (h, u) = (values(&self.h), values(&self.w_hidden));
        let extra = &*self.extra;
        // ∂A overwrites the activations; GRU's ∂Ã needs a buffer of its own.
        let mut da = Arc::unwrap_or_clone(self.gates);
        let mut da_hidden = if d.cell == CellKind::Gru {
            vec![0.0f32; rows * width]
        } else {
            Vec::new()
        };
        let hidden_width = if d.cell == CellKind::Gru { width } else { 0 };
        let runs = d.runs();
        // Uᵀ [G·H, H]: U's transpose, packed once for every step of every run.
        let u_transposed = Packed::new(&u, width, units, 1, width);
        let row_range =
            |run: &Range<usize>, w: usize| run.start * d.steps * w..run.end * d.steps * w;
        split(&mut da, &runs, d.steps * width)
            .into_par_iter()
            .zip(split(&mut da_hidden, &runs, d.steps * hidden_width))
            .zip(runs.par_iter())
            .for_each(|((da, da_hidden), run)| {
                let extra_width = d.cell.extra(units);
                backward_run(
                    &d,
                    run.len(),
                    &dy[row_range(run, units)],
                    da,
                    da_hidden,
                    &extra[row_range(run, extra_width)],
                    &h[row_range(run, units)],
                    &u_transposed,
                );
            });
        let da_hidden: &[f32] = if d.cell == CellKind::Gru {
            &da_hidden
        } else {
            &da
        };

        let [want_x, want_w, want_u, want_b, want_c] = wanted;
        let dx = want_x.then(|| {
            let w = values(&self.w_input);
            let mut dx = vec![0.0f32; rows * features];
            matmul(
                &mut dx,
                rows,
                features,
                width,
                View::rows(&da, width),
                View::columns(&w, width),
                false,
                Parallelism::Rayon(0),
            );
            flex_tensor(dx, [d.batch, d.steps, features])
        });
        let dw = want_w.then(|| {
            let x = values(&self.x);
            let mut dw = vec![0.0f32; features * width];
            matmul(
                &mut dw,
                features,
                width,
                rows,
                View::columns(&x, features),
                View::rows(&da, width),
                false,
                Parallelism::Rayon(0),
            );
            flex_tensor(dw, [features, width])
        });
        let du = want_u.then(|| {
            // Hₚ: row b·T + t holds h_{t−1} of sequence b, zeros at t = 0.
            let mut previous = vec![0.0f32; rows * units];
            for (shifted, states) in previous
                .chunks_mut(d.steps * units)
                .zip(h.chunks(d.steps * units))
            {
                shifted[units..].copy_from_slice(&states[..states.len() - units]);
            }
            let mut du = vec![0.0f32; units * width];
            matmul(
                &mut du,
                units,
                width,
                rows,
                View::columns(&previous, units),
                View::rows(da_hidden, width),
                false,
                Parallelism::Rayon(0),
            );
            flex_tensor(du, [units, width])
        });
        let db = want_b.then(|| flex_tensor(column_sums(&da, width), [width]));
        let dc = want_c.then(|| flex_tensor(column_sums(da_hidden, width), [width]));
        [dx, dw, du, db, dc]
    }
}

/// A tensor's shape as `D` sizes.
fn dims<const D: usize>(t: &FlexTensor) -> [usize; D] {
    t.layout()
        .shape()
        .to_vec()
        .try_into()
        .expect("the kernel's tensor ranks")
}

/// `buffer` (rows of `row_width` values, row `b` for sequence `b`) cut in one slice per run.
fn split<'a>(
    mut buffer: &'a mut [f32],
    runs: &[Range<usize>],
    row_width: usize,
) -> Vec<&'a mut [f32]> {
    runs.iter()
        .map(|run| {
            let (head, tail) = std::mem::take(&mut buffer).split_at_mut(run.len() * row_width);
            buffer = tail;
            head
        })
        .collect()
}

/// One run of `batch` sequences forward through all steps. `gates` holds the input projections
/// `xₜW` and leaves with the activations; `extra` receives [`CellKind::extra`], `h` the states.
#[allow(clippy::too_many_arguments)]
fn forward_run(
    d: &Dims,
    batch: usize,
    gates: &mut [f32],
    extra: &mut [f32],
    h: &mut [f32],
    u: &Packed,
    b: &[f32],
    c: &[f32],
) {
    let (steps, units, width) = (d.steps, d.units, d.width());
    let extra_width = d.cell.extra(units);
    let zeros = vec![0.0f32; units];
    // uₜ = hₜ₋₁U for the run's sequences; zero at t = 0.
    let mut hidden = vec![0.0f32; batch * width];
    for t in 0..steps {
        if t > 0 {
            u.multiply(
                &mut hidden,
                batch,
                &h[(t - 1) * units..],
                steps * units,
                false,
            );
        }
        for s in 0..batch {
            let row = s * steps + t;
            let (before, after) = h.split_at_mut(row * units);
            let h_previous = if t > 0 {
                &before[(row - 1) * units..]
            } else {
                &zeros[..]
            };
            let h_out = &mut after[..units];
            let a = &mut gates[row * width..(row + 1) * width];
            let hidden = &hidden[s * width..(s + 1) * width];
            match d.cell {
                CellKind::Lstm => {
                    let (before, after) = extra.split_at_mut(row * extra_width);
                    let c_previous = if t > 0 {
                        &before[(row - 1) * extra_width..][..units]
                    } else {
                        &zeros[..]
                    };
                    let (cell, squashed) = after[..extra_width].split_at_mut(units);
                    lstm_cell(a, hidden, b, c, c_previous, cell, squashed, h_out);
                }
                CellKind::Gru => {
                    let rz = 2 * units;
                    add_biases(&mut a[..rz], &hidden[..rz], &b[..rz], &c[..rz]);
                    sigmoids(&mut a[..rz]);
                    let candidate_hidden = &mut extra[row * units..(row + 1) * units];
                    gru_cell(
                        a,
                        &hidden[rz..],
                        &b[rz..],
                        &c[rz..],
                        h_previous,
                        candidate_hidden,
                        h_out,
                    );
                }
                CellKind::Rnn => {
                    add_biases(a, hidden, b, c);
                    tanhs(a);
                    h_out.copy_from_slice(a);
                }
            }
        }
    }
}

/// One run of `batch` sequences backward through all steps: `dy` the output's gradient, `da`
/// the activations in and `∂A` out, `da_hidden` GRU's `∂Ã` out (empty otherwise).
#[allow(clippy::too_many_arguments)]
fn backward_run(
    d: &Dims,
    batch: usize,
    dy: &[f32],
    da: &mut [f32],
    da_hidden: &mut [f32],
    extra: &[f32],
    h: &[f32],
    u_transposed: &Packed,
) {
    let (steps, units, width) = (d.steps, d.units, d.width());
    let extra_width = d.cell.extra(units);
    let zeros = vec![0.0f32; units];
    // What step t + 1 sends back to hₜ (and LSTM's cₜ).
    let mut dh = vec![0.0f32; batch * units];
    let mut dc = vec![
        0.0f32;
        if d.cell == CellKind::Lstm {
            batch * units
        } else {
            0
        }
    ];
    for t in (0..steps).rev() {
        for s in 0..batch {
            let row = s * steps + t;
            let dy = &dy[row * units..(row + 1) * units];
            let dh = &mut dh[s * units..(s + 1) * units];
            let a = &mut da[row * width..(row + 1) * width];
            match d.cell {
                CellKind::Lstm => {
                    let c_previous = if t > 0 {
                        &extra[(row - 1) * extra_width..][..units]
                    } else {
                        &zeros[..]
                    };
                    let squashed = &extra[row * extra_width + units..(row + 1) * extra_width];
                    lstm_back(
                        a,
                        squashed,
                        c_previous,
                        dy,
                        dh,
                        &mut dc[s * units..(s + 1) * units],
                    );
                }
                CellKind::Gru => {
                    let h_previous = if t > 0 {
                        &h[(row - 1) * units..row * units]
                    } else {
                        &zeros[..]
                    };
                    let candidate_hidden = &extra[row * units..(row + 1) * units];
                    let a_hidden = &mut da_hidden[row * width..(row + 1) * width];
                    gru_back(a, a_hidden, candidate_hidden, h_previous, dy, dh);
                }
                CellKind::Rnn => rnn_back(a, dy, dh),
            }
        }
        if t > 0 {
            // ∂hₜ₋₁ = ∂Ãₜ·Uᵀ (+ ∂hₜ·z, already in dh, for GRU).
            let (source, gru) = if d.cell == CellKind::Gru {
                (&*da_hidden, true)
            } else {
                (&*da, false)
            };
            u_transposed.multiply(&mut dh, batch, &source[t * width..], steps * width, gru);
        }
    }
}

vectorised! {
    /// `a += u + b + c`: a gate's pre-activation.
    fn add_biases(a: &mut [f32], u: &[f32], b: &[f32], c: &[f32]) {
        let n = a.len();
        let (u, b, c) = (&u[..n], &b[..n], &c[..n]);
        for j in 0..n {
            a[j] += u[j] + b[j] + c[j];
        }
    }
}

vectorised! {
    fn sigmoids(a: &mut [f32]) {
        for v in a.iter_mut() {
            *v = sigmoid(*v);
        }
    }
}

vectorised! {
    fn tanhs(a: &mut [f32]) {
        for v in a.iter_mut() {
            *v = tanh(*v);
        }
    }
}

vectorised! {
    /// From the input projections `a = xₜW` and `hidden = hₜ₋₁U`: the gates `[i, f, g, o]`
    /// (`σ`, `σ`, `tanh`, `σ` of `a + u + b + c`) into `a`, then `cₜ = f·cₜ₋₁ + i·g` and
    /// `hₜ = o·tanh(cₜ)` — one pass over the row.
    #[allow(clippy::too_many_arguments)]
    fn lstm_cell(
        a: &mut [f32],
        hidden: &[f32],
        b: &[f32],
        c: &[f32],
        c_previous: &[f32],
        cell: &mut [f32],
        squashed: &mut [f32],
        h: &mut [f32],
    ) {
        let n = h.len();
        let (i, rest) = a.split_at_mut(n);
        let (f, rest) = rest.split_at_mut(n);
        let (g, o) = rest.split_at_mut(n);
        let (o, hidden, b, c) = (&mut o[..n], &hidden[..4 * n], &b[..4 * n], &c[..4 * n]);
        let (c_previous, cell, squashed) = (&c_previous[..n], &mut cell[..n], &mut squashed[..n]);
        // The same sum as `add_biases`, so both orders of work give the same bits.
        let pre = |gate: usize, j: usize, a: f32| a + (hidden[gate * n + j] + b[gate * n + j] + c[gate * n + j]);
        for j in 0..n {
            let iv = sigmoid(pre(0, j, i[j]));
            let fv = sigmoid(pre(1, j, f[j]));
            let gv = tanh(pre(2, j, g[j]));
            let ov = sigmoid(pre(3, j, o[j]));
            let c = fv * c_previous[j] + iv * gv;
            let s = tanh(c);
            (i[j], f[j], g[j], o[j]) = (iv, fv, gv, ov);
            cell[j] = c;
            squashed[j] = s;
            h[j] = ov * s;
        }
    }
}

vectorised! {
    /// With `a = [r, z, xₜWⁿ]` (`r`, `z` activated): `n = tanh(aⁿ + bⁿ + r·(uⁿ + cⁿ))` into
    /// `a`'s last slice, `uⁿ + cⁿ` kept in `candidate_hidden`, `hₜ = n + z·(hₜ₋₁ − n)`.
    fn gru_cell(
        a: &mut [f32],
        u: &[f32],
        b: &[f32],
        c: &[f32],
        h_previous: &[f32],
        candidate_hidden: &mut [f32],
        h: &mut [f32],
    ) {
        let n = h.len();
        let (rz, candidate) = a.split_at_mut(2 * n);
        let (r, z) = (&rz[..n], &rz[n..2 * n]);
        let (candidate, u, b, c, h_previous) = (&mut candidate[..n], &u[..n], &b[..n], &c[..n], &h_previous[..n]);
        let candidate_hidden = &mut candidate_hidden[..n];
        for j in 0..n {
            let hidden = u[j] + c[j];
            candidate_hidden[j] = hidden;
            let new = tanh(candidate[j] + b[j] + r[j] * hidden);
            candidate[j] = new;
            h[j] = new + z[j] * (h_previous[j] - new);
        }
    }
}

vectorised! {
    /// LSTM's step backward: `a = [i, f, g, o]` in, `∂A` out; `dh` holds `∂hₜ` less the
    /// output's share `dy`; `dc` carries `∂cₜ₊₁·fₜ₊₁` in and `∂cₜ·fₜ` out.
    fn lstm_back(a: &mut [f32], squashed: &[f32], c_previous: &[f32], dy: &[f32], dh: &[f32], dc: &mut [f32]) {
        let n = dy.len();
        let (i, rest) = a.split_at_mut(n);
        let (f, rest) = rest.split_at_mut(n);
        let (g, o) = rest.split_at_mut(n);
        let (o, squashed, c_previous, dh, dc) = (&mut o[..n], &squashed[..n], &c_previous[..n], &dh[..n], &mut dc[..n]);
        for j in 0..n {
            let (iv, fv, gv, ov, s) = (i[j], f[j], g[j], o[j], squashed[j]);
            let dhj = dy[j] + dh[j];
            let dcj = dhj * ov * (1.0 - s * s) + dc[j];
            dc[j] = dcj * fv;
            i[j] = dcj * gv * iv * (1.0 - iv);
            f[j] = dcj * c_previous[j] * fv * (1.0 - fv);
            g[j] = dcj * iv * (1.0 - gv * gv);
            o[j] = dhj * s * ov * (1.0 - ov);
        }
    }
}

vectorised! {
    /// GRU's step backward: `a = [r, z, n]` in, `∂A` out, `∂Ã` into `a_hidden`; `dh` holds
    /// `∂hₜ` less `dy` in and its direct share of `∂hₜ₋₁`, `∂hₜ·z`, out.
    fn gru_back(a: &mut [f32], a_hidden: &mut [f32], candidate_hidden: &[f32], h_previous: &[f32], dy: &[f32], dh: &mut [f32]) {
        let n = dy.len();
        let (r, rest) = a.split_at_mut(n);
        let (z, new) = rest.split_at_mut(n);
        let (hr, rest) = a_hidden.split_at_mut(n);
        let (hz, hn) = rest.split_at_mut(n);
        let (new, hz, hn) = (&mut new[..n], &mut hz[..n], &mut hn[..n]);
        let (candidate_hidden, h_previous, dh) = (&candidate_hidden[..n], &h_previous[..n], &mut dh[..n]);
        for j in 0..n {
            let (rv, zv, nv) = (r[j], z[j], new[j]);
            let dhj = dy[j] + dh[j];
            let dn = dhj * (1.0 - zv) * (1.0 - nv * nv);
            let dr = dn * candidate_hidden[j] * rv * (1.0 - rv);
            let dz = dhj * (h_previous[j] - nv) * zv * (1.0 - zv);
            r[j] = dr;
            z[j] = dz;
            new[j] = dn;
            hr[j] = dr;
            hz[j] = dz;
            hn[j] = dn * rv;
            dh[j] = dhj * zv;
        }
    }
}

vectorised! {
    /// The plain recurrence's step backward: `a = hₜ` in, `∂A = ∂hₜ·(1 − hₜ²)` out.
    fn rnn_back(a: &mut [f32], dy: &[f32], dh: &[f32]) {
        let n = a.len();
        let (dy, dh) = (&dy[..n], &dh[..n]);
        for j in 0..n {
            a[j] = (dy[j] + dh[j]) * (1.0 - a[j] * a[j]);
        }
    }
}

vectorised! {
    /// Each column's sum over the rows of `m` (`width` values a row).
    fn column_sums(m: &[f32], width: usize) -> Vec<f32> {
        let mut sums = vec![0.0f32; width];
        for row in m.chunks_exact(width) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
        sums
    }
}

/// A matrix read in place: entry `(i, j)` is `values[i·row + j·column]`.
#[derive(Clone, Copy)]
struct View<'a> {
    values: &'a [f32],
    row: usize,
    column: usize,
}

impl<'a> View<'a> {
    /// Row-major, `width` values a row.
    fn rows(values: &'a [f32], width: usize) -> Self {
        View {
            values,
            row: width,
            column: 1,
        }
    }

    /// The transpose of a row-major matrix of `width` values a row.
    fn columns(values: &'a [f32], width: usize) -> Self {
        View {
            values,
            row: 1,
            column: width,
        }
    }

    /// Whether an `m × n` matrix fits in `values`.
    fn holds(&self, m: usize, n: usize) -> bool {
        (m - 1) * self.row + (n - 1) * self.column < self.values.len()
    }
}

/// `out [m, n]` (row-major) `= a [m, k] · b [k, n]`, added to `out` when `accumulate`.
#[allow(clippy::too_many_arguments)]
fn matmul(
    out: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    accumulate: bool,
    parallelism: Parallelism,
) {
    assert!(m > 0 && n > 0 && k > 0 && out.len() >= m * n && a.holds(m, k) && b.holds(k, n));
    // SAFETY: the assertion keeps every index the strides reach inside its slice.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.values.as_ptr(),
            a.column as isize,
            a.row as isize,
            b.values.as_ptr(),
            b.column as isize,
            b.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
