//! Chart legends that never cover the data: inside the plot, in the first corner no line or
//! marker passes through (upper right, upper left, lower left, lower right, as matplotlib's
//! "best" tries them), else in rows under the panel. A PR-curve figure thus gets its legend in
//! the empty lower left, where the official WIDER FACE plots put theirs.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::LineChart;
use super::style::{FRAME, INK, LEGEND_SIZE, LINE_WIDTH, MARKER_RADIUS, color, marker};

/// The drawing surface of a figure.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A rectangle in pixels, both corners included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x0: i32,
    /// Top row.
    pub y0: i32,
    /// Right column.
    pub x1: i32,
    /// Bottom row.
    pub y1: i32,
}

impl Rect {
    fn contains(&self, (x, y): (i32, i32)) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }

    fn grow(&self, by: i32) -> Rect {
        Rect {
            x0: self.x0 - by,
            y0: self.y0 - by,
            x1: self.x1 + by,
            y1: self.y1 + by,
        }
    }
}

/// Space around the entries and between the legend and the plot's frame.
const PAD: i32 = 10;
/// Length of the line sample before each label.
const SWATCH: i32 = 44;
/// Space between the sample and the label, and between columns under the panel.
const GAP: i32 = 10;

/// One line of the legend.
struct Entry {
    label: String,
    /// The series' position, which picks its colour and marker.
    index: usize,
    markers: bool,
    /// Label width in pixels.
    width: i32,
}

/// The measured legend of one chart.
pub struct Legend {
    entries: Vec<Entry>,
    row: i32,
}

impl Legend {
    /// Measures every named series' label in the embedded font.
    pub fn measure(chart: &LineChart, family: &str) -> Result<Legend> {
        let font = (family, LEGEND_SIZE).into_font();
        let entries = chart
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .map(|(index, s)| {
                let (w, _) = font
                    .box_size(&s.name)
                    .map_err(|e| anyhow!("cannot measure the legend text '{}': {e:?}", s.name))?;
                Ok(Entry {
                    label: s.name.clone(),
                    index,
                    markers: s.markers,
                    width: w as i32,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Legend {
            entries,
            row: (LEGEND_SIZE * 1.4).round() as i32,
        })
    }

    fn entry_width(&self) -> i32 {
        SWATCH + GAP + self.entries.iter().map(|e| e.width).max().unwrap_or(0)
    }

    /// Columns and rows of the legend laid out under a panel `width` pixels wide.
    fn grid(&self, width: i32) -> (usize, usize) {
        let column = self.entry_width() + 2 * GAP;
        let columns = (((width - 2 * PAD) / column).max(1) as usize).min(self.entries.len());
        (columns, self.entries.len().div_ceil(columns.max(1)))
    }

    /// The height the legend needs under a panel `width` pixels wide (0 when it has no entry).
    pub fn height_below(&self, width: i32) -> i32 {
        match self.grid(width) {
            (_, 0) => 0,
            (_, rows) => rows as i32 * self.row + 2 * PAD,
        }
    }

    /// The first corner of `plot` where the boxed legend covers none of `paths` (polylines in
    /// pixels); `None` when every corner is taken, or there is nothing to list.
    pub fn place<'p>(
        &self,
        plot: Rect,
        paths: impl Iterator<Item = &'p Vec<(i32, i32)>> + Clone,
    ) -> Option<Rect> {
        if self.entries.is_empty() {
            return None;
        }
        let (w, h) = (
            self.entry_width() + 2 * PAD,
            self.entries.len() as i32 * self.row + 2 * PAD,
        );
        let (left, right) = (plot.x0 + PAD, plot.x1 - PAD - w);
        let (top, bottom) = (plot.y0 + PAD, plot.y1 - PAD - h);
        if right < left || bottom < top {
            return None;
        }
        [(right, top), (left, top), (left, bottom), (right, bottom)]
            .into_iter()
            .map(|(x0, y0)| Rect {
                x0,
                y0,
                x1: x0 + w,
                y1: y0 + h,
            })
            .find(|r| {
                let guard = r.grow(MARKER_RADIUS + LINE_WIDTH as i32);
                !paths.clone().any(|p| crosses(p, guard))
            })
    }

    /// Draws the legend in a framed white box at `at` (from [`Legend::place`]).
    pub fn draw_boxed(&self, area: &Area, at: Rect, family: &str) -> Result<()> {
        area.draw(&Rectangle::new(
            [(at.x0, at.y0), (at.x1, at.y1)],
            WHITE.filled(),
        ))?;
        area.draw(&Rectangle::new(
            [(at.x0, at.y0), (at.x1, at.y1)],
            FRAME.stroke_width(1),
        ))?;
        for (i, e) in self.entries.iter().enumerate() {
            let y = at.y0 + PAD + i as i32 * self.row + self.row / 2;
            self.draw_entry(area, e, (at.x0 + PAD, y), family)?;
        }
        Ok(())
    }

    /// Draws the legend in rows under the panel, within `strip`.
    pub fn draw_below(&self, area: &Area, strip: Rect, family: &str) -> Result<()> {
        let (columns, _) = self.grid(strip.x1 - strip.x0 + 1);
        let column = self.entry_width() + 2 * GAP;
        let used = columns as i32 * column;
        let left = strip.x0 + (strip.x1 - strip.x0 + 1 - used) / 2 + GAP;
        for (i, e) in self.entries.iter().enumerate() {
            let (c, r) = ((i % columns) as i32, (i / columns) as i32);
            let y = strip.y0 + PAD + r * self.row + self.row / 2;
            self.draw_entry(area, e, (left + c * column, y), family)?;
        }
        Ok(())
    }

    /// A line sample (with its marker) and the label, vertically centred on `y`.
    fn draw_entry(&self, area: &Area, e: &Entry, (x, y): (i32, i32), family: &str) -> Result<()> {
        let c = color(e.index);
        area.draw(&PathElement::new(
            vec![(x, y), (x + SWATCH, y)],
            c.stroke_width(LINE_WIDTH),
        ))?;
        if e.markers {
            area.draw(&Polygon::new(
                marker(e.index, (x + SWATCH / 2, y)),
                c.filled(),
            ))?;
        }
        let style = (family, LEGEND_SIZE)
            .into_font()
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(e.label.clone(), (x + SWATCH + GAP, y), style))?;
        Ok(())
    }
}

/// Whether a polyline (or a lone point) touches `r`, walked one pixel at a time.
fn crosses(path: &[(i32, i32)], r: Rect) -> bool {
    if let [p] = path {
        return r.contains(*p);
    }
    path.windows(2).any(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        (0..=steps).any(|i| {
            let t = i as f64 / steps as f64;
            let x = x0 + ((x1 - x0) as f64 * t).round() as i32;
            let y = y0 + ((y1 - y0) as f64 * t).round() as i32;
            r.contains((x, y))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::Series;

    fn legend(names: &[&str]) -> Legend {
        let chart = LineChart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            x_range: None,
            y_range: None,
            series: names
                .iter()
                .map(|n| Series {
                    name: n.to_string(),
                    points: Vec::new(),
                    markers: false,
                })
                .collect(),
        };
        Legend::measure(&chart, crate::report::font::family().unwrap()).unwrap()
    }

    const PLOT: Rect = Rect {
        x0: 100,
        y0: 50,
        x1: 700,
        y1: 500,
    };

    #[test]
    fn a_segment_crossing_a_box_touches_it_even_with_both_ends_outside() {
        let r = Rect {
            x0: 10,
            y0: 10,
            x1: 20,
            y1: 20,
        };
        assert!(crosses(&[(0, 15), (30, 15)], r));
        assert!(crosses(&[(0, 0), (30, 30)], r));
        assert!(!crosses(&[(0, 0), (30, 0)], r));
        assert!(crosses(&[(15, 15)], r));
        assert!(!crosses(&[(25, 15)], r));
    }

    #[test]
    fn the_legend_takes_the_first_free_corner() {
        let l = legend(&["eresfd-30 (0.883)", "eresfd-10 (0.894)"]);
        // A PR-like curve: along the top, then down the right side.
        let pr = vec![(100, 55), (600, 60), (680, 500)];
        let at = l.place(PLOT, [&pr].into_iter()).unwrap();
        assert_eq!((at.x0, at.y1), (PLOT.x0 + PAD, PLOT.y1 - PAD), "lower left");
        assert!(!crosses(&pr, at));
        // Nothing drawn: upper right.
        let at = l.place(PLOT, std::iter::empty()).unwrap();
        assert_eq!((at.x1, at.y0), (PLOT.x1 - PAD, PLOT.y0 + PAD));
    }

    #[test]
    fn a_legend_with_no_free_corner_goes_under_the_panel() {
        let l = legend(&["a", "b", "c"]);
        let cross = [vec![(100, 50), (700, 500)], vec![(100, 500), (700, 50)]];
        let zigzag = vec![(100, 60), (700, 60), (100, 490), (700, 490)];
        let paths = [cross[0].clone(), cross[1].clone(), zigzag];
        assert_eq!(l.place(PLOT, paths.iter()), None);
        // Three short labels fit side by side in one row.
        assert_eq!(l.height_below(800), l.row + 2 * PAD);
        assert_eq!(l.grid(800), (3, 1));
        assert_eq!(legend(&[]).height_below(800), 0);
    }
}
