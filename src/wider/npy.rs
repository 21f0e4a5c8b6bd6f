//! A small, strict `.npy` reader for the tests that compare with `shared/reference/outputs/`.
//!
//! It accepts exactly what the reference files use: format 1.0–3.0, little-endian `<f4` or
//! `<f8`, C or Fortran order (the PR curves are Fortran-ordered). Anything else is an error, so
//! a misread reference cannot pass a test.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

/// A reference array: its shape and its values widened to float64 (exact for float32).
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Whether the file stores float32 (`<f4`) rather than float64.
    pub is_f32: bool,
    /// Values in C order.
    pub data: Vec<f64>,
}

impl Npy {
    /// Reads and checks a `.npy` file.
    pub fn read(path: &Path) -> Result<Npy> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&bytes)
            .with_context(|| format!("{}: not a supported .npy file", path.display()))
    }

    fn parse(bytes: &[u8]) -> Result<Npy> {
        ensure!(
            bytes.len() >= 10 && &bytes[..6] == b"\x93NUMPY",
            "bad magic"
        );
        let (header_len, start) = match bytes[6] {
            1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            2 | 3 => {
                ensure!(bytes.len() >= 12, "truncated header");
                (u32::from_le_bytes(bytes[8..12].try_into()?) as usize, 12)
            }
            v => bail!("format version {v}"),
        };
        ensure!(bytes.len() >= start + header_len, "truncated header");
        let header = std::str::from_utf8(&bytes[start..start + header_len])?.trim();
        let field = |key: &str| -> Result<&str> {
            let at = header
                .find(&format!("'{key}':"))
                .with_context(|| format!("no '{key}'"))?;
            Ok(header[at + key.len() + 3..].trim_start())
        };
        let descr = field("descr")?;
        let is_f32 = if descr.starts_with("'<f4'") {
            true
        } else if descr.starts_with("'<f8'") {
            false
        } else {
            bail!("dtype {}", &descr[..descr.find(',').unwrap_or(descr.len())]);
        };
        let order = field("fortran_order")?;
        let fortran = if order.starts_with("True") {
            true
        } else if order.starts_with("False") {
            false
        } else {
            bail!("fortran_order is neither True nor False");
        };
        let shape = field("shape")?;
        ensure!(shape.starts_with('('), "shape is not a tuple");
        let shape: Vec<usize> = shape[1..shape.find(')').context("unclosed shape")?]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let n: usize = shape.iter().product();
        let body = &bytes[start + header_len..];
        let width = if is_f32 { 4 } else { 8 };
        ensure!(
            body.len() == n * width,
            "{} data bytes for shape {shape:?}",
            body.len()
        );
        let raw: Vec<f64> = if is_f32 {
            body.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect()
        } else {
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        };
        let data = if fortran { c_order(&raw, &shape) } else { raw };
        Ok(Npy {
            shape,
            is_f32,
            data,
        })
    }

    /// The rows of a 2-D array with `N` columns.
    pub fn rows<const N: usize>(&self) -> Vec<[f64; N]> {
        assert_eq!(self.shape.len(), 2, "a 2-D array");
        assert_eq!(self.shape[1], N, "{N} columns");
        self.data
            .chunks_exact(N)
            .map(|c| c.try_into().expect("N values"))
            .collect()
    }
}

/// Reorders column-major values into row-major order.
fn c_order(raw: &[f64], shape: &[usize]) -> Vec<f64> {
    let mut index = vec![0usize; shape.len()];
    (0..raw.len())
        .map(|_| {
            let mut at = 0;
            for (&i, &d) in index.iter().zip(shape).rev() {
                at = at * d + i;
            }
            for (i, &d) in index.iter_mut().zip(shape).rev() {
                *i += 1;
                if *i < d {
                    break;
                }
                *i = 0;
            }
            raw[at]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, body: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn reads_f4_and_f8_and_refuses_the_rest() {
        let body: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let a = Npy::parse(&file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &body,
        ))
        .unwrap();
        assert_eq!(
            (a.shape, a.is_f32, a.data),
            (vec![2], true, vec![1.5, -2.0])
        );
        let body: Vec<u8> = [0.25f64; 6].iter().flat_map(|x| x.to_le_bytes()).collect();
        let a = Npy::parse(&file(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }",
            &body,
        ))
        .unwrap();
        assert_eq!(a.rows::<2>(), vec![[0.25; 2]; 3]);
        assert!(
            Npy::parse(&file(
                "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }",
                &[]
            ))
            .is_err()
        );
        let col_major: Vec<u8> = [1.0f64, 3.0, 5.0, 2.0, 4.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let a = Npy::parse(&file(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }",
            &col_major,
        ))
        .unwrap();
        assert_eq!(a.rows::<2>(), vec![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
        assert!(
            Npy::parse(&file(
                "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (0,), }",
                &[]
            ))
            .is_err()
        );
        assert!(
            Npy::parse(&file(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                &body
            ))
            .is_err()
        );
        assert!(Npy::parse(b"PK\x03\x04").is_err());
    }
}
