//! SVG plots (plotters, SVG backend only: no font or bitmap dependencies) over plain slices, so
//! that every model family can draw without this module knowing any of them: a value per epoch,
//! learning curves (loss and accuracy, training and validation), regularisation paths,
//! cross-validation curves, ROC curves, decision regions and fitted probabilities. Scatter plots
//! draw at most [`MAX_SCATTER_POINTS`] observations. Weight tiles are a PNG (one pixel per value,
//! scaled up), written by hand with the `png` crate.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::sampling::thin;

/// The most observations drawn in a scatter plot (every n-th row beyond that, evenly spaced):
/// an SVG of all rows of a large data set would be megabytes; the axes still span all of them.
pub const MAX_SCATTER_POINTS: usize = 2000;

type SvgError = DrawingAreaErrorKind<std::io::Error>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The size of every label, tick and legend entry, in plotters' points (0.8 of an SVG pixel):
/// 14.5 px in the file, so that the widest picture (1200 px, shown at the page's width of
/// about 1050 px) keeps its text at 12 px or more.
const LABEL_FONT: (&str, u32) = ("sans-serif", 18);

/// The frame of a chart: its caption, axis ranges and labels.
struct Frame<'a> {
    caption: String,
    x: (f64, f64),
    y: (f64, f64),
    x_desc: &'a str,
    y_desc: &'a str,
    /// Width of the y-axis label area, in pixels.
    y_area: u32,
    /// Where to draw a legend of the labelled series, if anywhere.
    legend: Option<SeriesLabelPosition>,
}

/// Renders an SVG file of `size` pixels: `paint` draws on a white canvas, which is then saved.
fn svg(
    path: &Path,
    size: (u32, u32),
    paint: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), SvgError>,
) -> Result<()> {
    let root: DrawingArea<SVGBackend, Shift> = SVGBackend::new(path, size).into_drawing_area();
    let drawn = (|| {
        root.fill(&WHITE)?;
        paint(&root)?;
        root.present()
    })();
    drawn.map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Draws `frame` into `area` (a whole canvas or one panel of it), then lets `body` draw the series.
fn chart<'b>(
    area: &DrawingArea<SVGBackend<'b>, Shift>,
    frame: Frame,
    body: impl FnOnce(&mut Chart<'_, 'b>) -> Result<(), SvgError>,
) -> Result<(), SvgError> {
    let mut chart = ChartBuilder::on(area)
        .caption(frame.caption, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(frame.y_area + 20)
        .build_cartesian_2d(frame.x.0..frame.x.1, frame.y.0..frame.y.1)?;
    chart
        .configure_mesh()
        .x_desc(frame.x_desc)
        .y_desc(frame.y_desc)
        .label_style(LABEL_FONT)
        .axis_desc_style(LABEL_FONT)
        .draw()?;
    body(&mut chart)?;
    if let Some(position) = frame.legend {
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .label_font(LABEL_FONT)
            .background_style(WHITE.mix(0.8))
            .position(position)
            .draw()?;
    }
    Ok(())
}

/// Draws `frame` into an SVG file of `size` pixels, then lets `body` draw the series.
fn draw(
    path: &Path,
    size: (u32, u32),
    frame: Frame,
    body: impl FnOnce(&mut Chart<'_, '_>) -> Result<(), SvgError>,
) -> Result<()> {
    svg(path, size, |root| chart(root, frame, body))
}

/// `(min, max)` of the finite `values`, widened a little so nothing sits on the frame; a single
/// value gets a unit-wide range, and no finite value at all `(0, 1)` (plotters cannot lay out
/// an empty or infinite axis: it loops).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi - lo > 1e-12 * lo.abs().max(hi.abs()).max(1.0) {
        (hi - lo) * 0.05
    } else {
        0.5
    };
    (lo - pad, hi + pad)
}

/// log₁₀ of each penalty strength; 0 has no logarithm and is drawn one decade below the
/// smallest positive value (at −1 when there is none).
fn log_strengths(strengths: &[f64]) -> Vec<f64> {
    let smallest = strengths
        .iter()
        .copied()
        .filter(|l| *l > 0.0)
        .reduce(f64::min)
        .unwrap_or(1.0);
    strengths
        .iter()
        .map(|&l| {
            if l > 0.0 {
                l.log10()
            } else {
                smallest.log10() - 1.0
            }
        })
        .collect()
}

/// The x position of `value` among `strengths` (the first one when it is not among them).
fn position_of(x: &[f64], strengths: &[f64], value: f64) -> f64 {
    x[strengths.iter().position(|&l| l == value).unwrap_or(0)]
}

/// A vertical line across the whole chart at `x`.
fn marker(
    chart: &mut Chart<'_, '_>,
    x: f64,
    y: (f64, f64),
    style: ShapeStyle,
) -> Result<(), SvgError> {
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x, y.0), (x, y.1)],
        style,
    )))?;
    Ok(())
}

/// A penalty grid on a log axis: `strength` names it (`lambda`, `C`), and `strengths` are its values.
pub(crate) struct Grid<'a> {
    pub strength: &'a str,
    pub strengths: &'a [f64],
}

/// Each coefficient against log₁₀ of the penalty strength, with the chosen strength marked.
/// `path[i][j]` is coefficient `j` at `grid.strengths[i]`.
pub(crate) fn regularisation_path(
    file: &Path,
    grid: &Grid,
    path: &[Vec<f64>],
    names: &[String],
    chosen: f64,
) -> Result<()> {
    let x = log_strengths(grid.strengths);
    let x_desc = format!("log10({})", grid.strength);
    let frame = Frame {
        caption: "Regularisation path".into(),
        x: range(x.iter().copied()),
        y: range(path.iter().flatten().copied()),
        x_desc: &x_desc,
        y_desc: "coefficient",
        y_area: 70,
        legend: Some(SeriesLabelPosition::UpperRight),
    };
    let y = frame.y;
    draw(file, (900, 600), frame, |chart| {
        for (j, name) in names.iter().enumerate() {
            let color = Palette99::pick(j).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    x.iter().zip(path).map(|(&l, coefs)| (l, coefs[j])),
                    color.stroke_width(2),
                ))?
                .label(name.as_str())
                .legend(move |(px, py)| PathElement::new(vec![(px, py), (px + 16, py)], color));
        }
        let at = position_of(&x, grid.strengths, chosen);
        marker(chart, at, y, BLACK.stroke_width(1))
    })
}

/// The mean validation score against log₁₀ of the penalty strength with ±1 standard-error bars;
/// the minimum and the one-standard-error choice marked.
pub(crate) fn cv_curve(
    file: &Path,
    grid: &Grid,
    score: &str,
    mean: &[f64],
    se: &[f64],
    marks: [f64; 2],
) -> Result<()> {
    let x = log_strengths(grid.strengths);
    let x_desc = format!("log10({})", grid.strength);
    let y_desc = format!("mean validation {score}");
    let frame = Frame {
        caption: "Cross-validation".into(),
        x: range(x.iter().copied()),
        y: range(mean.iter().zip(se).flat_map(|(m, s)| [m - s, m + s])),
        x_desc: &x_desc,
        y_desc: &y_desc,
        y_area: 80,
        legend: None,
    };
    let y = frame.y;
    draw(file, (900, 600), frame, |chart| {
        let bars = x.iter().zip(mean.iter().zip(se)).map(|(&l, (&m, &s))| {
            PathElement::new(vec![(l, m - s), (l, m + s)], BLUE.mix(0.6).stroke_width(1))
        });
        chart.draw_series(bars)?;
        chart.draw_series(LineSeries::new(
            x.iter().copied().zip(mean.iter().copied()),
            RED.stroke_width(2),
        ))?;
        let [minimum, one_se] = marks;
        marker(
            chart,
            position_of(&x, grid.strengths, minimum),
            y,
            BLACK.stroke_width(1),
        )?;
        let faint = BLACK.mix(0.4).stroke_width(1);
        marker(chart, position_of(&x, grid.strengths, one_se), y, faint)
    })
}

/// The ROC curve with the chance diagonal and the AUC in the caption.
pub fn roc(file: &Path, curve: &[(f64, f64)], auc: f64) -> Result<()> {
    let frame = Frame {
        caption: format!("ROC curve (AUC {auc:.4})"),
        x: (0.0, 1.0),
        y: (0.0, 1.0),
        x_desc: "false-positive rate (1 - specificity)",
        y_desc: "true-positive rate (recall)",
        y_area: 50,
        legend: None,
    };
    draw(file, (640, 640), frame, |chart| {
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            BLACK.mix(0.3).stroke_width(1),
        ))?;
        chart.draw_series(LineSeries::new(curve.iter().copied(), BLUE.stroke_width(2)))?;
        Ok(())
    })
}

/// Decision regions of a two-feature classifier: the plane shaded by the predicted class
/// (`probability ≥ threshold`), with the observations on top.
pub(crate) fn decision_regions(
    file: &Path,
    axes: [&str; 2],
    points: &[(f64, f64)],
    positive: &[bool],
    probability: impl Fn(f64, f64) -> f64,
    threshold: f64,
) -> Result<()> {
    let frame = Frame {
        caption: format!("Decision regions (P ≥ {threshold})"),
        x: range(points.iter().map(|p| p.0)),
        y: range(points.iter().map(|p| p.1)),
        x_desc: axes[0],
        y_desc: axes[1],
        y_area: 60,
        legend: None,
    };
    let ((x0, x1), (y0, y1)) = (frame.x, frame.y);
    let marked: Vec<((f64, f64), bool)> = points
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    let marked = thin(&marked, MAX_SCATTER_POINTS);
    draw(file, (720, 640), frame, |chart| {
        const CELLS: usize = 80;
        let (dx, dy) = ((x1 - x0) / CELLS as f64, (y1 - y0) / CELLS as f64);
        let cells = (0..CELLS)
            .flat_map(|i| (0..CELLS).map(move |j| (i, j)))
            .map(|(i, j)| {
                let (a, b) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
                let colour = if probability(a + dx / 2.0, b + dy / 2.0) >= threshold {
                    RED.mix(0.15)
                } else {
                    BLUE.mix(0.15)
                };
                Rectangle::new([(a, b), (a + dx, b + dy)], colour.filled())
            });
        chart.draw_series(cells)?;
        let dots = marked.iter().map(|&((a, b), pos)| {
            Circle::new((a, b), 3, if pos { RED.filled() } else { BLUE.filled() })
        });
        chart.draw_series(dots)?;
        Ok(())
    })
}

/// A one-feature classifier: the fitted probability against the feature, over the 0/1 outcomes.
pub(crate) fn probability_curve(
    file: &Path,
    axis: &str,
    points: &[(f64, f64)],
    probability: impl Fn(f64) -> f64,
) -> Result<()> {
    let frame = Frame {
        caption: "Fitted probability".into(),
        x: range(points.iter().map(|p| p.0)),
        y: (-0.05, 1.05),
        x_desc: axis,
        y_desc: "P(positive)",
        y_area: 50,
        legend: None,
    };
    let (x0, x1) = frame.x;
    draw(file, (800, 500), frame, |chart| {
        chart.draw_series(
            thin(points, MAX_SCATTER_POINTS)
                .into_iter()
                .map(|(x, y)| Circle::new((x, y), 2, BLACK.mix(0.3).filled())),
        )?;
        let curve = (0..=400).map(|i| {
            let x = x0 + (x1 - x0) * i as f64 / 400.0;
            (x, probability(x))
        });
        chart.draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))?;
        Ok(())
    })
}

/// A value per epoch (e.g. the training loss) against the epoch number.
pub fn series(file: &Path, title: &str, y_label: &str, values: &[f64]) -> Result<()> {
    let frame = Frame {
        caption: title.into(),
        x: (1.0, values.len().max(2) as f64),
        y: range(values.iter().copied().chain([0.0])),
        x_desc: "epoch",
        y_desc: y_label,
        y_area: 60,
        legend: None,
    };
    draw(file, (800, 500), frame, |chart| {
        chart.draw_series(LineSeries::new(
            values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)),
            BLUE.stroke_width(2),
        ))?;
        Ok(())
    })
}

/// Per-epoch values of a training run, index `i` = epoch `i + 1`. `None` where a value was not
/// measured (no validation set, or validation only every few epochs). Accuracies are fractions
/// (0–1), as `metrics.json` records them, and are drawn in %.
pub struct LearningCurves<'a> {
    pub train_loss: &'a [f64],
    pub valid_loss: &'a [Option<f64>],
    pub train_accuracy: &'a [Option<f64>],
    pub valid_accuracy: &'a [Option<f64>],
}

/// Colour of the training series in [`learning_curves`].
const TRAINING: RGBColor = BLUE;
/// Colour of the validation series in [`learning_curves`] (orange).
const VALIDATION: RGBColor = RGBColor(230, 85, 13);

/// The measured `(epoch, value × scale)` points of a per-epoch series; unmeasured and non-finite
/// values are left out (a diverged epoch has no place on the axis).
fn measured(values: impl IntoIterator<Item = Option<f64>>, scale: f64) -> Vec<(f64, f64)> {
    values
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| Some(((i + 1) as f64, v.filter(|v| v.is_finite())? * scale)))
        .collect()
}

/// The training and validation points of one panel, each a line with a small marker at every
/// point (so that a one-epoch run still shows); an empty series is not drawn nor listed.
fn training_and_validation(
    chart: &mut Chart<'_, '_>,
    [training, validation]: &[Vec<(f64, f64)>; 2],
) -> Result<(), SvgError> {
    for (points, colour, label) in [
        (training, TRAINING, "training"),
        (validation, VALIDATION, "validation"),
    ] {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(
                LineSeries::new(points.iter().copied(), colour.filled().stroke_width(2))
                    .point_size(3),
            )?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
    }
    Ok(())
}

/// The learning curves of a run in one SVG: loss against epoch on the left, accuracy (in %)
/// against epoch on the right, training solid blue and validation orange, each panel with a
/// legend. Without any accuracy value the accuracy panel is left out; a validation series with
/// no value is not drawn. Validation points measured only every few epochs are joined by lines.
pub fn learning_curves(file: &Path, title: &str, curves: &LearningCurves) -> Result<()> {
    let loss = [
        measured(curves.train_loss.iter().map(|&v| Some(v)), 1.0),
        measured(curves.valid_loss.iter().copied(), 1.0),
    ];
    let accuracy = [
        measured(curves.train_accuracy.iter().copied(), 100.0),
        measured(curves.valid_accuracy.iter().copied(), 100.0),
    ];
    let epochs = [
        curves.train_loss.len(),
        curves.valid_loss.len(),
        curves.train_accuracy.len(),
        curves.valid_accuracy.len(),
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
    .max(1);
    let x = range([1.0, epochs as f64].into_iter());
    let has_accuracy = accuracy.iter().any(|points| !points.is_empty());
    let legend = |series: &[Vec<(f64, f64)>; 2], position| {
        series
            .iter()
            .any(|points| !points.is_empty())
            .then_some(position)
    };
    let loss_frame = Frame {
        caption: "Loss".into(),
        x,
        y: range(loss.iter().flatten().map(|p| p.1).chain([0.0])),
        x_desc: "epoch",
        y_desc: "loss",
        y_area: 60,
        legend: legend(&loss, SeriesLabelPosition::UpperRight),
    };
    let accuracy_frame = Frame {
        caption: "Accuracy".into(),
        x,
        y: range(accuracy.iter().flatten().map(|p| p.1)),
        x_desc: "epoch",
        y_desc: "accuracy (%)",
        y_area: 60,
        legend: legend(&accuracy, SeriesLabelPosition::LowerRight),
    };
    let size = if has_accuracy {
        (1200, 500)
    } else {
        (800, 500)
    };
    svg(file, size, |root| {
        let area = root.titled(title, ("sans-serif", 26))?;
        let panels = area.split_evenly((1, if has_accuracy { 2 } else { 1 }));
        chart(&panels[0], loss_frame, |c| {
            training_and_validation(c, &loss)
        })?;
        if has_accuracy {
            chart(&panels[1], accuracy_frame, |c| {
                training_and_validation(c, &accuracy)
            })?;
        }
        Ok(())
    })
}

/// Colour of the 1-pixel gaps and border between the tiles of [`weight_tiles`] (light grey); no
/// weight is drawn in it, as the diverging scale runs from blue through white to red.
pub(crate) const TILE_GAP: [u8; 3] = [200, 200, 200];

/// The least height of a tile drawn by [`weight_tiles`], in pixels: each value becomes a square
/// of `max(1, ⌈TILE_MIN_HEIGHT / rows⌉)` pixels, so 28×28 tiles are drawn 1:1 and 3×3
/// convolution kernels 8× (24×24 pixels).
pub(crate) const TILE_MIN_HEIGHT: usize = 24;

/// The colour of `value` in a tile whose largest finite |value| is `peak`: white at 0, pure red
/// at `+peak`, pure blue at `-peak`, linear in between; white throughout an all-zero tile, and
/// black for a non-finite value (a diverged weight).
fn diverging(value: f64, peak: f64) -> [u8; 3] {
    if !value.is_finite() {
        return [0, 0, 0];
    }
    if peak <= 0.0 {
        return [255, 255, 255];
    }
    let t = (value / peak).clamp(-1.0, 1.0);
    let fade = (255.0 * (1.0 - t.abs())).round() as u8;
    if t >= 0.0 {
        [255, fade, fade]
    } else {
        [fade, fade, 255]
    }
}

/// A PNG of weight tiles (e.g. the input weights of each first-layer unit, or convolution
/// kernels): each tile holds `tile.0` rows × `tile.1` columns of values, row-major, and the
/// tiles are laid out left to right, `columns` to a row (fewer when there are fewer tiles), in
/// the order given. Each value is a square of `max(1, ⌈TILE_MIN_HEIGHT / tile.0⌉)` pixels; the
/// tiles are separated and surrounded by 1-pixel lines of `TILE_GAP`, which also fills the
/// unused places of the last row. The image is thus
/// `across × (tile.1 × scale + 1) + 1` pixels wide and `down × (tile.0 × scale + 1) + 1` high.
///
/// Colours are diverging (blue negative, white zero, red positive), and each tile is normalised
/// by its own largest |value|: units learn weights of very different sizes, and one scale for
/// all would leave most tiles a uniform pale; per tile, each unit's pattern shows whatever its
/// scale (the colours compare signs and shapes, not magnitudes across tiles).
///
/// No tile, a tile of the wrong length, an empty tile shape or no column is an
/// [`Error::Internal`] (a caller's mistake, not the user's). The file is written atomically.
pub fn weight_tiles(
    file: &Path,
    tiles: &[Vec<f64>],
    tile: (usize, usize),
    columns: usize,
) -> Result<()> {
    let wrong = |what: String| Error::Internal(format!("weight tiles {}: {what}", file.display()));
    let (rows, cols) = tile;
    if tiles.is_empty() {
        return Err(wrong("no tile to draw".into()));
    }
    if rows == 0 || cols == 0 || columns == 0 {
        return Err(wrong(format!(
            "tiles of {rows}×{cols} values, {columns} to a row: nothing to draw"
        )));
    }
    let Some(values) = rows.checked_mul(cols) else {
        return Err(wrong(format!(
            "tiles of {rows}×{cols} values are too large"
        )));
    };
    if let Some((i, t)) = tiles.iter().enumerate().find(|(_, t)| t.len() != values) {
        return Err(wrong(format!(
            "tile {i} has {} values, a {rows}×{cols} tile has {values}",
            t.len()
        )));
    }
    let scale = TILE_MIN_HEIGHT.div_ceil(rows).max(1);
    let across = columns.min(tiles.len());
    let down = tiles.len().div_ceil(across);
    let side = |count: usize, cells: usize| {
        cells
            .checked_mul(scale)?
            .checked_add(1)?
            .checked_mul(count)?
            .checked_add(1)
            .filter(|&px| u32::try_from(px).is_ok())
    };
    let (Some(width), Some(height)) = (side(across, cols), side(down, rows)) else {
        return Err(wrong(format!(
            "{} tiles of {rows}×{cols} make too large an image",
            tiles.len()
        )));
    };
    let size = width
        .checked_mul(height)
        .and_then(|px| px.checked_mul(3))
        .ok_or_else(|| wrong("too large an image".into()))?;
    let mut pixels = TILE_GAP.repeat(size / 3);
    for (k, values) in tiles.iter().enumerate() {
        let left = 1 + (k % across) * (cols * scale + 1);
        let top = 1 + (k / across) * (rows * scale + 1);
        let peak = values
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0, |peak: f64, v| peak.max(v.abs()));
        for (i, &value) in values.iter().enumerate() {
            let colour = diverging(value, peak);
            let (x, y) = (left + (i % cols) * scale, top + (i / cols) * scale);
            for row in y..y + scale {
                let start = 3 * (row * width + x);
                for pixel in pixels[start..start + 3 * scale].chunks_exact_mut(3) {
                    pixel.copy_from_slice(&colour);
                }
            }
        }
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let encoded = (|| {
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()
    })();
    encoded.map_err(|e| wrong(format!("PNG encoding failed: {e}")))?;
    crate::run_dir::write_atomic(file, &bytes)
}
