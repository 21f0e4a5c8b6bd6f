//! The look shared by chart panels and their legends: colours, line width, marker shapes and text
//! sizes. The sizes are chosen for print: a figure of three [`super::plot::PANEL`]-wide panels set
//! at the width of a page keeps its tick labels near 6 pt.

use plotters::style::RGBColor;

/// Matplotlib's "tab10" colours: distinguishable, and familiar to readers of ML papers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Text, axes and frames.
pub const INK: RGBColor = RGBColor(30, 30, 30);
/// Grid lines at the major ticks.
pub const GRID: RGBColor = RGBColor(222, 222, 222);
/// Legend frame.
pub const FRAME: RGBColor = RGBColor(180, 180, 180);

/// Chart titles, in pixels.
pub const TITLE_SIZE: f64 = 30.0;
/// Axis labels.
pub const AXIS_SIZE: f64 = 26.0;
/// Tick labels.
pub const TICK_SIZE: f64 = 22.0;
/// Legend entries.
pub const LEGEND_SIZE: f64 = 22.0;
/// Width of a series' line.
pub const LINE_WIDTH: u32 = 3;
/// Distance from a marker's centre to its corners.
pub const MARKER_RADIUS: i32 = 7;

/// The colour of the `k`-th series; colours repeat after ten, shapes then tell series apart.
pub fn color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// The outline of the `k`-th series' marker around `(x, y)`, as polygon corners in pixels: circle,
/// square, triangle, diamond, inverted triangle, so lines stay apart in a grey-scale print too.
pub fn marker(k: usize, (x, y): (i32, i32)) -> Vec<(i32, i32)> {
    let r = MARKER_RADIUS as f64;
    let polygon = |corners: &[(f64, f64)]| {
        corners
            .iter()
            .map(|&(dx, dy)| (x + (r * dx).round() as i32, y + (r * dy).round() as i32))
            .collect()
    };
    match (k / PALETTE.len() + k) % 5 {
        0 => polygon(
            &(0..16)
                .map(|i| {
                    let a = i as f64 * std::f64::consts::TAU / 16.0;
                    (a.cos(), a.sin())
                })
                .collect::<Vec<_>>(),
        ),
        1 => polygon(&[(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]),
        2 => polygon(&[(0.0, -1.1), (1.0, 0.7), (-1.0, 0.7)]),
        3 => polygon(&[(0.0, -1.1), (1.1, 0.0), (0.0, 1.1), (-1.1, 0.0)]),
        _ => polygon(&[(0.0, 1.1), (1.0, -0.7), (-1.0, -0.7)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_series_differ_in_colour_and_marker() {
        for k in 0..12 {
            assert_ne!(color(k), color(k + 1));
            assert_ne!(marker(k, (0, 0)), marker(k + 1, (0, 0)));
        }
        // Past the palette the colours repeat, but the shapes do not.
        assert_eq!(color(0), color(10));
        assert_ne!(marker(0, (0, 0)), marker(10, (0, 0)));
    }

    #[test]
    fn markers_stay_within_their_radius_around_the_point() {
        for k in 0..5 {
            for (x, y) in marker(k, (100, 50)) {
                assert!((x - 100).abs() <= 8 && (y - 50).abs() <= 8, "{k}: {x},{y}");
            }
        }
    }
}
