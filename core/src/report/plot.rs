//! Line charts as PNG: the PR curves of `reproduce eval`, the loss curves of training and the
//! per-trial plots of the Bayesian optimisation all draw through [`LineChart`].
//!
//! Drawn with plotters in the embedded DejaVu Sans (`report::font`), laid out for a paper: one
//! panel per chart with a title, axis labels and ticks at round values, one coloured line per
//! series (with a marker at each point where [`super::chart::Series::markers`] asks for one), and a legend that
//! covers no data (`report::legend`). Points that are not finite (a precision of NaN where recall
//! is still 0) break the line instead of being drawn, so a curve shows exactly the values that
//! exist.

use std::path::Path;

use anyhow::{Result, ensure};
use plotters::prelude::*;

use super::chart::LineChart;
use super::font;
use super::legend::{Area, Legend, Rect};
use super::style::{AXIS_SIZE, GRID, INK, LINE_WIDTH, TICK_SIZE, TITLE_SIZE, color, marker};
use crate::imageio::{RgbImage, encode_png};

/// Size of one chart panel in pixels; a legend that finds no free corner adds rows under it.
pub const PANEL: (usize, usize) = (800, 600);
/// Space around a panel's content.
const MARGIN: u32 = 14;
/// Room for the x tick labels and the x axis label.
const X_LABEL_AREA: u32 = 76;
/// Room for the y tick labels and the y axis label.
const Y_LABEL_AREA: u32 = 100;

impl LineChart {
    /// Draws the chart into `panel`; the legend goes into a free corner or, if there is none,
    /// into `below` on `root`. Returns whether it went below.
    fn draw(&self, root: &Area, panel: &Area, legend: &Legend, below: Rect) -> Result<bool> {
        let family = font::family()?;
        let ((xa, xb), (ya, yb)) = self.ranges();
        let mut chart = ChartBuilder::on(panel)
            .caption(&self.title, (family, TITLE_SIZE).into_font().color(&INK))
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(xa..xb, ya..yb)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style((family, AXIS_SIZE).into_font().color(&INK))
            .label_style((family, TICK_SIZE).into_font().color(&INK))
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .bold_line_style(GRID)
            .max_light_lines(0)
            .axis_style(INK)
            .draw()?;
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let plot = Rect {
            x0: xs.start,
            y0: ys.start,
            x1: xs.end - 1,
            y1: ys.end - 1,
        };
        root.draw(&Rectangle::new(
            [(plot.x0, plot.y0), (plot.x1, plot.y1)],
            INK.stroke_width(1),
        ))?;

        // Each series as runs of finite points, in pixels.
        let runs: Vec<Vec<Vec<(i32, i32)>>> = self
            .series
            .iter()
            .map(|s| {
                s.points
                    .split(|(x, y)| !(x.is_finite() && y.is_finite()))
                    .filter(|run| !run.is_empty())
                    .map(|run| {
                        run.iter()
                            .map(|&(x, y)| chart.backend_coord(&(x.clamp(xa, xb), y.clamp(ya, yb))))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        for (k, (series, runs)) in self.series.iter().zip(&runs).enumerate() {
            let c = color(k);
            for run in runs {
                match run.as_slice() {
                    [p] if !series.markers => {
                        root.draw(&Circle::new(*p, LINE_WIDTH, c.filled()))?;
                    }
                    _ => root.draw(&PathElement::new(run.clone(), c.stroke_width(LINE_WIDTH)))?,
                }
                if series.markers {
                    for &p in run {
                        root.draw(&Polygon::new(marker(k, p), c.filled()))?;
                    }
                }
            }
        }

        match legend.place(plot, runs.iter().flatten()) {
            Some(at) => {
                legend.draw_boxed(root, at, family)?;
                Ok(false)
            }
            None => {
                legend.draw_below(root, below, family)?;
                Ok(true)
            }
        }
    }
}

/// Short tick text: integers plainly, small values with up to 3 decimals.
fn tick_label(v: f64) -> String {
    if v.abs() >= 1000.0 || (v.fract() == 0.0 && v.abs() < 1e15) {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0" } else { s }.to_string()
    }
}

/// Draws charts side by side, one [`PANEL`] each, into one image.
pub fn render(charts: &[LineChart]) -> Result<RgbImage> {
    ensure!(!charts.is_empty(), "no chart to draw");
    let family = font::family()?;
    let legends = charts
        .iter()
        .map(|c| Legend::measure(c, family))
        .collect::<Result<Vec<_>>>()?;
    let (pw, ph) = (PANEL.0 as i32, PANEL.1 as i32);
    // Room for legends under the panels; cut off again if every legend found a corner.
    let room: Vec<i32> = legends.iter().map(|l| l.height_below(pw)).collect();
    let width = PANEL.0 * charts.len();
    let full = PANEL.1 + *room.iter().max().unwrap_or(&0) as usize;
    let mut data = vec![255u8; width * full * 3];
    let mut used = 0;
    {
        let root =
            BitMapBackend::with_buffer(&mut data, (width as u32, full as u32)).into_drawing_area();
        let (top, _) = root.split_vertically(ph);
        let panels = top.split_evenly((1, charts.len()));
        for (i, ((chart, legend), panel)) in charts.iter().zip(&legends).zip(&panels).enumerate() {
            let left = i as i32 * pw;
            let below = Rect {
                x0: left,
                y0: ph,
                x1: left + pw - 1,
                y1: full as i32 - 1,
            };
            if chart.draw(&root, panel, legend, below)? {
                used = used.max(room[i]);
            }
        }
        root.present()?;
    }
    let height = PANEL.1 + used as usize;
    data.truncate(width * height * 3);
    RgbImage::new(width, height, data)
}

/// Draws charts side by side and saves them as one PNG (written atomically).
pub fn save_charts(charts: &[LineChart], path: &Path) -> Result<()> {
    ensure!(
        !charts.is_empty(),
        "no chart to draw for {}",
        path.display()
    );
    crate::fsutil::write_atomic(path, &encode_png(&render(charts)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::Series;
    use crate::report::style;

    fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            markers: false,
        }
    }

    fn chart(series: Vec<Series>) -> LineChart {
        LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_range: Some((0.0, 1.0)),
            y_range: Some((0.0, 1.0)),
            series,
        }
    }

    fn rgb(c: RGBColor) -> [u8; 3] {
        [c.0, c.1, c.2]
    }

    /// Pixels of exactly colour `c` in columns `xs`.
    fn count(img: &RgbImage, c: RGBColor, xs: std::ops::Range<usize>) -> usize {
        (0..img.height)
            .flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let i = (y * img.width + x) * 3;
                img.data[i..i + 3] == rgb(c)
            })
            .count()
    }

    #[test]
    fn every_series_is_drawn_in_its_colour_and_text_is_drawn() {
        let c = chart(vec![
            series("rising", vec![(0.0, 0.0), (1.0, 1.0)]),
            series("falling", vec![(0.0, 1.0), (1.0, 0.0)]),
            series("flat", vec![(0.0, 0.5), (1.0, 0.5)]),
        ]);
        let img = render(&[c]).unwrap();
        for k in 0..3 {
            let n = count(&img, style::color(k), 0..img.width);
            assert!(n > 500, "series {k}: {n} pixels");
        }
        // Anti-aliased text leaves grey levels: the title, labels and ticks are there.
        let grey = img
            .data
            .chunks(3)
            .filter(|p| p[0] == p[1] && p[1] == p[2] && (60..200).contains(&p[0]))
            .count();
        assert!(grey > 200, "{grey} grey pixels");
    }

    #[test]
    fn the_legend_lists_each_series_beside_a_sample_of_its_line() {
        // The two lines cross the whole plot, so no corner is free: the legend goes under it.
        let c = chart(vec![
            series("a", vec![(0.0, 0.0), (1.0, 1.0)]),
            series("b", vec![(0.0, 1.0), (1.0, 0.0)]),
            series(
                "c",
                vec![(0.0, 0.05), (1.0, 0.05), (1.0, 0.95), (0.0, 0.95)],
            ),
        ]);
        let img = render(&[c]).unwrap();
        assert!(img.height > PANEL.1, "no room was added under the panel");
        let strip = RgbImage::new(
            img.width,
            img.height - PANEL.1,
            img.data[PANEL.0 * PANEL.1 * 3..].to_vec(),
        )
        .unwrap();
        for k in 0..3 {
            let n = count(&strip, style::color(k), 0..strip.width);
            assert!(n >= 40, "legend sample of series {k}: {n} pixels");
        }
    }

    #[test]
    fn a_legend_with_a_free_corner_adds_no_height() {
        let pr = (0..=100).map(|i| {
            let r = i as f64 / 100.0;
            (r, 1.0 - r.powi(8))
        });
        let c = chart(vec![series("model (0.900)", pr.collect())]);
        let img = render(&[c.clone(), c]).unwrap();
        assert_eq!((img.width, img.height), (2 * PANEL.0, PANEL.1));
    }

    #[test]
    fn non_finite_points_break_the_line() {
        let whole = render(&[chart(vec![series("a", vec![(0.0, 0.5), (1.0, 0.5)])])]).unwrap();
        let broken = render(&[chart(vec![series(
            "a",
            vec![(0.0, 0.5), (0.5, f64::NAN), (1.0, 0.5)],
        )])])
        .unwrap();
        let blue = style::color(0);
        // The horizontal line at y = 0.5 runs through the middle of the plot, away from the
        // legend: in the middle third, the broken one has nothing.
        let middle = PANEL.0 / 2 - 60..PANEL.0 / 2 + 60;
        assert!(count(&whole, blue, middle.clone()) > 100);
        assert_eq!(count(&broken, blue, middle), 0);
    }

    #[test]
    fn markers_are_drawn_at_each_point() {
        let mut s = series("trials", vec![(0.25, 0.25), (0.75, 0.25)]);
        let plain = render(&[chart(vec![s.clone()])]).unwrap();
        s.markers = true;
        let marked = render(&[chart(vec![s])]).unwrap();
        let blue = style::color(0);
        // Two markers on the line and one in the legend, each about 150 pixels.
        let (a, b) = (
            count(&plain, blue, 0..PANEL.0),
            count(&marked, blue, 0..PANEL.0),
        );
        assert!(b > a + 300, "marked {b} vs plain {a}");
    }

    #[test]
    fn ranges_fit_the_finite_data_and_pad_a_flat_series() {
        let mut c = chart(vec![series(
            "a",
            vec![(1.0, 2.0), (3.0, f64::NAN), (5.0, 2.0)],
        )]);
        c.x_range = None;
        c.y_range = None;
        let ((xa, xb), y) = c.ranges();
        assert!(
            (xa - 0.84).abs() < 1e-12 && (xb - 5.16).abs() < 1e-12,
            "{xa} {xb}"
        );
        assert_eq!(y, (1.5, 2.5));
    }

    #[test]
    fn charts_are_saved_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pr.png");
        let c = chart(vec![series("a", vec![(0.0, 1.0), (1.0, 0.0)])]);
        save_charts(&[c.clone(), c.clone(), c], &path).unwrap();
        let img = crate::imageio::read_image(&path).unwrap();
        assert_eq!(img.width, 3 * PANEL.0);
        assert!(img.height >= PANEL.1);
        assert!(save_charts(&[], &path).is_err());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.2), "0.2");
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(-0.0001), "0");
        assert_eq!(tick_label(1200.0), "1200");
    }
}
