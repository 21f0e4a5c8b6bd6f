//! NumPy `.npy` files, the format of the upstream reference tensors in
//! `$BFPGM_REFERENCE/reference/outputs/` that parity tests compare against, read with the `npyz`
//! crate.
//!
//! Only what those files use is accepted: `float32`, `float64`, `int32`, `int64` or `uint8` data
//! (either byte order) whose length matches the shape, in C order or in Fortran order (the stored
//! PR curves), which is reordered to C order on reading. Anything else is an error, so a misread
//! reference cannot pass a test.

use std::path::Path;

use anyhow::{Context, Result, bail};

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
        let npy = npyz::NpyFile::new(bytes).context("not a .npy file")?;
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let fortran = npy.order() == npyz::Order::Fortran;
        let npyz::DType::Plain(ty) = npy.dtype() else {
            bail!("a record or array dtype, not a plain number type");
        };
        let short = || format!("the data is shorter than shape {shape:?} needs");
        let data = match (ty.type_char(), ty.size_field()) {
            (npyz::TypeChar::Float, 4) => NpyData::F32(npy.into_vec().with_context(short)?),
            (npyz::TypeChar::Float, 8) => NpyData::F64(npy.into_vec().with_context(short)?),
            (npyz::TypeChar::Int, 4) => NpyData::Int(
                npy.into_vec::<i32>()
                    .with_context(short)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
            (npyz::TypeChar::Int, 8) => NpyData::Int(npy.into_vec().with_context(short)?),
            (npyz::TypeChar::Uint, 1) => NpyData::U8(npy.into_vec().with_context(short)?),
            _ => bail!("dtype '{ty}' is not one of f4, f8, i4, i8, u1"),
        };
        Ok(if fortran {
            Npy {
                data: data.map_order(&shape),
                shape,
            }
        } else {
            Npy { shape, data }
        })
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
        assert_eq!(c.shape, [1, 2, 3]);
        assert_eq!(c.data, NpyData::U8(vec![1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let err = Npy::parse(&npy("<c8", "(1,)", &[0; 8]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "dtype '<c8' is not one of f4, f8, i4, i8, u1");
        let err = Npy::parse(&npy("<f4", "(2,)", &[0; 4]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "the data is shorter than shape [2] needs");
        assert!(Npy::parse(b"not numpy").is_err());
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
