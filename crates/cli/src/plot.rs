//! Line charts for `vkm reproduce`: each figure as PNG and SVG (plotters, with an embedded
//! DejaVu font so nothing depends on the machine's fonts) and the CSV behind it.

use std::io::Write;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
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
    /// The spread of each point over repeated runs, `(x, low, high)`, drawn as error bars.
    pub spread: Vec<(f64, f64, f64)>,
    /// Its colour's index in the palette (default: its place in the chart), so that a
    /// dashed line of the paper or of an equation can share the colour of what it is
    /// compared with.
    pub color: Option<usize>,
}

impl Series {
    /// A solid line.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            dashed: false,
            spread: Vec::new(),
            color: None,
        }
    }

    /// This line in the palette's colour `index`.
    pub fn colored(self, index: usize) -> Self {
        Self {
            color: Some(index),
            ..self
        }
    }

    /// This line with the spread of its points over repeated runs.
    pub fn with_spread(self, spread: Vec<(f64, f64, f64)>) -> Self {
        Self { spread, ..self }
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
    /// Which axes are logarithmic (for series that span decades).
    pub log: Axes,
}

/// Which axes of a chart are logarithmic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Axes {
    /// The x axis.
    pub x: bool,
    /// The y axis.
    pub y: bool,
    /// A linear y axis fitted to the data instead of starting at 0 (for curves whose
    /// differences are small against their size).
    pub fit_y: bool,
}

impl Axes {
    /// Both linear.
    pub const LINEAR: Self = Self {
        x: false,
        y: false,
        fit_y: false,
    };
    /// Linear, the y axis fitted to the data.
    pub const FIT_Y: Self = Self {
        x: false,
        y: false,
        fit_y: true,
    };
    /// A logarithmic y axis.
    pub const LOG_Y: Self = Self {
        x: false,
        y: true,
        fit_y: false,
    };
    /// Both logarithmic.
    pub const LOG_XY: Self = Self {
        x: true,
        y: true,
        fit_y: false,
    };
}

/// A tick label: integers without a decimal point and with thousands separators, others
/// with as few decimals as they need (at most three).
pub fn tick(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 * value.abs().max(1.0) {
        let n = value.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

static FONT: Once = Once::new();

fn register() {
    FONT.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// The ranges of a chart's data: x from the smallest to the largest, y from 0 (or, on a
/// log axis, the smallest positive value) to a little above the largest.
fn bounds(chart: &Chart) -> ((f64, f64), (f64, f64)) {
    let points = chart.series.iter().flat_map(|s| {
        s.points
            .iter()
            .copied()
            .chain(s.spread.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]))
    });
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, 0.0f64);
    let mut lowest = f64::INFINITY;
    for (x, y) in points {
        if !x.is_finite() || !y.is_finite() || (chart.log.x && x <= 0.0) {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
        lowest = lowest.min(y);
        if y > 0.0 {
            y0 = y0.min(y);
        }
    }
    if !x0.is_finite() || x1 <= x0 {
        (x0, x1) = if chart.log.x { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    let y1 = if y1 > 0.0 && y1.is_finite() { y1 } else { 1.0 };
    let y = if chart.log.y {
        let y0 = if y0.is_finite() && y0 < y1 {
            y0
        } else {
            y1 / 10.0
        };
        (y0 / 1.5, y1 * 1.5)
    } else if chart.log.fit_y && lowest.is_finite() && lowest < y1 {
        let margin = (y1 - lowest) * 0.06;
        (lowest - margin, y1 + margin)
    } else {
        (0.0, y1 * 1.08)
    };
    ((x0, x1), y)
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let ((x0, x1), (y0, y1)) = bounds(chart);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(chart.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70);
    match (chart.log.x, chart.log.y) {
        (false, false) => lines(
            builder.build_cartesian_2d(x0..x1, y0..y1).map_err(e)?,
            chart,
        ),
        (false, true) => lines(
            builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(e)?,
            chart,
        ),
        (true, false) => lines(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(e)?,
            chart,
        ),
        (true, true) => lines(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
                .map_err(e)?,
            chart,
        ),
    }?;
    root.present().map_err(e)
}

/// Draws the mesh, the lines, their error bars and the legend (outside the plotting area's
/// upper left corner when it would cover data: to the right of the data, or below it).
fn lines<'a, DB, X, Y>(
    mut ctx: ChartContext<'a, DB, Cartesian2d<X, Y>>,
    chart: &Chart,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    // A log axis has no place for zero or less.
    let shown = |&(x, y): &(f64, f64)| {
        x.is_finite() && y.is_finite() && (!chart.log.x || x > 0.0) && (!chart.log.y || y > 0.0)
    };
    for (i, s) in chart.series.iter().enumerate() {
        let color = Palette99::pick(s.color.unwrap_or(i)).to_rgba();
        let points: Vec<(f64, f64)> = s.points.iter().copied().filter(shown).collect();
        let style = color.stroke_width(2);
        let legend_style = style;
        if s.dashed {
            ctx.draw_series(DashedLineSeries::new(points.iter().copied(), 6, 4, style))
                .map_err(e)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], legend_style));
        } else {
            ctx.draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(e)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], legend_style));
            if points.len() <= 30 {
                ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(e)?;
            }
        }
        if !s.spread.is_empty() {
            let bars = s
                .spread
                .iter()
                .filter(|&&(x, lo, hi)| shown(&(x, lo)) && shown(&(x, hi)));
            ctx.draw_series(bars.map(|&(x, lo, hi)| {
                ErrorBar::new_vertical(x, lo, (lo + hi) / 2.0, hi, color.stroke_width(1), 8)
            }))
            .map_err(e)?;
        }
    }
    ctx.configure_series_labels()
        .position(legend_position(chart))
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)
}

/// The corner of the plotting area whose quarter holds the fewest points (ties: upper
/// left), in the axes' own scale.
fn legend_position(chart: &Chart) -> SeriesLabelPosition {
    let ((x0, x1), (y0, y1)) = bounds(chart);
    let scale = |v: f64, lo: f64, hi: f64, log: bool| {
        if log {
            (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let mut counts = [0usize; 4]; // upper left, upper right, lower left, lower right
    for &(x, y) in chart.series.iter().flat_map(|s| s.points.iter()) {
        let (fx, fy) = (scale(x, x0, x1, chart.log.x), scale(y, y0, y1, chart.log.y));
        if !(fx.is_finite() && fy.is_finite()) {
            continue;
        }
        // The legend takes about 45 % of the width and the top or bottom 40 %.
        let left = fx < 0.45;
        let right = fx > 0.55;
        if fy > 0.6 {
            counts[0] += usize::from(left);
            counts[1] += usize::from(right);
        } else if fy < 0.4 {
            counts[2] += usize::from(left);
            counts[3] += usize::from(right);
        }
    }
    let positions = [
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::LowerLeft,
        SeriesLabelPosition::LowerRight,
    ];
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    positions[best].clone()
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
    writeln!(file, "series,x,y,y_low,y_high").map_err(io)?;
    for s in &chart.series {
        for (x, y) in &s.points {
            let (lo, hi) = s
                .spread
                .iter()
                .find(|(sx, _, _)| sx == x)
                .map_or((String::new(), String::new()), |(_, lo, hi)| {
                    (lo.to_string(), hi.to_string())
                });
            writeln!(file, "{},{x},{y},{lo},{hi}", s.name.replace(',', ";")).map_err(io)?;
        }
    }
    file.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_integers_with_separators_or_short_decimals() {
        assert_eq!(tick(4_000.0), "4,000");
        assert_eq!(tick(15_000.0), "15,000");
        assert_eq!(tick(-1_234_567.0), "-1,234,567");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(100.0), "100");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(0.125), "0.125");
        assert_eq!(tick(0.1 + 0.2), "0.3");
    }

    #[test]
    fn log_axes_skip_what_they_cannot_show_and_the_legend_avoids_the_data() {
        let chart = Chart {
            stem: "t",
            title: "t",
            x_label: "x",
            y_label: "y",
            series: vec![Series::new(
                "rising",
                (0..=10).map(|i| (f64::from(i), 10f64.powi(i))).collect(),
            )],
            log: Axes::LOG_Y,
        };
        let ((x0, x1), (y0, y1)) = bounds(&chart);
        assert_eq!((x0, x1), (0.0, 10.0));
        assert!(y0 > 0.0 && y0 < 1.0 && y1 > 1e10, "{y0} {y1}");
        // A line rising from the lower left to the upper right leaves the upper left free.
        assert!(matches!(
            legend_position(&chart),
            SeriesLabelPosition::UpperLeft
        ));
    }
}
