//! What a chart shows, apart from how it is drawn: its series, axis labels and ranges. The
//! drawing ([`super::plot`]) and the legend's placement ([`super::legend`]) both read it.

/// One named line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in drawing order; non-finite points break the line.
    pub points: Vec<(f64, f64)>,
    /// Whether each point gets a marker: for a handful of measured points (one per epoch, model
    /// or trial) that a reader should see as points, not for dense curves.
    pub markers: bool,
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

/// Fitted ranges extend this fraction beyond the data on each side, so no point sits on the frame.
const FIT_PAD: f64 = 0.04;

impl LineChart {
    /// The ranges the axes will show: the given ones, or the data's extent padded by 4 % (by 0.5
    /// when flat).
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
                (true, true) => (lo - FIT_PAD * (hi - lo), hi + FIT_PAD * (hi - lo)),
                (true, false) => (lo - 0.5, hi + 0.5),
            }
        };
        (
            self.x_range.unwrap_or_else(|| extent(|p| p.0)),
            self.y_range.unwrap_or_else(|| extent(|p| p.1)),
        )
    }
}
