//! A small RGB canvas: pixels, lines, rectangles and text from an embedded 5×7 bitmap font, saved
//! as PNG. It draws detections on photos (`reproduce detect --draw`) and is general enough for
//! the PR-curve plots of the evaluation; everything is clipped to the canvas, so callers can draw
//! boxes that leave the image (detections often do).

use std::path::Path;

use anyhow::Result;

use crate::imageio::{RgbImage, encode_png};

/// An RGB colour.
pub type Color = [u8; 3];

/// Width of a glyph cell in font pixels (5 columns and 1 of spacing).
pub const GLYPH_WIDTH: i64 = 6;
/// Height of a glyph cell in font pixels (7 rows and 1 of spacing).
pub const GLYPH_HEIGHT: i64 = 8;

/// A drawable RGB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    image: RgbImage,
}

impl Canvas {
    /// A canvas filled with one colour.
    pub fn new(width: usize, height: usize, background: Color) -> Canvas {
        let data = background
            .iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect();
        Canvas {
            image: RgbImage {
                width,
                height,
                data,
            },
        }
    }

    /// A canvas that draws over an image.
    pub fn from_image(image: RgbImage) -> Canvas {
        Canvas { image }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.image.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.image.height
    }

    /// The colour at `(x, y)`, if inside.
    pub fn pixel(&self, x: i64, y: i64) -> Option<Color> {
        self.offset(x, y).map(|i| {
            let d = &self.image.data;
            [d[i], d[i + 1], d[i + 2]]
        })
    }

    fn offset(&self, x: i64, y: i64) -> Option<usize> {
        let inside =
            x >= 0 && y >= 0 && (x as usize) < self.image.width && (y as usize) < self.image.height;
        inside.then(|| (y as usize * self.image.width + x as usize) * 3)
    }

    /// Sets one pixel; outside the canvas nothing happens.
    pub fn set(&mut self, x: i64, y: i64, color: Color) {
        if let Some(i) = self.offset(x, y) {
            self.image.data[i..i + 3].copy_from_slice(&color);
        }
    }

    /// A filled rectangle with corners `(x0, y0)` and `(x1, y1)`, both included.
    pub fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Color) {
        let (xa, xb) = (
            x0.min(x1).max(0),
            x0.max(x1).min(self.image.width as i64 - 1),
        );
        let (ya, yb) = (
            y0.min(y1).max(0),
            y0.max(y1).min(self.image.height as i64 - 1),
        );
        for y in ya..=yb {
            for x in xa..=xb {
                self.set(x, y, color);
            }
        }
    }

    /// A rectangle outline `thickness` pixels wide, drawn inwards from the corners
    /// `(x0, y0)`–`(x1, y1)` (both included).
    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Color, thickness: i64) {
        let (xa, xb) = (x0.min(x1), x0.max(x1));
        let (ya, yb) = (y0.min(y1), y0.max(y1));
        let t = thickness.max(1) - 1;
        self.fill_rect(xa, ya, xb, (ya + t).min(yb), color);
        self.fill_rect(xa, (yb - t).max(ya), xb, yb, color);
        self.fill_rect(xa, ya, (xa + t).min(xb), yb, color);
        self.fill_rect((xb - t).max(xa), ya, xb, yb, color);
    }

    /// A one-pixel line from `(x0, y0)` to `(x1, y1)`, both ends included (Bresenham).
    pub fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Color) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Writes `text` with its top-left corner at `(x, y)`, each font pixel drawn as a
    /// `scale × scale` block; characters outside printable ASCII show as `?`. Returns the width
    /// drawn, as [`text_width`].
    pub fn text(&mut self, x: i64, y: i64, text: &str, color: Color, scale: i64) -> i64 {
        let scale = scale.max(1);
        for (n, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            let left = x + n as i64 * GLYPH_WIDTH * scale;
            for (r, bits) in rows.iter().enumerate() {
                for c in 0..5 {
                    if bits & (0x10 >> c) != 0 {
                        let (px, py) = (left + c * scale, y + r as i64 * scale);
                        self.fill_rect(px, py, px + scale - 1, py + scale - 1, color);
                    }
                }
            }
        }
        text_width(text, scale)
    }

    /// The image drawn so far.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    /// The image, consuming the canvas.
    pub fn into_image(self) -> RgbImage {
        self.image
    }

    /// Saves the canvas as a PNG, atomically (no partial file under `path`).
    pub fn save_png(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, &encode_png(&self.image)?)
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: i64) -> i64 {
    text.chars().count() as i64 * GLYPH_WIDTH * scale.max(1)
}

/// Rows of a 5×7 glyph, top first; bit 4 is the leftmost column.
fn glyph(ch: char) -> &'static [u8; 7] {
    let code = ch as u32;
    let index = if (0x20..=0x7E).contains(&code) {
        code - 0x20
    } else {
        '?' as u32 - 0x20
    };
    &FONT[index as usize]
}

/// Printable ASCII (0x20..=0x7E) in a classic 5×7 dot-matrix design.
#[rustfmt::skip]
const FONT: [[u8; 7]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04], // !
    [0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00], // "
    [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A], // #
    [0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04], // $
    [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03], // %
    [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D], // &
    [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00], // '
    [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], // (
    [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], // )
    [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00], // *
    [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00], // +
    [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08], // ,
    [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00], // -
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C], // .
    [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00], // /
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], // 0
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E], // 1
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], // 2
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E], // 3
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], // 4
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E], // 5
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], // 6
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08], // 7
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], // 8
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C], // 9
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00], // :
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08], // ;
    [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02], // <
    [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00], // =
    [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08], // >
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04], // ?
    [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E], // @
    [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11], // A
    [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E], // B
    [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], // C
    [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C], // D
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], // E
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10], // F
    [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], // G
    [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], // H
    [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], // I
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C], // J
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], // K
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F], // L
    [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], // M
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11], // N
    [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], // O
    [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10], // P
    [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], // Q
    [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11], // R
    [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], // S
    [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], // T
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], // U
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04], // V
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], // W
    [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11], // X
    [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], // Y
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F], // Z
    [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E], // [
    [0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00], // backslash
    [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E], // ]
    [0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00], // ^
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F], // _
    [0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00], // `
    [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F], // a
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E], // b
    [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E], // c
    [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F], // d
    [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E], // e
    [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08], // f
    [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E], // g
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11], // h
    [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E], // i
    [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C], // j
    [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12], // k
    [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], // l
    [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11], // m
    [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11], // n
    [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E], // o
    [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10], // p
    [0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01], // q
    [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10], // r
    [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E], // s
    [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06], // t
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D], // u
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04], // v
    [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A], // w
    [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11], // x
    [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E], // y
    [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F], // z
    [0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02], // {
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], // |
    [0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08], // }
    [0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00], // ~
];

#[cfg(test)]
mod tests {
    use super::*;

    const BLACK: Color = [0, 0, 0];
    const RED: Color = [255, 0, 0];

    /// The canvas as text, one character per pixel: `#` for `ink`, `.` otherwise.
    fn ascii(c: &Canvas, ink: Color) -> Vec<String> {
        (0..c.height() as i64)
            .map(|y| {
                (0..c.width() as i64)
                    .map(|x| if c.pixel(x, y) == Some(ink) { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn draws_rectangle_outlines_inwards_and_clips() {
        let mut c = Canvas::new(6, 5, BLACK);
        c.rect(1, 1, 4, 3, RED, 1);
        assert_eq!(
            ascii(&c, RED),
            ["......", ".####.", ".#..#.", ".####.", "......"]
        );
        let mut c = Canvas::new(4, 4, BLACK);
        c.rect(-3, -3, 10, 10, RED, 1);
        assert_eq!(ascii(&c, RED), ["....", "....", "....", "...."]);
        c.rect(0, 0, 3, 3, RED, 2);
        assert_eq!(ascii(&c, RED), ["####", "####", "####", "####"]);
    }

    #[test]
    fn draws_lines_with_both_ends() {
        let mut c = Canvas::new(5, 3, BLACK);
        c.line(0, 0, 4, 2, RED);
        assert_eq!(ascii(&c, RED), ["#....", ".##..", "...##"]);
        let mut c = Canvas::new(3, 3, BLACK);
        c.line(2, 2, 2, 0, RED);
        assert_eq!(ascii(&c, RED), ["..#", "..#", "..#"]);
    }

    #[test]
    fn writes_text_with_the_bitmap_font() {
        let mut c = Canvas::new(12, 8, BLACK);
        let w = c.text(0, 0, "T1", RED, 1);
        assert_eq!(w, 12);
        assert_eq!(
            ascii(&c, RED),
            [
                "#####...#...",
                "..#....##...",
                "..#.....#...",
                "..#.....#...",
                "..#.....#...",
                "..#.....#...",
                "..#....###..",
                "............",
            ]
        );
        let mut big = Canvas::new(12, 14, BLACK);
        big.text(0, 0, "T", RED, 2);
        assert_eq!(big.pixel(9, 1), Some(RED));
        assert_eq!(big.pixel(10, 1), Some(BLACK));
        assert_eq!(text_width("AP 0.91", 2), 7 * 12);
    }

    #[test]
    fn every_printable_glyph_has_ink_inside_its_cell() {
        for code in 0x21u8..=0x7E {
            let rows = glyph(code as char);
            assert!(rows.iter().any(|&r| r != 0), "{:?} is blank", code as char);
            assert!(
                rows.iter().all(|&r| r < 0x20),
                "{:?} is wider than 5",
                code as char
            );
        }
        assert_eq!(glyph('é'), glyph('?'));
    }

    #[test]
    fn saves_a_png_that_decodes_to_the_same_pixels() {
        let mut c = Canvas::new(9, 7, [10, 20, 30]);
        c.text(1, 0, "a", RED, 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canvas.png");
        c.save_png(&path).unwrap();
        let back = crate::imageio::read_image(&path).unwrap();
        assert_eq!(&back, c.image());
    }
}
