//! Detections drawn on a photo (`reproduce detect --draw`): each box outlined, its label (the score)
//! on a filled tab above it, in the embedded font. Boxes that leave the image are clipped, which
//! detections near the border often need.

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font;
use crate::imageio::RgbImage;

/// A box in pixels of the image, `(x1, y1)` top left and `(x2, y2)` bottom right, with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
    /// Text on the tab, e.g. the score.
    pub label: String,
}

/// Outline and tab colour: green stands out on skin, hair and most backgrounds.
const BOX: RGBColor = RGBColor(0, 255, 0);
/// Label text on the green tab.
const TEXT: RGBColor = RGBColor(0, 0, 0);

/// Draws `boxes` onto `image`; lines and text grow with the image so they stay visible.
pub fn draw_boxes(image: &mut RgbImage, boxes: &[LabelledBox]) -> Result<()> {
    let family = font::family()?;
    let (w, h) = (image.width as u32, image.height as u32);
    let side = w.max(h) as f64;
    let size = (side / 48.0).clamp(12.0, 36.0);
    let thickness = (side / 300.0).round().clamp(2.0, 6.0) as i32;
    let area = BitMapBackend::with_buffer(&mut image.data, (w, h)).into_drawing_area();
    let font = (family, size).into_font();
    for b in boxes {
        let (x1, y1) = (b.x1.round() as i32, b.y1.round() as i32);
        let (x2, y2) = (b.x2.round() as i32, b.y2.round() as i32);
        for t in 0..thickness {
            area.draw(&Rectangle::new(
                [(x1 + t, y1 + t), (x2 - t, y2 - t)],
                BOX.stroke_width(1),
            ))?;
        }
        let (tw, th) = font
            .box_size(&b.label)
            .map_err(|e| anyhow!("cannot measure the label '{}': {e:?}", b.label))?;
        let (tw, th) = (tw as i32 + 6, th as i32 + 8);
        let top = if y1 >= th { y1 - th } else { y1 };
        area.draw(&Rectangle::new(
            [(x1, top), (x1 + tw, top + th)],
            BOX.filled(),
        ))?;
        let style = font
            .clone()
            .color(&TEXT)
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            b.label.clone(),
            (x1 + 3, top + th / 2 + 1),
            style,
        ))?;
    }
    area.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: usize, h: usize) -> RgbImage {
        RgbImage::new(w, h, vec![128; w * h * 3]).unwrap()
    }

    fn at(img: &RgbImage, x: usize, y: usize) -> [u8; 3] {
        let i = (y * img.width + x) * 3;
        [img.data[i], img.data[i + 1], img.data[i + 2]]
    }

    #[test]
    fn outlines_the_box_and_writes_its_label_on_a_tab_above() {
        let mut img = grey(200, 160);
        let b = LabelledBox {
            x1: 40.0,
            y1: 60.0,
            x2: 150.0,
            y2: 140.0,
            label: "0.99".into(),
        };
        draw_boxes(&mut img, &[b]).unwrap();
        let green = [0, 255, 0];
        // The outline's corners and edges; the inside is untouched.
        for (x, y) in [(40, 100), (150, 100), (100, 140), (149, 139), (41, 139)] {
            assert_eq!(at(&img, x, y), green, "({x}, {y})");
        }
        assert_eq!(at(&img, 100, 100), [128; 3]);
        // The tab sits above the box and the label leaves dark pixels on it.
        assert_eq!(at(&img, 42, 57), green);
        let dark = (40..100)
            .flat_map(|x| (40..60).map(move |y| (x, y)))
            .filter(|&(x, y)| at(&img, x, y)[1] < 100)
            .count();
        assert!(dark > 20, "{dark} text pixels");
    }

    #[test]
    fn boxes_that_leave_the_image_are_clipped() {
        let mut img = grey(50, 40);
        let b = LabelledBox {
            x1: -20.0,
            y1: 10.0,
            x2: 80.0,
            y2: 90.0,
            label: "0.5".into(),
        };
        draw_boxes(&mut img, &[b]).unwrap();
        // Only the top edge is inside; right of the label it runs to the image's edge.
        assert!((20..50).all(|x| at(&img, x, 10) == [0, 255, 0]));
        assert_eq!(at(&img, 25, 30), [128; 3]);
    }
}
