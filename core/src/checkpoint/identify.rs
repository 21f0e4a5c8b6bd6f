//! Which network a checkpoint holds, told from its keys, so a checkpoint file given to `detect`,
//! `eval` or `export` needs no `--arch`, and a file of some other model fails with a short,
//! specific message instead of a list of hundreds of missing keys.

use anyhow::{Result, bail};

use super::{Schema, StateDict, aliases, is_buffer};
use crate::zoo::Arch;

/// How many keys a message shows per list.
const SHOWN: usize = 4;

/// The architecture whose canonical keys (aliases mapped) the state dict holds at least half
/// of, the one with the larger share if both qualify. A checkpoint of a known architecture with a
/// few bad keys is identified, so loading can then name those keys; anything else is an
/// `unknown architecture` error listing some keys found and some each model expects.
pub fn identify(sd: &StateDict) -> Result<Arch> {
    let mut shares = Vec::new();
    for arch in [Arch::Eresfd, Arch::Extd] {
        let expected: Vec<String> = Schema::of(arch).keys().map(str::to_string).collect();
        let present = expected
            .iter()
            .filter(|k| {
                sd.get(k).is_some() || aliases::alias(arch, k).is_some_and(|a| sd.get(&a).is_some())
            })
            .count();
        shares.push((arch, present, expected));
    }
    let best = shares
        .iter()
        .max_by(|a, b| (a.1 * b.2.len()).cmp(&(b.1 * a.2.len())))
        .expect("two architectures");
    if 2 * best.1 >= best.2.len() {
        return Ok(best.0);
    }
    let found: Vec<&str> = sd.keys().take(SHOWN).collect();
    let more = sd.len().saturating_sub(SHOWN);
    let mut msg = format!(
        "unknown architecture: the checkpoint's {} keys match neither EResFD nor EXTD; found {}{}",
        sd.len(),
        found.join(", "),
        if more > 0 {
            format!(", ... ({more} more)")
        } else {
            String::new()
        }
    );
    for (arch, present, expected) in &shares {
        msg.push_str(&format!(
            "; {arch} expects {} keys such as {} ({present} present)",
            expected.len(),
            examples(expected).join(", ")
        ));
    }
    bail!(msg)
}

/// [`SHOWN`] parameter keys spread over the model, first to last, so they say more than the
/// stem's first few would.
fn examples(keys: &[String]) -> Vec<&str> {
    let params: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| !is_buffer(k))
        .collect();
    (0..SHOWN)
        .map(|i| params[i * (params.len() - 1) / (SHOWN - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::mirror_file;

    #[test]
    fn released_checkpoints_are_identified() {
        for (file, arch) in [
            ("EResFD-original.pth", Arch::Eresfd),
            ("EResFD-30-pruned.pth", Arch::Eresfd),
            ("EXTD-original.pth", Arch::Extd),
            ("EXTD-20-pruned.pt", Arch::Extd),
        ] {
            let Some(path) = mirror_file(file) else {
                return;
            };
            assert_eq!(
                identify(&StateDict::read(&path).unwrap()).unwrap(),
                arch,
                "{file}"
            );
        }
    }

    #[test]
    fn a_damaged_eresfd_is_still_eresfd_so_loading_can_name_the_keys() {
        let mut damaged = StateDict::new();
        for e in Schema::of(Arch::Eresfd).entries() {
            if !e.key.starts_with("base.m0.layer12.") {
                damaged.push(&e.key, crate::checkpoint::Array::f32(&[1], vec![0.0]));
            }
        }
        assert_eq!(identify(&damaged).unwrap(), Arch::Eresfd);
    }

    #[test]
    fn other_keys_are_an_unknown_architecture_with_examples() {
        let mut sd = StateDict::new();
        for k in [
            "backbone.stem.weight",
            "backbone.stem.bias",
            "head.fc.weight",
        ] {
            sd.push(k, crate::checkpoint::Array::f32(&[2], vec![0.0; 2]));
        }
        let msg = identify(&sd).unwrap_err().to_string();
        assert!(msg.starts_with("unknown architecture"), "{msg}");
        assert!(msg.contains("found backbone.stem.weight, backbone.stem.bias, head.fc.weight;"));
        assert!(
            msg.contains("eresfd expects 475 keys such as base.conv1.0.weight"),
            "{msg}"
        );
        assert!(msg.contains("extd expects"), "{msg}");
    }
}
