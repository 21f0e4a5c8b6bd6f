//! The one home of EResFD's alias keys (`docs/upstream.md` §state-dict).
//!
//! Upstream registers several EResFD modules twice — `DetEncoder` adds its stages to `_modules`
//! again under `b2_k`, `fpn` and `FEM_k`, and `EResFD` keeps both the `loc`/`conf` ModuleLists
//! and `loc0..5`/`conf0..5` attributes — so every checkpoint holds 920 keys for 475 tensors, and
//! upstream's strict `load_state_dict` wants all 920. Our models register only the canonical
//! (first-registered) name; this table maps between the two spellings, for reading, for checking
//! that both names hold the same tensor, and for writing files upstream can load.

use crate::zoo::Arch;

/// `(canonical prefix, alias prefix)` pairs of EResFD, in upstream's registration order.
#[rustfmt::skip]
const ERESFD: [(&str, &str); 24] = [
    ("base.m0.layer1.", "base.m0.b2_1."),
    ("base.m0.layer2.", "base.m0.b2_2."),
    ("base.m0.layer3.", "base.m0.b2_3."),
    ("base.m0.layer4.", "base.m0.b2_4."),
    ("base.m0.layer5.", "base.m0.b2_5."),
    ("base.m0.layer6.", "base.m0.fpn."),
    ("base.m0.layer7.", "base.m0.FEM_0."),
    ("base.m0.layer8.", "base.m0.FEM_1."),
    ("base.m0.layer9.", "base.m0.FEM_2."),
    ("base.m0.layer10.", "base.m0.FEM_3."),
    ("base.m0.layer11.", "base.m0.FEM_4."),
    ("base.m0.layer12.", "base.m0.FEM_5."),
    ("loc.0.", "loc0."),
    ("loc.1.", "loc1."),
    ("loc.2.", "loc2."),
    ("loc.3.", "loc3."),
    ("loc.4.", "loc4."),
    ("loc.5.", "loc5."),
    ("conf.0.", "conf0."),
    ("conf.1.", "conf1."),
    ("conf.2.", "conf2."),
    ("conf.3.", "conf3."),
    ("conf.4.", "conf4."),
    ("conf.5.", "conf5."),
];

/// The alias table of an architecture (EXTD has none).
fn table(arch: Arch) -> &'static [(&'static str, &'static str)] {
    match arch {
        Arch::Eresfd => &ERESFD,
        Arch::Extd => &[],
    }
}

/// The canonical key an alias key stands for, or `None` when `key` is not an alias.
pub fn canonical(arch: Arch, key: &str) -> Option<String> {
    table(arch)
        .iter()
        .find_map(|(canon, alias)| key.strip_prefix(alias).map(|rest| format!("{canon}{rest}")))
}

/// The alias of a canonical key, or `None` when the key has no second name.
pub fn alias(arch: Arch, key: &str) -> Option<String> {
    table(arch)
        .iter()
        .find_map(|(canon, alias)| key.strip_prefix(canon).map(|rest| format!("{alias}{rest}")))
}

/// Where upstream's `state_dict()` lists a key: aliases come after all canonical keys of the same
/// module list (`docs/upstream.md` §state-dict), so sorting canonical-order keys by this rank
/// (stable) gives the file order.
pub fn file_rank(arch: Arch, key: &str) -> u8 {
    let is_alias = canonical(arch, key).is_some();
    let is_head = key.starts_with("loc") || key.starts_with("conf");
    match (is_head, is_alias) {
        (false, false) => 0,
        (false, true) => 1,
        (true, false) => 2,
        (true, true) => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways() {
        let cases = [
            (
                "base.m0.layer1.0.res_layer.0.weight",
                "base.m0.b2_1.0.res_layer.0.weight",
            ),
            (
                "base.m0.layer10.res_branch1.1.bias",
                "base.m0.FEM_3.res_branch1.1.bias",
            ),
            ("base.m0.layer6.w1", "base.m0.fpn.w1"),
            ("loc.3.weight", "loc3.weight"),
            ("conf.0.bias", "conf0.bias"),
        ];
        for (canon, al) in cases {
            assert_eq!(alias(Arch::Eresfd, canon).as_deref(), Some(al));
            assert_eq!(canonical(Arch::Eresfd, al).as_deref(), Some(canon));
            assert_eq!(canonical(Arch::Eresfd, canon), None);
            assert_eq!(alias(Arch::Eresfd, al), None);
        }
        assert_eq!(alias(Arch::Eresfd, "base.conv1.0.weight"), None);
        assert_eq!(alias(Arch::Extd, "loc.0.weight"), None);
    }

    #[test]
    fn matches_the_reference_key_list() {
        let Some(path) =
            crate::testutil::reference_file("reference/outputs/eresfd_state_dict_keys.tsv")
        else {
            return;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let mut rows = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (key, canon) = (cols[1], cols[4]);
            if key == canon {
                assert_eq!(canonical(Arch::Eresfd, key), None, "{key}");
            } else {
                assert_eq!(
                    canonical(Arch::Eresfd, key).as_deref(),
                    Some(canon),
                    "{key}"
                );
                assert_eq!(alias(Arch::Eresfd, canon).as_deref(), Some(key), "{canon}");
            }
            rows += 1;
        }
        assert_eq!(rows, 920);
    }
}
