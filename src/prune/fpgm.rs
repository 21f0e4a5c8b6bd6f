//! Which filters of one convolution a pruning rate removes: FPGM, and L1-norm as the baseline,
//! exactly as NNI 3.0rc1's `FPGMPruner` / `L1NormPruner` choose them (`docs/upstream.md` §fpgm).
//!
//! Each output filter of a `[O, I, kh, kw]` weight is one row of `I·kh·kw` values. FPGM scores a
//! row by the sum of its Euclidean distances to every row (itself included, at distance 0) and
//! removes the rows closest to the geometric median; L1 scores by the row's L1 norm. `int(rate ·
//! O)` rows go (the float64 product truncated, [`filters_to_prune`]). NNI keeps the
//! `O − int(rate · O)` largest scores with `torch.topk` and prunes the rest, so ties are resolved
//! by libtorch's top-k. Ties are common in the released weights: `fpn.itm.3` never received a
//! gradient and holds only subnormal values, whose squared differences underflow to zero in
//! float32, so all sixteen of its scores are exactly 0. To choose the same filters as upstream
//! we therefore compute the scores with the same float32 libtorch operations (one row at a time,
//! `(rows − row_i).norm(dim = −1).sum()`, on the CPU) and select with the same `topk`.
//! Depthwise convolutions get no special treatment, as in NNI.

use anyhow::{Result, ensure};
use tch::{Device, Kind, Tensor};

use bfpgm_core::groups::filters_to_prune;
use bfpgm_core::record::Criterion;

/// One float32 score per output filter of `weight` (`[O, ...]`), computed on the CPU as NNI does.
pub fn scores(weight: &Tensor, criterion: Criterion) -> Result<Tensor> {
    ensure!(
        weight.dim() >= 2,
        "a conv weight has at least 2 dimensions, got {:?}",
        weight.size()
    );
    let filters = weight.size()[0];
    let rows = weight
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .reshape([filters, -1]);
    Ok(match criterion {
        Criterion::L1 => rows.norm_scalaropt_dim(1, [-1], false),
        Criterion::Fpgm => Tensor::stack(
            &(0..filters)
                .map(|i| {
                    (&rows - rows.get(i))
                        .norm_scalaropt_dim(2, [-1], false)
                        .sum(Kind::Float)
                })
                .collect::<Vec<_>>(),
            0,
        ),
    })
}

/// The filters (ascending indices) that `rate` removes from a conv weight.
pub fn select(weight: &Tensor, rate: f64, criterion: Criterion) -> Result<Vec<i64>> {
    ensure!(
        (0.0..1.0).contains(&rate),
        "a pruning rate must lie in [0, 1), got {rate}"
    );
    let s = scores(weight, criterion)?;
    let filters = s.size()[0] as usize;
    let keep = filters - filters_to_prune(rate, filters);
    let (_, kept) = s.topk(keep as i64, 0, true, true);
    let kept = Vec::<i64>::try_from(kept)?;
    Ok((0..filters as i64).filter(|i| !kept.contains(i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four 1×2 filters: three close together, one far away.
    fn weight() -> Tensor {
        Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 10.0, 10.0]).view([4, 2, 1, 1])
    }

    #[test]
    fn fpgm_scores_are_summed_distances() {
        let s = Vec::<f32>::try_from(scores(&weight(), Criterion::Fpgm).unwrap()).unwrap();
        let (far, diag, mid) = (200f32.sqrt(), 2f32.sqrt(), 181f32.sqrt());
        let expect = [
            2.0 + far,
            1.0 + diag + mid,
            1.0 + diag + mid,
            far + 2.0 * mid,
        ];
        for (a, b) in s.iter().zip(expect) {
            assert!((a - b).abs() < 1e-5, "{s:?}");
        }
    }

    #[test]
    fn fpgm_removes_the_filters_nearest_the_median_and_l1_the_smallest() {
        // FPGM sums: (1,0) 16.25 < (0,1.5) 16.43 < (0,0) 16.64 < (10,10) 40.7; L1 norms: 0, 1,
        // 1.5, 20.
        let w =
            Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 1.5, 10.0, 10.0]).view([4, 2, 1, 1]);
        assert_eq!(select(&w, 0.25, Criterion::Fpgm).unwrap(), [1]);
        assert_eq!(select(&w, 0.5, Criterion::Fpgm).unwrap(), [1, 2]);
        assert_eq!(select(&w, 0.5, Criterion::L1).unwrap(), [0, 1]);
        assert_eq!(select(&w, 0.75, Criterion::L1).unwrap(), [0, 1, 2]);
        // 0.74 · 4 = 2.96 truncates to 2.
        assert_eq!(select(&w, 0.74, Criterion::L1).unwrap(), [0, 1]);
        assert!(select(&w, 0.0, Criterion::Fpgm).unwrap().is_empty());
    }

    #[test]
    fn tied_scores_still_prune_exactly_the_rounded_count() {
        let zeros = Tensor::zeros([16, 16, 3, 3], (Kind::Float, Device::Cpu));
        let chosen = select(&zeros, 0.321, Criterion::Fpgm).unwrap();
        assert_eq!(chosen.len(), 5);
        assert_eq!(chosen, select(&zeros, 0.321, Criterion::Fpgm).unwrap());
    }

    #[test]
    fn rates_outside_the_schema_are_refused() {
        let err = select(&weight(), 1.0, Criterion::Fpgm)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "a pruning rate must lie in [0, 1), got 1");
        assert!(select(&weight(), -0.1, Criterion::L1).is_err());
    }
}
