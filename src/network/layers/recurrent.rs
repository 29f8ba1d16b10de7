//! The recurrent layers: long short-term memory (`type = "lstm"`: input, forget, output gates
//! and a cell state), the gated recurrent unit (`"gru"`: update and reset gates) and the plain
//! recurrent layer (`"rnn"`: `h_t = tanh(W·x_t + U·h_{t−1} + b)`). Each reads a sequence (an
//! image row by row: `h` steps of `c·w` features) and outputs the whole sequence of its hidden
//! states (`steps × units`), so recurrent layers stack.
//!
//! Burn keeps one small linear map per gate (an input and a hidden transform, each with a bias
//! when the model has biases). PyTorch (`nn.LSTM`/`nn.GRU`/`nn.RNN`, `batch_first=True`) stacks
//! the gates into `weight_ih_l0 [G·H, in]`, `weight_hh_l0 [G·H, H]`, `bias_ih_l0`, `bias_hh_l0`,
//! gates in its order (LSTM i, f, g, o; GRU r, z, n). ONNX's `LSTM`/`GRU`/`RNN` want another
//! order (LSTM i, o, f, c; GRU z, r, h), time first.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use burn::nn::{GateController, GruConfig, Linear, LstmConfig, RnnConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::kernels::recurrent::{CellKind, sequence};
use super::{Kernels,
    Activation, Defaults, Layer, LayerSettings, Picture, Shape, Signal, Source, size_setting,
};
use crate::error::Result;
use crate::interop::onnx::{Graph, attribute_int, attribute_ints};
use crate::interop::tensors::Raw;

/// `[[model.layers]] type = "lstm" | "gru" | "rnn"`: `units` hidden units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrent<C: Cell> {
    pub units: usize,
    #[serde(skip)]
    cell: PhantomData<C>,
}

impl<C: Cell> Recurrent<C> {
    pub fn of(units: usize) -> Self {
        Recurrent {
            units,
            cell: PhantomData,
        }
    }
}

pub(crate) type Lstm = Recurrent<LstmCell>;
pub(crate) type Gru = Recurrent<GruCell>;
pub(crate) type Rnn = Recurrent<RnnCell>;

/// What tells the three kinds apart: their Burn module and gates.
pub trait Cell: Clone + std::fmt::Debug + PartialEq + Default {
    /// Burn's module (batch first).
    type Module: Module + RecurrentModule<Cell = Self>;
    /// The name in the experiment file.
    const NAME: &'static str;
    /// ONNX's operator.
    const OP: &'static str;
    /// Burn's gates, in PyTorch's order.
    const GATES: &'static [&'static str];
    /// For each of ONNX's gates, its position in PyTorch's order.
    const ONNX_ORDER: &'static [usize];

    fn build(features: usize, units: usize, bias: bool, device: &Device) -> Self::Module;
}

/// What the layer needs of Burn's module.
pub trait RecurrentModule {
    /// The kind it is.
    type Cell: Cell;
    fn run(&self, x: Tensor<3>) -> Tensor<3>;
    fn units(&self) -> usize;
    /// The fused kernel's cell and the module's gates in the kernel's order, or `None` where
    /// the module is set up otherwise than the layer builds it and the kernel computes
    /// (clipping, a reversed or time-first sequence, LSTM's coupled forget gate, GRU's reset
    /// before the hidden transform, other activations).
    fn fused_gates(&self) -> Option<(CellKind, Vec<&GateController>)>;
}

/// Whether an activation is Burn's logistic function.
fn is_sigmoid(activation: &burn::nn::activation::Activation) -> bool {
    matches!(activation, burn::nn::activation::Activation::Sigmoid(_))
}

/// Whether an activation is Burn's tanh.
fn is_tanh(activation: &burn::nn::activation::Activation) -> bool {
    matches!(activation, burn::nn::activation::Activation::Tanh(_))
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LstmCell;
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GruCell;
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RnnCell;

impl Cell for LstmCell {
    type Module = burn::nn::Lstm;
    const NAME: &'static str = "lstm";
    const OP: &'static str = "LSTM";
    const GATES: &'static [&'static str] = &["input_gate", "forget_gate", "cell_gate", "output_gate"];
    const ONNX_ORDER: &'static [usize] = &[0, 3, 1, 2];

    fn build(features: usize, units: usize, bias: bool, device: &Device) -> burn::nn::Lstm {
        LstmConfig::new(features, units, bias).init(device)
    }
}

impl Cell for GruCell {
    type Module = burn::nn::Gru;
    const NAME: &'static str = "gru";
    const OP: &'static str = "GRU";
    const GATES: &'static [&'static str] = &["reset_gate", "update_gate", "new_gate"];
    const ONNX_ORDER: &'static [usize] = &[1, 0, 2];

    fn build(features: usize, units: usize, bias: bool, device: &Device) -> burn::nn::Gru {
        GruConfig::new(features, units, bias).init(device)
    }
}

impl Cell for RnnCell {
    type Module = burn::nn::Rnn;
    const NAME: &'static str = "rnn";
    const OP: &'static str = "RNN";
    const GATES: &'static [&'static str] = &["gate"];
    const ONNX_ORDER: &'static [usize] = &[0];

    fn build(features: usize, units: usize, bias: bool, device: &Device) -> burn::nn::Rnn {
        RnnConfig::new(features, units, bias).init(device)
    }
}

impl RecurrentModule for burn::nn::Lstm {
    type Cell = LstmCell;
    fn run(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward(x, None).0
    }
    fn units(&self) -> usize {
        self.d_hidden
    }
    fn fused_gates(&self) -> Option<(CellKind, Vec<&GateController>)> {
        let plain = self.batch_first && !self.reverse && self.clip.is_none();
        let activations = is_sigmoid(&self.gate_activation)
            && is_tanh(&self.cell_activation)
            && is_tanh(&self.hidden_activation);
        let forget = self.forget_gate.as_ref().filter(|_| plain && activations)?;
        Some((
            CellKind::Lstm,
            vec![&self.input_gate, forget, &self.cell_gate, &self.output_gate],
        ))
    }
}

impl RecurrentModule for burn::nn::Gru {
    type Cell = GruCell;
    fn run(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward(x, None)
    }
    fn units(&self) -> usize {
        self.d_hidden
    }
    fn fused_gates(&self) -> Option<(CellKind, Vec<&GateController>)> {
        (self.reset_after
            && self.clip.is_none()
            && is_sigmoid(&self.gate_activation)
            && is_tanh(&self.hidden_activation))
        .then(|| {
            (
                CellKind::Gru,
                vec![&self.reset_gate, &self.update_gate, &self.new_gate],
            )
        })
    }
}

impl RecurrentModule for burn::nn::Rnn {
    type Cell = RnnCell;
    fn run(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward(x, None).0
    }
    fn units(&self) -> usize {
        self.d_hidden
    }
    fn fused_gates(&self) -> Option<(CellKind, Vec<&GateController>)> {
        (self.batch_first && !self.reverse && self.clip.is_none() && is_tanh(&self.hidden_activation))
            .then(|| (CellKind::Rnn, vec![&self.gate]))
    }
}

/// The whole sequence by the fused kernel. The gates' weights and biases are concatenated by
/// Burn's differentiable `cat`, so autodiff splits the kernel's gradient back onto each gate's
/// parameters; a module without biases passes zeros (constants, no gradient).
fn fused_sequence(x: Tensor<3>, cell: CellKind, gates: &[&GateController]) -> Tensor<3> {
    let device = x.device();
    // One side's (input or hidden transform's) weights [in, G·H] and biases [G·H].
    let concatenated = |side: fn(&GateController) -> &Linear| {
        let weights = gates.iter().map(|&g| side(g).weight.val()).collect();
        let biases = gates.iter().map(|&g| match &side(g).bias {
            Some(bias) => bias.val(),
            None => Tensor::zeros([side(g).weight.dims()[1]], &device),
        });
        (Tensor::cat(weights, 1), Tensor::cat(biases.collect(), 0))
    };
    let (w_input, b_input) = concatenated(|g| &g.input_transform);
    let (w_hidden, b_hidden) = concatenated(|g| &g.hidden_transform);
    sequence(x, w_input, w_hidden, b_input, b_hidden, cell)
}

impl<C: Cell> LayerSettings for Recurrent<C> {
    type Module = C::Module;

    fn check(&self, _defaults: &Defaults) -> std::result::Result<(), String> {
        size_setting("units", self.units)
    }

    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        match input {
            Shape::Image { height: steps, .. } | Shape::Sequence { steps, .. } => {
                Ok(Shape::Sequence {
                    steps,
                    features: self.units,
                })
            }
            Shape::Flat(_) => Err(
                "a recurrent layer reads a sequence (an image row by row): put it before any \
                 dense layer"
                    .into(),
            ),
        }
    }

    fn parameters(&self, input: Shape, defaults: &Defaults) -> u128 {
        let features = input.step_features() as u128;
        let u = self.units as u128;
        let bias = u128::from(defaults.bias);
        C::GATES.len() as u128 * (features * u + u * u + 2 * u * bias)
    }

    /// Every step's gates and states, kept for back-propagation through time.
    fn scratch(&self, input: Shape) -> u128 {
        let steps = match input {
            Shape::Image { height, .. } => height,
            Shape::Sequence { steps, .. } => steps,
            Shape::Flat(_) => 1,
        } as u128;
        steps * (C::GATES.len() as u128 + 2) * self.units as u128
    }

    fn summary(&self) -> String {
        format!("{} {}", C::NAME, self.units)
    }

    fn explicit_backprop(&self, _defaults: &Defaults) -> bool {
        false
    }

    fn build(&self, input: Shape, defaults: &Defaults, device: &Device) -> C::Module {
        C::build(input.step_features(), self.units, defaults.bias, device)
    }
}

/// PyTorch's gates (stacked along the first axis) in ONNX's order.
fn reorder(raw: &Raw, order: &[usize]) -> Raw {
    let parts = raw.split(order.len());
    Raw::stacked(&order.iter().map(|&k| parts[k].clone()).collect::<Vec<_>>())
}

/// Every recurrent kind's [`Layer`], through its cell.
impl<M: RecurrentModule + Module> Layer for M {
    fn forward(&self, x: Signal, kernels: Kernels) -> Signal {
        let x = x.sequence();
        Signal::Sequence(match self.fused_gates() {
            Some((cell, gates)) if kernels.use_fused(&x) => fused_sequence(x, cell, &gates),
            _ => self.run(x),
        })
    }

    fn deterministic(self) -> Self {
        self
    }

    fn dense(&self) -> Option<(&burn::nn::Linear, Activation)> {
        None
    }

    fn pytorch(&self, torch: &str, burn: &str) -> Vec<(String, Source)> {
        let mut list = Vec::new();
        for (side, transform) in [("ih", "input_transform"), ("hh", "hidden_transform")] {
            for (tensor, transpose) in [("weight", true), ("bias", false)] {
                let parts = M::Cell::GATES
                    .iter()
                    .map(|gate| format!("{burn}.{gate}.{transform}.{tensor}"))
                    .collect();
                list.push((
                    format!("{torch}.{tensor}_{side}_l0"),
                    Source::Stacked { parts, transpose },
                ));
            }
        }
        list
    }

    /// As ONNX's `LSTM`/`GRU`/`RNN` (sequence first, so the batch dimension moves to the middle
    /// and back), giving the sequence of hidden states `[batch, steps, units]`.
    fn onnx(
        &self,
        g: &mut Graph,
        x: String,
        input: Shape,
        name: &str,
        tensors: &BTreeMap<String, Raw>,
    ) -> Result<String> {
        let order = M::Cell::ONNX_ORDER;
        // An image is read row by row: [batch, C, H, W] → [batch, H, C·W].
        let sequence = match input {
            Shape::Image {
                channels,
                height,
                width,
            } => {
                let rows = g.node(
                    "Transpose",
                    &[&x],
                    vec![attribute_ints("perm", &[0, 2, 1, 3])],
                );
                let dims = g.int64s(
                    "sequence_shape",
                    &[0, height as i64, (channels * width) as i64],
                );
                g.node("Reshape", &[&rows, &dims], vec![])
            }
            _ => x,
        };
        let time_first = g.node(
            "Transpose",
            &[&sequence],
            vec![attribute_ints("perm", &[1, 0, 2])],
        );
        let w_ih = reorder(&tensors[&format!("{name}.weight_ih_l0")], order);
        let w_hh = reorder(&tensors[&format!("{name}.weight_hh_l0")], order);
        let units = w_hh.shape[1];
        let w = g.weight(
            &format!("{name}.W"),
            &w_ih,
            &[1, w_ih.shape[0], w_ih.shape[1]],
        )?;
        let r = g.weight(
            &format!("{name}.R"),
            &w_hh,
            &[1, w_hh.shape[0], w_hh.shape[1]],
        )?;
        let mut inputs = vec![time_first, w, r];
        if let (Some(b_ih), Some(b_hh)) = (
            tensors.get(&format!("{name}.bias_ih_l0")),
            tensors.get(&format!("{name}.bias_hh_l0")),
        ) {
            let b = Raw::stacked(&[reorder(b_ih, order), reorder(b_hh, order)]);
            inputs.push(g.weight(&format!("{name}.B"), &b, &[1, b.shape[0]])?);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let mut attributes = vec![attribute_int("hidden_size", units as i64)];
        if M::Cell::OP == "GRU" {
            // PyTorch's and Burn's GRU apply the reset gate after the hidden transform.
            attributes.push(attribute_int("linear_before_reset", 1));
        }
        // Y: [steps, directions = 1, batch, units].
        let y = g.node(M::Cell::OP, &inputs, attributes);
        let axes = g.int64s("direction_axis", &[1]);
        let y = g.node("Squeeze", &[&y, &axes], vec![]);
        Ok(g.node("Transpose", &[&y], vec![attribute_ints("perm", &[1, 0, 2])]))
    }

    fn description(&self) -> Value {
        json!({ "type": M::Cell::NAME, "units": self.units() })
    }

    fn picture(&self, _input: Shape) -> Picture {
        // Gate weights are not images.
        Picture::None
    }
}

/// The fused sequence against Burn's modules, through this layer's forward step (the kernel's
/// own module cannot import the layer: imports run from the layers down to their kernels).
#[cfg(test)]
mod fused_tests {
    use super::super::kernels::testing::{difference, floats};
    use super::*;

    /// Deterministic values in [−scale, scale], different for each `salt`.
    fn wave(n: usize, salt: f32, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| scale * (i as f32 * 0.754_877 + salt).sin())
            .collect()
    }

    /// `max |fused − reference| ≤ 1e-5 · max(max |reference|, 1)`.
    fn assert_close(name: &str, fused: &[f32], reference: &[f32]) {
        let worst = difference(fused, reference);
        assert!(worst <= 1e-5, "{name}: off by {worst:e} of the reference's scale");
    }

    /// Every tensor a check compares, by name: the layers' outputs and the gradients of the
    /// input (where tracked) and of each gate's weights and biases.
    fn run<C: Cell>(
        layers: &[C::Module],
        x: &Tensor<3>,
        kernels: Kernels,
    ) -> Vec<(String, Vec<f32>)> {
        let mut y = x.clone();
        for layer in layers {
            assert!(
                Kernels::Fused.use_fused(&y) && layer.fused_gates().is_some(),
                "the fused route applies"
            );
            y = match layer.forward(Signal::Sequence(y), kernels) {
                Signal::Sequence(y) => y,
                _ => unreachable!("a recurrent layer outputs a sequence"),
            };
        }
        let r = Tensor::<3>::from_data(
            TensorData::new(wave(y.shape().num_elements(), 0.3, 1.0), y.dims()),
            &y.device(),
        );
        let grads = (y.clone() * r).sum().backward();
        let mut found = vec![("output".to_string(), floats(y))];
        if let Some(gx) = x.grad(&grads) {
            found.push(("x".to_string(), floats(gx)));
        }
        for (l, layer) in layers.iter().enumerate() {
            let (_, gates) = layer.fused_gates().expect("checked above");
            for (gate, controller) in C::GATES.iter().zip(gates) {
                for (side, linear) in [
                    ("input", &controller.input_transform),
                    ("hidden", &controller.hidden_transform),
                ] {
                    let mut add = |what: &str, grad: Option<Vec<f32>>| {
                        found.push((
                            format!("layer {l} {gate} {side} {what}"),
                            grad.expect("tracked parameter"),
                        ))
                    };
                    add("weight", linear.weight.val().grad(&grads).map(floats));
                    if let Some(bias) = &linear.bias {
                        add("bias", bias.val().grad(&grads).map(floats));
                    }
                }
            }
        }
        found
    }

    /// The fused path against Burn's modules on `[batch, steps, features]` inputs through
    /// recurrent layers of `units` each (the first reads `features`), with or without biases,
    /// `x` tracked or not.
    fn check<C: Cell>(
        batch: usize,
        steps: usize,
        features: usize,
        units: &[usize],
        bias: bool,
        track_x: bool,
    ) {
        let device = Device::flex().autodiff();
        let layers: Vec<C::Module> = units
            .iter()
            .scan(features, |input, &u| {
                Some(C::build(std::mem::replace(input, u), u, bias, &device))
            })
            .collect();
        let x = Tensor::<3>::from_data(
            TensorData::new(
                wave(batch * steps * features, 1.1, 2.0),
                [batch, steps, features],
            ),
            &device,
        );
        let x = if track_x { x.require_grad() } else { x };
        let fused = run::<C>(&layers, &x, Kernels::Fused);
        let reference = run::<C>(&layers, &x, Kernels::Generic);
        assert_eq!(fused.len(), reference.len());
        assert_eq!(
            fused.len(),
            1 + usize::from(track_x) + units.len() * C::GATES.len() * if bias { 4 } else { 2 }
        );
        for ((name, f), (_, r)) in fused.iter().zip(&reference) {
            assert_close(
                &format!(
                    "{} {batch}×{steps}×{features}→{units:?} bias {bias}: {name}",
                    C::NAME
                ),
                f,
                r,
            );
        }
    }

    fn shapes<C: Cell>() {
        check::<C>(2, 3, 5, &[7], true, true);
        check::<C>(1, 4, 3, &[2], true, true);
        check::<C>(5, 28, 28, &[16], true, true);
        check::<C>(3, 1, 4, &[5], false, true);
        check::<C>(2, 3, 5, &[7], false, true);
        check::<C>(4, 6, 5, &[3], true, false);
    }

    #[test]
    fn lstm_matches_the_generic_path() {
        shapes::<LstmCell>();
    }

    #[test]
    fn gru_matches_the_generic_path() {
        shapes::<GruCell>();
    }

    #[test]
    fn rnn_matches_the_generic_path() {
        shapes::<RnnCell>();
    }

    #[test]
    fn stacked_layers_match_the_generic_path() {
        // The second layer's input is tracked (the first's output), the data input is not.
        check::<LstmCell>(3, 6, 5, &[4, 6], true, false);
        check::<GruCell>(3, 6, 5, &[4, 6], true, false);
        check::<RnnCell>(3, 6, 5, &[4, 6], false, false);
    }

    /// The op's gradient against central differences of `L = Σ y·r` computed in f64 from the
    /// f32 forward pass, on a tiny shape (2 sequences × 3 steps × 2 features → 3 units), for
    /// every input value. Step `ε = 1e-2`: the forward pass's f32 rounding (≈ 6e-8 relative
    /// per output, 18 outputs of size ≤ 1) contributes at most ≈ 1e-4 / (2ε)·… ≈ 5e-5, the
    /// truncation `ε²/6·L'''` about 2e-5·|L'''|; a wrong formula is off by far more, so the
    /// bound is `1e-3 · max(|∂L|, 1)`.
    #[test]
    fn the_gradient_matches_finite_differences() {
        let (batch, steps, features, units) = (2, 3, 2, 3);
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            let width = cell.gates() * units;
            let shapes: [Vec<usize>; 5] = [
                vec![batch, steps, features],
                vec![features, width],
                vec![units, width],
                vec![width],
                vec![width],
            ];
            let inputs: Vec<Vec<f32>> = shapes
                .iter()
                .enumerate()
                .map(|(k, s)| wave(s.iter().product(), k as f32, if k == 0 { 1.5 } else { 0.6 }))
                .collect();
            let r = wave(batch * steps * units, 0.3, 1.0);
            let forward = |values: &[Vec<f32>], device: &Device, track: bool| {
                let t = |k: usize| {
                    let t = Tensor::<1>::from_floats(values[k].as_slice(), device);
                    if track { t.require_grad() } else { t }
                };
                let (x, w, u, b, c) = (t(0), t(1), t(2), t(3), t(4));
                let y = sequence(
                    x.clone().reshape([batch, steps, features]),
                    w.clone().reshape([features, width]),
                    u.clone().reshape([units, width]),
                    b.clone(),
                    c.clone(),
                    cell,
                );
                (y, [x, w, u, b, c])
            };
            let loss = |values: &[Vec<f32>]| {
                let (y, _) = forward(values, &Device::flex(), false);
                floats(y)
                    .iter()
                    .zip(&r)
                    .map(|(&y, &r)| y as f64 * r as f64)
                    .sum::<f64>()
            };
            let device = Device::flex().autodiff();
            let (y, tracked) = forward(&inputs, &device, true);
            let r_tensor =
                Tensor::<3>::from_data(TensorData::new(r.clone(), [batch, steps, units]), &device);
            let grads = (y * r_tensor).sum().backward();
            let eps = 1e-2f32;
            for (k, t) in tracked.iter().enumerate() {
                let analytic = floats(t.grad(&grads).expect("tracked input"));
                for i in 0..inputs[k].len() {
                    let mut shifted = inputs.clone();
                    shifted[k][i] = inputs[k][i] + eps;
                    let up = loss(&shifted);
                    shifted[k][i] = inputs[k][i] - eps;
                    let down = loss(&shifted);
                    let numeric = (up - down) / (2.0 * eps as f64);
                    let g = analytic[i] as f64;
                    assert!(
                        (numeric - g).abs() <= 1e-3 * g.abs().max(1.0),
                        "{cell:?} input {k} [{i}]: analytic {g}, numeric {numeric}"
                    );
                }
            }
        }
    }
}
