//! The record a pruned model carries beside its weights (`model.json` beside `model.pth`): the
//! rates it was pruned with, how filters were ranked, what fine-tuning trained, and what its
//! weights measure. The pipeline writes it; `reproduce tables --checkpoint` reads it back and
//! checks the weights against it, without running anything.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::groups::{GROUPS, Grouping};
use crate::measure::{Measurement, RateRange, Sparsity};
use crate::zoo::{Arch, Artifact, Expected, Method, Model, Published};

/// The final checkpoint in the run folder.
pub const MODEL: &str = "model.pth";
/// The record beside it.
pub const RECORD: &str = "model.json";

/// How filters are ranked for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Filter Pruning via Geometric Median: smallest summed distance to all filters goes first.
    Fpgm,
    /// Smallest L1 norm goes first (the baseline of the authors' earlier work).
    L1,
}

/// Which parameters fine-tuning trains (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Semantics {
    /// Upstream's: the grouped convs are frozen; BatchNorm, the heads outside the groups and
    /// EResFD's `w1` train.
    Upstream,
    /// Everything trains except the zeroed filters, held at 0 (a different algorithm).
    FixedMasks,
}

/// The record written beside a pruned model ([`RECORD`]): the rates it was pruned with and what
/// its weights measure. `reproduce tables --checkpoint` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The detector.
    pub arch: Arch,
    /// The grouping of the rates.
    pub grouping: Grouping,
    /// FPGM or L1.
    pub criterion: Criterion,
    /// Which parameters fine-tuning trained.
    pub semantics: Semantics,
    /// The target sparsity of the search, as a fraction.
    pub target: Option<f64>,
    /// The rates the model was pruned with, G1..G6.
    pub rates: [f64; GROUPS],
    /// The checkpoint's file name, beside the record.
    pub checkpoint: String,
    /// `calc_sparsity` of the weights.
    pub sparsity: Sparsity,
    /// The same in percent.
    pub sparsity_percent: f64,
    /// Per group, the rates consistent with the zeros found (`None`: no single rate).
    pub group_ranges: Vec<Option<RateRange>>,
    /// Per group, whether `rates` gives exactly the zeros found.
    pub reproduces: Vec<bool>,
    /// All-zero output filters over every conv.
    pub zero_filters: usize,
    /// Output filters over every conv.
    pub filters: usize,
}

impl Record {
    /// Measures `checkpoint` and records it with what it was made with.
    pub fn measure(checkpoint: &Path, arch: Arch, made: &Made) -> Result<Record> {
        let m = Measurement::read(checkpoint, arch, made.grouping)?;
        Ok(Record {
            arch,
            grouping: made.grouping,
            criterion: made.criterion,
            semantics: made.semantics,
            target: made.target,
            rates: made.rates,
            checkpoint: checkpoint
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sparsity: m.sparsity,
            sparsity_percent: m.sparsity.percent(),
            group_ranges: (0..GROUPS).map(|g| m.group_range(g)).collect(),
            reproduces: (0..GROUPS)
                .map(|g| m.reproduces(g, made.rates[g]))
                .collect(),
            zero_filters: m.zero_filters(),
            filters: m.filters(),
        })
    }

    /// The record beside `checkpoint` (`<dir>/model.json` for `<dir>/model.pth`, else
    /// `<checkpoint>.json`).
    pub fn path_for(checkpoint: &Path) -> PathBuf {
        if checkpoint.file_name().is_some_and(|n| n == MODEL) {
            checkpoint.with_file_name(RECORD)
        } else {
            let mut name = checkpoint.as_os_str().to_owned();
            name.push(".json");
            PathBuf::from(name)
        }
    }

    /// Reads the record beside `checkpoint`.
    pub fn read_for(checkpoint: &Path) -> Result<Record> {
        let path = Record::path_for(checkpoint);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}, the record of the rates {} was pruned with (written by \
                 `reproduce finetune` and `reproduce pipeline` beside their model.pth)",
                path.display(),
                checkpoint.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// Writes the record beside `checkpoint`.
    pub fn write_for(&self, checkpoint: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("serialises");
        write_atomic(
            &Record::path_for(checkpoint),
            format!("{json}\n").as_bytes(),
        )
    }

    /// The model as a table row sees it: the recorded rates and sparsity stand where a zoo
    /// model has the README's, so the tables check the weights against what the run recorded.
    pub fn as_model(&self, name: &str, checkpoint: &Path) -> Model {
        Model {
            artifact: Artifact {
                name: name.to_string(),
                file: self.checkpoint.clone(),
                bytes: std::fs::metadata(checkpoint).map_or(0, |m| m.len()),
                sha256: String::new(),
                urls: Vec::new(),
                dest: checkpoint
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                extract: false,
                groups: Vec::new(),
            },
            arch: self.arch,
            method: Method::Bfpgm,
            paper: None,
            target_rate: self.target,
            published: Some(Published {
                group_rates: self.rates.to_vec(),
                sparsity: self.sparsity.truncated_percent(),
                ap: None,
            }),
            expected: Expected {
                params: self.sparsity.total,
                sparsity: self.sparsity_percent,
                zero_filters: self.zero_filters as u64,
                mini_ap: None,
                mini_ap_band: None,
                ap: None,
            },
        }
    }
}

/// How a pruned model was made, as [`Record::measure`] records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Made {
    /// The grouping of the rates.
    pub grouping: Grouping,
    /// The rates, G1..G6.
    pub rates: [f64; GROUPS],
    /// FPGM or L1.
    pub criterion: Criterion,
    /// Which parameters fine-tuning trained.
    pub semantics: Semantics,
    /// The target sparsity of the search, as a fraction.
    pub target: Option<f64>,
}
