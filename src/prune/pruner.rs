//! Upstream's `MultiLayerPruner`: one pruning rate per layer group, applied to every convolution
//! inside the group's modules (`docs/upstream.md` §groups, §fpgm).
//!
//! For each conv the filters chosen by [`fpgm::select`](super::fpgm::select) are set to zero in
//! the weight, and in the bias where the conv has one (NNI derives the bias mask from the weight
//! mask). Nothing else changes: BatchNorm, the next layer's inputs and every shape stay as they
//! are, and no mask is kept, so later training can regrow the filters ("soft" pruning). Each conv
//! is ranked on its own current weights, so the order of groups does not matter.

use std::collections::BTreeMap;

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use super::fpgm::select;
use crate::model::Detector;
use bfpgm_core::groups::{GROUPS, Grouping, group_of};
use bfpgm_core::record::Criterion;

/// What to prune: rates per group, under a grouping, ranked by a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrunePlan {
    /// Which EResFD grouping the rates refer to (EXTD has one).
    pub grouping: Grouping,
    /// One rate per group, each in `[0, 1)`.
    pub rates: [f64; GROUPS],
    /// FPGM, or L1 for the baseline.
    pub criterion: Criterion,
}

/// The filters a prune zeroed, by conv module path (e.g. `base.m0.layer3.0.res_layer.0`).
pub type Zeroed = BTreeMap<String, Vec<i64>>;

/// Zeroes the planned filters of every grouped conv of `detector` in place.
pub fn prune(detector: &mut Detector, plan: &PrunePlan) -> Result<Zeroed> {
    for r in plan.rates {
        ensure!(
            (0.0..1.0).contains(&r),
            "a pruning rate must lie in [0, 1), got {r}"
        );
    }
    let arch = detector.arch();
    let vars = detector.var_store().variables();
    let mut zeroed = Zeroed::new();
    tch::no_grad(|| -> Result<()> {
        for (key, weight) in &vars {
            let Some(module) = key.strip_suffix(".weight") else {
                continue;
            };
            if weight.dim() != 4 {
                continue;
            }
            let Some(g) = group_of(arch, plan.grouping, module) else {
                continue;
            };
            let filters = select(weight, plan.rates[g], plan.criterion)
                .with_context(|| format!("pruning {key}"))?;
            if filters.is_empty() {
                continue;
            }
            let index = tch::Tensor::from_slice(&filters).to_device(weight.device());
            let _ = weight.shallow_clone().index_fill_(0, &index, 0.0);
            if let Some(bias) = vars.get(&format!("{module}.bias")) {
                let _ = bias.shallow_clone().index_fill_(0, &index, 0.0);
            }
            zeroed.insert(module.to_string(), filters);
        }
        Ok(())
    })?;
    Ok(zeroed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::checkpoint::aliases;
    use bfpgm_core::testutil::{mirror_file, reference_file};
    use bfpgm_core::zoo::Arch;

    /// Upstream's own selection (NNI 3.0rc1 on EResFD-original with the eresfd-30 rates):
    /// ours must be identical for every conv, FPGM and L1, aliases included.
    #[test]
    fn selection_matches_upstreams_pruner_on_the_released_weights() {
        let (Some(ckpt), Some(fixture)) = (
            mirror_file("EResFD-original.pth"),
            reference_file("fixtures/fpgm-reference-eresfd30-rates.json"),
        ) else {
            return;
        };
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        // The fixture was made with the checkpoint-consistent groups (upstream's names, so the
        // FPN is `base.m0.fpn`).
        let fixture_groups: Vec<Vec<String>> =
            serde_json::from_value(fixture["group_paths"].clone()).unwrap();
        let canonical_groups: Vec<Vec<String>> = fixture_groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|p| {
                        aliases::canonical(Arch::Eresfd, &format!("{p}."))
                            .map_or(p.clone(), |c| c.trim_end_matches('.').to_string())
                    })
                    .collect()
            })
            .collect();
        let ours: Vec<Vec<String>> = bfpgm_core::groups::groups(Arch::Eresfd, Grouping::Checkpoint)
            .iter()
            .map(|g| g.iter().map(|p| p.to_string()).collect())
            .collect();
        assert_eq!(canonical_groups, ours);
        let rates: Vec<f64> = serde_json::from_value(fixture["rates"].clone()).unwrap();
        for (criterion, field) in [(Criterion::Fpgm, "fpgm"), (Criterion::L1, "l1")] {
            let mut det = Detector::load(Arch::Eresfd, &ckpt, tch::Device::Cpu).unwrap();
            let plan = PrunePlan {
                grouping: Grouping::Checkpoint,
                rates: rates.clone().try_into().unwrap(),
                criterion,
            };
            let ours = prune(&mut det, &plan).unwrap();
            let theirs = fixture[format!("{field}_zeroed_filters")]
                .as_object()
                .unwrap();
            let mut canonical = BTreeMap::new();
            for (key, filters) in theirs {
                let key = aliases::canonical(Arch::Eresfd, key).unwrap_or(key.clone());
                let module = key.strip_suffix(".weight").unwrap().to_string();
                let filters: Vec<i64> = serde_json::from_value(filters.clone()).unwrap();
                if let Some(previous) = canonical.insert(module.clone(), filters.clone()) {
                    assert_eq!(
                        previous, filters,
                        "alias of {module} disagrees in the fixture"
                    );
                }
            }
            assert_eq!(ours, canonical, "{field}");
            let total: usize = ours.values().map(Vec::len).sum();
            let expected_total =
                fixture[format!("{field}_total_zeroed")].as_u64().unwrap() as usize;
            // The fixture counts alias keys too: every conv except conv1/conv2 appears twice.
            let with_aliases: usize = ours
                .iter()
                .map(|(m, f)| f.len() * if m.starts_with("base.conv") { 1 } else { 2 })
                .sum();
            assert_eq!(
                with_aliases, expected_total,
                "{field}: {total} canonical filters"
            );
        }
    }

    #[test]
    fn zeroed_filters_and_their_biases_are_exact_zeros_and_nothing_else_moves() {
        let mut det = Detector::new(Arch::Extd, tch::Device::Cpu);
        let before = det.state_dict();
        let plan = PrunePlan {
            grouping: Grouping::Checkpoint,
            rates: [0.3, 0.0, 0.0, 0.0, 0.0, 0.5],
            criterion: Criterion::Fpgm,
        };
        let zeroed = prune(&mut det, &plan).unwrap();
        // G1: base.0.0 (64 filters), base.1.conv.0 (64, depthwise with bias), base.1.conv.3 (64);
        // G6: loc.k (4 filters → 2) and conf.k (4 or 2 → 2 or 1).
        assert_eq!(zeroed["base.0.0"].len(), 19);
        assert_eq!(zeroed["base.1.conv.0"].len(), 19);
        assert_eq!(zeroed["loc.3"].len(), 2);
        assert_eq!(zeroed["conf.0"].len(), 2);
        assert_eq!(zeroed["conf.1"].len(), 1);
        assert!(!zeroed.contains_key("base.2.conv.0"));
        let after = det.state_dict();
        for (key, t) in after.iter() {
            let t = &crate::tensors::to_tensor(t);
            let old = &crate::tensors::to_tensor(before.get(key).unwrap());
            let module = key.rsplit_once('.').unwrap().0;
            match zeroed.get(module) {
                Some(filters) if key.ends_with(".weight") || key.ends_with(".bias") => {
                    for f in 0..t.size()[0] {
                        let row = t.get(f);
                        if filters.contains(&f) {
                            assert_eq!(
                                row.abs().sum(tch::Kind::Double).double_value(&[]),
                                0.0,
                                "{key}[{f}]"
                            );
                        } else {
                            assert!(row.equal(&old.get(f)), "{key}[{f}] changed");
                        }
                    }
                }
                _ => assert!(t.equal(old), "{key} changed"),
            }
        }
    }
}
