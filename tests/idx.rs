//! The IDX reader: good files, truncated files, wrong magic numbers, mismatched label files.

mod common;

use std::io::Write;

use neurona::Error;
use neurona::classifier::data::idx::{LabelledImages, encode_idx, parse_idx, read_idx};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn parses_a_hand_written_file() {
    // Magic 0x00000803, dims 2×2×3, then 12 bytes: written out by hand from the format's definition.
    let bytes = [
        0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    let array = parse_idx(&bytes).unwrap();
    assert_eq!(array.dims, vec![2, 2, 3]);
    assert_eq!(array.data, (1..=12).collect::<Vec<u8>>());
    assert_eq!(encode_idx(&[2, 2, 3], &array.data), bytes.to_vec());
}

#[test]
fn rejects_truncated_and_overlong_data() {
    let good = encode_idx(&[3, 2, 2], &[7; 12]);
    let err = parse_idx(&good[..good.len() - 1]).unwrap_err();
    assert!(
        err.contains("truncated") && err.contains("need 12 data bytes, found 11"),
        "{err}"
    );
    let mut long = good.clone();
    long.push(0);
    assert!(parse_idx(&long).unwrap_err().contains("1 unexpected bytes"));
    let err = parse_idx(&good[..10]).unwrap_err();
    assert!(err.contains("truncated header"), "{err}");
    assert!(parse_idx(&[]).unwrap_err().contains("too short"));
}

#[test]
fn rejects_wrong_magic_and_types() {
    let mut bytes = encode_idx(&[1], &[0]);
    bytes[0] = 0x1f;
    bytes[1] = 0x00;
    assert!(
        parse_idx(&bytes)
            .unwrap_err()
            .contains("wrong magic number")
    );
    let mut float = encode_idx(&[1], &[0, 0, 0, 0]);
    float[2] = 0x0d; // IDX float type
    float[7] = 1;
    assert!(parse_idx(&float).unwrap_err().contains("not unsigned byte"));
    let zero_dims = [0u8, 0, 8, 0];
    assert!(
        parse_idx(&zero_dims)
            .unwrap_err()
            .contains("zero dimensions")
    );
}

#[test]
fn gzip_and_plain_files_read_the_same_and_corrupt_gzip_is_an_error() {
    let dir = common::scratch("idx-gzip");
    let idx = encode_idx(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
    std::fs::write(dir.join("a"), &idx).unwrap();
    std::fs::write(dir.join("a.gz"), gzip(&idx)).unwrap();
    assert_eq!(
        read_idx(&dir.join("a")).unwrap(),
        read_idx(&dir.join("a.gz")).unwrap()
    );
    let mut cut = gzip(&idx);
    cut.truncate(cut.len() / 2);
    std::fs::write(dir.join("cut.gz"), cut).unwrap();
    let err = read_idx(&dir.join("cut.gz")).unwrap_err();
    assert!(
        matches!(err, Error::Data(_)) && err.to_string().contains("cut.gz"),
        "{err}"
    );
    let missing = read_idx(&dir.join("nope")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
}

#[test]
fn images_and_labels_must_agree() {
    let dir = common::scratch("idx-pairs");
    std::fs::write(dir.join("img"), encode_idx(&[3, 2, 2], &[0; 12])).unwrap();
    std::fs::write(dir.join("lab2"), encode_idx(&[2], &[1, 2])).unwrap();
    std::fs::write(dir.join("lab3"), encode_idx(&[3], &[1, 2, 10])).unwrap();
    std::fs::write(dir.join("lab_ok"), encode_idx(&[3], &[1, 2, 9])).unwrap();
    let err = LabelledImages::load(&dir.join("img"), &dir.join("lab2"), 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds 3 images") && err.contains("holds 2 labels"),
        "{err}"
    );
    let err = LabelledImages::load(&dir.join("img"), &dir.join("lab3"), 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("label 10 at index 2 is outside 0..10"),
        "{err}"
    );
    // Swapped arguments: a label file is not an image file.
    let err = LabelledImages::load(&dir.join("lab_ok"), &dir.join("img"), 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 dimensions"), "{err}");
    let ok = LabelledImages::load(&dir.join("img"), &dir.join("lab_ok"), 10).unwrap();
    assert_eq!((ok.len(), ok.rows, ok.cols), (3, 2, 2));
}

#[test]
fn reads_debian_fashion_mnist() {
    let train = LabelledImages::load(
        &common::fashion_file("train-images-idx3-ubyte.gz"),
        &common::fashion_file("train-labels-idx1-ubyte.gz"),
        10,
    )
    .unwrap();
    assert_eq!((train.len(), train.rows, train.cols), (60_000, 28, 28));
    // Fashion-MNIST is balanced: 6,000 training images per class (Xiao et al. 2017).
    for class in 0..10u8 {
        assert_eq!(train.labels.iter().filter(|&&l| l == class).count(), 6000);
    }
    let test = LabelledImages::load(
        &common::fashion_file("t10k-images-idx3-ubyte.gz"),
        &common::fashion_file("t10k-labels-idx1-ubyte.gz"),
        10,
    )
    .unwrap();
    assert_eq!(test.len(), 10_000);
    // The first training label of Fashion-MNIST is 9 (ankle boot), the first test label 9 too.
    assert_eq!((train.labels[0], test.labels[0]), (9, 9));
}

#[test]
fn multi_member_gzip_reads_whole_and_an_inflating_file_is_stopped_at_its_declared_length() {
    let dir = common::scratch("idx-members");
    let idx = encode_idx(&[3, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // gzip allows several members one after another (as `cat a.gz b.gz` makes).
    let (head, tail) = idx.split_at(9);
    let mut members = gzip(head);
    members.extend(gzip(tail));
    std::fs::write(dir.join("members.gz"), members).unwrap();
    assert_eq!(
        read_idx(&dir.join("members.gz")).unwrap(),
        parse_idx(&idx).unwrap()
    );
    // 12 declared data bytes followed by 200 MB of zeros (a 200 kB file): rejected after
    // reading at most one byte beyond the declared length.
    let mut bomb = idx.clone();
    bomb.extend(std::iter::repeat_n(0u8, 200 << 20));
    std::fs::write(dir.join("bomb.gz"), gzip(&bomb)).unwrap();
    assert!(std::fs::metadata(dir.join("bomb.gz")).unwrap().len() < 1 << 20);
    let err = read_idx(&dir.join("bomb.gz")).unwrap_err().to_string();
    assert!(err.contains("more data than the 12 bytes"), "{err}");
}
