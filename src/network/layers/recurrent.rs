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
    Activation, Defaults, Layer, LayerSettings, Picture, Shape, Signal, Source, at_least_one,
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
        at_least_one("units", self.units)
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
