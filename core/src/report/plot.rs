//! Line charts as PNG: the PR curves of `reproduce eval`, the loss curves of training and the
//! per-trial plots of the Bayesian optimisation all draw through [`LineChart`].
//!
//! The layout follows the official WIDER FACE plots: one panel per chart, axes with ticks and
//! labels, one coloured line per series and a legend. Points that are not finite (a precision of
//! NaN where recall is still 0) break the line instead of being drawn, so a curve shows exactly
//! the values that exist.

use std::path::Path;

use anyhow::{Result, ensure};

use super::canvas::{Canvas, Color, GLYPH_HEIGHT, text_width};

/// One named line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in drawing order; non-finite points break the line.
    pub points: Vec<(f64, f64)>,
}

/// A chart: title, axis labels and ranges, series.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Text above the plot area.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// Range of the x axis; `None` fits the data.
    pub x_range: Option<(f64, f64)>,
    /// Range of the y axis; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// The lines.
    pub series: Vec<Series>,
}

/// Colours that stay distinguishable for up to a dozen series (the zoo has nine models).
const PALETTE: [Color; 12] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
    [0, 0, 0],
    [255, 187, 120],
];
const WHITE: Color = [255, 255, 255];
const INK: Color = [40, 40, 40];
const GRID: Color = [225, 225, 225];

/// Size of one chart panel in pixels.
pub const PANEL: (usize, usize) = (640, 480);
const MARGIN_LEFT: i64 = 70;
const MARGIN_RIGHT: i64 = 20;
const MARGIN_TOP: i64 = 40;
const MARGIN_BOTTOM: i64 = 50;

impl LineChart {
    /// The ranges the axes will show: the given ones, or the data's extent (padded when flat).
    pub fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let extent = |pick: fn(&(f64, f64)) -> f64| {
            let values = self.series.iter().flat_map(|s| s.points.iter().map(pick));
            let (lo, hi) = values
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            match (lo.is_finite(), lo < hi) {
                (false, _) => (0.0, 1.0),
                (true, true) => (lo, hi),
                (true, false) => (lo - 0.5, hi + 0.5),
            }
        };
        (
            self.x_range.unwrap_or_else(|| extent(|p| p.0)),
            self.y_range.unwrap_or_else(|| extent(|p| p.1)),
        )
    }

    /// Draws the chart into the panel of `canvas` whose top-left corner is `(left, top)`.
    pub fn draw(&self, canvas: &mut Canvas, left: i64, top: i64) {
        let (w, h) = (PANEL.0 as i64, PANEL.1 as i64);
        let (x0, x1) = (left + MARGIN_LEFT, left + w - MARGIN_RIGHT);
        let (y0, y1) = (top + MARGIN_TOP, top + h - MARGIN_BOTTOM);
        let ((xa, xb), (ya, yb)) = self.ranges();
        let px = |x: f64| x0 + ((x - xa) / (xb - xa) * (x1 - x0) as f64).round() as i64;
        let py = |y: f64| y1 - ((y - ya) / (yb - ya) * (y1 - y0) as f64).round() as i64;

        for i in 0..=5 {
            let t = i as f64 / 5.0;
            let (vx, vy) = (xa + t * (xb - xa), ya + t * (yb - ya));
            let (gx, gy) = (px(vx), py(vy));
            canvas.line(gx, y0, gx, y1, GRID);
            canvas.line(x0, gy, x1, gy, GRID);
            let lx = tick_label(vx);
            canvas.text(gx - text_width(&lx, 1) / 2, y1 + 6, &lx, INK, 1);
            let ly = tick_label(vy);
            canvas.text(
                x0 - 6 - text_width(&ly, 1),
                gy - GLYPH_HEIGHT / 2,
                &ly,
                INK,
                1,
            );
        }
        canvas.rect(x0, y0, x1, y1, INK, 1);
        canvas.text(
            left + (w - text_width(&self.title, 2)) / 2,
            top + 10,
            &self.title,
            INK,
            2,
        );
        let xl = &self.x_label;
        canvas.text(left + (w - text_width(xl, 1)) / 2, y1 + 24, xl, INK, 1);
        canvas.text(left + 6, y0 - 14, &self.y_label, INK, 1);

        for (k, s) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let mut last: Option<(i64, i64)> = None;
            for &(x, y) in &s.points {
                if !(x.is_finite() && y.is_finite()) {
                    last = None;
                    continue;
                }
                let p = (px(x.clamp(xa, xb)), py(y.clamp(ya, yb)));
                match last {
                    Some(q) => {
                        canvas.line(q.0, q.1, p.0, p.1, color);
                        canvas.line(q.0, q.1 + 1, p.0, p.1 + 1, color);
                    }
                    None => canvas.fill_rect(p.0 - 1, p.1 - 1, p.0 + 1, p.1 + 1, color),
                }
                last = Some(p);
            }
            let ly = y0 + 8 + k as i64 * (GLYPH_HEIGHT + 4);
            canvas.fill_rect(x1 - 150, ly + 2, x1 - 134, ly + 4, color);
            canvas.text(x1 - 128, ly, &s.name, INK, 1);
        }
    }
}

/// Short tick text: integers plainly, small ranges with up to 3 decimals.
fn tick_label(v: f64) -> String {
    if v.abs() >= 1000.0 || (v.fract() == 0.0 && v.abs() < 1e15) {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Draws charts side by side, one panel each, and saves them as one PNG (written atomically).
pub fn save_charts(charts: &[LineChart], path: &Path) -> Result<()> {
    ensure!(
        !charts.is_empty(),
        "no chart to draw for {}",
        path.display()
    );
    let mut canvas = Canvas::new(PANEL.0 * charts.len(), PANEL.1, WHITE);
    for (i, chart) in charts.iter().enumerate() {
        chart.draw(&mut canvas, (i * PANEL.0) as i64, 0);
    }
    canvas.save_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: Vec<(f64, f64)>) -> LineChart {
        LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_range: Some((0.0, 1.0)),
            y_range: Some((0.0, 1.0)),
            series: vec![Series {
                name: "a".into(),
                points,
            }],
        }
    }

    #[test]
    fn a_diagonal_passes_through_the_panel_corners() {
        let mut canvas = Canvas::new(PANEL.0, PANEL.1, WHITE);
        chart(vec![(0.0, 0.0), (1.0, 1.0)]).draw(&mut canvas, 0, 0);
        let (x0, y1) = (MARGIN_LEFT, PANEL.1 as i64 - MARGIN_BOTTOM);
        let (x1, y0) = (PANEL.0 as i64 - MARGIN_RIGHT, MARGIN_TOP);
        assert_eq!(canvas.pixel(x0, y1), Some(PALETTE[0]));
        assert_eq!(canvas.pixel(x1, y0), Some(PALETTE[0]));
        let mid = ((x0 + x1) / 2, (y0 + y1) / 2);
        assert!((-1..=1).any(|d| canvas.pixel(mid.0, mid.1 + d) == Some(PALETTE[0])));
    }

    #[test]
    fn non_finite_points_break_the_line() {
        let mut canvas = Canvas::new(PANEL.0, PANEL.1, WHITE);
        chart(vec![(0.0, 0.0), (0.5, f64::NAN), (1.0, 1.0)]).draw(&mut canvas, 0, 0);
        let (x0, y1) = (MARGIN_LEFT, PANEL.1 as i64 - MARGIN_BOTTOM);
        let (x1, y0) = (PANEL.0 as i64 - MARGIN_RIGHT, MARGIN_TOP);
        let mid = ((x0 + x1) / 2, (y0 + y1) / 2);
        assert!((-1..=1).all(|d| canvas.pixel(mid.0, mid.1 + d) != Some(PALETTE[0])));
    }

    #[test]
    fn ranges_fit_the_finite_data_and_pad_a_flat_series() {
        let mut c = chart(vec![(1.0, 2.0), (3.0, f64::NAN), (5.0, 2.0)]);
        c.x_range = None;
        c.y_range = None;
        assert_eq!(c.ranges(), ((1.0, 5.0), (1.5, 2.5)));
    }

    #[test]
    fn charts_are_saved_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pr.png");
        let c = chart(vec![(0.0, 1.0), (1.0, 0.0)]);
        save_charts(&[c.clone(), c.clone(), c], &path).unwrap();
        let img = crate::imageio::read_image(&path).unwrap();
        assert_eq!((img.width, img.height), (3 * PANEL.0, PANEL.1));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.2), "0.2");
        assert_eq!(tick_label(0.123456), "0.123");
        assert_eq!(tick_label(1200.0), "1200");
    }
}
