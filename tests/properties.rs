//! Bounded property tests of every parser a user's file reaches: thousands of seeded random
//! mutations (byte flips, insertions, deletions, truncations) of valid inputs. The property:
//! each parser returns a value or an error — it never panics and never hangs.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use neurona::classifier::config::MlpConfig;
use neurona::classifier::data::idx::{encode_idx, parse_idx, read_idx};
use neurona::classifier::inference::read_image;
use neurona::experiment::{ExperimentFile, Task};
use neurona::glm::data::{TabularConfig, load_labelled};
use neurona::glm::linear::config::LinearConfig;
use neurona::glm::logistic::config::LogisticConfig;

/// xorshift64*: a small seeded generator for the mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `input` with one to four random edits.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if at < bytes.len() => bytes[at] = rng.next() as u8,
            1 => bytes.insert(at, rng.next() as u8),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

/// Runs `parse` on `cases` mutations of each seed input; panics are collected and reported.
fn never_panics(name: &str, seeds: &[Vec<u8>], cases: usize, parse: impl Fn(&[u8])) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut panics = Vec::new();
    for seed in seeds {
        for _ in 0..cases {
            let input = mutate(seed, &mut rng);
            if catch_unwind(AssertUnwindSafe(|| parse(&input))).is_err() {
                panics.push(
                    String::from_utf8_lossy(&input)
                        .chars()
                        .take(200)
                        .collect::<String>(),
                );
            }
        }
    }
    assert!(
        panics.is_empty(),
        "{name}: {} panics, e.g. {:?}",
        panics.len(),
        &panics[..panics.len().min(3)]
    );
}

#[test]
fn idx_parsing_never_panics() {
    let images = encode_idx(&[2, 3, 3], &[7; 18]);
    let labels = encode_idx(&[4], &[1, 2, 3, 4]);
    never_panics("parse_idx", &[images.clone(), labels], 3000, |bytes| {
        let _ = parse_idx(bytes);
    });
    // Through a (gzipped) file too: the streaming reader has its own header handling.
    let dir = common::scratch("prop-idx");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &images).unwrap();
    let gzipped = gz.finish().unwrap();
    let path = dir.join("f.gz");
    never_panics("read_idx", &[images, gzipped], 1000, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let _ = read_idx(&path);
    });
}

#[test]
fn experiment_files_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        "configs/mnist.toml",
        "configs/xor.toml",
        "configs/moons.toml",
        "configs/hitters-cv.toml",
        "configs/default-cv.toml",
        "configs/iris-softmax.toml",
    ]
    .iter()
    .map(|p| std::fs::read(p).unwrap())
    .collect();
    never_panics("config", &seeds, 600, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        let origin = Path::new("fuzz.toml");
        let _ = Task::detect(text, origin);
        if let Ok(c) = MlpConfig::parse(text, origin) {
            let _ = c.validate();
        }
        if let Ok(c) = LinearConfig::parse(text, origin) {
            let _ = c.validate();
        }
        if let Ok(c) = LogisticConfig::parse(text, origin) {
            let _ = c.validate();
        }
    });
}

#[test]
fn csv_loading_never_panics() {
    let dir = common::scratch("prop-csv");
    let path = dir.join("d.csv");
    let seed = b"a,b,kind,y\n1,2.5,x,3\n2,NA,y,4\n3,1e3,x,\n-4,0.5,z,7\n".to_vec();
    let config = TabularConfig {
        path: path.clone(),
        target: "y".into(),
        polynomial_degree: 2,
        standardize: true,
        ..TabularConfig::default()
    };
    never_panics("csv", &[seed], 2000, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let _ = load_labelled(&config);
    });
}

#[test]
fn image_decoding_never_panics() {
    let dir = common::scratch("prop-image");
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, 28, 28);
    encoder.set_color(png::ColorType::Grayscale);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&[9; 28 * 28])
        .unwrap();
    let mut pgm = b"P5\n# comment\n28 28\n255\n".to_vec();
    pgm.extend([3u8; 28 * 28]);
    let mut ascii = b"P2 28 28 255\n".to_vec();
    ascii.extend("5 ".repeat(28 * 28).bytes());
    let path = dir.join("image");
    never_panics("image", &[png, pgm, ascii], 1000, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let _ = read_image(&path);
    });
}
