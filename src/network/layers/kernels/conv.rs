//! A convolution with its bias and activation as one op: `y = g(W ⊛ x + b)` for `x [B, C, H, W]`,
//! filters `W [O, C, k, k]`, bias `b [O]`, stride `s` and `p` zeros on each side, so
//! `y [B, O, H′, W′]` with `H′ = ⌊(H + 2p − k)/s⌋ + 1` (likewise `W′`).
//!
//! Each image is one task on the thread pool. Its patches are copied into the columns
//! `X̂ [C·k·k, H′·W′]` (im2col, in a buffer the task reuses), so the convolution is one matrix
//! product `Z = W·X̂ [O, H′·W′]` (`W` read as `[O, C·k·k]`); the bias and `g` are applied to each
//! row of `Z` in the same pass, in place, by a vectorised loop. The generic path composes these
//! steps from Burn's operations — a gather, a batched product, a broadcast add, the activation —
//! each a pass over memory, its backward a serial scalar scatter-add.
//!
//! The backward pass, from `∂y` and the saved output `y` (`g′` is a function of `y` for the four
//! activations: relu `y > 0`, leaky relu `y > 0 ? 1 : slope` (the slope is ≥ 0, so `y > 0`
//! exactly where `z > 0`), tanh `1 − y²`, sigmoid `y(1 − y)`), the images in one contiguous
//! group per thread:
//! - `∂Z = ∂y ⊙ g′`;
//! - `∂b = Σ_images Σ_pixels ∂Z`;
//! - `∂W = Σ_images ∂Z·X̂ᵀ`, the columns computed again rather than kept (they are `k²` times
//!   the input), each group adding into its own partial sums, which are added in group order at
//!   the end (so the same inputs give the same bits, however the threads are scheduled);
//! - `∂x = col2im(Wᵀ·∂Z)`, each column's value added back where im2col read it — only when `x`
//!   is tracked (never for the data set's images, the first layer's input).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use rayon::prelude::*;

use super::super::Activation;
use super::{flex_tensor, simd, values};

#[backend_extension(Flex, Autodiff)]
pub trait ConvKernel: Backend {
    /// `g(W ⊛ x + b)`, `g` the activation `GATES[activation]` (leaky relu's `slope` for `z < 0`).
    fn conv2d_activated(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        activation: u8,
        slope: f64,
    ) -> FloatTensor<Self>;
}

/// The activations the op applies, by the index it carries across Burn's dispatch (plain
/// numbers cross it). Maxout is a dense layer's and conv2d refuses it.
const GATES: [Activation; 4] = [
    Activation::Relu,
    Activation::LeakyRelu,
    Activation::Tanh,
    Activation::Sigmoid,
];

/// `g(W ⊛ x + b)` with the filters `weight [O, C, k, k]` moved `stride` apart over `x` padded
/// with `pad` zeros on each side.
pub(crate) fn conv2d_activated(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    pad: usize,
    activation: Activation,
    slope: f64,
) -> Tensor<4> {
    let code = GATES
        .iter()
        .position(|&gate| gate == activation)
        .expect("conv2d refuses maxout") as u8;
    Tensor::from_dispatch(<burn::backend::Dispatch as ConvKernel>::conv2d_activated(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        pad,
        code,
        slope,
    ))
}

impl ConvKernel for Flex {
    fn conv2d_activated(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        pad: usize,
        activation: u8,
        slope: f64,
    ) -> FlexTensor {
        let g = Geometry::new(&x, &weight, stride, pad);
        let y = forward(
            &g,
            &values(&x),
            &values(&weight),
            &values(&bias),
            GATES[activation as usize],
            slope as f32,
        );
        flex_tensor(y, g.output_shape())
    }
}

/// What the backward pass needs: the input and filters (for `∂W` and `∂x`) and the output
/// (for `g′`), shared with the forward pass's tensors, not copied.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexTensor,
    weight: FlexTensor,
    y: FlexTensor,
    geometry: Geometry,
    activation: Activation,
    slope: f32,
}

impl<C: CheckpointStrategy> ConvKernel for Autodiff<Flex, C> {
    fn conv2d_activated(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        activation: u8,
        slope: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvBackward;

        impl Backward<Flex, 3> for ConvBackward {
            type State = Saved;

            fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [x_node, weight_node, bias_node] = ops.parents;
                let dy = grads.consume::<Flex>(&ops.node);
                let s = ops.state;
                let g = s.geometry;
                let (dx, dw, db) = gradients(
                    &g,
                    &values(&s.x),
                    &values(&s.weight),
                    &values(&s.y),
                    &values(&dy),
                    s.activation,
                    s.slope,
                    x_node.is_some(),
                );
                if let (Some(node), Some(dx)) = (x_node, dx) {
                    grads.register::<Flex>(
                        node.id,
                        flex_tensor(dx, [g.batch, g.channels, g.height, g.width]),
                    );
                }
                if let Some(node) = weight_node {
                    grads.register::<Flex>(
                        node.id,
                        flex_tensor(dw, [g.filters, g.channels, g.kernel, g.kernel]),
                    );
                }
                if let Some(node) = bias_node {
                    grads.register::<Flex>(node.id, flex_tensor(db, [g.filters]));
                }
            }
        }

        let g = Geometry::new(x.primitive(), weight.primitive(), stride, pad);
        let gate = GATES[activation as usize];
        let y = flex_tensor(
            forward(
                &g,
                &values(x.primitive()),
                &values(weight.primitive()),
                &values(bias.primitive()),
                gate,
                slope as f32,
            ),
            g.output_shape(),
        );
        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let saved = Saved {
                    x: x.primitive().clone(),
                    weight: weight.primitive().clone(),
                    y: y.clone(),
                    geometry: g,
                    activation: gate,
                    slope: slope as f32,
                };
                prep.finish(saved, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    filters: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn new(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize) -> Self {
        let (x, w) = (x.layout().shape(), weight.layout().shape());
        let (height, width, kernel) = (x[2], x[3], w[2]);
        Geometry {
            batch: x[0],
            channels: x[1],
            height,
            width,
            filters: w[0],
            kernel,
            stride,
            pad,
            out_h: (height + 2 * pad - kernel) / stride + 1,
            out_w: (width + 2 * pad - kernel) / stride + 1,
        }
    }

    fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.filters, self.out_h, self.out_w]
    }

    /// Values in one input image, `C·H·W`.
    fn image(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Rows of the columns, `C·k·k` (a filter's weights).
    fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Output pixels of one image, `H′·W′` (the columns' width).
    fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    /// The outputs `lo..hi` along one axis (of `outputs`, over an input of `size`) whose tap at
    /// offset `tap` in the window reads inside the input: `0 ≤ o·s + tap − p < size` (empty,
    /// `lo == hi`, when the image is narrower than the padding).
    fn span(&self, tap: usize, size: usize, outputs: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.pad);
        let lo = if tap >= p { 0 } else { (p - tap).div_ceil(s) }.min(outputs);
        let hi = if size + p > tap {
            ((size + p - tap - 1) / s + 1).min(outputs)
        } else {
            0
        };
        (lo, hi.max(lo))
    }
}

/// The columns of one image `x [C, H, W]`: `cols[(c·k + i)·k + j][r·W′ + q] =
/// x[c][r·s + i − p][q·s + j − p]`, zero where that falls in the padding.
fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32]) {
    let (k, s, p, n) = (g.kernel, g.stride, g.pad, g.pixels());
    let plane = g.height * g.width;
    for (row, out) in cols.chunks_exact_mut(n).enumerate() {
        let (c, i, j) = (row / (k * k), row / k % k, row % k);
        let (r_lo, r_hi) = g.span(i, g.height, g.out_h);
        let (q_lo, q_hi) = g.span(j, g.width, g.out_w);
        for (r, line) in out.chunks_exact_mut(g.out_w).enumerate() {
            if r < r_lo || r >= r_hi {
                line.fill(0.0);
                continue;
            }
            let src = &x[c * plane + (r * s + i - p) * g.width..][..g.width];
            line[..q_lo].fill(0.0);
            line[q_hi..].fill(0.0);
            if q_lo == q_hi {
                continue;
            }
            if s == 1 {
                line[q_lo..q_hi].copy_from_slice(&src[q_lo + j - p..q_hi + j - p]);
            } else {
                for (q, v) in line.iter_mut().enumerate().take(q_hi).skip(q_lo) {
                    *v = src[q * s + j - p];
                }
            }
        }
    }
}

/// The transpose of [`im2col`]: each column value added into `dx [C, H, W]` where im2col read
/// it (overlapping windows add up).
fn col2im(g: &Geometry, cols: &[f32], dx: &mut [f32]) {
    let (k, s, p, n) = (g.kernel, g.stride, g.pad, g.pixels());
    let plane = g.height * g.width;
    for (row, col) in cols.chunks_exact(n).enumerate() {
        let (c, i, j) = (row / (k * k), row / k % k, row % k);
        let (r_lo, r_hi) = g.span(i, g.height, g.out_h);
        let (q_lo, q_hi) = g.span(j, g.width, g.out_w);
        if q_lo == q_hi {
            continue;
        }
        for r in r_lo..r_hi {
            let line = &col[r * g.out_w..][..g.out_w];
            let dst = &mut dx[c * plane + (r * s + i - p) * g.width..][..g.width];
            if s == 1 {
                add(&mut dst[q_lo + j - p..q_hi + j - p], &line[q_lo..q_hi]);
            } else {
                for (q, &v) in line.iter().enumerate().take(q_hi).skip(q_lo) {
                    dst[q * s + j - p] += v;
                }
            }
        }
    }
}

/// `dst [m, n] ← dst·[accumulate] + op(a)·op(b)`, all row-major, one thread: `a` holds
/// `[m, k]`, or `[k, m]` when `a_t` (`op(a) = aᵀ`); `b` holds `[k, n]`, or `[n, k]` when `b_t`.
#[allow(clippy::too_many_arguments)]
fn multiply(
    dst: &mut [f32],
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
) {
    assert!(dst.len() == m * n && a.len() == m * k && b.len() == k * n);
    let (a_rs, a_cs) = if a_t { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if b_t { (1, k) } else { (n, 1) };
    // SAFETY: the lengths checked above hold every element the strides reach.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `y = g(W·X̂ + b)` image by image (see the module's notes).
fn forward(
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    gate: Activation,
    slope: f32,
) -> Vec<f32> {
    let (n, patch) = (g.pixels(), g.patch());
    let mut y = vec![0.0f32; g.batch * g.filters * n];
    y.par_chunks_mut(g.filters * n).enumerate().for_each_init(
        || vec![0.0f32; patch * n],
        |cols, (image, out)| {
            im2col(g, &x[image * g.image()..][..g.image()], cols);
            multiply(
                out,
                false,
                (g.filters, n, patch),
                weight,
                false,
                cols,
                false,
            );
            for (row, &b) in out.chunks_exact_mut(n).zip(bias) {
                activate(row, b, gate, slope);
            }
        },
    );
    y
}

/// One task's share of the parameters' gradients, and its buffers.
struct Partial {
    dw: Vec<f32>,
    db: Vec<f32>,
    dz: Vec<f32>,
    cols: Vec<f32>,
}

/// `(∂x if want_dx, ∂W, ∂b)` from `∂y` (see the module's notes).
#[allow(clippy::too_many_arguments)]
fn gradients(
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    y: &[f32],
    dy: &[f32],
    gate: Activation,
    slope: f32,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (n, patch, out) = (g.pixels(), g.patch(), g.filters * g.pixels());
    let mut dx = want_dx.then(|| vec![0.0f32; g.batch * g.image()]);
    // The images in one contiguous group per thread, each group's sums kept apart and added in
    // group order: the same inputs give the same bits, however the threads are scheduled.
    let per_group = g
        .batch
        .div_ceil(rayon::current_num_threads().clamp(1, g.batch.max(1)));
    let groups = g.batch.div_ceil(per_group);
    let slots: Vec<Option<&mut [f32]>> = match dx.as_mut() {
        Some(dx) => dx.chunks_mut(per_group * g.image()).map(Some).collect(),
        None => (0..groups).map(|_| None).collect(),
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = slots
        .into_par_iter()
        .enumerate()
        .map(|(group, mut dx)| {
            let mut t = Partial {
                dw: vec![0.0; g.filters * patch],
                db: vec![0.0; g.filters],
                dz: vec![0.0; out],
                cols: vec![0.0; patch * n],
            };
            let first = group * per_group;
            for image in first..(first + per_group).min(g.batch) {
                let at = image * out;
                derivative(&mut t.dz, &dy[at..at + out], &y[at..at + out], gate, slope);
                for (db, row) in t.db.iter_mut().zip(t.dz.chunks_exact(n)) {
                    *db += sum(row);
                }
                im2col(g, &x[image * g.image()..][..g.image()], &mut t.cols);
                multiply(
                    &mut t.dw,
                    true,
                    (g.filters, patch, n),
                    &t.dz,
                    false,
                    &t.cols,
                    true,
                );
                if let Some(dx) = dx.as_deref_mut() {
                    multiply(
                        &mut t.cols,
                        false,
                        (patch, n, g.filters),
                        weight,
                        true,
                        &t.dz,
                        false,
                    );
                    col2im(
                        g,
                        &t.cols,
                        &mut dx[(image - first) * g.image()..][..g.image()],
                    );
                }
            }
            (t.dw, t.db)
        })
        .collect();
    let mut partials = partials.into_iter();
    let (mut dw, mut db) = partials
        .next()
        .unwrap_or_else(|| (vec![0.0; g.filters * patch], vec![0.0; g.filters]));
    for (dw2, db2) in partials {
        add(&mut dw, &dw2);
        add(&mut db, &db2);
    }
    (dx, dw, db)
}

vectorised! {
    /// `row ← g(row + bias)`.
    fn activate(row: &mut [f32], bias: f32, gate: Activation, slope: f32) {
        match gate {
            Activation::Relu => row.iter_mut().for_each(|v| *v = (*v + bias).max(0.0)),
            Activation::LeakyRelu => row.iter_mut().for_each(|v| {
                let z = *v + bias;
                *v = if z > 0.0 { z } else { z * slope };
            }),
            Activation::Tanh => row.iter_mut().for_each(|v| *v = simd::tanh(*v + bias)),
            Activation::Sigmoid => row.iter_mut().for_each(|v| *v = simd::sigmoid(*v + bias)),
            Activation::Maxout => unreachable!("conv2d refuses maxout"),
        }
    }
}

vectorised! {
    /// `dz = dy ⊙ g′`, `g′` from the output `y` (see the module's notes).
    fn derivative(dz: &mut [f32], dy: &[f32], y: &[f32], gate: Activation, slope: f32) {
        let each = dz.iter_mut().zip(dy).zip(y);
        match gate {
            Activation::Relu => each.for_each(|((d, &dy), &y)| *d = if y > 0.0 { dy } else { 0.0 }),
            Activation::LeakyRelu => {
                each.for_each(|((d, &dy), &y)| *d = if y > 0.0 { dy } else { dy * slope })
            }
            Activation::Tanh => each.for_each(|((d, &dy), &y)| *d = dy * (1.0 - y * y)),
            Activation::Sigmoid => each.for_each(|((d, &dy), &y)| *d = dy * y * (1.0 - y)),
            Activation::Maxout => unreachable!("conv2d refuses maxout"),
        }
    }
}

vectorised! {
    /// `Σ values`, in eight running sums: one sum would be a chain of dependent additions the
    /// compiler may not reorder (f32 addition is not associative), one addition's latency per
    /// value; eight independent ones fill a vector register.
    fn sum(values: &[f32]) -> f32 {
        let mut lanes = [0.0f32; 8];
        let chunks = values.chunks_exact(8);
        let rest: f32 = chunks.remainder().iter().sum();
        for chunk in chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += v;
            }
        }
        lanes.iter().sum::<f32>() + rest
    }
}

vectorised! {
    /// `dst ← dst + src`.
    fn add(dst: &mut [f32], src: &[f32]) {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::Initializer;
    use burn::tensor::Distribution;

    use super::super::super::conv2d::{Conv2d, Conv2dLayer, Padding};
    use super::super::super::{Defaults, Kernels, Layer, LayerSettings, Shape, Signal};
    use super::super::testing::{difference, floats};
    use super::*;

    fn defaults(activation: Activation) -> Defaults {
        Defaults {
            activation,
            leaky_slope: 0.1,
            initializer: Initializer::Normal {
                mean: 0.0,
                std: 0.3,
            },
            bias: true,
        }
    }

    /// A conv2d layer on `input` with a random bias (built ones start at zero).
    fn layer(
        settings: &Conv2d,
        input: Shape,
        activation: Activation,
        device: &Device,
    ) -> Conv2dLayer {
        let mut layer = settings.build(input, &defaults(activation), device);
        let filters = settings.channels;
        layer.conv.bias = Some(Param::from_tensor(Tensor::random(
            [filters],
            Distribution::Normal(0.0, 0.5),
            device,
        )));
        layer
    }

    /// Forward values and the gradients of `Σ r·y` (`r` fixed, random) for the input (when
    /// `track_x`) and every layer's weight and bias, by one route.
    fn run(
        layers: &[Conv2dLayer],
        x: &Tensor<4>,
        r: &Tensor<4>,
        track_x: bool,
        kernels: Kernels,
    ) -> Vec<Vec<f32>> {
        let x = if track_x {
            x.clone().require_grad()
        } else {
            x.clone()
        };
        let mut signal = Signal::Image(x.clone());
        for layer in layers {
            signal = layer.forward(signal, kernels);
        }
        let y = signal.image();
        let grads = (y.clone() * r.clone()).sum().backward();
        let mut out = vec![floats(y)];
        if track_x {
            out.push(floats(x.grad(&grads).expect("x is tracked")));
        }
        for layer in layers {
            out.push(floats(
                layer.conv.weight.val().grad(&grads).expect("weight"),
            ));
            let bias = layer.conv.bias.as_ref().expect("bias").val();
            out.push(floats(bias.grad(&grads).expect("bias")));
        }
        out
    }

    /// The fused route against the generic one: the stack `convs` on images `[batch, c, h, w]`.
    fn compare(batch: usize, input: [usize; 3], convs: &[Conv2d], gate: Activation, track_x: bool) {
        let device = Device::flex().autodiff();
        let [channels, height, width] = input;
        let mut shape = Shape::Image {
            channels,
            height,
            width,
        };
        let mut layers = Vec::new();
        for settings in convs {
            layers.push(layer(settings, shape, gate, &device));
            shape = settings.output_shape(shape).expect("fits");
        }
        let Shape::Image {
            channels: c,
            height: h,
            width: w,
        } = shape
        else {
            unreachable!()
        };
        let x = Tensor::random(
            [batch, channels, height, width],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let r = Tensor::random([batch, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let fused = run(&layers, &x, &r, track_x, Kernels::Fused);
        let generic = run(&layers, &x, &r, track_x, Kernels::Generic);
        for (i, (a, b)) in fused.iter().zip(&generic).enumerate() {
            let d = difference(a, b);
            assert!(d <= 1e-5, "{gate:?} {convs:?}: output {i} differs by {d:e}");
        }
    }

    fn conv(channels: usize, kernel: usize, stride: usize, padding: Padding) -> Conv2d {
        Conv2d {
            channels,
            kernel,
            stride,
            padding,
            activation: None,
        }
    }

    #[test]
    fn the_fused_op_matches_the_generic_path_with_each_activation() {
        for gate in GATES {
            // The data's first layer (x not tracked), "same" padding.
            compare(3, [1, 28, 28], &[conv(8, 3, 1, Padding::Same)], gate, false);
            // Two layers, x tracked: the second layer's ∂x feeds the first's gradients.
            compare(
                2,
                [3, 9, 11],
                &[conv(5, 3, 1, Padding::Same), conv(4, 3, 1, Padding::Valid)],
                gate,
                true,
            );
        }
    }

    #[test]
    fn the_fused_op_matches_the_generic_path_on_odd_shapes_and_strides() {
        let gate = Activation::Relu;
        // Batch 1, odd sizes, stride 2 with and without padding, a 5×5 and a 1×1 kernel, a
        // kernel as wide as the image.
        compare(1, [2, 7, 9], &[conv(3, 3, 2, Padding::Same)], gate, true);
        compare(1, [2, 8, 7], &[conv(3, 3, 2, Padding::Valid)], gate, true);
        compare(4, [3, 10, 13], &[conv(6, 5, 2, Padding::Same)], gate, true);
        compare(2, [3, 5, 6], &[conv(2, 1, 1, Padding::Valid)], gate, true);
        compare(2, [1, 5, 5], &[conv(3, 5, 1, Padding::Valid)], gate, true);
        compare(
            3,
            [2, 3, 4],
            &[conv(2, 5, 3, Padding::Same)],
            Activation::LeakyRelu,
            true,
        );
        // An image narrower than the padding: some taps read only zeros.
        compare(
            2,
            [2, 1, 3],
            &[conv(3, 5, 1, Padding::Same)],
            Activation::Tanh,
            true,
        );
    }

    /// Without autodiff (evaluation, prediction) the op runs its flex forward alone.
    #[test]
    fn the_fused_op_matches_the_generic_path_without_autodiff() {
        let device = Device::flex();
        let input = Shape::Image {
            channels: 2,
            height: 9,
            width: 8,
        };
        for gate in GATES {
            let layer = layer(&conv(4, 3, 2, Padding::Same), input, gate, &device);
            let x = Tensor::random([3, 2, 9, 8], Distribution::Normal(0.0, 1.0), &device);
            let fused = layer
                .forward(Signal::Image(x.clone()), Kernels::Fused)
                .image();
            let generic = layer.forward(Signal::Image(x), Kernels::Generic).image();
            let d = difference(&floats(fused), &floats(generic));
            assert!(d <= 1e-5, "{gate:?}: differs by {d:e}");
        }
    }

    /// `Σ r·y` in f64 for the op run on plain slices.
    fn loss(g: &Geometry, x: &[f32], w: &[f32], b: &[f32], r: &[f32], gate: Activation) -> f64 {
        let y = forward(g, x, w, b, gate, 0.0);
        y.iter().zip(r).map(|(&y, &r)| y as f64 * r as f64).sum()
    }

    /// The op's own gradients against central differences `(L(θ + h) − L(θ − h))/2h` of
    /// `L = Σ r·y`, for every input, weight and bias, with the smooth activations (relu's kink
    /// would break the difference quotient; the comparison above covers relu). In f32 with
    /// `h = 10⁻²`: the truncation error is `h²/6·L‴ ≈ 10⁻⁵`, the rounding error about
    /// `ε·|L|/h ≈ 10⁻⁷·10/10⁻² = 10⁻⁴`; the tolerance is 10⁻³ of max(|∂|, 1), while a wrong
    /// index or transpose errs by O(1).
    #[test]
    fn the_gradients_match_central_differences() {
        let g = Geometry {
            batch: 2,
            channels: 2,
            height: 5,
            width: 6,
            filters: 3,
            kernel: 3,
            stride: 2,
            pad: 1,
            out_h: 3,
            out_w: 3,
        };
        // Fixed pseudo-random values in [−1, 1].
        let fill = |n: usize, seed: u32| -> Vec<f32> {
            (0..n as u32)
                .map(|i| {
                    let h = (i.wrapping_add(seed).wrapping_mul(0x9e37_79b9) >> 8) as f32;
                    h / (1u32 << 23) as f32 - 1.0
                })
                .collect()
        };
        let x = fill(g.batch * g.image(), 1);
        let w = fill(g.filters * g.patch(), 2);
        let b = fill(g.filters, 3);
        let r = fill(g.batch * g.filters * g.pixels(), 4);
        let h = 1e-2f32;
        for gate in [Activation::Tanh, Activation::Sigmoid] {
            let y = forward(&g, &x, &w, &b, gate, 0.0);
            let (dx, dw, db) = gradients(&g, &x, &w, &y, &r, gate, 0.0, true);
            let dx = dx.expect("asked for");
            let check = |which: usize, analytic: &[f32]| {
                for (i, &a) in analytic.iter().enumerate() {
                    let at = |delta: f32| {
                        let (mut x, mut w, mut b) = (x.clone(), w.clone(), b.clone());
                        let tensors = [&mut x, &mut w, &mut b];
                        tensors[which][i] += delta;
                        loss(&g, &x, &w, &b, &r, gate)
                    };
                    let numeric = ((at(h) - at(-h)) / (2.0 * h as f64)) as f32;
                    assert!(
                        (numeric - a).abs() <= 1e-3 * a.abs().max(1.0),
                        "{gate:?} tensor {which} element {i}: {a} vs {numeric}"
                    );
                }
            };
            check(0, &dx);
            check(1, &dw);
            check(2, &db);
        }
    }
}
