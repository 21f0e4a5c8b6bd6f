//! A tensor as a checkpoint stores it, without libtorch: a shape and its elements in C order.
//!
//! The checkpoint reader, the tables and the drift check only read weights, so plain vectors
//! serve them, and the commands built on them never load libtorch. The `bfpgm` crate turns an
//! [`Array`] into a `tch::Tensor` and back (`bfpgm::tensors`) when a network needs it.

use anyhow::{Result, ensure};

use super::pickle::StorageKind;

/// The elements of an [`Array`]: the two element types the released checkpoints hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// float32: weights, biases and BatchNorm statistics.
    F32(Vec<f32>),
    /// int64: BatchNorm's `num_batches_tracked` and the optimiser's step.
    I64(Vec<i64>),
}

/// A dense tensor in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    shape: Vec<i64>,
    data: Data,
}

impl Array {
    /// An array of the given shape; refuses a shape that does not hold exactly the elements.
    pub fn new(shape: Vec<i64>, data: Data) -> Result<Array> {
        ensure!(
            shape.iter().all(|&d| d >= 0),
            "shape {shape:?} has a negative dimension"
        );
        let numel: i64 = shape.iter().product();
        let len = match &data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        };
        ensure!(
            numel as usize == len,
            "shape {shape:?} holds {numel} elements, but {len} were given"
        );
        Ok(Array { shape, data })
    }

    /// A float32 array; panics on a shape that does not match, which only a bug can cause.
    pub fn f32(shape: &[i64], values: Vec<f32>) -> Array {
        Array::new(shape.to_vec(), Data::F32(values)).expect("shape matches the values")
    }

    /// An int64 array; panics on a shape that does not match, which only a bug can cause.
    pub fn i64(shape: &[i64], values: Vec<i64>) -> Array {
        Array::new(shape.to_vec(), Data::I64(values)).expect("shape matches the values")
    }

    /// The dimensions (empty for a scalar).
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<i64>() as usize
    }

    /// The elements.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The float32 elements, or `None` for an int64 array.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }

    /// The float32 elements to edit in place, or `None` for an int64 array.
    pub fn as_f32_mut(&mut self) -> Option<&mut [f32]> {
        match &mut self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }

    /// The storage type a checkpoint declares for this array.
    pub fn storage_kind(&self) -> StorageKind {
        match self.data {
            Data::F32(_) => StorageKind::Float,
            Data::I64(_) => StorageKind::Long,
        }
    }

    /// Whether two arrays hold the same values bit for bit (float `==` would equate -0 and 0 and
    /// reject NaN).
    pub fn bit_equal(&self, other: &Array) -> bool {
        self.shape == other.shape
            && match (&self.data, &other.data) {
                (Data::F32(a), Data::F32(b)) => {
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                }
                (Data::I64(a), Data::I64(b)) => a == b,
                _ => false,
            }
    }

    /// Elements exactly equal to zero (`-0.0` included, as numpy's `== 0`).
    pub fn zeros(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.iter().filter(|&&x| x == 0.0).count(),
            Data::I64(v) => v.iter().filter(|&&x| x == 0).count(),
        }
    }

    /// The elements as little-endian bytes, as a checkpoint's storage holds them.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match &self.data {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// The elements of a strided view of this flat array, copied into C order. The caller has
    /// checked that the view stays inside (`offset + Σ (size-1)·stride < numel`).
    pub(crate) fn view(&self, size: &[i64], stride: &[i64], offset: i64) -> Array {
        fn gather<T: Copy>(flat: &[T], size: &[i64], stride: &[i64], offset: i64) -> Vec<T> {
            let numel: i64 = size.iter().product();
            let mut out = Vec::with_capacity(numel as usize);
            let mut index = vec![0i64; size.len()];
            for _ in 0..numel {
                let at = offset + index.iter().zip(stride).map(|(i, s)| i * s).sum::<i64>();
                out.push(flat[at as usize]);
                for (i, &d) in index.iter_mut().zip(size).rev() {
                    *i += 1;
                    if *i < d {
                        break;
                    }
                    *i = 0;
                }
            }
            out
        }
        let data = match &self.data {
            Data::F32(v) => Data::F32(gather(v, size, stride, offset)),
            Data::I64(v) => Data::I64(gather(v, size, stride, offset)),
        };
        Array {
            shape: size.to_vec(),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strided_view_is_gathered_in_c_order() {
        let flat = Array::f32(&[8], (0..8).map(|x| x as f32).collect());
        // The transpose of a 2×3 block starting at element 1.
        let t = flat.view(&[3, 2], &[1, 3], 1);
        assert_eq!(t.shape(), &[3, 2]);
        assert_eq!(t.as_f32().unwrap(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let scalar = flat.view(&[], &[], 5);
        assert_eq!(scalar.as_f32().unwrap(), &[5.0]);
    }

    #[test]
    fn bit_equality_tells_negative_zero_and_keeps_nan() {
        let a = Array::f32(&[2], vec![0.0, f32::NAN]);
        assert!(a.bit_equal(&a.clone()));
        assert!(!a.bit_equal(&Array::f32(&[2], vec![-0.0, f32::NAN])));
        assert!(!a.bit_equal(&Array::f32(&[1, 2], vec![0.0, f32::NAN])));
        assert_eq!(Array::f32(&[3], vec![0.0, -0.0, 1.0]).zeros(), 2);
    }

    #[test]
    fn a_shape_that_does_not_hold_the_elements_is_refused() {
        let err = Array::new(vec![2, 2], Data::I64(vec![1, 2, 3])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "shape [2, 2] holds 4 elements, but 3 were given"
        );
    }
}
