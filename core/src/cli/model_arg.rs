//! The model a command runs: a zoo name or a checkpoint file, with its network. One place for
//! every command that takes a model (`detect`, `eval`, `bench infer`, `export`, and the pruning
//! stages' starting weights), so they accept and refuse the same things; only what happens to a
//! zoo model that is not downloaded yet differs ([`IfMissing`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::checkpoint::{StateDict, identify};
use crate::fetch::{self, FetchOptions};
use crate::progress::Progress;
use crate::zoo::{Arch, Method, Model, Zoo};

/// What to do with a zoo model that is not downloaded yet.
pub enum IfMissing<'a> {
    /// Stop with an error that says how to fetch it: a command that runs in seconds should not
    /// start a download on a typo.
    Refuse,
    /// Download and verify it: the pruning stages, which run for hours anyway.
    Fetch {
        /// Mirror and retries.
        options: &'a FetchOptions,
        /// Where the download's progress goes.
        progress: &'a dyn Progress,
    },
}

/// `--arch eresfd|extd` as a clap parser, so `--help` lists the two values.
pub fn arch_parser() -> impl clap::builder::TypedValueParser<Value = Arch> {
    use clap::builder::PossibleValue;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new([
        PossibleValue::new("eresfd").help("EResFD (92,208 parameters)"),
        PossibleValue::new("extd").help("EXTD (162,352 parameters)"),
    ])
    .map(|s| parse_arch(&s).expect("one of the possible values"))
}

/// `--method bfpgm|fpgm|l1|unpruned` as a clap parser, so `--help` lists the values.
pub fn method_parser() -> impl clap::builder::TypedValueParser<Value = Method> {
    use clap::builder::PossibleValue;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new([
        PossibleValue::new("bfpgm").help("B-FPGM: per-group rates searched by BO, soft FPGM"),
        PossibleValue::new("fpgm").help("uniform FPGM (the WACVW 2024 baselines)"),
        PossibleValue::new("l1").help("uniform L1-norm pruning (the WACVW 2024 baselines)"),
        PossibleValue::new("unpruned").help("the starting points"),
    ])
    .map(|s| {
        *Method::ALL
            .iter()
            .find(|m| m.to_string() == s)
            .expect("one of the possible values")
    })
}

/// `--arch eresfd|extd`.
pub fn parse_arch(s: &str) -> Result<Arch, String> {
    match s {
        "eresfd" => Ok(Arch::Eresfd),
        "extd" => Ok(Arch::Extd),
        other => Err(format!(
            "unknown architecture '{other}'; use eresfd or extd"
        )),
    }
}

/// The name a run gives a model: its zoo name, or the checkpoint file's stem.
pub fn model_name(checkpoint: &Path, model: Option<&Model>) -> Result<String> {
    match model {
        Some(m) => Ok(m.name().to_string()),
        None => checkpoint
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .with_context(|| format!("{} has no file name", checkpoint.display())),
    }
}

/// The names a command was given with each zoo group of models (`models`, `baselines`, `eresfd`,
/// …) replaced by its models in registry order; other names (models, files) stay as they are.
pub fn expand_groups(zoo: &Zoo, names: &[String]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| {
            let members: Vec<String> = zoo
                .models
                .iter()
                .filter(|m| m.artifact.groups.contains(n))
                .map(|m| m.name().to_string())
                .collect();
            if members.is_empty() || zoo.model(n).is_ok() {
                vec![n.clone()]
            } else {
                members
            }
        })
        .collect()
}

/// A model named on the command line: a zoo model under `data` (with its registry entry; one not
/// downloaded yet is refused or fetched, as `missing` says), or a checkpoint file. A file's
/// network is `arch` when given, otherwise told from its keys; `arch` contradicting a zoo model is
/// an error.
pub fn resolve<'z>(
    zoo: &'z Zoo,
    data: &Path,
    name: &str,
    arch: Option<Arch>,
    missing: IfMissing,
) -> Result<(PathBuf, Arch, Option<&'z Model>)> {
    if let Ok(m) = zoo.model(name) {
        if let Some(a) = arch
            && a != m.arch
        {
            bail!(
                "--arch {a} contradicts zoo model '{name}', which is {}",
                m.arch
            );
        }
        let path = match missing {
            IfMissing::Refuse => fetch::require(&m.artifact, data)?,
            IfMissing::Fetch { options, progress } => {
                fetch::ensure(zoo, data, &[m.name()], options, progress)?;
                m.artifact.path(data)
            }
        };
        return Ok((path, m.arch, Some(m)));
    }
    let path = PathBuf::from(name);
    if path.is_file() {
        let arch = match arch {
            Some(a) => a,
            // A file that is no checkpoint at all says so itself; only one whose keys are of
            // neither network needs --arch mentioned.
            None => identify(&StateDict::read(&path)?).with_context(|| {
                format!(
                    "{} holds weights of neither network (without --arch the network is told \
                     from the keys)",
                    path.display()
                )
            })?,
        };
        return Ok((path, arch, None));
    }
    Err(zoo.model(name).unwrap_err())
        .with_context(|| format!("'{name}' is neither a zoo model nor a checkpoint file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_expand_to_their_models_in_registry_order() {
        let zoo = Zoo::builtin();
        let names = ["extd", "runs/x/model.pth", "eresfd-30"].map(String::from);
        let got = expand_groups(&zoo, &names);
        assert_eq!(got.len(), 13 + 2);
        assert_eq!(
            got[..3],
            ["extd-original", "extd-20", "extd-baseline-original"]
        );
        assert_eq!(got[13..], ["runs/x/model.pth", "eresfd-30"]);
    }
}
