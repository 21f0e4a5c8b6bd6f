//! The six layer groups whose pruning rates B-FPGM optimises: the one home of this fact.
//!
//! Upstream prunes a group by running one FPGM pruner per listed module path, which zeroes
//! `⌊rate · filters⌋` filters of **every Conv2d strictly inside** that module
//! (`docs/upstream.md` §groups). A group is therefore a list of module paths, and a conv
//! belongs to a group when its module path starts with one of them followed by a dot.
//!
//! EResFD comes in two variants. The grouping written in upstream's `main_bayesian_prune.py` is
//! not the one behind the released checkpoints and README rates: the zero-filter counts of the six
//! pruned checkpoints show `conv1+conv2`, `conv3+conv4`, `layer1+layer2` and `layer3..5` moving
//! together, and only that partition reproduces the README rates (§groups, §released-rates). The
//! checkpoint-consistent grouping is the default; the committed one stays available to reproduce
//! the code as written. EXTD's code and checkpoint agree.
//!
//! Paths are written with the canonical state-dict names this crate loads: upstream's group
//! `base.m0.fpn` is the module registered first as `base.m0.layer6`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::zoo::Arch;

/// Which EResFD grouping to use; EXTD has only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// The grouping the released checkpoints and README rates follow (the default).
    #[default]
    Checkpoint,
    /// The grouping in upstream's committed `main_bayesian_prune.py`.
    UpstreamCode,
}

impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grouping::Checkpoint => "checkpoint-consistent",
            Grouping::UpstreamCode => "upstream-code",
        })
    }
}

/// Number of layer groups, each with its own pruning rate.
pub const GROUPS: usize = 6;

/// The module paths of one group.
pub type Group = &'static [&'static str];

const CPM: Group = &[
    "base.m0.layer7",
    "base.m0.layer8",
    "base.m0.layer9",
    "base.m0.layer10",
    "base.m0.layer11",
    "base.m0.layer12",
];

#[rustfmt::skip]
const ERESFD_CHECKPOINT: [Group; GROUPS] = [
    &["base.conv1", "base.conv2"],
    &["base.conv3", "base.conv4"],
    &["base.m0.layer1", "base.m0.layer2"],
    &["base.m0.layer3", "base.m0.layer4", "base.m0.layer5"],
    &["base.m0.layer6"],
    CPM,
];

#[rustfmt::skip]
const ERESFD_UPSTREAM_CODE: [Group; GROUPS] = [
    &["base.conv1", "base.conv2", "base.conv3"],
    &["base.conv4", "base.m0.layer1"],
    &["base.m0.layer2", "base.m0.layer3"],
    &["base.m0.layer4", "base.m0.layer5"],
    &["base.m0.layer6"],
    CPM,
];

#[rustfmt::skip]
const EXTD: [Group; GROUPS] = [
    &["base.0", "base.1"],
    &["base.2", "base.3"],
    &["base.4"],
    &["base.5"],
    &["upfeat"],
    &["loc", "conf"],
];

/// The six groups of an architecture under a grouping (EXTD ignores the grouping).
pub fn groups(arch: Arch, grouping: Grouping) -> &'static [Group; GROUPS] {
    match (arch, grouping) {
        (Arch::Eresfd, Grouping::Checkpoint) => &ERESFD_CHECKPOINT,
        (Arch::Eresfd, Grouping::UpstreamCode) => &ERESFD_UPSTREAM_CODE,
        (Arch::Extd, _) => &EXTD,
    }
}

/// The group (0-based) that prunes the conv at `module_path` (e.g. `base.m0.layer3.0.res_layer.0`),
/// or `None` for convs no group reaches (the EResFD heads).
pub fn group_of(arch: Arch, grouping: Grouping, module_path: &str) -> Option<usize> {
    groups(arch, grouping).iter().position(|g| {
        g.iter().any(|p| {
            module_path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('.'))
        })
    })
}

/// Filters a rate zeroes in a conv with `filters` output channels: `int(rate · filters)`, the
/// float64 product truncated, as NNI's `sparsity_per_layer` does (§fpgm, step 4).
pub fn filters_to_prune(rate: f64, filters: usize) -> usize {
    (rate * filters as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_grouping_puts_layers_where_the_released_zeros_are() {
        let g = |p| group_of(Arch::Eresfd, Grouping::Checkpoint, p);
        assert_eq!(g("base.conv1.0"), Some(0));
        assert_eq!(g("base.conv2.0"), Some(0));
        assert_eq!(g("base.conv4.res_layer.3"), Some(1));
        assert_eq!(g("base.m0.layer2.0.shortcut_layer.0"), Some(2));
        assert_eq!(g("base.m0.layer5.1.res_layer.0"), Some(3));
        assert_eq!(g("base.m0.layer6.itm.3.conv.0"), Some(4));
        assert_eq!(g("base.m0.layer12.res_branch3.3"), Some(5));
        assert_eq!(g("loc.0"), None);
        assert_eq!(g("conf.5"), None);
    }

    #[test]
    fn prefixes_match_whole_path_components() {
        // layer1 must not capture layer10..12, which belong to the CPM group.
        let g = |p| group_of(Arch::Eresfd, Grouping::UpstreamCode, p);
        assert_eq!(g("base.m0.layer1.0.res_layer.0"), Some(1));
        assert_eq!(g("base.m0.layer10.res_branch1.0"), Some(5));
        assert_eq!(g("base.conv3.0"), Some(0));
        // A bare module path is not strictly inside its own group entry.
        assert_eq!(g("base.m0.layer6"), None);
    }

    #[test]
    fn extd_groups_include_the_heads() {
        let g = |p| group_of(Arch::Extd, Grouping::Checkpoint, p);
        assert_eq!(g("base.0.0"), Some(0));
        assert_eq!(g("base.1.conv.3"), Some(0));
        assert_eq!(g("base.3.conv.6"), Some(1));
        assert_eq!(g("base.5.conv.3"), Some(3));
        assert_eq!(g("upfeat.4.1"), Some(4));
        assert_eq!(g("conf.0"), Some(5));
        assert_eq!(g("loc.5"), Some(5));
    }

    #[test]
    fn rounding_truncates_the_float64_product() {
        // The examples of docs/upstream.md §fpgm.
        assert_eq!(filters_to_prune(0.079, 16), 1);
        assert_eq!(filters_to_prune(0.172, 8), 1);
        assert_eq!(filters_to_prune(0.561, 16), 8);
        assert_eq!(filters_to_prune(0.3, 10), 3);
        // EXTD-20: G3 at 32.4 % of 256 and 64 filters, G6 at 9.8 % of the 4- and 2-filter heads.
        assert_eq!(filters_to_prune(0.324, 256), 82);
        assert_eq!(filters_to_prune(0.324, 64), 20);
        assert_eq!(filters_to_prune(0.098, 4), 0);
        // Python's int(0.29 * 100) is 28: the product is 28.999999999999996.
        assert_eq!(filters_to_prune(0.29, 100), 28);
    }
}
