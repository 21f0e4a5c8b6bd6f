//! The few numpy behaviours that bit-for-bit parity with upstream depends on.
//!
//! Upstream's evaluation (`eval_tools/evaluation.py`) and box voting (`wider_test.py::bbox_vote`)
//! run on numpy 1.24.3. Three of its choices change the last bits of the results, so they live
//! here, once, for both (`docs/upstream.md` §bbox-vote, §numpy-sum and §ap):
//!
//! * [`sum`]: `np.sum` of a vector uses pairwise summation, not a sequential loop;
//! * [`argsort`]: `np.argsort`'s default kind is an unstable introsort, so the order of equal
//!   scores is whatever that algorithm leaves;
//! * [`maximum`], [`minimum`]: `np.maximum` and `np.minimum` propagate NaN, where `f64::max`
//!   ignores it.

/// numpy's `PW_BLOCKSIZE`: below this many elements the pairwise sum stops recursing.
const PW_BLOCKSIZE: usize = 128;

/// `np.sum` of a contiguous float64 vector, bit for bit.
///
/// The reduction starts from `add`'s identity `0.0` and adds numpy's pairwise sum of the
/// elements (`DOUBLE_pairwise_sum`): a sequential loop below 8 elements, eight strided partial
/// sums up to 128, and a split at a multiple of 8 above. A sequential sum differs from it by up
/// to a few ulps, which shows in the 16th digit of an AP.
pub fn sum(a: &[f64]) -> f64 {
    0.0 + pairwise(a)
}

fn pairwise(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= PW_BLOCKSIZE {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let body = n - n % 8;
        for chunk in a[8..body].chunks_exact(8) {
            for (acc, &x) in r.iter_mut().zip(chunk) {
                *acc += x;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[body..] {
            res += x;
        }
        res
    } else {
        let half = n / 2;
        let n2 = half - half % 8;
        pairwise(&a[..n2]) + pairwise(&a[n2..])
    }
}

/// `np.maximum(a, b)` for two float64 values: NaN if either is NaN.
///
/// `voc_ap`'s precision envelope is built with it; with `f64::max` a NaN precision (0/0 where no
/// prediction passes a threshold) would silently disappear from the saved curve.
pub fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a >= b {
        a
    } else {
        b
    }
}

/// `np.minimum(a, b)` for two float64 values: NaN if either is NaN.
pub fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a <= b {
        a
    } else {
        b
    }
}

/// numpy's ordering of floats: NaN sorts after everything (`DOUBLE_LT` in `npysort`).
fn less(a: f64, b: f64) -> bool {
    a < b || (b.is_nan() && !a.is_nan())
}

/// numpy's `SMALL_QUICKSORT`: partitions of at most this many + 1 elements are insertion-sorted.
const SMALL_QUICKSORT: usize = 15;

/// `np.argsort(v)` with the default `kind='quicksort'`, as numpy 1.24 implements it for float64
/// (`aquicksort_<npy::double_tag>` in `npysort/quicksort.cpp`): median-of-3 quicksort that
/// insertion-sorts small partitions and falls back to heapsort below a depth of 2·⌊log2 n⌋.
///
/// The sort is not stable. `bbox_vote` takes the first row of the sorted detections as a cluster
/// seed and sums cluster members in sorted order, so equal scores (frequent: flipped and rescaled
/// passes find the same anchors) must come out in exactly numpy's order for identical boxes.
pub fn argsort(v: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    if v.len() < 2 {
        return idx;
    }
    let mut stack: Vec<(usize, usize, i64)> = Vec::new();
    let (mut pl, mut pr) = (0usize, v.len() - 1);
    let mut cdepth = 2 * i64::from(v.len().ilog2());
    loop {
        if cdepth < 0 {
            heapsort(v, &mut idx[pl..=pr]);
        } else {
            while pr - pl > SMALL_QUICKSORT {
                let pm = pl + ((pr - pl) >> 1);
                if less(v[idx[pm]], v[idx[pl]]) {
                    idx.swap(pm, pl);
                }
                if less(v[idx[pr]], v[idx[pm]]) {
                    idx.swap(pr, pm);
                }
                if less(v[idx[pm]], v[idx[pl]]) {
                    idx.swap(pm, pl);
                }
                let vp = v[idx[pm]];
                let mut pi = pl;
                let mut pj = pr - 1;
                idx.swap(pm, pj);
                loop {
                    pi += 1;
                    while less(v[idx[pi]], vp) {
                        pi += 1;
                    }
                    pj -= 1;
                    while less(vp, v[idx[pj]]) {
                        pj -= 1;
                    }
                    if pi >= pj {
                        break;
                    }
                    idx.swap(pi, pj);
                }
                idx.swap(pi, pr - 1);
                // Continue with the smaller partition; the larger one waits on the stack.
                cdepth -= 1;
                if pi - pl < pr - pi {
                    stack.push((pi + 1, pr, cdepth));
                    pr = pi - 1;
                } else {
                    stack.push((pl, pi - 1, cdepth));
                    pl = pi + 1;
                }
            }
            for i in pl + 1..=pr {
                let vi = idx[i];
                let vp = v[vi];
                let mut j = i;
                while j > pl && less(vp, v[idx[j - 1]]) {
                    idx[j] = idx[j - 1];
                    j -= 1;
                }
                idx[j] = vi;
            }
        }
        match stack.pop() {
            Some((l, r, d)) => (pl, pr, cdepth) = (l, r, d),
            None => break,
        }
    }
    idx
}

/// numpy's `aheapsort_` on one partition (1-based heap indexing, as in `npysort/heapsort.cpp`).
fn heapsort(v: &[f64], part: &mut [usize]) {
    let n = part.len();
    // a[k] for k in 1..=n is part[k - 1].
    let sift = |a: &mut [usize], mut i: usize, n: usize, tmp: usize| {
        let mut j = i << 1;
        while j <= n {
            if j < n && less(v[a[j - 1]], v[a[j]]) {
                j += 1;
            }
            if less(v[tmp], v[a[j - 1]]) {
                a[i - 1] = a[j - 1];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        a[i - 1] = tmp;
    };
    for l in (1..=n >> 1).rev() {
        let tmp = part[l - 1];
        sift(part, l, n, tmp);
    }
    let mut n = n;
    while n > 1 {
        let tmp = part[n - 1];
        part[n - 1] = part[0];
        n -= 1;
        sift(part, 1, n, tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator of awkward inputs: many ties, NaN, infinities, signed zeros.
    fn cases() -> Vec<Vec<f64>> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::new();
        for &n in &[
            0usize, 1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 128, 129, 300, 1001, 4038,
        ] {
            for levels in [3u64, 50, 1 << 20] {
                out.push(
                    (0..n)
                        .map(|_| match next() % 40 {
                            0 => f64::NAN,
                            1 => -0.0,
                            2 => f64::INFINITY,
                            _ => (next() % levels) as f64 / levels as f64,
                        })
                        .collect(),
                );
            }
        }
        out
    }

    #[test]
    fn argsort_is_a_permutation_that_sorts_with_nan_last() {
        for v in cases() {
            let idx = argsort(&v);
            let mut seen = vec![false; v.len()];
            for &i in &idx {
                assert!(!seen[i], "index {i} twice");
                seen[i] = true;
            }
            for w in idx.windows(2) {
                assert!(!less(v[w[1]], v[w[0]]), "{} before {}", v[w[0]], v[w[1]]);
            }
        }
    }

    #[test]
    fn heapsort_sorts_a_partition() {
        let mut v: Vec<f64> = (0..2000).map(|i| ((i * 7919) % 2000) as f64).collect();
        v.extend((0..2000).map(|i| (i % 2) as f64));
        let mut part: Vec<usize> = (0..v.len()).collect();
        heapsort(&v, &mut part);
        for w in part.windows(2) {
            assert!(v[w[0]] <= v[w[1]]);
        }
    }

    #[test]
    fn argsort_small_inputs_are_insertion_sorted_stably() {
        // Up to 16 elements numpy only runs the insertion sort, which keeps equal keys in order.
        let v = [0.5, 0.2, 0.5, 0.2, 0.9, 0.5];
        assert_eq!(argsort(&v), vec![1, 3, 0, 2, 5, 4]);
    }

    /// Plain recursive restatement of numpy's pairwise summation.
    fn pairwise_reference(a: &[f64]) -> f64 {
        if a.len() < 8 {
            a.iter().fold(0.0, |s, &x| s + x)
        } else if a.len() <= 128 {
            let m = a.len() - a.len() % 8;
            let r: Vec<f64> = (0..8)
                .map(|k| (k..m).step_by(8).skip(1).fold(a[k], |s, i| s + a[i]))
                .collect();
            let head = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            a[m..].iter().fold(head, |s, &x| s + x)
        } else {
            let n2 = a.len() / 2 - (a.len() / 2) % 8;
            pairwise_reference(&a[..n2]) + pairwise_reference(&a[n2..])
        }
    }

    #[test]
    fn sum_is_pairwise_not_sequential() {
        let mut differs = false;
        for v in cases() {
            let v: Vec<f64> = v
                .into_iter()
                .filter(|x| x.is_finite())
                .map(|x| x * 0.1 + 1e-3)
                .collect();
            let expected = pairwise_reference(&v);
            assert_eq!(sum(&v).to_bits(), (0.0 + expected).to_bits());
            differs |= sum(&v) != v.iter().fold(0.0, |s, &x| s + x);
        }
        assert!(
            differs,
            "the cases should tell pairwise from sequential summation"
        );
    }

    #[test]
    fn sum_of_negative_zeros_is_positive_zero() {
        // The reduction starts from the identity +0.0, as `np.sum(np.array([-0.0]))` does.
        assert!(sum(&[-0.0]).is_sign_positive());
        assert!(sum(&[-0.0; 20]).is_sign_positive());
    }

    #[test]
    fn maximum_and_minimum_propagate_nan() {
        assert!(maximum(f64::NAN, 1.0).is_nan());
        assert!(maximum(1.0, f64::NAN).is_nan());
        assert_eq!(maximum(1.0, 2.0), 2.0);
        assert_eq!(maximum(3.0, 2.0), 3.0);
        assert!(minimum(f64::NAN, 1.0).is_nan());
        assert!(minimum(1.0, f64::NAN).is_nan());
        assert_eq!(minimum(1.0, 2.0), 1.0);
    }
}
