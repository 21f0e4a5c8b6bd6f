//! The checkpoint format's plain arrays (`bfpgm_core::checkpoint::Array`) as tch tensors and
//! back: the one place where weights cross from the libtorch-free reader into the networks.

use anyhow::{Result, bail};
use tch::{Device, Kind, Tensor};

use bfpgm_core::checkpoint::{Array, Data};

/// A CPU tensor holding the array's values bit for bit.
pub fn to_tensor(a: &Array) -> Tensor {
    match a.data() {
        Data::F32(v) => Tensor::from_slice(v).view(a.shape()),
        Data::I64(v) => Tensor::from_slice(v).view(a.shape()),
    }
}

/// The values of a float32 or int64 tensor, on any device, as an array in C order.
pub fn to_array(t: &Tensor) -> Result<Array> {
    let flat = t.detach().to_device(Device::Cpu).contiguous().view(-1);
    let data = match t.kind() {
        Kind::Float => Data::F32(Vec::<f32>::try_from(&flat)?),
        Kind::Int64 => Data::I64(Vec::<i64>::try_from(&flat)?),
        other => bail!("{other:?} tensors cannot be saved; checkpoints hold float32 and int64"),
    };
    Array::new(t.size(), data)
}

/// Whether two tensors hold the same values bit for bit (float `==` would equate -0 and 0 and
/// reject NaN).
pub fn bit_equal(a: &Tensor, b: &Tensor) -> bool {
    if a.size() != b.size() || a.kind() != b.kind() {
        return false;
    }
    match a.kind() {
        Kind::Float => a.view_dtype(Kind::Int).equal(&b.view_dtype(Kind::Int)),
        _ => a.equal(b),
    }
}

/// A reference `.npy` array as a CPU tensor of the same shape, for parity tests.
#[cfg(test)]
pub(crate) fn npy_tensor(npy: &bfpgm_core::testutil::npy::Npy) -> Tensor {
    use bfpgm_core::testutil::npy::NpyData;
    let shape: Vec<i64> = npy.shape.iter().map(|&d| d as i64).collect();
    match &npy.data {
        NpyData::F32(v) => Tensor::from_slice(v).view(shape.as_slice()),
        NpyData::F64(v) => Tensor::from_slice(v).view(shape.as_slice()),
        NpyData::Int(v) => Tensor::from_slice(v).view(shape.as_slice()),
        NpyData::U8(v) => Tensor::from_slice(v).view(shape.as_slice()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_survive_the_round_trip_bit_for_bit() {
        let a = Array::f32(
            &[2, 2],
            vec![f32::from_bits(0x8000_0383), -0.0, f32::NAN, 1.5],
        );
        assert!(to_array(&to_tensor(&a)).unwrap().bit_equal(&a));
        let s = Array::i64(&[], vec![483_000]);
        let t = to_tensor(&s);
        assert_eq!(t.size(), Vec::<i64>::new());
        assert!(to_array(&t).unwrap().bit_equal(&s));
        let err = to_array(&Tensor::from_slice(&[1u8]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be saved"), "{err}");
    }
}
