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
