//! The one typeface of every image `reproduce` writes: DejaVu Sans, compiled into the binary
//! (`core/assets/fonts/`, licence beside it) so plots and drawn detections carry readable text on a
//! machine with no system fonts (a CI runner, a GPU box).
//!
//! plotters looks fonts up by family name in a process-wide table; [`family`] registers ours on
//! first use and returns the name to ask for.

use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::style::{FontStyle, register_font};

/// DejaVu Sans 2.37, unmodified.
const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name plotters knows the embedded font by.
const FAMILY: &str = "DejaVu Sans";

/// The family to draw text with, registered with plotters on the first call.
pub fn family() -> Result<&'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok {
        Ok(FAMILY)
    } else {
        Err(anyhow!("the embedded font DejaVu Sans cannot be parsed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::IntoFont;

    #[test]
    fn the_embedded_font_registers_and_measures_text() {
        let font = (family().unwrap(), 20.0).into_font();
        let (narrow, _) = font.box_size("ii").unwrap();
        let (wide, height) = font.box_size("WW").unwrap();
        // A proportional face: two W are wider than two i, and the height follows the size.
        assert!(wide > 2 * narrow, "{wide} vs {narrow}");
        assert!((10..=30).contains(&height), "{height}");
    }
}
