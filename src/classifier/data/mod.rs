//! MNIST-format data: where the files come from, how they are split and normalised
//! ([`batcher`] turns them into tensors).

pub mod batcher;
pub mod download;
pub mod idx;
pub mod preprocess;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::classifier::config::{DataConfig, DatasetName};
use crate::error::{Error, Result};
use crate::sampling::split;
use download::{Checksum, RemoteFile};
pub use idx::LabelledImages;

pub(crate) use crate::classifier::config::NUM_CLASSES;

pub use crate::network::layers::SIDE;

/// A published MNIST-format data set: its four files, its mirrors and its class names.
#[derive(Debug)]
pub struct DatasetSpec {
    pub title: &'static str,
    /// `[train images, train labels, test images, test labels]`.
    pub files: [RemoteFile; 4],
    pub mirrors: &'static [&'static str],
    /// A folder where a system package installs the files (Debian's `dataset-fashion-mnist`).
    pub system_dir: Option<&'static str>,
    pub class_names: [&'static str; NUM_CLASSES],
}

const fn file(name: &'static str, checksum: Checksum) -> RemoteFile {
    RemoteFile { name, checksum }
}

static MNIST: DatasetSpec = DatasetSpec {
    title: "MNIST",
    files: [
        file(
            "train-images-idx3-ubyte.gz",
            Checksum::Sha256("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        ),
        file(
            "train-labels-idx1-ubyte.gz",
            Checksum::Sha256("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ),
        file(
            "t10k-images-idx3-ubyte.gz",
            Checksum::Sha256("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        ),
        file(
            "t10k-labels-idx1-ubyte.gz",
            Checksum::Sha256("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ),
    ],
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist",
        "https://storage.googleapis.com/cvdf-datasets/mnist",
        "http://yann.lecun.com/exdb/mnist",
    ],
    system_dir: None,
    class_names: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
};

static FASHION_MNIST: DatasetSpec = DatasetSpec {
    title: "Fashion-MNIST",
    files: [
        file(
            "train-images-idx3-ubyte.gz",
            Checksum::Md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ),
        file(
            "train-labels-idx1-ubyte.gz",
            Checksum::Md5("25c81989df183df01b3e8a0aad5dffbe"),
        ),
        file(
            "t10k-images-idx3-ubyte.gz",
            Checksum::Md5("bef4ecab320f06d8554ea6380940ec79"),
        ),
        file(
            "t10k-labels-idx1-ubyte.gz",
            Checksum::Md5("bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    ],
    mirrors: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
    ],
    system_dir: Some("/usr/share/datasets/fashion-mnist"),
    class_names: [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
};

impl DatasetName {
    /// The published files of the data set.
    pub fn spec(self) -> &'static DatasetSpec {
        match self {
            DatasetName::Mnist => &MNIST,
            DatasetName::FashionMnist => &FASHION_MNIST,
        }
    }

    /// The name as written in the config (and of its folder under the data directory).
    pub(crate) fn slug(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
        }
    }
}

/// The file for `remote` in `dir`: the published `.gz`, or an already unpacked copy.
fn existing_file(dir: &Path, remote: &RemoteFile) -> Option<PathBuf> {
    let gz = dir.join(remote.name);
    let raw = dir.join(remote.name.trim_end_matches(".gz"));
    [gz, raw].into_iter().find(|p| p.is_file())
}

/// The cache folder used when `data.dir` is unset: `$NEURONA_DATA/<dataset>`, else
/// `$XDG_CACHE_HOME/neurona/<dataset>`, else `~/.cache/neurona/<dataset>`.
pub(crate) fn default_data_dir(dataset: DatasetName) -> PathBuf {
    let base = std::env::var_os("NEURONA_DATA")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("neurona")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/neurona")))
        .unwrap_or_else(|| PathBuf::from(".neurona-data"));
    base.join(dataset.slug())
}

/// Returns the folder holding all four files of the configured data set, downloading the
/// missing ones. When the download fails, the error says which files to place where.
pub fn locate(config: &DataConfig) -> Result<PathBuf> {
    let spec = config.dataset.spec();
    if config.dir.is_none()
        && let Some(system) = spec.system_dir.map(Path::new)
        && spec
            .files
            .iter()
            .all(|f| existing_file(system, f).is_some())
    {
        return Ok(system.to_path_buf());
    }
    let dir = config
        .dir
        .clone()
        .unwrap_or_else(|| default_data_dir(config.dataset));
    let mirrors: Vec<String> = match &config.mirrors {
        Some(m) => m.clone(),
        None => spec.mirrors.iter().map(|m| m.to_string()).collect(),
    };
    fetch_missing(spec, &dir, &mirrors)?;
    Ok(dir)
}

/// Downloads the files of `spec` that `dir` lacks. When that fails, the error says which files
/// to place where, with their checksums.
pub fn fetch_missing(spec: &DatasetSpec, dir: &Path, mirrors: &[String]) -> Result<()> {
    for remote in &spec.files {
        if existing_file(dir, remote).is_some() {
            continue;
        }
        if let Err(e) = download::download(remote, dir, mirrors) {
            let wanted: Vec<String> = spec
                .files
                .iter()
                .map(|f| format!("{} ({})", f.name, f.checksum))
                .collect();
            return Err(Error::Data(format!(
                "{e}\n{} is not available offline. Place these files (gzipped or unpacked) in {}:\n  {}\n\
                 or point `data.dir` (or the NEURONA_DATA environment variable) at a folder holding them.",
                spec.title,
                dir.display(),
                wanted.join("\n  ")
            )));
        }
    }
    Ok(())
}

/// Pixel scaling: `x / 255`, then `(x - mean) / std`. Identity standardisation is mean 0, std 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    pub mean: f64,
    pub std: f64,
}

impl Normalization {
    pub(crate) const NONE: Normalization = Normalization {
        mean: 0.0,
        std: 1.0,
    };

    /// Mean and population standard deviation of the scaled pixels of `indices`.
    pub fn fit(images: &LabelledImages, indices: &[usize]) -> Self {
        let (mut sum, mut sum_sq, mut count) = (0.0f64, 0.0f64, 0usize);
        for &i in indices {
            for &p in images.image(i) {
                let x = p as f64 / 255.0;
                sum += x;
                sum_sq += x * x;
            }
            count += images.pixels_per_image();
        }
        let mean = sum / count.max(1) as f64;
        let var = (sum_sq / count.max(1) as f64 - mean * mean).max(0.0);
        Normalization {
            mean,
            std: if var > 0.0 { var.sqrt() } else { 1.0 },
        }
    }

    /// Scaled and standardised pixels of one image, appended to `out`.
    pub fn extend(&self, pixels: &[u8], out: &mut Vec<f32>) {
        let scale = (1.0 / (255.0 * self.std)) as f32;
        let offset = (self.mean / self.std) as f32;
        out.extend(pixels.iter().map(|&p| p as f32 * scale - offset));
    }
}

/// Train, validation and test images, ready for data loaders.
#[derive(Debug, Clone)]
pub struct MnistData {
    pub train: Arc<LabelledImages>,
    pub test: Arc<LabelledImages>,
    /// Indices into `train` used for training / for validation (disjoint, seeded split).
    pub train_indices: Vec<usize>,
    pub valid_indices: Vec<usize>,
    pub normalization: Normalization,
}

/// The two files of a data set: its training and its test images.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Split {
    Train,
    Test,
}

/// The images of `split` as training reads them: located (downloaded if needed), limited by
/// `train_limit` or `test_limit`, checked to be 28×28.
pub(crate) fn read_split(config: &DataConfig, split: Split) -> Result<LabelledImages> {
    let dir = locate(config)?;
    let [train_images, train_labels, test_images, test_labels] = config
        .dataset
        .spec()
        .files
        .map(|f| existing_file(&dir, &f).expect("located above"));
    let (images_file, labels_file, limit) = match split {
        Split::Train => (train_images, train_labels, config.train_limit),
        Split::Test => (test_images, test_labels, config.test_limit),
    };
    let mut images = LabelledImages::load(&images_file, &labels_file, NUM_CLASSES)?;
    if let Some(n) = limit {
        images.truncate(n);
    }
    if images.is_empty() {
        return Err(Error::Data(format!("{} holds no images", dir.display())));
    }
    if (images.rows, images.cols) != (SIDE, SIDE) {
        return Err(Error::Data(format!(
            "{} holds {}×{} images; the MNIST format (and the model) takes {SIDE}×{SIDE}",
            images_file.display(),
            images.rows,
            images.cols
        )));
    }
    Ok(images)
}

impl MnistData {
    /// Locates (downloading if needed) and loads the data set, splits off validation images
    /// and fixes the normalisation: `data.mean`/`data.std` if given, else fitted on the training split.
    pub fn load(config: &DataConfig, seed: u64) -> Result<Self> {
        let [train, test] = [Split::Train, Split::Test].map(|split| read_split(config, split));
        let (train, test) = (train?, test?);
        let (train_indices, valid_indices) = split(train.len(), config.validation_fraction, seed);
        let normalization = match (config.standardize, config.mean, config.std) {
            (false, _, _) => Normalization::NONE,
            (true, Some(mean), Some(std)) => Normalization { mean, std },
            (true, _, _) => Normalization::fit(&train, &train_indices),
        };
        Ok(Self {
            train: Arc::new(train),
            test: Arc::new(test),
            train_indices,
            valid_indices,
            normalization,
        })
    }
}
