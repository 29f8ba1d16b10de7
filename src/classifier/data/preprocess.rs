//! An image of any size made into what an MNIST model was trained on, the way MNIST itself was
//! made (LeCun et al.): the ink's bounding box is scaled, keeping its aspect ratio, so that its
//! longer side is 20 pixels (area-averaged, so thin strokes become grey rather than vanish); the
//! result is placed in a 28×28 frame with its centre of mass on the frame's centre. A digit drawn
//! small, thin or off-centre then looks like the training images: without this, demos answer "8"
//! to everything.

use crate::classifier::data::SIDE;

/// The side of the box the ink's longer side is scaled to.
pub const INK_BOX: usize = 20;

/// What a model is given for a grey image: a 28×28 image as it is (the data sets' own format),
/// an image of any other size made MNIST-style ([`mnist_style`]). A scan or photo has dark ink
/// on light paper, MNIST light ink on black: an image whose border is mostly light is inverted
/// first.
pub fn prepare(grey: &[u8], width: usize, height: usize) -> Vec<u8> {
    if (width, height) == (SIDE, SIDE) {
        return grey.to_vec();
    }
    if light_border(grey, width, height) {
        let inverted: Vec<u8> = grey.iter().map(|v| 255 - v).collect();
        mnist_style(&inverted, width, height)
    } else {
        mnist_style(grey, width, height)
    }
}

/// Whether most pixels on the image's outer edge are lighter than mid-grey.
fn light_border(grey: &[u8], width: usize, height: usize) -> bool {
    let edge = (0..width * height).filter(|i| {
        let (x, y) = (i % width, i / width);
        x == 0 || y == 0 || x + 1 == width || y + 1 == height
    });
    let (light, all) = edge.fold((0, 0), |(l, a), i| (l + usize::from(grey[i] > 127), a + 1));
    2 * light > all
}

/// `grey` (`width × height`, row by row, ink bright on a dark background as in MNIST) as a 28×28
/// MNIST-style image. An image without ink gives the empty frame.
pub fn mnist_style(grey: &[u8], width: usize, height: usize) -> Vec<u8> {
    assert_eq!(
        grey.len(),
        width * height,
        "grey holds width × height pixels"
    );
    let mut frame = vec![0u8; SIDE * SIDE];
    let Some((left, top, right, bottom)) = ink_box(grey, width, height) else {
        return frame;
    };
    let (box_w, box_h) = (right - left, bottom - top);
    // Source pixels per target pixel; the longer side becomes INK_BOX.
    let scale = box_w.max(box_h) as f64 / INK_BOX as f64;
    let (out_w, out_h) = (
        ((box_w as f64 / scale).round() as usize).clamp(1, INK_BOX),
        ((box_h as f64 / scale).round() as usize).clamp(1, INK_BOX),
    );
    let (scale_x, scale_y) = (box_w as f64 / out_w as f64, box_h as f64 / out_h as f64);
    let mut scaled = vec![0.0; out_w * out_h];
    for ty in 0..out_h {
        let (y0, y1) = (
            top as f64 + ty as f64 * scale_y,
            top as f64 + (ty + 1) as f64 * scale_y,
        );
        for tx in 0..out_w {
            let (x0, x1) = (
                left as f64 + tx as f64 * scale_x,
                left as f64 + (tx + 1) as f64 * scale_x,
            );
            scaled[ty * out_w + tx] = area_mean(grey, width, (x0, x1), (y0, y1));
        }
    }
    // Centre of mass of the scaled ink, then the shift that puts it on the frame's centre.
    let mass: f64 = scaled.iter().sum();
    let (mut cx, mut cy) = (0.0, 0.0);
    for (i, v) in scaled.iter().enumerate() {
        cx += v * ((i % out_w) as f64 + 0.5);
        cy += v * ((i / out_w) as f64 + 0.5);
    }
    let centre = SIDE as f64 / 2.0;
    let shift_x = (centre - cx / mass).round() as i64;
    let shift_y = (centre - cy / mass).round() as i64;
    for (i, v) in scaled.iter().enumerate() {
        let x = (i % out_w) as i64 + shift_x;
        let y = (i / out_w) as i64 + shift_y;
        if (0..SIDE as i64).contains(&x) && (0..SIDE as i64).contains(&y) {
            frame[y as usize * SIDE + x as usize] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    frame
}

/// The smallest `[left, right) × [top, bottom)` holding every non-zero pixel.
fn ink_box(grey: &[u8], width: usize, height: usize) -> Option<(usize, usize, usize, usize)> {
    let mut found: Option<(usize, usize, usize, usize)> = None;
    for (i, _) in grey.iter().enumerate().filter(|(_, v)| **v > 0) {
        let (x, y) = (i % width, i / width);
        found = Some(match found {
            None => (x, y, x + 1, y + 1),
            Some((l, t, r, b)) => (l.min(x), t.min(y), r.max(x + 1), b.max(y + 1)),
        });
    }
    debug_assert!(found.is_none_or(|(_, _, r, b)| r <= width && b <= height));
    found
}

/// The mean of `grey` over the rectangle `[x0, x1) × [y0, y1)` in pixel units, each pixel
/// weighted by the part of it the rectangle covers.
fn area_mean(grey: &[u8], width: usize, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> f64 {
    let mut sum = 0.0;
    for y in y0.floor() as usize..(y1.ceil() as usize) {
        let wy = (y1.min(y as f64 + 1.0) - y0.max(y as f64)).max(0.0);
        for x in x0.floor() as usize..(x1.ceil() as usize) {
            let wx = (x1.min(x as f64 + 1.0) - x0.max(x as f64)).max(0.0);
            sum += wx * wy * grey[y * width + x] as f64;
        }
    }
    sum / ((x1 - x0) * (y1 - y0))
}
