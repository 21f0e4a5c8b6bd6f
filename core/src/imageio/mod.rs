//! Images as the detectors see them: 8-bit RGB, row-major, height × width × 3.
//!
//! Upstream decodes with Pillow into an `H×W×3 uint8` RGB array and everything downstream (the
//! OpenCV-compatible resize, the flip, the network input) works on that layout, so it is the one
//! image type of this crate.
//!
//! Decoding matches upstream's Pillow 9.4 pixel for pixel (`docs/upstream.md` §image-decode): JPEG
//! through the same libjpeg-turbo (the `turbojpeg` crate, bundled; ISLOW IDCT and fancy upsampling,
//! its defaults and Pillow's), grayscale replicated into R, G and B as `convert('RGB')` does. PNG
//! goes through the `png` crate (palette and 16-bit expanded or stripped to 8-bit RGB, alpha
//! dropped). Before either decoder runs, the size the file declares is checked against a limit
//! ([`header`]), so a forged header cannot make the decoder allocate gigabytes. Other formats,
//! and files the decoders report problems with (a truncated file, for one), are errors that name
//! the file.

pub mod header;

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};

pub use header::DEFAULT_MAX_PIXELS;

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

/// Reads a JPEG or PNG file (recognised by its first bytes, not its name) of at most
/// [`DEFAULT_MAX_PIXELS`].
pub fn read_image(path: &Path) -> Result<RgbImage> {
    read_image_within(path, DEFAULT_MAX_PIXELS)
}

/// Reads a JPEG or PNG file whose header declares at most `max_pixels` (a command's
/// `--max-pixels`); errors name the file.
pub fn read_image_within(path: &Path, max_pixels: u64) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading image {}", path.display()))?;
    decode(&bytes, max_pixels).with_context(|| format!("decoding image {}", path.display()))
}

/// Decodes JPEG or PNG bytes whose header declares at most `max_pixels`.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<RgbImage> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        header::check(header::jpeg(bytes)?, max_pixels)?;
        decode_jpeg(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        header::check(header::png(bytes)?, max_pixels)?;
        decode_png(bytes)
    } else {
        bail!("not a JPEG or PNG image (unrecognised first bytes)")
    }
}

/// Decodes a JPEG as Pillow does (see the module docs), once its header has been checked.
fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage> {
    let image = turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB)
        .map_err(|e| anyhow!("the JPEG data is damaged or truncated (libjpeg-turbo: {e})"))?;
    ensure!(
        image.pitch == image.width * 3,
        "unexpected row padding in the decoded JPEG"
    );
    RgbImage::new(image.width, image.height, image.pixels)
}

/// Decodes a PNG into 8-bit RGB (see the module docs), without the size check of [`decode`]:
/// for images this program wrote itself.
pub fn decode_png(bytes: &[u8]) -> Result<RgbImage> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| anyhow!("the PNG data is damaged or unsupported: {e}"))?;
    let size = reader
        .output_buffer_size()
        .context("the PNG is too large to decode")?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| anyhow!("the PNG data is damaged or unsupported: {e}"))?;
    ensure!(
        info.bit_depth == png::BitDepth::Eight,
        "unsupported PNG bit depth {:?}",
        info.bit_depth
    );
    let (width, height) = (info.width as usize, info.height as usize);
    let pixels = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let mut data = Vec::with_capacity(width * height * 3);
    for row in pixels.chunks_exact(info.line_size).take(height) {
        for px in row[..width * channels].chunks_exact(channels) {
            match info.color_type {
                png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => {
                    data.extend_from_slice(&[px[0], px[0], px[0]])
                }
                png::ColorType::Rgb | png::ColorType::Rgba => data.extend_from_slice(&px[..3]),
                png::ColorType::Indexed => bail!("the PNG palette was not expanded"),
            }
        }
    }
    RgbImage::new(width, height, data)
}

/// Encodes an image as an 8-bit RGB PNG.
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(
            &mut out,
            u32::try_from(image.width)?,
            u32::try_from(image.height)?,
        );
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&image.data)?;
        writer.finish()?;
    }
    Ok(out)
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

    #[test]
    fn png_round_trips() {
        let data: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 17 % 256) as u8).collect();
        let image = RgbImage::new(5, 3, data).unwrap();
        assert_eq!(
            decode(&encode_png(&image).unwrap(), DEFAULT_MAX_PIXELS).unwrap(),
            image
        );
    }

    #[test]
    fn refuses_unknown_and_damaged_data_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.jpg");
        std::fs::write(&path, b"hello").unwrap();
        let err = format!("{:#}", read_image(&path).unwrap_err());
        assert_eq!(
            err,
            format!(
                "decoding image {}: not a JPEG or PNG image (unrecognised first bytes)",
                path.display()
            )
        );
        let missing = dir.path().join("missing.png");
        let err = format!("{}", read_image(&missing).unwrap_err());
        assert_eq!(err, format!("reading image {}", missing.display()));
    }

    #[test]
    fn a_truncated_jpeg_is_refused() {
        let Some(path) = crate::testutil::reference_file("fixtures/grace_hopper.jpg") else {
            return;
        };
        let bytes = std::fs::read(path).unwrap();
        let image = decode(&bytes, DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!((image.width, image.height), (512, 600));
        let err = decode(&bytes[..bytes.len() / 2], DEFAULT_MAX_PIXELS)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the JPEG data is damaged or truncated"),
            "{err}"
        );
    }

    #[test]
    fn jpeg_decoding_matches_pillow_on_the_mini_val_images() {
        use sha2::{Digest, Sha256};
        use std::io::Read;
        let (Some(zip), Some(fixture)) = (
            crate::testutil::mirror_file("WIDER_val_mini.zip"),
            crate::testutil::reference_file("fixtures/mini-val-pillow-decode.json"),
        ) else {
            return;
        };
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        let images = fixture["images"].as_object().unwrap();
        let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
        assert_eq!(images.len(), 50);
        for (name, expected) in images {
            let mut bytes = Vec::new();
            archive
                .by_name(&format!("WIDER_val/images/{name}"))
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            let image = decode(&bytes, DEFAULT_MAX_PIXELS).unwrap();
            let shape = [image.height, image.width, 3];
            let want: Vec<usize> = expected["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(shape.as_slice(), want.as_slice(), "{name}");
            let sum: u64 = image.data.iter().map(|&b| b as u64).sum();
            assert_eq!(sum, expected["sum"].as_u64().unwrap(), "{name}: pixel sum");
            let digest = hex::encode(Sha256::digest(&image.data));
            assert_eq!(digest, expected["sha256_rgb"].as_str().unwrap(), "{name}");
        }
    }
}
