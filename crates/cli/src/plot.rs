//! Line charts for `vkm reproduce`: each figure as PNG and SVG (plotters, with an embedded
//! DejaVu font so nothing depends on the machine's fonts) and the CSV behind it.

use std::io::Write;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::CliError;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (the paper's values beside vkm's).
    pub dashed: bool,
}

impl Series {
    /// A solid line.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            dashed: false,
        }
    }

    /// A dashed line.
    pub fn dashed(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            dashed: true,
            ..Self::new(name, points)
        }
    }
}

/// A chart: title, axis labels, lines.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// File stem (`fig07_operation_costs`).
    pub stem: &'a str,
    /// Caption.
    pub title: &'a str,
    /// X axis label.
    pub x_label: &'a str,
    /// Y axis label.
    pub y_label: &'a str,
    /// The lines.
    pub series: Vec<Series>,
}

static FONT: Once = Once::new();

fn register() {
    FONT.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if !x0.is_finite() || x1 <= x0 {
        (x0, x1) = (0.0, 1.0);
    }
    let y1 = if y1 > 0.0 && y1.is_finite() {
        y1 * 1.08
    } else {
        1.0
    };
    let mut ctx = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..y1)
        .map_err(e)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    for (i, s) in chart.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = color.stroke_width(2);
        let legend_style = style;
        if s.dashed {
            ctx.draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 4, style))
                .map_err(e)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], legend_style));
        } else {
            ctx.draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(e)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], legend_style));
            if s.points.len() <= 30 {
                ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(e)?;
            }
        }
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// Writes `DIR/<stem>.png`, `.svg` and `.csv` (columns `series,x,y`).
pub fn write_chart(dir: &Path, chart: &Chart) -> Result<(), CliError> {
    register();
    let path = |ext: &str| dir.join(format!("{}.{ext}", chart.stem));
    let fail = |e: String| CliError::Io(format!("cannot draw {}: {e}", chart.stem));
    let png = path("png");
    draw(
        BitMapBackend::new(&png, (960, 600)).into_drawing_area(),
        chart,
    )
    .map_err(fail)?;
    let svg = path("svg");
    draw(SVGBackend::new(&svg, (960, 600)).into_drawing_area(), chart).map_err(fail)?;
    let csv = path("csv");
    let io = |e: std::io::Error| CliError::Io(format!("cannot write {}: {e}", csv.display()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&csv).map_err(io)?);
    writeln!(file, "series,x,y").map_err(io)?;
    for s in &chart.series {
        for (x, y) in &s.points {
            writeln!(file, "{},{x},{y}", s.name.replace(',', ";")).map_err(io)?;
        }
    }
    file.flush().map_err(io)
}
