//! `neurona predict`: class probabilities for grey images (PNG, PGM, or one image of an IDX file)
//! from a trained run, preprocessed exactly as in training; images of another size than 28×28
//! are first prepared as MNIST was made (`data::preprocess`).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::classifier::config::MlpConfig;
use crate::classifier::data::idx::read_idx;
use crate::classifier::data::preprocess::prepare;
use crate::classifier::data::{NUM_CLASSES, Normalization, SIDE};
use crate::error::{Error, Result};
use crate::experiment::{ExperimentFile, Overrides};
use crate::network::model::Network;
use crate::numeric::to_f64s;

/// Where the images to classify come from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    Files(Vec<PathBuf>),
    Idx { path: PathBuf, index: usize },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub source: String,
    pub class: usize,
    pub class_name: String,
    pub probabilities: Vec<f64>,
}

impl std::fmt::Display for Prediction {
    /// `source: class (name)   top 3: c: p%, …`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.probabilities;
        let mut ranked: Vec<usize> = (0..p.len()).collect();
        ranked.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let top: Vec<String> = ranked[..3]
            .iter()
            .map(|&c| format!("{c}: {:.1}%", 100.0 * p[c]))
            .collect();
        write!(
            f,
            "{}: {} ({})   top 3: {}",
            self.source,
            self.class,
            self.class_name,
            top.join(", ")
        )
    }
}

/// Classifies the images with the run's best model.
pub fn predict(
    run_dir: &Path,
    source: &ImageSource,
    overrides: Overrides,
) -> Result<Vec<Prediction>> {
    let images: Vec<(String, Vec<u8>)> = match source {
        ImageSource::Files(paths) if paths.is_empty() => {
            return Err(Error::Usage(
                "give at least one image file, or --idx FILE --index N".into(),
            ));
        }
        ImageSource::Files(paths) => paths
            .iter()
            .map(|p| Ok((p.display().to_string(), read_image(p)?)))
            .collect::<Result<_>>()?,
        ImageSource::Idx { path, index } => vec![(
            format!("{}[{index}]", path.display()),
            idx_image(path, *index)?,
        )],
    };
    let classifier = Classifier::load(run_dir, overrides)?;
    let pixels: Vec<&[u8]> = images.iter().map(|(_, image)| image.as_slice()).collect();
    Ok(images
        .iter()
        .zip(classifier.classify(&pixels))
        .map(|((source, _), prediction)| Prediction {
            source: source.clone(),
            ..prediction
        })
        .collect())
}

/// A run's best model, ready to classify 28×28 grey images as its training data was prepared.
pub struct Classifier {
    model: Network,
    normalization: Normalization,
    class_names: Vec<String>,
    device: Device,
}

impl Classifier {
    /// Loads the run's `model.bpk` on the run's backend and kernels (or those `overrides`
    /// name).
    pub fn load(run_dir: &Path, overrides: Overrides) -> Result<Self> {
        let config = MlpConfig::load_run(run_dir)?.overridden(overrides);
        let device = config.device()?;
        let model =
            crate::classifier::eval::load_model(&config, &run_dir.join("model.bpk"), &device)?;
        let normalization = match (config.data.mean, config.data.std) {
            (Some(mean), Some(std)) if config.data.standardize => Normalization { mean, std },
            _ => Normalization::NONE,
        };
        let class_names = config
            .data
            .dataset
            .spec()
            .class_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        Ok(Self {
            model,
            normalization,
            class_names,
            device,
        })
    }

    /// The classes' names, in class order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The class probabilities of each image (`SIDE × SIDE` grey bytes, row by row); the
    /// predictions' `source` is empty.
    pub fn classify(&self, images: &[&[u8]]) -> Vec<Prediction> {
        let mut pixels = Vec::with_capacity(images.len() * SIDE * SIDE);
        for image in images {
            self.normalization.extend(image, &mut pixels);
        }
        let x = Tensor::<2>::from_data(
            TensorData::new(pixels, [images.len(), SIDE * SIDE]),
            &self.device,
        );
        let probabilities = to_f64s(softmax(self.model.forward(x), 1));
        probabilities
            .chunks(NUM_CLASSES)
            .map(|p| {
                let class = (0..NUM_CLASSES)
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .expect("classes");
                Prediction {
                    source: String::new(),
                    class,
                    class_name: self.class_names[class].clone(),
                    probabilities: p.to_vec(),
                }
            })
            .collect()
    }
}

fn bad_image(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Data(format!("cannot use image {}: {reason}", path.display()))
}

/// Reads an image as the 28×28 grey bytes (0 = black) a model takes, from PNG (any colour type,
/// converted to luminance) or PGM (P2/P5): a 28×28 image as it is, any other size prepared as
/// MNIST was made ([`prepare`]).
pub fn read_image(path: &Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path).map_err(Error::io(path))?.len();
    if size > MAX_IMAGE_BYTES {
        return Err(bad_image(
            path,
            format!("{size} bytes is far more than a {SIDE}×{SIDE} grey image needs"),
        ));
    }
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    decode_image(&bytes).map_err(|e| bad_image(path, e))
}

/// The 28×28 grey pixels a model takes for the PNG or PGM (P2/P5) image held in `bytes`.
pub(crate) fn decode_image(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let (grey, width, height) = if bytes.starts_with(b"\x89PNG") {
        decode_png(bytes)?
    } else if bytes.starts_with(b"P5") || bytes.starts_with(b"P2") {
        decode_pgm(bytes)?
    } else {
        return Err("not a PNG or PGM (P2/P5) file".into());
    };
    Ok(prepare(&grey, width, height))
}

/// The largest image side read.
pub(crate) const MAX_IMAGE_SIDE: usize = 4096;

/// The largest image file read.
const MAX_IMAGE_BYTES: u64 = 16 << 20;

/// Checks an image's size from its header, before any pixel is decoded.
fn expect_side(width: usize, height: usize) -> Result<(), String> {
    if (1..=MAX_IMAGE_SIDE).contains(&width) && (1..=MAX_IMAGE_SIDE).contains(&height) {
        Ok(())
    } else {
        Err(format!(
            "it is {width}×{height}; neurona takes images of 1 to {MAX_IMAGE_SIDE} pixels a side"
        ))
    }
}

/// `(grey pixels, width, height)`.
fn decode_png(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    let mut decoder = png::Decoder::new(BufReader::new(std::io::Cursor::new(bytes)));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let header = reader.info();
    let (width, height) = (header.width as usize, header.height as usize);
    expect_side(width, height)?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("image too large")?];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let channels = info.color_type.samples();
    let luminance = |px: &[u8]| match px.len() {
        1 | 2 => px[0],
        _ => (0.299 * px[0] as f64 + 0.587 * px[1] as f64 + 0.114 * px[2] as f64).round() as u8,
    };
    let grey = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(luminance)
        .collect();
    Ok((grey, width, height))
}

/// `(grey pixels, width, height)`.
fn decode_pgm(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    // Header: magic, width, height, maxval as whitespace-separated tokens, '#' comments to end of line.
    let mut pos = 2;
    let mut fields = [0usize; 3];
    for field in &mut fields {
        loop {
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if pos < bytes.len() && bytes[pos] == b'#' {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            } else {
                break;
            }
        }
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        *field = std::str::from_utf8(&bytes[start..pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("malformed PGM header")?;
    }
    let [width, height, maxval] = fields;
    expect_side(width, height)?;
    if maxval == 0 || maxval > 255 {
        return Err(format!("PGM maxval {maxval} is not in 1..=255"));
    }
    let count = width * height;
    let raw: Vec<usize> = if bytes[1] == b'5' {
        let data = bytes
            .get(pos + 1..pos + 1 + count)
            .ok_or("truncated PGM pixel data")?;
        data.iter().map(|&b| b as usize).collect()
    } else {
        let text =
            std::str::from_utf8(&bytes[pos..]).map_err(|_| "PGM (P2) pixels are not ASCII")?;
        let values: Vec<usize> = text
            .split_ascii_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| "malformed PGM pixel value")?;
        if values.len() < count {
            return Err("truncated PGM pixel data".into());
        }
        values[..count].to_vec()
    };
    if raw.iter().any(|&v| v > maxval) {
        return Err(format!("PGM pixel above maxval {maxval}"));
    }
    let grey = raw.iter().map(|&v| (v * 255 / maxval) as u8).collect();
    Ok((grey, width, height))
}

fn idx_image(path: &Path, index: usize) -> Result<Vec<u8>> {
    let array = read_idx(path)?;
    if array.dims.len() != 3 || array.dims[1..] != [SIDE, SIDE] {
        return Err(Error::Data(format!(
            "{} is not an IDX file of {SIDE}×{SIDE} images (dimensions {:?})",
            path.display(),
            array.dims
        )));
    }
    if index >= array.dims[0] {
        return Err(Error::Usage(format!(
            "--index {index} is out of range: {} holds {} images",
            path.display(),
            array.dims[0]
        )));
    }
    Ok(array.data[index * SIDE * SIDE..(index + 1) * SIDE * SIDE].to_vec())
}
