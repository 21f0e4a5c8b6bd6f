//! Images as the detectors see them: 8-bit RGB, row-major, height × width × 3.
//!
//! Upstream decodes with Pillow into an `H×W×3 uint8` RGB array and everything downstream (the
//! OpenCV-compatible resize, the flip, the network input) works on that layout, so it is the one
//! image type of this crate.

/// An 8-bit RGB image in row-major `H × W × 3` layout (the layout of `np.array(PIL.Image)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes: R, G, B of pixel (0, 0), then (0, 1), ...
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Wraps pixel data, checking that its length matches the size.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> anyhow::Result<RgbImage> {
        anyhow::ensure!(
            data.len() == width * height * 3,
            "an RGB image of {width}x{height} needs {} bytes, got {}",
            width * height * 3,
            data.len()
        );
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_buffer_size() {
        assert!(RgbImage::new(2, 3, vec![0; 18]).is_ok());
        let err = RgbImage::new(2, 3, vec![0; 17]).unwrap_err().to_string();
        assert_eq!(err, "an RGB image of 2x3 needs 18 bytes, got 17");
    }
}
