//! What a model's weights say about its pruning: zero filters per conv, the group rates they
//! imply, and upstream's `calc_sparsity`.
//!
//! Pruning leaves no record but the zeros (`docs/upstream.md` §fpgm, §zero-filters): NNI's FPGM
//! pruner zeroes `⌊r · O⌋` whole output filters of every conv of a group and then forgets its
//! mask. Reading a checkpoint backwards therefore gives, per conv with `O` filters of which `z`
//! are all zero, the rates `r ∈ [z/O, (z+1)/O)` that would zero exactly that many ([`RateRange`]),
//! and per group the intersection over its convs ([`Measurement::group_range`]). Whether a
//! published rate is the one behind the weights is the upstream rule itself,
//! [`filters_to_prune`]`(rate, O) == z` for every conv of the group ([`Measurement::reproduces`]).
//!
//! One conv is allowed more zeros than its group's rate gives: EResFD's FPN `itm.3` receives an
//! identically-zero input (the fusion weight `w1[:, 4]` is negative, hence zero after the ReLU),
//! so its filters get no gradient, and zeros from every SFP prune accumulate (`docs/upstream.md`
//! §sfp). Its count only bounds the rate from above ([`ConvZeros::dead_input`]).
//!
//! [`calc_sparsity`] is upstream's README "Sparsity" and the BO's sparsity constraint: exact zeros
//! over all parameters (buffers excluded, aliased tensors once), in percent. The pruning pipeline
//! counts a live model's zeros into the same [`Sparsity`] (`bfpgm::prune::sparsity`), and a test
//! there checks that a file and the model loaded from it give the same count.

use std::path::Path;

use crate::checkpoint::{Array, StateDict, read_checked};
use crate::groups::{GROUPS, Group, Grouping, filters_to_prune, group_of, groups};
use crate::zoo::Arch;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Convs whose input is identically zero in the released weights, so SFP's zeros pile up in them
/// beyond the group's rate (`docs/upstream.md` §sfp: EResFD's FPN `itm.3`, fed by the dead fusion
/// column).
const DEAD_INPUT_CONVS: &[(Arch, &str)] = &[(Arch::Eresfd, "base.m0.layer6.itm.3.conv.0")];

/// Exact zeros over all parameters: upstream's `calc_sparsity` before it divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sparsity {
    /// Parameter elements exactly equal to zero (`-0.0` included, as numpy's `== 0`).
    pub zeros: u64,
    /// All parameter elements, each tensor once (92,208 for EResFD, 162,352 for EXTD).
    pub total: u64,
}

impl Sparsity {
    /// `100. * zeros / total` in float64, exactly upstream's expression (0 for no parameters).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100. * self.zeros as f64 / self.total as f64
    }

    /// The percentage in hundredths, truncated: how the upstream README prints it (10.2442 % is
    /// written 10.24, 22.2757 % is 22.27).
    pub fn truncated_hundredths(&self) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // Integer arithmetic: floor(10000 · zeros / total), free of float rounding at the edge.
        (10_000 * self.zeros as u128 / self.total as u128) as u64
    }

    /// [`Sparsity::truncated_hundredths`] as a percentage, e.g. 10.24.
    pub fn truncated_percent(&self) -> f64 {
        self.truncated_hundredths() as f64 / 100.0
    }
}

/// Upstream's `calc_sparsity` (`utilities.py`) on a state dict of `arch`: every parameter
/// tensor once, over the canonical keys (aliases and buffers left out, whether the file shares
/// its alias tensors or stores copies). [`Sparsity::percent`] is the README's column before
/// truncation; divided by 100 it is the "actual sparsity" of the BO constraint. An alias copy
/// with other values is an error.
pub fn calc_sparsity(sd: &StateDict, arch: Arch) -> Result<Sparsity> {
    Ok(canonical_sparsity(&sd.canonical(arch)?))
}

/// [`calc_sparsity`] of a state dict that is canonical already.
fn canonical_sparsity(canonical: &StateDict) -> Sparsity {
    canonical
        .parameters()
        .fold(Sparsity { zeros: 0, total: 0 }, |acc, (_, t)| Sparsity {
            zeros: acc.zeros + t.zeros() as u64,
            total: acc.total + t.numel() as u64,
        })
}

/// Output filters of a conv weight `[O, I/groups, kh, kw]` whose whole slice is exactly zero.
pub fn zero_filters(weight: &Array) -> usize {
    let filters = weight.shape()[0] as usize;
    match weight.as_f32() {
        Some(v) if filters > 0 => v
            .chunks_exact(v.len() / filters)
            .filter(|f| f.iter().all(|&x| x == 0.0))
            .count(),
        _ => 0,
    }
}

/// A half-open range `[lo, hi)` of pruning rates (fractions): the rates consistent with the zeros
/// found. Always within NNI's domain `0 ≤ r < 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateRange {
    /// Smallest rate in the range.
    pub lo: f64,
    /// First rate above the range (excluded).
    pub hi: f64,
}

impl RateRange {
    /// Every rate NNI accepts (`sparsity_per_layer` must lie in `[0, 1)`).
    pub const ALL: RateRange = RateRange { lo: 0.0, hi: 1.0 };

    /// The rates with `⌊r · filters⌋ == zero`, or `None` when no allowed rate zeroes that many
    /// (all filters zero would need `r ≥ 1`).
    pub fn exactly(zero: usize, filters: usize) -> Option<RateRange> {
        RateRange {
            lo: zero as f64 / filters as f64,
            hi: (zero + 1) as f64 / filters as f64,
        }
        .intersect(RateRange::ALL)
    }

    /// The rates with `⌊r · filters⌋ ≤ zero`: what a conv with extra zeros still says.
    pub fn at_most(zero: usize, filters: usize) -> RateRange {
        RateRange {
            lo: 0.0,
            hi: ((zero + 1) as f64 / filters as f64).min(1.0),
        }
    }

    /// The rates in both ranges, if any.
    pub fn intersect(self, other: RateRange) -> Option<RateRange> {
        let (lo, hi) = (self.lo.max(other.lo), self.hi.min(other.hi));
        (lo < hi).then_some(RateRange { lo, hi })
    }

    /// Whether `rate` lies in the range.
    pub fn contains(self, rate: f64) -> bool {
        self.lo <= rate && rate < self.hi
    }

    /// Whether some rate of `[rate − half_step, rate + half_step]` lies in the range: a published
    /// value rounded to `2 · half_step` is compatible with it.
    pub fn near(self, rate: f64, half_step: f64) -> bool {
        rate - half_step < self.hi && self.lo <= rate + half_step
    }

    /// `rate` minus the nearest point of the range: 0 inside, positive above, negative below.
    pub fn offset(self, rate: f64) -> f64 {
        rate - rate.clamp(self.lo, self.hi)
    }
}

/// One convolution's all-zero output filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvZeros {
    /// Canonical module path, e.g. `base.m0.layer3.0.res_layer.0` (the weight key minus
    /// `.weight`).
    pub path: String,
    /// Output filters `O`.
    pub filters: usize,
    /// Filters whose weights are all exactly zero.
    pub zero_filters: usize,
    /// The layer group (0-based) that prunes it, `None` for convs no group reaches (EResFD heads).
    pub group: Option<usize>,
    /// Whether the conv's input is identically zero in the released weights, so it may carry
    /// more zeros than its group's rate gives (`docs/upstream.md` §sfp).
    pub dead_input: bool,
}

impl ConvZeros {
    /// The rates consistent with this conv's zeros: exact, or only an upper bound for a
    /// dead-input conv.
    pub fn range(&self) -> Option<RateRange> {
        if self.dead_input {
            Some(RateRange::at_most(self.zero_filters, self.filters))
        } else {
            RateRange::exactly(self.zero_filters, self.filters)
        }
    }

    /// Filters upstream's pruner zeroes here at `rate`.
    pub fn predicted(&self, rate: f64) -> usize {
        filters_to_prune(rate, self.filters)
    }

    /// Whether pruning at `rate` leaves exactly the zeros found (at least them, for a dead-input
    /// conv, whose extra zeros come from SFP rather than from the rate).
    pub fn reproduces(&self, rate: f64) -> bool {
        let predicted = self.predicted(rate);
        predicted == self.zero_filters || (self.dead_input && predicted < self.zero_filters)
    }
}

/// Everything the tables and the drift check read off one model's weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// The network.
    pub arch: Arch,
    /// The grouping the group ranges use (EXTD has only one).
    pub grouping: Grouping,
    /// `calc_sparsity`.
    pub sparsity: Sparsity,
    /// Every conv in canonical state-dict order, heads included.
    pub convs: Vec<ConvZeros>,
}

impl Measurement {
    /// Measures a state dict of architecture `arch` (aliases are checked and counted once).
    /// Fails when a group reaches no conv, which means the weights are not of that architecture.
    pub fn of(sd: &StateDict, arch: Arch, grouping: Grouping) -> Result<Measurement> {
        let canonical = sd.canonical(arch)?;
        let convs: Vec<ConvZeros> = canonical
            .iter()
            .filter(|(key, t)| key.ends_with(".weight") && t.shape().len() == 4)
            .map(|(key, t)| {
                let path = key.strip_suffix(".weight").expect("filtered above");
                ConvZeros {
                    group: group_of(arch, grouping, path),
                    dead_input: DEAD_INPUT_CONVS.contains(&(arch, path)),
                    path: path.to_string(),
                    filters: t.shape()[0] as usize,
                    zero_filters: zero_filters(t),
                }
            })
            .collect();
        for (g, modules) in groups(arch, grouping).iter().enumerate() {
            if !convs.iter().any(|c| c.group == Some(g)) {
                bail!(
                    "layer group G{} ({}) has no convolution in these weights; are they {arch} \
                     weights?",
                    g + 1,
                    modules.join(", ")
                );
            }
        }
        Ok(Measurement {
            arch,
            grouping,
            sparsity: canonical_sparsity(&canonical),
            convs,
        })
    }

    /// Reads and measures a checkpoint file, after checking key by key that it holds `arch`
    /// weights with finite values (as loading the network does, [`read_checked`]), so a damaged
    /// or foreign file is an error that names the file and the keys rather than a table of
    /// nonsense.
    pub fn read(path: &Path, arch: Arch, grouping: Grouping) -> Result<Measurement> {
        let sd = read_checked(path, arch)?;
        Measurement::of(&sd, arch, grouping)
            .with_context(|| format!("measuring {}", path.display()))
    }

    /// The module paths of each group.
    pub fn groups(&self) -> &'static [Group; GROUPS] {
        groups(self.arch, self.grouping)
    }

    /// The convs of group `g` (0-based), in order.
    pub fn group_convs(&self, g: usize) -> impl Iterator<Item = &ConvZeros> {
        self.convs.iter().filter(move |c| c.group == Some(g))
    }

    /// The rates consistent with every conv of group `g`, or `None` when its convs carry zero
    /// counts that no single rate produces.
    pub fn group_range(&self, g: usize) -> Option<RateRange> {
        self.group_convs(g)
            .try_fold(RateRange::ALL, |acc, c| acc.intersect(c.range()?))
    }

    /// Whether pruning group `g` at `rate` gives the zeros found in each of its convs: the
    /// upstream rule, exact in float64.
    pub fn reproduces(&self, g: usize, rate: f64) -> bool {
        self.group_convs(g).all(|c| c.reproduces(rate))
    }

    /// The convs of group `g` whose zeros `rate` does not reproduce.
    pub fn mismatches(&self, g: usize, rate: f64) -> Vec<&ConvZeros> {
        self.group_convs(g)
            .filter(|c| !c.reproduces(rate))
            .collect()
    }

    /// All-zero filters over every conv, heads included (`expected.zero_filters` in zoo.yaml).
    pub fn zero_filters(&self) -> usize {
        self.convs.iter().map(|c| c.zero_filters).sum()
    }

    /// Output filters over every conv.
    pub fn filters(&self) -> usize {
        self.convs.iter().map(|c| c.filters).sum()
    }

    /// Dead-input convs holding more zeros than the rest of their group implies, as
    /// `(conv, zeros the group's rate gives)`: the accumulation `docs/upstream.md` §sfp explains.
    pub fn extra_zeros(&self) -> Vec<(&ConvZeros, usize)> {
        self.convs
            .iter()
            .filter(|c| c.dead_input)
            .filter_map(|c| {
                let range = self.group_range(c.group?)?;
                let given = filters_to_prune(range.lo, c.filters);
                (c.zero_filters > given).then_some((c, given))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::mirror_file;

    fn conv(zero: usize, filters: usize, dead_input: bool) -> ConvZeros {
        ConvZeros {
            path: "c".into(),
            filters,
            zero_filters: zero,
            group: Some(0),
            dead_input,
        }
    }

    #[test]
    fn a_conv_bounds_the_rate_to_one_step_of_its_filters() {
        assert_eq!(
            RateRange::exactly(3, 16),
            Some(RateRange {
                lo: 0.1875,
                hi: 0.25
            })
        );
        assert_eq!(
            RateRange::exactly(8, 8),
            None,
            "r < 1 cannot zero every filter"
        );
        let c = conv(3, 16, false);
        assert!(c.reproduces(0.2) && c.reproduces(0.1875) && !c.reproduces(0.25));
        // A dead-input conv only says the rate zeroes no more than it has.
        let d = conv(5, 16, true);
        assert_eq!(d.range().unwrap().lo, 0.0);
        assert!(d.reproduces(0.2) && d.reproduces(0.34) && !d.reproduces(0.375));
    }

    #[test]
    fn range_arithmetic() {
        let a = RateRange { lo: 0.0, hi: 0.125 };
        assert!(a.contains(0.0) && !a.contains(0.125));
        assert_eq!(a.offset(0.2), 0.2 - 0.125);
        assert_eq!(a.offset(0.1), 0.0);
        assert_eq!(RateRange { lo: 0.5, hi: 0.6 }.offset(0.4), 0.4 - 0.5);
        // 56.1 % rounded to 0.1 % cannot be 56.25 %; 6.2 % can be 6.249 %.
        let fpn = RateRange::exactly(9, 16).unwrap();
        assert!(!fpn.near(0.561, 0.0005));
        assert!(RateRange::exactly(0, 16).unwrap().near(0.0625, 0.0005));
        assert_eq!(a.intersect(RateRange { lo: 0.125, hi: 0.5 }), None);
    }

    #[test]
    fn zero_filters_counts_whole_output_filters() {
        let mut v = vec![1.0f32; 4 * 18];
        v[18..36].fill(0.0);
        v[54..72].fill(0.0);
        v[71] = -0.0;
        v[0] = 0.0;
        assert_eq!(zero_filters(&Array::f32(&[4, 2, 3, 3], v)), 2);
    }

    #[test]
    fn sparsity_truncates_like_the_readme() {
        let s = Sparsity {
            zeros: 9446,
            total: 92208,
        };
        assert_eq!(s.percent(), 100. * 9446.0 / 92208.0);
        assert_eq!(s.truncated_hundredths(), 1024);
        assert_eq!(s.truncated_percent(), 10.24);
    }

    #[test]
    fn sparsity_of_a_released_file() {
        // EResFD-30 has 29,135 exact zeros among 92,208 parameters.
        let Some(path) = mirror_file("EResFD-30-pruned.pth") else {
            return;
        };
        let sd = StateDict::read(&path).unwrap();
        assert_eq!(
            calc_sparsity(&sd, Arch::Eresfd).unwrap(),
            Sparsity {
                zeros: 29_135,
                total: 92_208
            }
        );
    }

    #[test]
    fn the_ten_percent_model_gives_the_documented_ranges() {
        // docs/upstream.md §released-rates: G1 < 12.5 %, G2 < 6.25 %, G3 < 6.25 %, G4 and G5 in
        // [18.75, 25) %, G6 in [12.5, 25) %; FPN itm.3 has 5 zero filters where the rate gives 3.
        let Some(path) = mirror_file("EREsFD-10-pruned.pth") else {
            return;
        };
        let sd = StateDict::read(&path).unwrap();
        let m = Measurement::of(&sd, Arch::Eresfd, Grouping::Checkpoint).unwrap();
        let r = |lo, hi| Some(RateRange { lo, hi });
        let ranges: Vec<_> = (0..GROUPS).map(|g| m.group_range(g)).collect();
        assert_eq!(
            ranges,
            [
                r(0.0, 0.125),
                r(0.0, 0.0625),
                r(0.0, 0.0625),
                r(0.1875, 0.25),
                r(0.1875, 0.25),
                r(0.125, 0.25)
            ]
        );
        assert_eq!(m.zero_filters(), 86);
        assert_eq!(m.filters(), 886);
        let extra: Vec<_> = m
            .extra_zeros()
            .iter()
            .map(|(c, given)| (c.path.as_str(), c.zero_filters, *given))
            .collect();
        assert_eq!(extra, [("base.m0.layer6.itm.3.conv.0", 5, 3)]);
        // The README's 20 % for G1 would zero one of the 8 filters of conv1 and conv2.
        let missed: Vec<_> = m
            .mismatches(0, 0.2)
            .iter()
            .map(|c| c.path.clone())
            .collect();
        assert_eq!(missed, ["base.conv1.0", "base.conv2.0"]);
    }

    #[test]
    fn weights_of_the_wrong_architecture_are_refused() {
        let Some(path) = mirror_file("EXTD-20-pruned.pt") else {
            return;
        };
        let sd = StateDict::read(&path).unwrap();
        let err = Measurement::of(&sd, Arch::Eresfd, Grouping::Checkpoint)
            .unwrap_err()
            .to_string();
        assert!(err.contains("G1 (base.conv1, base.conv2)"), "{err}");
    }
}
