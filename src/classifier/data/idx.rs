//! The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte magic number
//! `0x00 0x00 <type> <ndims>`, `ndims` big-endian u32 sizes, then the values row-major.
//! Only unsigned bytes (type 0x08) occur in these data sets. Files may be gzipped.
//! Every inconsistency is an error naming the file: nothing is padded, cut or guessed.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};

const UBYTE: u8 = 0x08;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file, gunzipping it (all gzip members) when it starts with the gzip magic. The
/// header is read first and then at most the data bytes it declares (and one more, to notice
/// extra data), so a small file that inflates to gigabytes is never read whole.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut magic = [0u8; 2];
    let gzipped = file.read_exact(&mut magic).is_ok() && magic == GZIP_MAGIC;
    file.seek(SeekFrom::Start(0)).map_err(Error::io(path))?;
    let reader = BufReader::new(file);
    let mut reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let inflate = |e: std::io::Error| {
        if gzipped {
            bad(path, format!("corrupt gzip stream: {e}"))
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    };
    let mut bytes = Vec::new();
    (&mut reader)
        .take(4)
        .read_to_end(&mut bytes)
        .map_err(inflate)?;
    if let Some(&ndims) = bytes.get(3) {
        (&mut reader)
            .take(4 * u64::from(ndims))
            .read_to_end(&mut bytes)
            .map_err(inflate)?;
    }
    let (dims, header, expected) = parse_header(&bytes).map_err(|reason| bad(path, reason))?;
    (&mut reader)
        .take(expected as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(inflate)?;
    if bytes.len() - header > expected {
        return Err(bad(
            path,
            format!("more data than the {expected} bytes that dimensions {dims:?} declare"),
        ));
    }
    parse_idx(&bytes).map_err(|reason| bad(path, reason))
}

fn bad(path: &Path, reason: String) -> Error {
    Error::Data(format!("invalid IDX file {}: {reason}", path.display()))
}

/// The dimensions, header length and data length declared by the header at the start of
/// `bytes`.
fn parse_header(bytes: &[u8]) -> Result<(Vec<usize>, usize, usize), String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes is too short for an IDX header",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "wrong magic number {:02x}{:02x}{:02x}{:02x} (an IDX file starts with 0000)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != UBYTE {
        return Err(format!(
            "element type 0x{:02x} is not unsigned byte (0x08)",
            bytes[2]
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err("zero dimensions".into());
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(format!(
            "truncated header: {ndims} dimensions need {header} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    Ok((dims, header, expected))
}

/// Parses an in-memory IDX file.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    let (dims, header, expected) = parse_header(bytes)?;
    let found = bytes.len() - header;
    if found < expected {
        return Err(format!(
            "truncated: dimensions {dims:?} need {expected} data bytes, found {found}"
        ));
    }
    if found > expected {
        return Err(format!(
            "{} unexpected bytes after the {expected} data bytes of {dims:?}",
            found - expected
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Images and their labels, as stored: `count × rows × cols` bytes and `count` labels.
#[derive(Debug, Clone)]
pub struct LabelledImages {
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl LabelledImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub(crate) fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let n = self.pixels_per_image();
        &self.pixels[index * n..(index + 1) * n]
    }

    /// Loads an image file and a label file and checks that they belong together.
    pub fn load(images: &Path, labels: &Path, num_classes: usize) -> Result<Self> {
        let img = read_idx(images)?;
        let lab = read_idx(labels)?;
        if img.dims.len() != 3 {
            return Err(bad(
                images,
                format!(
                    "an image file has 3 dimensions, this one has {:?}",
                    img.dims
                ),
            ));
        }
        if lab.dims.len() != 1 {
            return Err(bad(
                labels,
                format!("a label file has 1 dimension, this one has {:?}", lab.dims),
            ));
        }
        if img.dims[0] != lab.dims[0] {
            return Err(Error::Data(format!(
                "{} holds {} images but {} holds {} labels",
                images.display(),
                img.dims[0],
                labels.display(),
                lab.dims[0]
            )));
        }
        if let Some(pos) = lab.data.iter().position(|&l| l as usize >= num_classes) {
            return Err(bad(
                labels,
                format!(
                    "label {} at index {pos} is outside 0..{num_classes}",
                    lab.data[pos]
                ),
            ));
        }
        Ok(Self {
            rows: img.dims[1],
            cols: img.dims[2],
            pixels: img.data,
            labels: lab.data,
        })
    }

    /// Keeps only the first `n` images (no-op when `n` is larger).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.pixels.truncate(n * self.pixels_per_image());
        }
    }
}

/// Encodes an IDX array of unsigned bytes (used to write test fixtures and subsets).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
