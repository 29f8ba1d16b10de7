//! `plot::learning_curves` (SVG) and `plot::weight_tiles` (PNG). The weight-tile PNG is decoded
//! and checked against the documented layout: a value is a square of max(1, ⌈24 / rows⌉) pixels,
//! tiles are separated and surrounded by 1-pixel light-grey (200, 200, 200) lines, and colours
//! are diverging per tile (+max → pure red, −max → pure blue, 0 → white).

mod common;

use std::path::Path;

use neurona::error::Error;
use neurona::plot::{self, LearningCurves};

const GREY: [u8; 3] = [200, 200, 200];
const WHITE: [u8; 3] = [255, 255, 255];
const RED: [u8; 3] = [255, 0, 0];
const BLUE: [u8; 3] = [0, 0, 255];

/// A decoded 8-bit RGB image.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Image {
    fn read(path: &Path) -> Image {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        Image {
            width: info.width as usize,
            height: info.height as usize,
            rgb: buf,
        }
    }

    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Asserts that every pixel of the rectangle `[x0, x1) × [y0, y1)` is `colour`.
    fn assert_block(&self, (x0, x1): (usize, usize), (y0, y1): (usize, usize), colour: [u8; 3]) {
        for y in y0..y1 {
            for x in x0..x1 {
                assert_eq!(self.at(x, y), colour, "pixel ({x}, {y})");
            }
        }
    }
}

/// Three 2×3 tiles, two to a row: scale ⌈24 / 2⌉ = 12, so a tile is 36×24 pixels; the image is
/// 2 × (36 + 1) + 1 = 75 wide and 2 × (24 + 1) + 1 = 51 high, the fourth place left grey.
#[test]
fn weight_tiles_layout_and_colours() {
    let dir = common::scratch("weight-tiles");
    let file = dir.join("tiles.png");
    let tiles = vec![
        vec![1.0, -1.0, 0.0, 0.5, -0.25, 0.0],
        vec![0.0; 6],
        vec![0.0, 0.0, 0.0, 0.0, 0.0, -3.0],
    ];
    plot::weight_tiles(&file, &tiles, (2, 3), 2).unwrap();
    let image = Image::read(&file);
    assert_eq!((image.width, image.height), (75, 51));

    // Value (r, c) of the tile in place (row, col) covers x from 1 + 37·col + 12·c and y from
    // 1 + 25·row + 12·r, 12 pixels each way.
    let value = |place: (usize, usize), (r, c): (usize, usize)| {
        let (x, y) = (1 + 37 * place.1 + 12 * c, 1 + 25 * place.0 + 12 * r);
        ((x, x + 12), (y, y + 12))
    };
    let (x, y) = value((0, 0), (0, 0));
    image.assert_block(x, y, RED);
    let (x, y) = value((0, 0), (0, 1));
    image.assert_block(x, y, BLUE);
    let (x, y) = value((0, 0), (0, 2));
    image.assert_block(x, y, WHITE);
    // 0.5 of the tile's maximum: half-way from white to red; -0.25: a quarter of the way to blue.
    let (x, y) = value((0, 0), (1, 0));
    let half = image.at(x.0, y.0);
    assert_eq!(half[0], 255);
    assert!(
        (127..=128).contains(&half[1]) && half[1] == half[2],
        "{half:?}"
    );
    let (x, y) = value((0, 0), (1, 1));
    let quarter = image.at(x.0, y.0);
    assert_eq!(quarter[2], 255);
    assert!(
        (191..=192).contains(&quarter[0]) && quarter[0] == quarter[1],
        "{quarter:?}"
    );

    // The all-zero tile is white.
    image.assert_block((38, 74), (1, 25), WHITE);
    // Each tile has its own scale: -3 is the third tile's largest |value|, so pure blue.
    let (x, y) = value((1, 0), (1, 2));
    image.assert_block(x, y, BLUE);
    let (x, y) = value((1, 0), (0, 0));
    image.assert_block(x, y, WHITE);

    // Border and gaps: the outer frame, the column between the tiles, the row between the rows.
    image.assert_block((0, 75), (0, 1), GREY);
    image.assert_block((0, 75), (50, 51), GREY);
    image.assert_block((0, 1), (0, 51), GREY);
    image.assert_block((74, 75), (0, 51), GREY);
    image.assert_block((37, 38), (0, 51), GREY);
    image.assert_block((0, 75), (25, 26), GREY);
    // The unused fourth place.
    image.assert_block((38, 74), (26, 50), GREY);
}

/// 28×28 tiles are drawn 1:1 and 3×3 kernels 8× (⌈24 / 3⌉); fewer tiles than `columns` make one
/// row of only those tiles.
#[test]
fn weight_tiles_scale_with_the_tile_height() {
    let dir = common::scratch("weight-tiles-scale");
    let digits = dir.join("digits.png");
    plot::weight_tiles(&digits, &[vec![0.1; 784], vec![-0.2; 784]], (28, 28), 10).unwrap();
    let image = Image::read(&digits);
    assert_eq!((image.width, image.height), (2 * 29 + 1, 30));
    image.assert_block((1, 29), (1, 29), RED);
    image.assert_block((30, 58), (1, 29), BLUE);

    let kernels = dir.join("kernels.png");
    let tiles: Vec<Vec<f64>> = (0..5).map(|k| vec![k as f64; 9]).collect();
    plot::weight_tiles(&kernels, &tiles, (3, 3), 4).unwrap();
    let image = Image::read(&kernels);
    assert_eq!((image.width, image.height), (4 * 25 + 1, 2 * 25 + 1));
    image.assert_block((1, 25), (1, 25), WHITE);
    image.assert_block((26, 50), (1, 25), RED);
    image.assert_block((1, 25), (26, 50), RED);
    image.assert_block((26, 101), (26, 50), GREY);
}

#[test]
fn weight_tiles_refuse_bad_input_without_panicking() {
    let dir = common::scratch("weight-tiles-bad");
    let file = dir.join("tiles.png");
    let wrong_length = plot::weight_tiles(&file, &[vec![0.0; 6], vec![0.0; 5]], (2, 3), 2);
    assert!(
        matches!(wrong_length, Err(Error::Internal(_))),
        "{wrong_length:?}"
    );
    let none = plot::weight_tiles(&file, &[], (2, 3), 2);
    assert!(matches!(none, Err(Error::Internal(_))), "{none:?}");
    let no_columns = plot::weight_tiles(&file, &[vec![0.0; 6]], (2, 3), 0);
    assert!(
        matches!(no_columns, Err(Error::Internal(_))),
        "{no_columns:?}"
    );
    let empty_shape = plot::weight_tiles(&file, &[vec![]], (0, 3), 1);
    assert!(
        matches!(empty_shape, Err(Error::Internal(_))),
        "{empty_shape:?}"
    );
    assert!(!file.exists());
}

/// How many `<text>` elements of `svg` read `label`.
fn texts(svg: &str, label: &str) -> usize {
    svg.split("<text")
        .skip(1)
        .filter_map(|element| element.split_once('>')?.1.split_once("</text>"))
        .filter(|(content, _)| content.trim() == label)
        .count()
}

fn svg_of(name: &str, curves: &LearningCurves) -> String {
    let file = common::scratch(name).join("curves.svg");
    plot::learning_curves(&file, "Fashion-MNIST run", curves).unwrap();
    let svg = std::fs::read_to_string(&file).unwrap();
    assert!(svg.contains("<svg"), "not an SVG");
    assert!(svg.contains("Fashion-MNIST run"), "title missing");
    svg
}

#[test]
fn learning_curves_with_accuracy_have_two_panels() {
    let svg = svg_of(
        "curves-two-panels",
        &LearningCurves {
            train_loss: &[0.9, 0.6, 0.5],
            valid_loss: &[Some(1.0), Some(0.7), Some(0.65)],
            train_accuracy: &[Some(0.7), Some(0.8), Some(0.85)],
            valid_accuracy: &[Some(0.65), Some(0.75), Some(0.8)],
        },
    );
    assert!(svg.contains(r#"width="1200""#));
    assert_eq!(svg.matches("accuracy (%)").count(), 1);
    // Each panel has a legend naming both series.
    assert_eq!(texts(&svg, "training"), 2);
    assert_eq!(texts(&svg, "validation"), 2);
    // Training is blue; every epoch of every series has a marker.
    assert!(svg.contains("#0000FF"));
    assert_eq!(svg.matches("<circle").count(), 4 * 3);
}

#[test]
fn learning_curves_without_accuracy_have_one_panel() {
    let svg = svg_of(
        "curves-one-panel",
        &LearningCurves {
            train_loss: &[0.9, 0.6],
            valid_loss: &[Some(1.0), Some(0.7)],
            train_accuracy: &[None, None],
            valid_accuracy: &[],
        },
    );
    assert!(svg.contains(r#"width="800""#));
    assert!(!svg.contains("accuracy"));
    assert!(!svg.contains("Accuracy"));
    assert_eq!(texts(&svg, "training"), 1);
    assert_eq!(texts(&svg, "validation"), 1);
}

/// A one-epoch run without validation: one marker, no validation series, and an unmeasured
/// (or diverged) value is no point.
#[test]
fn learning_curves_of_one_epoch_without_validation() {
    let svg = svg_of(
        "curves-one-epoch",
        &LearningCurves {
            train_loss: &[0.7],
            valid_loss: &[None],
            train_accuracy: &[Some(0.5)],
            valid_accuracy: &[None],
        },
    );
    assert_eq!(texts(&svg, "training"), 2);
    assert_eq!(texts(&svg, "validation"), 0);
    assert_eq!(svg.matches("accuracy (%)").count(), 1);
    assert_eq!(svg.matches("<circle").count(), 2);

    let diverged = svg_of(
        "curves-diverged",
        &LearningCurves {
            train_loss: &[0.7, f64::NAN],
            valid_loss: &[],
            train_accuracy: &[],
            valid_accuracy: &[],
        },
    );
    assert_eq!(diverged.matches("<circle").count(), 1);
}

/// `series` (XOR's loss plot) still draws.
#[test]
fn series_still_draws() {
    let file = common::scratch("series").join("loss.svg");
    plot::series(&file, "Training loss", "cross-entropy", &[0.7, 0.5, 0.2]).unwrap();
    let svg = std::fs::read_to_string(&file).unwrap();
    assert!(svg.contains("<svg") && svg.contains("cross-entropy"));
}
