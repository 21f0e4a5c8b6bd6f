//! The registry of everything `reproduce` downloads: `zoo.yaml`, parsed into one typed value.
//!
//! `zoo.yaml` is the single home of the published checkpoints (architecture, pruning method,
//! source paper, upstream file, pinned URL, size, sha256, the README's group rates and sparsity,
//! and the values measured on the released weights) and of the WIDER FACE archives and
//! ground-truth files. Besides B-FPGM's own models it holds the uniform FPGM and L1 baselines the
//! paper compares against (docs/upstream.md §baselines), so the paper's claim can be measured.
//! Everything else asks this module by name: `fetch/` for what to download, `report/` for the
//! published numbers, `check` for the expectations. Parsing validates every field and names the entry, its line
//! and the field when something is wrong, so a bad edit fails before any download starts.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// The registry shipped with this source tree; a different one can be given with `--zoo`.
pub const BUILTIN_ZOO: &str = include_str!("../../zoo.yaml");

/// Where checkpoints are stored, relative to the data directory (as upstream's `Pruned_Models/`).
pub const MODELS_DIR: &str = "Pruned_Models";

/// The group of B-FPGM's released models, the paper's tables' rows.
pub const GROUP_MODELS: &str = "models";
/// Every entry of the registry.
pub const GROUP_ALL: &str = "all";

/// The two detectors B-FPGM prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// EResFD (92,208 parameters), the paper's main subject.
    Eresfd,
    /// EXTD (162,352 parameters), the paper's ablation.
    Extd,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::Eresfd => "eresfd",
            Arch::Extd => "extd",
        })
    }
}

/// How a checkpoint's weights were made, which decides the line it is drawn on in `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// B-FPGM: one FPGM rate per layer group, searched by Bayesian optimisation, with SFP.
    Bfpgm,
    /// Uniform FPGM: one rate for every pruned conv, with SFP (the WACVW 2024 baseline).
    Fpgm,
    /// Uniform L1-norm pruning, otherwise as `Fpgm` (the other WACVW 2024 baseline).
    L1,
    /// Not pruned: the starting point the pruned models of the same paper were made from.
    Unpruned,
}

impl Method {
    /// Every method, in the order tables and `--method` list them.
    pub const ALL: [Method; 4] = [Method::Bfpgm, Method::Fpgm, Method::L1, Method::Unpruned];
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Bfpgm => "bfpgm",
            Method::Fpgm => "fpgm",
            Method::L1 => "l1",
            Method::Unpruned => "unpruned",
        })
    }
}

/// A paper whose released checkpoints the zoo holds, with the repository commit they are pinned
/// to; every URL of its models must point into that commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paper {
    /// Short id the models refer to, e.g. `bfpgm`.
    pub id: String,
    /// Authors, title and venue, as a citation.
    pub cite: String,
    /// arXiv identifier.
    pub arxiv: String,
    /// `owner/name` on GitHub.
    pub repository: String,
    /// Full commit hash the checkpoints are downloaded from.
    pub commit: String,
}

/// Comparison tolerances used by `reproduce check`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerances {
    /// Absolute tolerance on sparsity, in percentage points.
    pub sparsity: f64,
    /// Absolute tolerance on each AP where a model records no stability band, and the least
    /// tolerance where it does ([`Expected::ap_tolerance`]).
    pub ap: f64,
}

/// Average precision on the three WIDER FACE settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApTriple {
    /// AP on the easy setting.
    pub easy: f64,
    /// AP on the medium setting.
    pub medium: f64,
    /// AP on the hard setting.
    pub hard: f64,
}

impl ApTriple {
    /// The largest absolute difference to another triple, setting by setting.
    pub fn max_abs_diff(&self, other: &ApTriple) -> f64 {
        [
            (self.easy - other.easy).abs(),
            (self.medium - other.medium).abs(),
            (self.hard - other.hard).abs(),
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }
}

/// What the upstream README publishes for a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// One pruning rate per layer group G1..G6, as fractions.
    pub group_rates: Vec<f64>,
    /// Whole-model sparsity in percent, as printed (truncated to 2 decimals).
    pub sparsity: f64,
    /// Published WIDER FACE val APs, where known.
    #[serde(default)]
    pub ap: Option<ApTriple>,
}

/// What the released weights measure; `reproduce check` compares against these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Number of parameters, each tensor counted once.
    pub params: u64,
    /// `calc_sparsity` in percent, to 4 decimals.
    pub sparsity: f64,
    /// All-zero output filters over all convolutions.
    pub zero_filters: u64,
    /// Upstream protocol APs on the 50-image mini val set (`--subset`).
    #[serde(default)]
    pub mini_ap: Option<ApTriple>,
    /// The stability band of `mini_ap`: per setting, the largest distance from it of the APs
    /// this port measured over kernel settings (libtorch thread counts; `docs/evaluation.md`).
    /// Models with many exactly tied scores move with the last bits of the convolutions.
    #[serde(default)]
    pub mini_ap_band: Option<ApTriple>,
    /// Upstream protocol APs on the full WIDER FACE val set.
    #[serde(default)]
    pub ap: Option<ApTriple>,
}

impl Expected {
    /// The tolerance `reproduce check` gives each mini-set AP: the model's band, at least
    /// `floor` (the registry's `tolerances.ap`). Below the band a correct build would report
    /// drift on some kernel setting; far above it real drift would hide.
    pub fn ap_tolerance(&self, floor: f64) -> ApTriple {
        let band = self.mini_ap_band.unwrap_or(ApTriple {
            easy: 0.0,
            medium: 0.0,
            hard: 0.0,
        });
        ApTriple {
            easy: band.easy.max(floor),
            medium: band.medium.max(floor),
            hard: band.hard.max(floor),
        }
    }
}

/// One downloadable file: where it comes from, how to check it, where it goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    /// Registry name, e.g. `eresfd-30` or `wider-val`.
    pub name: String,
    /// File name, as upstream spells it; mirrors are searched by this name.
    pub file: String,
    /// Exact size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the whole file.
    pub sha256: String,
    /// Download URLs, tried in order.
    pub urls: Vec<String>,
    /// Folder, relative to the data directory, that receives the file (and its contents).
    pub dest: PathBuf,
    /// Whether the file is a zip archive to unpack into `dest` after verification.
    pub extract: bool,
    /// Named groups this entry belongs to.
    pub groups: Vec<String>,
}

impl Artifact {
    /// Path of the downloaded file under `data_dir`.
    pub fn path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(&self.dest).join(&self.file)
    }
}

/// A released checkpoint with its metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    /// The file and how to fetch it.
    pub artifact: Artifact,
    /// Which network the weights belong to.
    pub arch: Arch,
    /// How the weights were made.
    pub method: Method,
    /// The id of the paper that released them (`None` for a checkpoint of one's own).
    pub paper: Option<String>,
    /// The target pruning rate the model was made for; `None` for the unpruned originals.
    pub target_rate: Option<f64>,
    /// The upstream README's per-group rates and sparsity, for the models of its tables; the
    /// baselines' paper publishes only the target rate.
    pub published: Option<Published>,
    /// Measured values used by `reproduce check`.
    pub expected: Expected,
}

impl Model {
    /// Registry name of the model.
    pub fn name(&self) -> &str {
        &self.artifact.name
    }
}

/// The parsed and validated registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Zoo {
    /// The papers whose checkpoints are listed, with their pinned repositories.
    pub papers: Vec<Paper>,
    /// Tolerances for `reproduce check`.
    pub tolerances: Tolerances,
    /// Checkpoints, in registry order.
    pub models: Vec<Model>,
    /// Datasets and ground truth, in registry order.
    pub files: Vec<Artifact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZoo {
    version: u32,
    papers: Vec<Paper>,
    tolerances: Tolerances,
    models: Vec<RawModel>,
    files: Vec<RawFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: Spanned<String>,
    arch: Arch,
    method: Method,
    paper: String,
    groups: Vec<String>,
    file: String,
    bytes: u64,
    sha256: String,
    urls: Vec<String>,
    target_rate: Option<f64>,
    #[serde(default)]
    published: Option<Published>,
    expected: Expected,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Spanned<String>,
    file: String,
    bytes: u64,
    sha256: String,
    urls: Vec<String>,
    dest: String,
    #[serde(default)]
    extract: bool,
    #[serde(default)]
    groups: Vec<String>,
}

/// Locates a problem in the registry for error messages.
struct Site<'a> {
    source: &'a str,
    line: u64,
    name: &'a str,
}

impl Site<'_> {
    fn err(&self, field: &str, why: impl fmt::Display) -> anyhow::Error {
        anyhow::anyhow!(
            "{} line {} (entry '{}'): field '{}': {}",
            self.source,
            self.line,
            self.name,
            field,
            why
        )
    }
}

impl Zoo {
    /// Parses and validates a registry; `source` names it in error messages.
    pub fn parse(text: &str, source: &str) -> Result<Zoo> {
        let raw: RawZoo =
            serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        if raw.version != 1 {
            bail!(
                "{source}: unsupported registry version {} (this build reads 1)",
                raw.version
            );
        }
        if !(raw.tolerances.sparsity >= 0.0 && raw.tolerances.ap >= 0.0) {
            bail!("{source}: field 'tolerances': tolerances must be non-negative numbers");
        }
        let mut models = Vec::new();
        for m in raw.models {
            let site = Site {
                source,
                line: m.name.referenced.line(),
                name: &m.name.value,
            };
            let Some(paper) = raw.papers.iter().find(|p| p.id == m.paper) else {
                let ids: Vec<&str> = raw.papers.iter().map(|p| p.id.as_str()).collect();
                return Err(site.err(
                    "paper",
                    format!(
                        "'{}' is none of the papers listed ({})",
                        m.paper,
                        ids.join(", ")
                    ),
                ));
            };
            let pinned = format!("/{}/{}/", paper.repository, paper.commit);
            if let Some(u) = m.urls.iter().find(|u| !u.contains(&pinned)) {
                return Err(site.err(
                    "urls",
                    format!(
                        "'{u}' is not pinned to {} @ {}",
                        paper.repository, paper.commit
                    ),
                ));
            }
            let artifact = check_artifact(
                &site,
                &m.name.value,
                m.file,
                m.bytes,
                m.sha256,
                m.urls,
                MODELS_DIR,
                false,
                m.groups,
            )?;
            match (m.method, m.target_rate) {
                (Method::Unpruned, Some(_)) => {
                    return Err(site.err("target_rate", "an unpruned model has none (null)"));
                }
                (Method::Unpruned, None) => {}
                (_, None) => return Err(site.err("target_rate", "a pruned model needs one")),
                (_, Some(t)) if !(0.0..1.0).contains(&t) => {
                    return Err(site.err("target_rate", format!("{t} is not in [0, 1)")));
                }
                _ => {}
            }
            if let Some(published) = &m.published {
                check_published(&site, published)?;
            }
            if !(0.0..=100.0).contains(&m.expected.sparsity) {
                return Err(site.err(
                    "expected.sparsity",
                    format!("{} is not a percentage", m.expected.sparsity),
                ));
            }
            models.push(Model {
                artifact,
                arch: m.arch,
                method: m.method,
                paper: Some(m.paper),
                target_rate: m.target_rate,
                published: m.published,
                expected: m.expected,
            });
        }
        let mut files = Vec::new();
        for f in raw.files {
            let site = Site {
                source,
                line: f.name.referenced.line(),
                name: &f.name.value,
            };
            if f.dest.is_empty() || Path::new(&f.dest).is_absolute() || f.dest.contains("..") {
                return Err(site.err(
                    "dest",
                    "must be a relative folder inside the data directory",
                ));
            }
            if f.extract && !f.file.ends_with(".zip") {
                return Err(site.err("extract", "only .zip archives can be extracted"));
            }
            files.push(check_artifact(
                &site,
                &f.name.value,
                f.file,
                f.bytes,
                f.sha256,
                f.urls,
                &f.dest,
                f.extract,
                f.groups,
            )?);
        }
        let zoo = Zoo {
            papers: raw.papers,
            tolerances: raw.tolerances,
            models,
            files,
        };
        zoo.check_unique(source)?;
        Ok(zoo)
    }

    /// The registry compiled into this binary.
    pub fn builtin() -> Zoo {
        Zoo::parse(BUILTIN_ZOO, "zoo.yaml (built in)").expect("the built-in zoo.yaml is valid")
    }

    /// Reads a registry file.
    pub fn load(path: &Path) -> Result<Zoo> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Zoo::parse(&text, &path.display().to_string())
    }

    fn check_unique(&self, source: &str) -> Result<()> {
        let mut names = BTreeSet::new();
        let mut files = BTreeSet::new();
        for a in self.artifacts() {
            if !names.insert(a.name.as_str()) {
                bail!("{source}: entry name '{}' appears twice", a.name);
            }
            if !files.insert((a.dest.clone(), a.file.as_str())) {
                bail!(
                    "{source}: entry '{}': file {} is listed twice",
                    a.name,
                    a.file
                );
            }
        }
        for g in self.group_names() {
            if names.contains(g.as_str()) {
                bail!("{source}: '{g}' is both an entry and a group name");
            }
        }
        Ok(())
    }

    /// Every downloadable entry, models first.
    pub fn artifacts(&self) -> impl Iterator<Item = &Artifact> {
        self.models
            .iter()
            .map(|m| &m.artifact)
            .chain(self.files.iter())
    }

    /// All group names, including `all`.
    pub fn group_names(&self) -> BTreeSet<String> {
        let mut g: BTreeSet<String> = self
            .artifacts()
            .flat_map(|a| a.groups.iter().cloned())
            .collect();
        g.insert(GROUP_ALL.to_string());
        g
    }

    /// The paper with this id.
    pub fn paper(&self, id: &str) -> Option<&Paper> {
        self.papers.iter().find(|p| p.id == id)
    }

    /// Looks a model up by registry name; an unknown name suggests the nearest ones.
    pub fn model(&self, name: &str) -> Result<&Model> {
        self.models
            .iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.models.iter().map(|m| m.name()).collect();
                unknown_name("model", name, &names, "reproduce zoo list")
            })
    }

    /// Expands entry and group names into entries, in registry order, without duplicates.
    pub fn resolve(&self, names: &[String]) -> Result<Vec<&Artifact>> {
        let mut wanted = BTreeSet::new();
        for n in names {
            let matches: Vec<&Artifact> = if n == GROUP_ALL {
                self.artifacts().collect()
            } else {
                self.artifacts()
                    .filter(|a| a.name == *n || a.groups.contains(n))
                    .collect()
            };
            if matches.is_empty() {
                let mut known: Vec<String> = self.artifacts().map(|a| a.name.clone()).collect();
                known.extend(self.group_names());
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                return Err(unknown_name(
                    "name or group",
                    n,
                    &known,
                    "reproduce zoo list",
                ));
            }
            wanted.extend(matches.into_iter().map(|a| a.name.clone()));
        }
        Ok(self
            .artifacts()
            .filter(|a| wanted.contains(&a.name))
            .collect())
    }
}

/// The README's numbers of a model: six group rates in `[0, 1)` and a percentage.
fn check_published(site: &Site<'_>, published: &Published) -> Result<()> {
    if published.group_rates.len() != 6 {
        return Err(site.err(
            "published.group_rates",
            format!(
                "expected 6 rates (G1..G6), found {}",
                published.group_rates.len()
            ),
        ));
    }
    if let Some(r) = published
        .group_rates
        .iter()
        .find(|r| !(0.0..1.0).contains(*r))
    {
        return Err(site.err("published.group_rates", format!("{r} is not in [0, 1)")));
    }
    if !(0.0..=100.0).contains(&published.sparsity) {
        return Err(site.err(
            "published.sparsity",
            format!("{} is not a percentage", published.sparsity),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_artifact(
    site: &Site<'_>,
    name: &str,
    file: String,
    bytes: u64,
    sha256: String,
    urls: Vec<String>,
    dest: &str,
    extract: bool,
    groups: Vec<String>,
) -> Result<Artifact> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(site.err("name", "use lower-case letters, digits and '-'"));
    }
    if file.is_empty() || file.contains('/') || file.contains('\\') || file.starts_with('.') {
        return Err(site.err("file", format!("'{file}' is not a plain file name")));
    }
    if bytes == 0 {
        return Err(site.err("bytes", "must be the exact, non-zero size"));
    }
    if sha256.len() != 64
        || !sha256
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(site.err(
            "sha256",
            format!("'{sha256}' is not 64 lower-case hex digits"),
        ));
    }
    if let Some(u) = urls
        .iter()
        .find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        return Err(site.err("urls", format!("'{u}' is not an http(s) URL")));
    }
    if let Some(g) = groups
        .iter()
        .find(|g| g.as_str() == GROUP_ALL || g.is_empty())
    {
        return Err(site.err("groups", format!("'{g}' cannot be used as a group name")));
    }
    Ok(Artifact {
        name: name.to_string(),
        file,
        bytes,
        sha256,
        urls,
        dest: PathBuf::from(dest),
        extract,
        groups,
    })
}

/// An "unknown X" error that lists the closest known names and the command that lists all.
pub fn unknown_name(kind: &str, given: &str, known: &[&str], list_cmd: &str) -> anyhow::Error {
    let mut scored: Vec<(f64, &str)> = known
        .iter()
        .map(|k| (strsim::jaro_winkler(given, k), *k))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let close: Vec<&str> = scored
        .iter()
        .filter(|(s, _)| *s > 0.7)
        .take(3)
        .map(|(_, k)| *k)
        .collect();
    if close.is_empty() {
        anyhow::anyhow!("unknown {kind} '{given}'; `{list_cmd}` lists them")
    } else {
        anyhow::anyhow!(
            "unknown {kind} '{given}'; did you mean {}? (`{list_cmd}` lists them)",
            close
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_has_the_nine_checkpoints_and_groups() {
        let zoo = Zoo::builtin();
        let names: Vec<&str> = zoo
            .resolve(&[GROUP_MODELS.into()])
            .unwrap()
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "eresfd-original",
                "eresfd-10",
                "eresfd-20",
                "eresfd-30",
                "eresfd-40",
                "eresfd-50",
                "eresfd-60",
                "extd-original",
                "extd-20"
            ]
        );
        for g in ["models", "baselines", "eresfd", "extd", "wider-gt", "all"] {
            assert!(zoo.group_names().contains(g), "missing group {g}");
        }
        let gt = zoo.resolve(&["wider-gt".into()]).unwrap();
        assert_eq!(gt.len(), 4);
        let bfpgm = zoo.paper("bfpgm").unwrap();
        assert!(gt.iter().all(|a| a.urls[0].contains(&bfpgm.commit)));
    }

    #[test]
    fn the_baselines_are_the_22_uniform_models_and_their_starting_points() {
        let zoo = Zoo::builtin();
        let baselines = zoo.resolve(&["baselines".into()]).unwrap();
        assert_eq!(baselines.len(), 22);
        for arch in [Arch::Eresfd, Arch::Extd] {
            let of: Vec<&Model> = zoo
                .models
                .iter()
                .filter(|m| m.arch == arch && m.paper.as_deref() == Some("uniform"))
                .collect();
            let count = |method| of.iter().filter(|m| m.method == method).count();
            assert_eq!(
                (
                    count(Method::Fpgm),
                    count(Method::L1),
                    count(Method::Unpruned)
                ),
                (5, 5, 1),
                "{arch}"
            );
            assert!(of.iter().all(|m| m.published.is_none()));
        }
        // Each network's group: B-FPGM's models of it and its baselines.
        assert_eq!(zoo.resolve(&["eresfd".into()]).unwrap().len(), 7 + 11);
        assert_eq!(zoo.resolve(&["extd".into()]).unwrap().len(), 2 + 11);
        let m = zoo.model("eresfd-l1-30").unwrap();
        assert_eq!((m.target_rate, m.expected.zero_filters), (Some(0.3), 226));
        assert!(m.artifact.urls[0].ends_with("/Pruned_Models/ERESFD/L1/ERES30_L1.pth"));
    }

    #[test]
    fn registry_agrees_with_the_mirror_sums_and_sizes() {
        let Some(sums) = crate::testutil::mirror_file("SHA256SUMS") else {
            return;
        };
        let sums = std::fs::read_to_string(sums).unwrap();
        let zoo = Zoo::builtin();
        let mut checked = 0;
        for line in sums.lines() {
            let (sha, file) = line.split_once("  ").unwrap();
            let a = zoo
                .artifacts()
                .find(|a| a.file == file)
                .unwrap_or_else(|| panic!("{file} not in zoo.yaml"));
            assert_eq!(a.sha256, sha, "{file}");
            let len = std::fs::metadata(crate::testutil::mirror_file(file).unwrap())
                .unwrap()
                .len();
            assert_eq!(a.bytes, len, "{file}");
            checked += 1;
        }
        assert_eq!(checked, 38);
    }

    #[test]
    fn resolve_expands_groups_in_registry_order_without_duplicates() {
        let zoo = Zoo::builtin();
        let got = zoo
            .resolve(&["extd-20".into(), "models".into(), "eresfd-10".into()])
            .unwrap();
        assert_eq!(got.len(), 9);
        assert_eq!(got[0].name, "eresfd-original");
        assert_eq!(got[8].name, "extd-20");
    }

    #[test]
    fn unknown_name_suggests_the_closest() {
        let zoo = Zoo::builtin();
        let err = zoo.resolve(&["eresfd-3".into()]).unwrap_err().to_string();
        assert!(err.contains("unknown name or group 'eresfd-3'"), "{err}");
        assert!(err.contains("'eresfd-30'"), "{err}");
        let err = zoo.model("extd20").unwrap_err().to_string();
        assert!(err.contains("did you mean 'extd-20'"), "{err}");
    }

    #[test]
    fn bad_field_names_entry_line_and_field() {
        let text = BUILTIN_ZOO.replacen(
            "sha256: 428fe0b4c0a846957f2deb4cf27148d1532d7e0f7c77ed26dddd04cd3346223e",
            "sha256: 428fe0b4",
            1,
        );
        let err = Zoo::parse(&text, "test.yaml").unwrap_err().to_string();
        let line = BUILTIN_ZOO
            .lines()
            .position(|l| l.contains("name: eresfd-30"))
            .unwrap()
            + 1;
        assert_eq!(
            err,
            format!(
                "test.yaml line {line} (entry 'eresfd-30'): field 'sha256': '428fe0b4' is not 64 lower-case hex digits"
            )
        );
    }

    #[test]
    fn wrong_number_of_group_rates_is_refused() {
        let text = BUILTIN_ZOO.replacen("group_rates: [0.2, 0.0, 0.079", "group_rates: [0.079", 1);
        let err = Zoo::parse(&text, "z.yaml").unwrap_err().to_string();
        assert!(
            err.contains("(entry 'eresfd-10'): field 'published.group_rates': expected 6"),
            "{err}"
        );
    }

    #[test]
    fn a_url_outside_its_papers_commit_is_refused() {
        let text = BUILTIN_ZOO.replacen(
            "Lightweight-Face-Detector-Pruning/e43e01a665d3cdfe50c244e441c10c0e53679f3b/EResFD",
            "Lightweight-Face-Detector-Pruning/main/EResFD",
            1,
        );
        let err = Zoo::parse(&text, "z.yaml").unwrap_err().to_string();
        assert!(
            err.contains("(entry 'eresfd-baseline-original'): field 'urls': "),
            "{err}"
        );
        assert!(
            err.ends_with(
                "is not pinned to IDT-ITI/Lightweight-Face-Detector-Pruning @ \
                 e43e01a665d3cdfe50c244e441c10c0e53679f3b"
            ),
            "{err}"
        );
        let text = BUILTIN_ZOO.replacen("    paper: uniform\n", "    paper: unknown\n", 1);
        let err = Zoo::parse(&text, "z.yaml").unwrap_err().to_string();
        assert!(
            err.ends_with("field 'paper': 'unknown' is none of the papers listed (bfpgm, uniform)"),
            "{err}"
        );
    }

    #[test]
    fn only_pruned_models_have_a_target_rate() {
        let text = BUILTIN_ZOO.replacen(
            "    method: unpruned\n    paper: uniform",
            "    method: fpgm\n    paper: uniform",
            1,
        );
        let err = Zoo::parse(&text, "z.yaml").unwrap_err().to_string();
        assert!(
            err.ends_with(
                "(entry 'eresfd-baseline-original'): field 'target_rate': a pruned model needs one"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_ap_tolerance_is_the_band_with_a_floor() {
        let mut e = Zoo::builtin().model("eresfd-30").unwrap().expected.clone();
        e.mini_ap_band = Some(ApTriple {
            easy: 3e-5,
            medium: 0.0,
            hard: 2e-4,
        });
        let t = e.ap_tolerance(1e-5);
        assert_eq!((t.easy, t.medium, t.hard), (3e-5, 1e-5, 2e-4));
        e.mini_ap_band = None;
        assert_eq!(e.ap_tolerance(1e-5).hard, 1e-5);
    }

    #[test]
    fn unknown_field_is_a_parse_error_with_location() {
        let text = BUILTIN_ZOO.replacen("    arch: extd\n", "    arch: extd\n    colour: red\n", 1);
        let err = Zoo::parse(&text, "z.yaml").unwrap_err().to_string();
        assert!(err.starts_with("z.yaml: "), "{err}");
        assert!(err.contains("colour"), "{err}");
    }
}
