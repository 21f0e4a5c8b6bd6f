//! What an image file says about itself before a single pixel is decoded: its size and, for a
//! JPEG, its colour components.
//!
//! Decoders allocate the whole picture from the size in the header. A 16×16 file whose JPEG frame
//! header (SOF) or PNG `IHDR` claims 60000×60000 would make them ask for 10.8 GB and abort the
//! process, so the size is read here first, by walking the markers or chunks, and refused above
//! a limit with the file's own numbers ([`check`]). The walk also tells a truncated file (it ends
//! before the header) and a CMYK JPEG (four components, which the RGB decoder does not convert)
//! apart from other damage, so each gets a message that says what to do.

use anyhow::{Result, bail};

/// The largest image the commands decode unless `--max-pixels` says otherwise: 100 megapixels,
/// well above any camera photo, whose RGB pixels still fit in 300 MB.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// The size and components an image file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Colour components per pixel (JPEG: 1 grayscale, 3 YCbCr/RGB, 4 CMYK; PNG: not read, 3).
    pub components: u8,
}

impl Declared {
    /// Width × height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Refuses a declared size above `max_pixels` (or with a zero side) and JPEG colour layouts the
/// RGB decoder does not handle, saying what to do.
pub fn check(d: Declared, max_pixels: u64) -> Result<()> {
    if d.width == 0 || d.height == 0 {
        bail!(
            "the header declares {}×{} pixels; an image needs both sides above zero",
            d.width,
            d.height
        );
    }
    if d.pixels() > max_pixels {
        bail!(
            "the header declares {}×{} pixels ({:.1} megapixels), more than the limit of {:.1} \
             megapixels; if the image is genuine, raise the limit with --max-pixels {}",
            d.width,
            d.height,
            d.pixels() as f64 / 1e6,
            max_pixels as f64 / 1e6,
            d.pixels()
        );
    }
    match d.components {
        1 | 3 => Ok(()),
        4 => bail!(
            "a CMYK JPEG (4 colour components), which the RGB decoder does not convert; save it \
             as an RGB JPEG or PNG first (e.g. `magick in.jpg -colorspace sRGB out.jpg`)"
        ),
        n => bail!(
            "a JPEG with {n} colour components; only grayscale (1) and colour (3) JPEGs are read"
        ),
    }
}

/// The frame header (SOF) of a JPEG that starts with its SOI marker.
pub fn jpeg(bytes: &[u8]) -> Result<Declared> {
    let truncated = |what: &str| -> anyhow::Error {
        anyhow::anyhow!(
            "the JPEG ends after {} bytes, {what}: the file is truncated",
            bytes.len()
        )
    };
    let mut at = 2;
    loop {
        match bytes.get(at) {
            None => return Err(truncated("before its frame header (SOF)")),
            Some(0xFF) => {}
            Some(b) => bail!(
                "byte {at} of the JPEG is 0x{b:02X} where a marker should start: the file is \
                 damaged"
            ),
        }
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *bytes
            .get(at)
            .ok_or_else(|| truncated("before its frame header (SOF)"))?;
        at += 1;
        match marker {
            // Markers without a length: TEM and the restart markers.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8..=0xDA => bail!(
                "the JPEG reaches its {} before any frame header (SOF): the file is damaged",
                match marker {
                    0xD8 => "second start marker",
                    0xD9 => "end marker",
                    _ => "image data",
                }
            ),
            _ => {}
        }
        let len = be16(bytes, at).ok_or_else(|| truncated("inside a marker"))? as usize;
        if len < 2 {
            bail!(
                "the JPEG marker at byte {} has a length of {len}: the file is damaged",
                at - 2
            );
        }
        if is_sof(marker) {
            let sof = bytes
                .get(at + 2..at + 8)
                .ok_or_else(|| truncated("inside its frame header (SOF)"))?;
            return Ok(Declared {
                height: u32::from(u16::from_be_bytes([sof[1], sof[2]])),
                width: u32::from(u16::from_be_bytes([sof[3], sof[4]])),
                components: sof[5],
            });
        }
        at += len;
    }
}

/// Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC).
fn is_sof(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// The `IHDR` chunk of a PNG that starts with its signature.
pub fn png(bytes: &[u8]) -> Result<Declared> {
    let ihdr = bytes.get(8..24).ok_or_else(|| {
        anyhow::anyhow!(
            "the PNG ends after {} bytes, before its header (IHDR): the file is truncated",
            bytes.len()
        )
    })?;
    if &ihdr[4..8] != b"IHDR" {
        bail!("the PNG does not start with its header chunk (IHDR): the file is damaged");
    }
    let be32 = |b: &[u8]| u32::from_be_bytes(b.try_into().expect("4 bytes"));
    Ok(Declared {
        width: be32(&ihdr[8..12]),
        height: be32(&ihdr[12..16]),
        components: 3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal JPEG head: SOI, an APP0 segment, then a baseline SOF0 with the given size.
    fn jpeg_head(width: u16, height: u16, components: u8) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, b'J', b'F'];
        b.extend_from_slice(&[0xFF, 0xFF, 0xC0, 0x00, 0x0B, 8]);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&width.to_be_bytes());
        b.push(components);
        b.extend_from_slice(&[1, 0x11, 0]);
        b
    }

    #[test]
    fn reads_the_jpeg_frame_header_after_other_segments_and_fill_bytes() {
        let d = jpeg(&jpeg_head(640, 480, 3)).unwrap();
        assert_eq!((d.width, d.height, d.components), (640, 480, 3));
        check(d, DEFAULT_MAX_PIXELS).unwrap();
    }

    #[test]
    fn a_huge_declared_size_is_refused_with_its_numbers() {
        let d = jpeg(&jpeg_head(60000, 60000, 3)).unwrap();
        let err = check(d, DEFAULT_MAX_PIXELS).unwrap_err().to_string();
        assert_eq!(
            err,
            "the header declares 60000×60000 pixels (3600.0 megapixels), more than the limit of \
             100.0 megapixels; if the image is genuine, raise the limit with --max-pixels \
             3600000000"
        );
        check(d, 3_600_000_000).unwrap();
    }

    #[test]
    fn cmyk_and_truncated_jpegs_are_named() {
        let err = check(jpeg(&jpeg_head(8, 8, 4)).unwrap(), DEFAULT_MAX_PIXELS)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a CMYK JPEG (4 colour components)"),
            "{err}"
        );
        let head = jpeg_head(8, 8, 3);
        for cut in [3, 9, 14] {
            let err = jpeg(&head[..cut]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("the JPEG ends after {cut} bytes")),
                "{err}"
            );
            assert!(err.ends_with("the file is truncated"), "{err}");
        }
        let err = jpeg(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("image data before any frame header"), "{err}");
    }

    #[test]
    fn reads_the_png_header() {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&60000u32.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        let d = png(&b).unwrap();
        assert_eq!((d.width, d.height), (60000, 2));
        let err = png(&b[..12]).unwrap_err().to_string();
        assert!(err.ends_with("the file is truncated"), "{err}");
    }
}
