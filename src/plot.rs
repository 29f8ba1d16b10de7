//! SVG plots (plotters, SVG backend only: no font or bitmap dependencies) over plain slices, so
//! that every model family can draw without this module knowing any of them: a value per epoch,
//! regularisation paths, cross-validation curves, ROC curves, decision regions and fitted
//! probabilities. Scatter plots draw at most [`MAX_SCATTER_POINTS`] observations.

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

/// The frame of a chart: its caption, axis ranges and labels.
struct Frame<'a> {
    caption: String,
    x: (f64, f64),
    y: (f64, f64),
    x_desc: &'a str,
    y_desc: &'a str,
    /// Width of the y-axis label area, in pixels.
    y_area: u32,
    /// Draw a legend of the labelled series in the upper right corner.
    legend: bool,
}

/// Draws `frame` into an SVG file of `size` pixels, then lets `body` draw the series.
fn draw(
    path: &Path,
    size: (u32, u32),
    frame: Frame,
    body: impl FnOnce(&mut Chart<'_, '_>) -> Result<(), SvgError>,
) -> Result<()> {
    let root: DrawingArea<SVGBackend, Shift> = SVGBackend::new(path, size).into_drawing_area();
    let drawn = (|| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(frame.caption, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(frame.y_area)
            .build_cartesian_2d(frame.x.0..frame.x.1, frame.y.0..frame.y.1)?;
        chart
            .configure_mesh()
            .x_desc(frame.x_desc)
            .y_desc(frame.y_desc)
            .draw()?;
        body(&mut chart)?;
        if frame.legend {
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
        root.present()
    })();
    drawn.map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
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
pub struct Grid<'a> {
    pub strength: &'a str,
    pub strengths: &'a [f64],
}

/// Each coefficient against log₁₀ of the penalty strength, with the chosen strength marked.
/// `path[i][j]` is coefficient `j` at `grid.strengths[i]`.
pub fn regularisation_path(
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
        legend: true,
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
pub fn cv_curve(
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
        legend: false,
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
        legend: false,
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
pub fn decision_regions(
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
        legend: false,
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
pub fn probability_curve(
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
        legend: false,
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
        legend: false,
    };
    draw(file, (800, 500), frame, |chart| {
        chart.draw_series(LineSeries::new(
            values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)),
            BLUE.stroke_width(2),
        ))?;
        Ok(())
    })
}
