//! The model a command runs: a zoo name or a checkpoint file, with its network. One place for
//! every command that takes a model (`detect`, `eval`, `bench infer`, `export`, and the pruning
//! stages' starting weights), so they accept and refuse the same things; only what happens to a
//! zoo model that is not downloaded yet differs ([`IfMissing`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::checkpoint::{StateDict, identify};
use crate::fetch::{self, FetchOptions};
use crate::progress::Progress;
use crate::zoo::{Arch, Model, Zoo};

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
