//! A strict reader for NumPy `.npy` files, the format of the upstream reference tensors in
//! `shared/reference/outputs/` that parity tests compare against.
//!
//! Only what those files use is accepted: format versions 1–3, little-endian `float32`,
//! `float64`, `int32`, `int64` or `uint8` data whose length matches the shape exactly, in C order
//! or in Fortran order (the stored PR curves), which is reordered to C order on reading. Anything
//! else is an error, so a misread reference cannot pass a test.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use tch::Tensor;

/// The elements of an array, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `<f4`.
    F32(Vec<f32>),
    /// `<f8`.
    F64(Vec<f64>),
    /// `<i4` or `<i8`, widened.
    Int(Vec<i64>),
    /// `|u1`.
    U8(Vec<u8>),
}

/// A decoded `.npy` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// Dimensions; empty for a scalar.
    pub shape: Vec<usize>,
    /// The values.
    pub data: NpyData,
}

impl Npy {
    /// Reads a file; errors name it.
    pub fn read(path: &Path) -> Result<Npy> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Npy::parse(&bytes).with_context(|| format!("{}: not a supported .npy file", path.display()))
    }

    /// Decodes the bytes of a `.npy` file.
    pub fn parse(bytes: &[u8]) -> Result<Npy> {
        ensure!(
            bytes.starts_with(b"\x93NUMPY") && bytes.len() >= 10,
            "no .npy magic"
        );
        let (header_len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 => {
                ensure!(bytes.len() >= 12, "truncated header");
                (
                    u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                    12,
                )
            }
            v => bail!("format version {v} is not 1, 2 or 3"),
        };
        let header = bytes
            .get(start..start + header_len)
            .context("truncated header")?;
        let header = std::str::from_utf8(header).context("header is not text")?;
        let descr = field(header, "descr")?;
        let descr = descr.trim_matches('\'');
        let fortran = match field(header, "fortran_order")? {
            "False" => false,
            "True" => true,
            other => bail!("fortran_order is '{other}'"),
        };
        let shape = field(header, "shape")?;
        let shape = shape
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .with_context(|| format!("bad dimension '{s}'"))
            })
            .collect::<Result<Vec<_>>>()?;
        let numel: usize = shape.iter().product();
        let body = &bytes[start + header_len..];
        let item = match descr {
            "<f4" | "<i4" => 4,
            "<f8" | "<i8" => 8,
            "|u1" => 1,
            other => bail!("dtype '{other}' is not one of <f4, <f8, <i4, <i8, |u1"),
        };
        ensure!(
            body.len() == numel * item,
            "shape {shape:?} of {descr} needs {} bytes of data, found {}",
            numel * item,
            body.len()
        );
        let data = match descr {
            "<f4" => NpyData::F32(
                body.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect(),
            ),
            "<f8" => NpyData::F64(
                body.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
            "<i4" => NpyData::Int(
                body.chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                    .collect(),
            ),
            "<i8" => NpyData::Int(
                body.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
            _ => NpyData::U8(body.to_vec()),
        };
        let data = if fortran {
            data.map_order(&shape)
        } else {
            data
        };
        Ok(Npy { shape, data })
    }

    /// Whether the file stores float32 (`<f4`).
    pub fn is_f32(&self) -> bool {
        matches!(self.data, NpyData::F32(_))
    }

    /// The rows of a 2-D float array with `N` columns, widened to float64 (exact for float32).
    pub fn rows<const N: usize>(&self) -> Vec<[f64; N]> {
        assert_eq!(self.shape.len(), 2, "a 2-D array");
        assert_eq!(self.shape[1], N, "{N} columns");
        let values: Vec<f64> = match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::F64(v) => v.clone(),
            other => panic!("rows() needs float data, not {other:?}"),
        };
        values
            .chunks_exact(N)
            .map(|c| c.try_into().expect("N values"))
            .collect()
    }

    /// The array as a CPU tensor of the same shape (float32, float64, int64 or uint8).
    pub fn to_tensor(&self) -> Tensor {
        let shape: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        match &self.data {
            NpyData::F32(v) => Tensor::from_slice(v).view(shape.as_slice()),
            NpyData::F64(v) => Tensor::from_slice(v).view(shape.as_slice()),
            NpyData::Int(v) => Tensor::from_slice(v).view(shape.as_slice()),
            NpyData::U8(v) => Tensor::from_slice(v).view(shape.as_slice()),
        }
    }
}

impl NpyData {
    /// Reorders column-major values of `shape` into row-major order.
    fn map_order(self, shape: &[usize]) -> NpyData {
        fn reorder<T: Copy>(raw: &[T], shape: &[usize]) -> Vec<T> {
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
        match self {
            NpyData::F32(v) => NpyData::F32(reorder(&v, shape)),
            NpyData::F64(v) => NpyData::F64(reorder(&v, shape)),
            NpyData::Int(v) => NpyData::Int(reorder(&v, shape)),
            NpyData::U8(v) => NpyData::U8(reorder(&v, shape)),
        }
    }
}

/// The raw text of `'name': value` in the header dict (value up to the next top-level comma).
fn field<'h>(header: &'h str, name: &str) -> Result<&'h str> {
    let key = format!("'{name}':");
    let at = header
        .find(&key)
        .with_context(|| format!("header has no '{name}'"))?;
    let rest = header[at + key.len()..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else {
        rest.find(',')
    }
    .with_context(|| format!("header field '{name}' is not terminated"))?;
    Ok(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn parses_the_supported_dtypes() {
        let body: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = Npy::parse(&npy("<f4", "(2,)", &body)).unwrap();
        assert_eq!(a.shape, [2]);
        assert_eq!(a.data, NpyData::F32(vec![1.5, -2.0]));
        let body: Vec<u8> = [7i64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = Npy::parse(&npy("<i8", "()", &body)).unwrap();
        assert_eq!(b.shape, Vec::<usize>::new());
        assert_eq!(b.data, NpyData::Int(vec![7]));
        let c = Npy::parse(&npy("|u1", "(1, 2, 3)", &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(c.to_tensor().size(), [1, 2, 3]);
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let err = Npy::parse(&npy(">f4", "(1,)", &[0; 4]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "dtype '>f4' is not one of <f4, <f8, <i4, <i8, |u1");
        let err = Npy::parse(&npy("<f4", "(2,)", &[0; 4]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "shape [2] of <f4 needs 8 bytes of data, found 4");
    }

    #[test]
    fn fortran_order_is_read_into_c_order() {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        let body: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut bytes = npy("<f8", "(2, 3)", &body);
        let at = bytes.windows(5).position(|w| w == b"False").unwrap();
        bytes[at..at + 5].copy_from_slice(b"True ");
        let a = Npy::parse(&bytes).unwrap();
        assert_eq!(a.rows::<3>(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert!(!a.is_f32());
    }
}
