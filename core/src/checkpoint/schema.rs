//! The tensors a checkpoint of each network must hold: canonical keys, shapes and dtypes.
//!
//! Pruning zeroes filters but never removes them, so every checkpoint of a network, pruned or not,
//! holds the same tensors. Knowing them here lets the commands that only read weights (tables,
//! the drift check, `zoo show`) check a file key by key, tell its network from its keys and count
//! its parameters without building the network, which needs libtorch. The network built in code
//! (`bfpgm::model`) is tested to register exactly these keys, and loads through [`Schema::check`],
//! so the two cannot drift apart.

use std::fmt::Write as _;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use super::{StateDict, aliases, is_buffer};
use crate::zoo::Arch;

/// How many keys an error message lists per kind of problem.
const LISTED: usize = 12;

/// One canonical tensor of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The state-dict key, e.g. `base.conv1.0.weight`.
    pub key: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Whether it is int64 (BatchNorm's `num_batches_tracked`) rather than float32.
    pub int64: bool,
}

/// The canonical tensors of one network, in registration order.
#[derive(Debug)]
pub struct Schema {
    arch: Arch,
    entries: Vec<Entry>,
}

impl Schema {
    /// The schema of `arch`.
    pub fn of(arch: Arch) -> &'static Schema {
        static ERESFD: OnceLock<Schema> = OnceLock::new();
        static EXTD: OnceLock<Schema> = OnceLock::new();
        let (cell, text) = match arch {
            Arch::Eresfd => (&ERESFD, include_str!("eresfd.keys")),
            Arch::Extd => (&EXTD, include_str!("extd.keys")),
        };
        cell.get_or_init(|| Schema {
            arch,
            entries: parse(text).expect("the built-in key lists parse"),
        })
    }

    /// The canonical tensors in registration order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The canonical keys in registration order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_str())
    }

    /// Parameters with upstream's `named_parameters()` semantics (buffers left out, each tensor
    /// once): 92,208 for EResFD, 162,352 for EXTD. Counting from the schema rather than from a
    /// file's storages gives the same number however a file shares its tensors.
    pub fn parameter_count(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| !is_buffer(&e.key))
            .map(|e| e.shape.iter().product::<i64>() as u64)
            .sum()
    }

    /// Checks everything loading the network relies on: the structure ([`Schema::check_structure`])
    /// and finite values in every parameter and BatchNorm statistic. NaN or Inf weights would
    /// run without an error and detect nothing (AP 0, no boxes, exit 0), so they are refused here,
    /// naming the keys.
    pub fn check(&self, sd: &StateDict) -> Result<()> {
        self.check_structure(sd)?;
        let bad = self.non_finite(sd);
        if !bad.is_empty() {
            let shown: Vec<String> = bad
                .iter()
                .take(LISTED)
                .map(|(key, n, of)| format!("{key} ({n} of {of} values)"))
                .collect();
            let more = if bad.len() > LISTED {
                format!(", ... ({} more)", bad.len() - LISTED)
            } else {
                String::new()
            };
            bail!(
                "{} tensor(s) hold NaN or infinite values: {}{more}; the weights are damaged (a \
                 diverged training run?) and cannot be used",
                bad.len(),
                shown.join(", ")
            );
        }
        Ok(())
    }

    /// The float tensors holding NaN or Inf, each tensor once, with how many of how many values:
    /// what [`Schema::check`] refuses and the drift check reports. An alias key counts only where
    /// its canonical twin is not in the file (the baselines name some tensors by their alias
    /// alone); beside its twin it holds the twin's values, which [`Schema::check_structure`]
    /// ensures.
    pub fn non_finite(&self, sd: &StateDict) -> Vec<(String, usize, usize)> {
        sd.iter()
            .filter(|(key, _)| {
                aliases::canonical(self.arch, key).is_none_or(|c| sd.get(&c).is_none())
            })
            .filter_map(|(key, t)| {
                let values = t.as_f32()?;
                let n = values.iter().filter(|v| !v.is_finite()).count();
                (n > 0).then(|| (key.to_string(), n, values.len()))
            })
            .collect()
    }

    /// Checks a state dict's structure key by key: every canonical tensor must be there with the
    /// right shape and dtype, nothing else may be, and an alias stored apart from its canonical
    /// twin must hold the same values. Two layouts of EResFD's alias pairs are accepted
    /// (`checkpoint::aliases`): upstream's, where every tensor appears under both names and every
    /// name must be present (what upstream's strict `load_state_dict` wants, B-FPGM's files), and
    /// one name per tensor, either one (the uniform-pruning baselines' files, docs/upstream.md
    /// §baselines: their backbone stages carry the alias names and their heads the canonical
    /// ones; upstream loads them with `strict=False`, the missing name sharing its twin's
    /// tensor). A file that doubles any tensor is held to the first layout. The error lists every
    /// missing (a pair whose tensor has neither name is named by both), unexpected, mis-shaped or
    /// conflicting key (the first few of each).
    pub fn check_structure(&self, sd: &StateDict) -> Result<()> {
        let arch = self.arch;
        let mut unexpected = Vec::new();
        let mut misshaped = Vec::new();
        let mut conflicting = Vec::new();
        for (key, t) in sd.iter() {
            let canonical = aliases::canonical(arch, key);
            let name = canonical.as_deref().unwrap_or(key);
            let Some(entry) = self.entries.iter().find(|e| e.key == name) else {
                unexpected.push(key.to_string());
                continue;
            };
            let int64 = t.as_f32().is_none();
            if entry.shape != t.shape() || entry.int64 != int64 {
                misshaped.push(format!(
                    "{key} (expected {} {:?}, found {} {:?})",
                    dtype(entry.int64),
                    entry.shape,
                    dtype(int64),
                    t.shape()
                ));
            } else if let Some(c) = &canonical
                && let Some(twin) = sd.get(c)
                && !sd.same_tensor(key, c)
                && !t.bit_equal(twin)
            {
                conflicting.push(format!("{key} differs from {c}"));
            }
        }
        let named_twice = self.keys().any(|key| {
            aliases::alias(arch, key).is_some_and(|a| sd.get(key).is_some() && sd.get(&a).is_some())
        });
        let mut missing = Vec::new();
        for key in self.keys() {
            let alias = aliases::alias(arch, key);
            match alias {
                Some(a) if !named_twice => {
                    if sd.get(key).is_none() && sd.get(&a).is_none() {
                        missing.push(format!("{key} (or {a})"));
                    }
                }
                _ => missing.extend(
                    std::iter::once(key.to_string())
                        .chain(alias)
                        .filter(|k| sd.get(k).is_none()),
                ),
            }
        }
        let mut report = String::new();
        for (what, names) in [
            ("missing", &missing),
            ("unexpected", &unexpected),
            ("mis-shaped", &misshaped),
            ("conflicting alias", &conflicting),
        ] {
            if names.is_empty() {
                continue;
            }
            let shown: Vec<&str> = names.iter().take(LISTED).map(String::as_str).collect();
            let _ = write!(
                report,
                "; {} {what} key(s): {}",
                names.len(),
                shown.join(", ")
            );
            if names.len() > LISTED {
                let _ = write!(report, ", ... ({} more)", names.len() - LISTED);
            }
        }
        if !report.is_empty() {
            bail!("the state dict does not match the {arch} model{report}");
        }
        Ok(())
    }

    /// [`Schema::check`]s a state dict and returns it in upstream's layout, keys in upstream's
    /// file order: a file that names each tensor once gets the other name of every alias pair,
    /// sharing the tensor, as upstream's non-strict load leaves its model. Everything that reads
    /// weights (loading a network, measuring them) goes through here, so both layouts give the
    /// same tensors.
    pub fn normalize(&self, sd: &StateDict) -> Result<StateDict> {
        self.check(sd)?;
        self.upstream_layout(sd)
    }

    /// [`Schema::normalize`] after checking the structure only ([`Schema::check_structure`]): for
    /// the drift check, which reports non-finite values as drift instead of refusing the file.
    pub fn normalize_structure(&self, sd: &StateDict) -> Result<StateDict> {
        self.check_structure(sd)?;
        self.upstream_layout(sd)
    }

    /// Every tensor under both names of its alias pair, in upstream's file order; `sd` has passed
    /// [`Schema::check_structure`].
    fn upstream_layout(&self, sd: &StateDict) -> Result<StateDict> {
        let arch = self.arch;
        let mut names: Vec<(String, Option<&str>)> = Vec::new();
        for key in self.keys() {
            names.push((key.to_string(), None));
            if let Some(alias) = aliases::alias(arch, key) {
                names.push((alias, Some(key)));
            }
        }
        names.sort_by_key(|(k, _)| aliases::file_rank(arch, k));
        let mut full = StateDict::new();
        for (key, twin) in names {
            match twin {
                None => {
                    let tensor = sd
                        .get(&key)
                        .or_else(|| aliases::alias(arch, &key).and_then(|a| sd.get(&a)))
                        .expect("checked: every tensor has one of its names");
                    full.push(&key, tensor.clone());
                }
                Some(twin) => full.push_alias(&key, twin)?,
            }
        }
        Ok(full)
    }
}

fn dtype(int64: bool) -> &'static str {
    if int64 { "Int64" } else { "Float" }
}

/// Parses a key list: `key<TAB>[d, ...]<TAB>float32|int64` per line, `#` comments.
fn parse(text: &str) -> Result<Vec<Entry>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, line)| {
            let parse_line = || -> Result<Entry> {
                let mut cols = line.split('\t');
                let (Some(key), Some(shape), Some(dtype), None) =
                    (cols.next(), cols.next(), cols.next(), cols.next())
                else {
                    bail!("expected three tab-separated columns");
                };
                let shape = shape
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(", ")
                    .filter(|s| !s.is_empty())
                    .map(|d| d.parse::<i64>().with_context(|| format!("dimension '{d}'")))
                    .collect::<Result<_>>()?;
                let int64 = match dtype {
                    "float32" => false,
                    "int64" => true,
                    other => bail!("dtype '{other}' is neither float32 nor int64"),
                };
                Ok(Entry {
                    key: key.to_string(),
                    shape,
                    int64,
                })
            };
            parse_line().with_context(|| format!("line {}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Array;

    #[test]
    fn the_schemas_count_the_published_parameters() {
        assert_eq!(Schema::of(Arch::Eresfd).parameter_count(), 92_208);
        assert_eq!(Schema::of(Arch::Extd).parameter_count(), 162_352);
        assert_eq!(Schema::of(Arch::Eresfd).entries().len(), 475);
        assert_eq!(Schema::of(Arch::Extd).entries().len(), 164);
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = format!("{:#}", parse("# c\na\t[1, x]\tfloat32\n").unwrap_err());
        assert_eq!(err, "line 2: dimension 'x': invalid digit found in string");
    }

    #[test]
    fn a_baseline_names_each_tensor_once_and_loads_with_the_other_names_shared() {
        let zoo = crate::zoo::Zoo::builtin();
        let schema = Schema::of(Arch::Eresfd);
        for m in zoo
            .models
            .iter()
            .filter(|m| m.arch == Arch::Eresfd && m.paper.as_deref() == Some("uniform"))
        {
            let Some(path) = crate::testutil::mirror_file(&m.artifact.file) else {
                return;
            };
            let sd = StateDict::read(&path).unwrap();
            assert_eq!((sd.len(), sd.tensor_count()), (475, 475), "{}", m.name());
            let full = schema.normalize(&sd).unwrap();
            assert_eq!(full.len(), 920, "{}", m.name());
            assert_eq!(
                full.parameter_count(Arch::Eresfd).unwrap(),
                m.expected.params
            );
            for key in schema.keys() {
                let alias = aliases::alias(Arch::Eresfd, key);
                let file_key = if sd.get(key).is_some() {
                    key.to_string()
                } else {
                    alias.clone().unwrap()
                };
                assert!(full.get(key).unwrap().bit_equal(sd.get(&file_key).unwrap()));
                if let Some(a) = alias {
                    assert!(full.same_tensor(key, &a), "{}: {key}", m.name());
                }
            }
            // Both names of one tensor in the file would make it upstream's layout, where
            // every alias is then required.
            let mut doubled = sd;
            doubled.push_alias("loc0.weight", "loc.0.weight").unwrap();
            let err = schema.check(&doubled).unwrap_err().to_string();
            assert!(err.contains("444 missing key(s): base.m0.layer1."), "{err}");
        }
    }

    #[test]
    fn one_name_per_tensor_still_needs_every_tensor() {
        let schema = Schema::of(Arch::Eresfd);
        let mut sd = StateDict::new();
        for e in schema.entries() {
            if e.key == "base.m0.layer4.1.res_layer.3.weight" || e.key == "conf.2.bias" {
                continue;
            }
            let n = e.shape.iter().product::<i64>() as usize;
            let key = aliases::alias(Arch::Eresfd, &e.key).unwrap_or(e.key.clone());
            sd.push(
                &key,
                if e.int64 {
                    Array::i64(&e.shape, vec![0; n])
                } else {
                    Array::f32(&e.shape, vec![0.0; n])
                },
            );
        }
        let err = schema.check(&sd).unwrap_err().to_string();
        assert_eq!(
            err,
            "the state dict does not match the eresfd model; 2 missing key(s): \
             base.m0.layer4.1.res_layer.3.weight (or base.m0.b2_4.1.res_layer.3.weight), \
             conf.2.bias (or conf2.bias)"
        );
    }

    #[test]
    fn non_finite_values_are_refused_naming_the_key() {
        let schema = Schema::of(Arch::Extd);
        let mut sd = StateDict::new();
        for e in schema.entries() {
            let n = e.shape.iter().product::<i64>() as usize;
            sd.push(
                &e.key,
                if e.int64 {
                    Array::i64(&e.shape, vec![0; n])
                } else {
                    Array::f32(&e.shape, vec![0.5; n])
                },
            );
        }
        schema.check(&sd).unwrap();
        let conv = schema.entries()[0].key.clone();
        sd.get_mut(&conv).unwrap().as_f32_mut().unwrap()[1] = f32::NAN;
        let bn = schema
            .keys()
            .find(|k| k.ends_with("running_var"))
            .unwrap()
            .to_string();
        sd.get_mut(&bn).unwrap().as_f32_mut().unwrap()[0] = f32::INFINITY;
        schema.check_structure(&sd).unwrap();
        let err = schema.check(&sd).unwrap_err().to_string();
        let n = |k: &str| sd.get(k).unwrap().numel();
        assert_eq!(
            err,
            format!(
                "2 tensor(s) hold NaN or infinite values: {conv} (1 of {} values), {bn} (1 of {} \
                 values); the weights are damaged (a diverged training run?) and cannot be used",
                n(&conv),
                n(&bn)
            )
        );
    }

    #[test]
    fn a_non_finite_tensor_named_by_its_alias_alone_is_refused() {
        // The baselines' layout: every alias pair under its alias name only.
        let schema = Schema::of(Arch::Eresfd);
        let mut sd = StateDict::new();
        for e in schema.entries() {
            let n = e.shape.iter().product::<i64>() as usize;
            let key = aliases::alias(Arch::Eresfd, &e.key).unwrap_or(e.key.clone());
            sd.push(
                &key,
                if e.int64 {
                    Array::i64(&e.shape, vec![0; n])
                } else {
                    Array::f32(&e.shape, vec![0.5; n])
                },
            );
        }
        schema.check(&sd).unwrap();
        let alias = aliases::alias(Arch::Eresfd, "base.m0.layer4.1.res_layer.3.weight").unwrap();
        sd.get_mut(&alias).unwrap().as_f32_mut().unwrap()[0] = f32::NAN;
        let err = schema.check(&sd).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "1 tensor(s) hold NaN or infinite values: {alias} (1 of"
            )),
            "{err}"
        );
    }

    #[test]
    fn check_names_missing_unexpected_and_misshaped_keys() {
        let schema = Schema::of(Arch::Extd);
        let mut sd = StateDict::new();
        for e in schema.entries().iter().skip(1) {
            let shape = if e.key == "loc.0.bias" {
                vec![3]
            } else {
                e.shape.clone()
            };
            let n = shape.iter().product::<i64>() as usize;
            sd.push(
                &e.key,
                if e.int64 {
                    Array::i64(&shape, vec![0; n])
                } else {
                    Array::f32(&shape, vec![0.0; n])
                },
            );
        }
        sd.push("extra.weight", Array::f32(&[1], vec![0.0]));
        let err = schema.check(&sd).unwrap_err().to_string();
        let first = &schema.entries()[0].key;
        assert!(err.contains(&format!("1 missing key(s): {first}")), "{err}");
        assert!(err.contains("1 unexpected key(s): extra.weight"), "{err}");
        assert!(
            err.contains("1 mis-shaped key(s): loc.0.bias (expected Float [4], found Float [3])"),
            "{err}"
        );
    }
}
