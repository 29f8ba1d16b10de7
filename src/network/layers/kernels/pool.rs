//! Max pooling as one op: `y[b, c, r, q] = max over the window (i, j < size) of
//! x[b, c, r·s + i, q·s + j]`, and its backward `∂x = Σ ∂y` at each window's arg max (windows
//! that overlap add up).
//!
//! Flex's own max pooling, which the generic path calls, is a 3-D pooling with padding and
//! dilation, doing integer divisions for every output and keeping 64-bit indices; a CNN step
//! spent a quarter of its time there (perf, after the convolution was fused). Here the windows
//! are read directly, the arg max is kept as a 32-bit offset within its image plane, and the
//! planes are split over the thread pool, forward and backward.
//!
//! Ties and NaN follow flex's rule, so the gradients are the generic path's: the first maximum
//! in the window's row-major order wins (a later value only if strictly larger), and a NaN wins
//! over any number (the last NaN in the window).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use rayon::prelude::*;

use super::{flex_tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait PoolKernel: Backend {
    /// The largest value of each `size × size` window of `x [B, C, H, W]`, windows `stride`
    /// apart, no padding.
    fn max_pool2d_fused(x: FloatTensor<Self>, size: usize, stride: usize) -> FloatTensor<Self>;
}

/// Max pooling of `x` over `size × size` windows `stride` apart.
pub(crate) fn max_pool2d(x: Tensor<4>, size: usize, stride: usize) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as PoolKernel>::max_pool2d_fused(
        x.into_dispatch(),
        size,
        stride,
    ))
}

impl PoolKernel for Flex {
    fn max_pool2d_fused(x: FlexTensor, size: usize, stride: usize) -> FlexTensor {
        let g = Geometry::new(&x, size, stride);
        flex_tensor(pool(&g, &values(&x)).0, g.output_shape())
    }
}

impl<C: CheckpointStrategy> PoolKernel for Autodiff<Flex, C> {
    fn max_pool2d_fused(x: FloatTensor<Self>, size: usize, stride: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct PoolBackward;

        impl Backward<Flex, 1> for PoolBackward {
            /// The geometry and each output's arg max within its plane.
            type State = (Geometry, Arc<Vec<u32>>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [parent] = ops.parents;
                let dy = grads.consume::<Flex>(&ops.node);
                let (g, at) = ops.state;
                if let Some(parent) = parent {
                    let dx = scatter(&g, &values(&dy), &at);
                    grads.register::<Flex>(parent.id, flex_tensor(dx, g.input_shape()));
                }
            }
        }

        let g = Geometry::new(x.primitive(), size, stride);
        let (y, at) = pool(&g, &values(x.primitive()));
        let y = flex_tensor(y, g.output_shape());
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((g, Arc::new(at)), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// The sizes of one pooling.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    planes: usize,
    channels: usize,
    height: usize,
    width: usize,
    size: usize,
    stride: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn new(x: &FlexTensor, size: usize, stride: usize) -> Self {
        let x = x.layout().shape();
        Geometry {
            planes: x[0] * x[1],
            channels: x[1],
            height: x[2],
            width: x[3],
            size,
            stride,
            out_h: (x[2] - size) / stride + 1,
            out_w: (x[3] - size) / stride + 1,
        }
    }

    fn input_shape(&self) -> [usize; 4] {
        [
            self.planes / self.channels,
            self.channels,
            self.height,
            self.width,
        ]
    }

    fn output_shape(&self) -> [usize; 4] {
        [
            self.planes / self.channels,
            self.channels,
            self.out_h,
            self.out_w,
        ]
    }
}

/// Image planes per task: a 28×28 plane is a few hundred comparisons, too little to schedule
/// alone.
const PLANES: usize = 16;

/// Each window's largest value and its offset within the plane (see the module's notes for
/// ties and NaN).
fn pool(g: &Geometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_h * g.out_w);
    let mut y = vec![0.0f32; g.planes * plane_out];
    let mut at = vec![0u32; g.planes * plane_out];
    y.par_chunks_mut(plane_out)
        .zip(at.par_chunks_mut(plane_out))
        .zip(x.par_chunks(plane_in))
        .with_min_len(PLANES)
        .for_each(|((y, at), x)| {
            if g.size == 2 && g.stride == 2 {
                let rows = y
                    .chunks_exact_mut(g.out_w)
                    .zip(at.chunks_exact_mut(g.out_w));
                for (r, (y, at)) in rows.enumerate() {
                    let top = 2 * r * g.width;
                    let (upper, lower) = x[top..top + 2 * g.width].split_at(g.width);
                    pool_2x2(upper, lower, top as u32, g.width as u32, y, at);
                }
                return;
            }
            for r in 0..g.out_h {
                for q in 0..g.out_w {
                    let first = r * g.stride * g.width + q * g.stride;
                    let (mut best, mut arg) = (x[first], first);
                    for i in 0..g.size {
                        let row = first + i * g.width;
                        for (j, &v) in x[row..row + g.size].iter().enumerate() {
                            if v > best || v.is_nan() {
                                (best, arg) = (v, row + j);
                            }
                        }
                    }
                    y[r * g.out_w + q] = best;
                    at[r * g.out_w + q] = arg as u32;
                }
            }
        });
    (y, at)
}

vectorised! {
    /// One output row of 2×2 windows two apart (the common case, written out so that it
    /// vectorises): `upper` and `lower` are the input rows the windows cover, `top` the offset
    /// of `upper` in its plane. The window's four values are taken in row-major order with the
    /// module's rule.
    fn pool_2x2(upper: &[f32], lower: &[f32], top: u32, width: u32, y: &mut [f32], at: &mut [u32]) {
        let windows = upper.chunks_exact(2).zip(lower.chunks_exact(2));
        for (q, ((y, at), (u, l))) in y.iter_mut().zip(at.iter_mut()).zip(windows).enumerate() {
            let left = top + 2 * q as u32;
            let (mut best, mut arg) = (u[0], left);
            for (v, offset) in [(u[1], left + 1), (l[0], left + width), (l[1], left + width + 1)] {
                if v > best || v.is_nan() {
                    (best, arg) = (v, offset);
                }
            }
            *y = best;
            *at = arg;
        }
    }
}

/// `∂x`: each output's gradient added at its window's arg max, zero elsewhere.
fn scatter(g: &Geometry, dy: &[f32], at: &[u32]) -> Vec<f32> {
    let (plane_in, plane_out) = (g.height * g.width, g.out_h * g.out_w);
    let mut dx = vec![0.0f32; g.planes * plane_in];
    dx.par_chunks_mut(plane_in)
        .zip(dy.par_chunks(plane_out))
        .zip(at.par_chunks(plane_out))
        .with_min_len(PLANES)
        .for_each(|((dx, dy), at)| {
            for (&d, &i) in dy.iter().zip(at) {
                dx[i as usize] += d;
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::super::super::Activation;
    use super::super::super::pooling::MaxPool2d;
    use super::super::super::{Defaults, Kernels, Layer, LayerSettings, Shape, Signal};
    use super::super::testing::{difference, floats};
    use super::*;

    /// Pooling has no weights and no activation: any defaults do.
    fn defaults() -> Defaults {
        Defaults {
            activation: Activation::Relu,
            leaky_slope: 0.01,
            initializer: burn::nn::Initializer::Zeros,
            bias: true,
        }
    }

    /// `y` and `∂(Σ r·y)/∂x` by one route.
    fn run(
        layer: &impl Layer,
        x: &Tensor<4>,
        r: &Tensor<4>,
        kernels: Kernels,
    ) -> (Vec<f32>, Vec<f32>) {
        let x = x.clone().require_grad();
        let y = layer.forward(Signal::Image(x.clone()), kernels).image();
        let grads = (y.clone() * r.clone()).sum().backward();
        (floats(y), floats(x.grad(&grads).expect("x is tracked")))
    }

    /// The fused route against the generic one on images `[batch, c, h, w]`; with `ties`, the
    /// inputs are rounded to a few levels so that most windows hold equal maxima.
    fn compare(batch: usize, [c, h, w]: [usize; 3], size: usize, stride: usize, ties: bool) {
        let device = Device::flex().autodiff();
        let settings = MaxPool2d {
            size,
            stride: Some(stride),
        };
        let input = Shape::Image {
            channels: c,
            height: h,
            width: w,
        };
        let layer = settings.build(input, &defaults(), &device);
        let Ok(Shape::Image {
            height: oh,
            width: ow,
            ..
        }) = settings.output_shape(input)
        else {
            unreachable!("fits")
        };
        let mut x = Tensor::random([batch, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        if ties {
            x = x.round().clamp(-1.0, 1.0);
        }
        let r = Tensor::random([batch, c, oh, ow], Distribution::Normal(0.0, 1.0), &device);
        let (y, dx) = run(&layer, &x, &r, Kernels::Fused);
        let (y_ref, dx_ref) = run(&layer, &x, &r, Kernels::Generic);
        assert_eq!(y, y_ref, "{size}/{stride} on {h}×{w}: forward");
        let d = difference(&dx, &dx_ref);
        assert!(
            d <= 1e-5,
            "{size}/{stride} on {h}×{w} (ties {ties}): ∂x differs by {d:e}"
        );
    }

    /// Without autodiff (evaluation, prediction) the op runs its flex forward alone.
    #[test]
    fn the_fused_max_pool_matches_the_generic_path_without_autodiff() {
        let device = Device::flex();
        let input = Shape::Image {
            channels: 3,
            height: 9,
            width: 8,
        };
        for (size, stride) in [(2, 2), (3, 2)] {
            let layer = MaxPool2d {
                size,
                stride: Some(stride),
            }
            .build(input, &defaults(), &device);
            let x = Tensor::random([2, 3, 9, 8], Distribution::Normal(0.0, 1.0), &device);
            let fused = layer
                .forward(Signal::Image(x.clone()), Kernels::Fused)
                .image();
            let generic = layer.forward(Signal::Image(x), Kernels::Generic).image();
            assert_eq!(floats(fused), floats(generic), "{size}/{stride}");
        }
    }

    #[test]
    fn the_fused_max_pool_matches_the_generic_path() {
        for ties in [false, true] {
            compare(3, [4, 28, 28], 2, 2, ties);
            // Odd sizes (the last row and column left out), batch 1.
            compare(1, [2, 7, 9], 2, 2, ties);
            // Overlapping windows: one input can be the arg max of several.
            compare(2, [3, 9, 8], 3, 2, ties);
            compare(2, [1, 6, 5], 2, 1, ties);
            // Windows apart.
            compare(2, [2, 11, 10], 2, 3, ties);
        }
    }
}
