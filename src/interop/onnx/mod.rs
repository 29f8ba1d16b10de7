//! ONNX graphs written directly as protobuf ([`proto`], opset 17, IR version 8): a small
//! builder that names every value, keeps the weights as float32 initializers and finishes the
//! model with its inputs, outputs (batch size symbolic) and metadata. The model families say
//! which operators their models are made of.

pub mod proto;

use std::collections::BTreeMap;

use prost::Message;
use safetensors::Dtype;

use crate::error::Result;
use crate::interop::tensors::Raw;
use proto::*;

/// ONNX's operator set the graphs use (`ReduceMax` with an `axes` attribute, `Squeeze` with an
/// axes input).
pub(crate) const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
const IR_VERSION: i64 = 8;

pub(crate) fn attribute_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTRIBUTE_INT,
        i,
        ..Default::default()
    }
}

pub(crate) fn attribute_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTRIBUTE_INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn attribute_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: ATTRIBUTE_FLOAT,
        f,
        ..Default::default()
    }
}

/// The nodes and weights of a graph under construction; every value gets a fresh name.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    count: usize,
}

impl Graph {
    fn fresh(&mut self, stem: &str) -> String {
        self.count += 1;
        format!("{stem}_{}", self.count)
    }

    /// A weight named `name`, stored as float32 raw data with the dimensions `dims`.
    pub fn weight(&mut self, name: &str, raw: &Raw, dims: &[usize]) -> Result<String> {
        let raw = raw.converted(Dtype::F32)?;
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.into(),
            raw_data: raw.bytes,
        });
        Ok(name.into())
    }

    /// A float32 scalar constant.
    pub fn scalar(&mut self, stem: &str, value: f32) -> String {
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            dims: Vec::new(),
            data_type: FLOAT,
            name: name.clone(),
            raw_data: value.to_le_bytes().to_vec(),
        });
        name
    }

    /// A one-dimensional int64 constant (shapes, axes, indices).
    pub(crate) fn int64s(&mut self, stem: &str, values: &[i64]) -> String {
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: INT64,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// Adds a node of one output; returns the output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        let output = self.fresh(&op.to_lowercase());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op.into(),
            attribute: attributes,
        });
        output
    }

    /// `op` (`Gemm`, `Conv`) on `x` with the weight `<prefix>.weight` and, when `tensors` hold
    /// one, the bias `<prefix>.bias`.
    pub(crate) fn with_weights(
        &mut self,
        op: &str,
        x: String,
        tensors: &BTreeMap<String, Raw>,
        prefix: &str,
        attributes: Vec<AttributeProto>,
    ) -> Result<String> {
        let mut inputs = vec![x];
        for part in ["weight", "bias"] {
            let name = format!("{prefix}.{part}");
            if let Some(raw) = tensors.get(&name) {
                inputs.push(self.weight(&name, raw, &raw.shape)?);
            }
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.node(op, &inputs, attributes))
    }

    /// The model: the graph reads the float input `input` `[batch, inputs]` and its last node's
    /// output is renamed `output` `[batch, outputs]`; `metadata` goes to `metadata_props`.
    pub fn finish(
        mut self,
        name: &str,
        doc: String,
        (input, inputs): (&str, usize),
        (output, outputs): (&str, usize),
        metadata: Vec<(String, String)>,
    ) -> Vec<u8> {
        if let Some(last) = self.nodes.last_mut() {
            last.output = vec![output.into()];
        }
        let value = |name: &str, width: usize| ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: FLOAT,
                    shape: Some(TensorShapeProto {
                        dim: vec![
                            Dimension {
                                value: Some(DimensionValue::DimParam("batch".into())),
                            },
                            Dimension {
                                value: Some(DimensionValue::DimValue(width as i64)),
                            },
                        ],
                    }),
                }),
            }),
        };
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "neurona".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: doc,
            graph: Some(GraphProto {
                node: self.nodes,
                name: name.into(),
                initializer: self.initializers,
                input: vec![value(input, inputs)],
                output: vec![value(output, outputs)],
            }),
            metadata_props: metadata
                .into_iter()
                .map(|(key, value)| StringStringEntryProto { key, value })
                .collect(),
        }
        .encode_to_vec()
    }
}
