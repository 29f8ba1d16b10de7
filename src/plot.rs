//! SVG plots (plotters): the regularisation path and the cross-validation curve.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::linear::cv::CvReport;

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// `(min, max)` of `values`, widened a little so nothing sits on the frame.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let pad = ((hi - lo) * 0.05).max(1e-12);
    (lo - pad, hi + pad)
}

fn log_lambdas(report: &CvReport) -> Vec<f64> {
    // λ = 0 has no logarithm: it is drawn one decade below the smallest positive λ.
    let smallest = report
        .lambdas
        .iter()
        .copied()
        .filter(|l| *l > 0.0)
        .fold(f64::INFINITY, f64::min);
    report
        .lambdas
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

/// Each coefficient against log₁₀ λ, with the chosen λ marked.
pub fn regularisation_path(path: &Path, report: &CvReport) -> Result<()> {
    let x = log_lambdas(report);
    let (x0, x1) = range(x.iter().copied());
    let (y0, y1) = range(report.path.iter().flatten().copied());
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Regularisation path", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("log10(lambda)")
        .y_desc("coefficient")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    for (j, name) in report.feature_names.iter().enumerate() {
        let color = Palette99::pick(j).to_rgba();
        chart
            .draw_series(LineSeries::new(
                x.iter().zip(&report.path).map(|(&l, coefs)| (l, coefs[j])),
                color.stroke_width(2),
            ))
            .map_err(|e| plot_error(path, e))?
            .label(name.as_str())
            .legend(move |(px, py)| PathElement::new(vec![(px, py), (px + 16, py)], color));
    }
    let chosen = x[report
        .lambdas
        .iter()
        .position(|&l| l == report.lambda)
        .unwrap_or(0)];
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(chosen, y0), (chosen, y1)],
            BLACK.stroke_width(1),
        )))
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// Mean validation MSE against log₁₀ λ with ±1 standard-error bars; λ_min and λ_1se marked.
pub fn cv_curve(path: &Path, report: &CvReport) -> Result<()> {
    let x = log_lambdas(report);
    let (x0, x1) = range(x.iter().copied());
    let (y0, y1) = range(
        report
            .mse_mean
            .iter()
            .zip(&report.mse_se)
            .flat_map(|(m, s)| [m - s, m + s]),
    );
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Cross-validation", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("log10(lambda)")
        .y_desc("mean validation MSE")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let bars = x
        .iter()
        .zip(report.mse_mean.iter().zip(&report.mse_se))
        .map(|(&l, (&m, &s))| {
            PathElement::new(vec![(l, m - s), (l, m + s)], BLUE.mix(0.6).stroke_width(1))
        });
    chart.draw_series(bars).map_err(|e| plot_error(path, e))?;
    chart
        .draw_series(LineSeries::new(
            x.iter().copied().zip(report.mse_mean.iter().copied()),
            RED.stroke_width(2),
        ))
        .map_err(|e| plot_error(path, e))?;
    for (lambda, style) in [
        (report.lambda_min, BLACK.stroke_width(1)),
        (report.lambda_one_se, BLACK.mix(0.4).stroke_width(1)),
    ] {
        let at = x[report
            .lambdas
            .iter()
            .position(|&l| l == lambda)
            .unwrap_or(0)];
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(at, y0), (at, y1)],
                style,
            )))
            .map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// The ROC curve with the chance diagonal and the AUC in the caption.
pub fn roc(path: &Path, curve: &[(f64, f64)], auc: f64) -> Result<()> {
    let root = SVGBackend::new(path, (640, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("ROC curve (AUC {auc:.4})"), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate (1 - specificity)")
        .y_desc("true-positive rate (recall)")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            BLACK.mix(0.3).stroke_width(1),
        ))
        .map_err(|e| plot_error(path, e))?;
    chart
        .draw_series(LineSeries::new(curve.iter().copied(), BLUE.stroke_width(2)))
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// Decision regions of a two-feature classifier: the plane shaded by the predicted class
/// (`probability ≥ threshold`), with the observations on top.
pub fn decision_regions(
    path: &Path,
    axes: [&str; 2],
    points: &[(f64, f64)],
    positive: &[bool],
    probability: impl Fn(f64, f64) -> f64,
    threshold: f64,
) -> Result<()> {
    let (x0, x1) = range(points.iter().map(|p| p.0));
    let (y0, y1) = range(points.iter().map(|p| p.1));
    let root = SVGBackend::new(path, (720, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Decision regions (P ≥ {threshold})"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc(axes[0])
        .y_desc(axes[1])
        .draw()
        .map_err(|e| plot_error(path, e))?;
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
    chart.draw_series(cells).map_err(|e| plot_error(path, e))?;
    let dots = points.iter().zip(positive).map(|(&(a, b), &pos)| {
        Circle::new((a, b), 3, if pos { RED.filled() } else { BLUE.filled() })
    });
    chart.draw_series(dots).map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// A one-feature classifier: the fitted probability against the feature, over the 0/1 outcomes.
pub fn probability_curve(
    path: &Path,
    axis: &str,
    points: &[(f64, f64)],
    probability: impl Fn(f64) -> f64,
) -> Result<()> {
    let (x0, x1) = range(points.iter().map(|p| p.0));
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Fitted probability", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, -0.05..1.05)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc(axis)
        .y_desc("P(positive)")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    chart
        .draw_series(
            points
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 2, BLACK.mix(0.3).filled())),
        )
        .map_err(|e| plot_error(path, e))?;
    let curve = (0..=400).map(|i| {
        let x = x0 + (x1 - x0) * i as f64 / 400.0;
        (x, probability(x))
    });
    chart
        .draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// A value per epoch (e.g. the training loss) against the epoch number.
pub fn series(path: &Path, title: &str, y_label: &str, values: &[f64]) -> Result<()> {
    let (y0, y1) = range(values.iter().copied().chain([0.0]));
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1.0..(values.len().max(2) as f64), y0..y1)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    chart
        .draw_series(LineSeries::new(
            values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}
