//! The drift check a scheduled CI job runs (`reproduce check`): are the published models still
//! the ones whose numbers `zoo.yaml` records?
//!
//! For every model asked for, [`run`]:
//! 1. re-hashes the checkpoint against its sha256 (no stamp trusted). A missing file is fetched
//!    (mirror first, then the pinned URLs), which verifies it on the way in; a present file with
//!    the wrong hash is **not** replaced, it is reported, because a changed file is what the
//!    check exists to notice;
//! 2. reads the weights strictly and measures them ([`Measurement`]): parameters, `calc_sparsity`,
//!    all-zero filters, NaN or Inf values (`non_finite`, expected 0: damaged weights are drift,
//!    where every other command refuses them), and the group-rate tables
//!    ([`crate::report::tables`]);
//! 3. when an [`ApMeasure`] is given, measures the APs on its WIDER set;
//! 4. compares each number with `expected` in `zoo.yaml` under `tolerances` ([`Metric`]); a
//!    mini-set AP under the model's stability band (`expected.mini_ap_band`, at least
//!    `tolerances.ap`), since how far kernel settings alone move an AP differs from model to
//!    model ([`crate::zoo::Expected::ap_tolerance`]).
//!
//! A model is [`Verdict::Ok`] when every metric holds, [`Verdict::Drift`] when one does not, and
//! [`Verdict::Error`] when it could not be checked (missing or changed file, unreadable weights,
//! evaluation failure). The run's verdict is the worst of its models', and its exit code is 0, 1
//! or 2 respectively ([`Verdict::exit_code`]). The tables' published-versus-measured notes (the
//! 10 % EResFD row, …) are facts of the release, reported but never a verdict: drift is a change
//! from what the released weights measured.
//!
//! The JSON report ([`Report`], written by the CLI) is stable for CI:
//!
//! ```text
//! { "version": 1, "verdict": "ok" | "drift" | "error", "exit_code": 0 | 1 | 2,
//!   "data_dir": PATH, "tolerances": { "sparsity": 0.00005, "ap": 0.000001 },
//!   "ap_set": "mini" | "full" | null,                       // null: APs not measured
//!   "counts": { "models": 9, "ok": 9, "drift": 0, "error": 0 },
//!   "models": [ {
//!     "name": "eresfd-30", "arch": "eresfd", "path": PATH, "verdict": "ok",
//!     "file": { "result": "verified" | "fetched" | "missing" | "wrong_size" | "mismatch",
//!               "expected_sha256": HEX, "sha256": HEX | null, "bytes": N | null },
//!     "metrics": [ { "metric": "params" | "sparsity" | "zero_filters" | "non_finite"
//!                              | "mini_ap.easy" | ... | "ap.hard",
//!                    "measured": NUMBER, "expected": NUMBER | null,   // null: none recorded
//!                    "tolerance": NUMBER, "holds": true | false | null } ],
//!     "drifted": [ "sparsity", ... ],
//!     "error": MESSAGE | null } ],
//!   "tables": { ... }  }                                     // `reproduce tables --json`
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::checkpoint::{Schema, StateDict};
use crate::fetch::{self, Check, FetchOptions};
use crate::groups::Grouping;
use crate::measure::Measurement;
use crate::progress::Progress;
use crate::report::tables::{self, Tables};
use crate::report::text_table::TextTable;
use crate::wider::{EvalSet, zoo_gt_files};
use crate::zoo::{ApTriple, Arch, Model, Tolerances, Zoo};

/// Version of the report layout in the module doc; bumped on any incompatible change.
pub const REPORT_VERSION: u32 = 1;

/// The WIDER FACE val set APs are measured on, which decides the expectation they meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApSet {
    /// The 50 real images of `WIDER_val_mini.zip`, evaluated as a subset: `expected.mini_ap`.
    Mini,
    /// All 3,226 val images: `expected.ap`.
    Full,
}

impl ApSet {
    /// Fetches what measuring on this set needs (its images and the ground truth), verified,
    /// and says where it lies.
    pub fn prepare(
        self,
        zoo: &Zoo,
        data_dir: &Path,
        options: &FetchOptions,
        progress: &dyn Progress,
    ) -> Result<EvalSet> {
        let (names, images, subset): (&[&str], _, _) = match self {
            ApSet::Mini => (&["wider-mini", "wider-gt"], "WIDER-mini", true),
            ApSet::Full => (&["wider-val", "wider-gt"], "WIDER", false),
        };
        fetch::ensure(zoo, data_dir, names, options, progress)?;
        Ok(EvalSet {
            images: data_dir.join(images).join("WIDER_val").join("images"),
            ground_truth: zoo_gt_files(zoo, data_dir)?,
            subset,
        })
    }

    /// The metric prefix, the expectation a model records for this set, and the tolerance of
    /// each AP: on the mini set the model's stability band (at least `floor`), elsewhere `floor`.
    fn expectation(self, model: &Model, floor: f64) -> (&'static str, Option<ApTriple>, ApTriple) {
        match self {
            ApSet::Mini => (
                "mini_ap",
                model.expected.mini_ap,
                model.expected.ap_tolerance(floor),
            ),
            ApSet::Full => (
                "ap",
                model.expected.ap,
                ApTriple {
                    easy: floor,
                    medium: floor,
                    hard: floor,
                },
            ),
        }
    }
}

/// When to measure APs (`--eval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalChoice {
    /// On full WIDER val when it and its ground truth are downloaded; otherwise not.
    Auto,
    /// Never.
    Off,
    /// On the given set.
    On(ApSet),
}

impl EvalChoice {
    /// The set to measure on, if any; `Auto` looks for a verified, unpacked WIDER val (the
    /// `wider-val` and `wider-gt` entries) under `data_dir` without hashing.
    pub fn resolve(self, zoo: &Zoo, data_dir: &Path) -> Option<ApSet> {
        match self {
            EvalChoice::Off => None,
            EvalChoice::On(set) => Some(set),
            EvalChoice::Auto => {
                let present = zoo
                    .resolve(&["wider-val".to_string(), "wider-gt".to_string()])
                    .is_ok_and(|entries| {
                        entries
                            .iter()
                            .all(|a| fetch::cached_path(a, data_dir).is_some())
                    });
                present.then_some(ApSet::Full)
            }
        }
    }
}

/// Measures a zoo model's APs on one WIDER set with the upstream protocol: `bfpgm`'s
/// `eval::WiderAps`, which runs the networks, or a stand-in in tests; the check only compares
/// what it returns.
pub trait ApMeasure {
    /// The set it evaluates on.
    fn set(&self) -> ApSet;
    /// The APs of the checkpoint at `checkpoint`, which holds `model`'s weights.
    fn measure(&mut self, model: &Model, checkpoint: &Path) -> Result<ApTriple>;
}

/// The outcome of one model, or of the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every metric within tolerance.
    Ok,
    /// A metric moved beyond its tolerance.
    Drift,
    /// Could not be checked.
    Error,
}

impl Verdict {
    /// The process exit code: 0 ok, 1 drift, 2 could not check.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Drift => 1,
            Verdict::Error => 2,
        }
    }
}

/// What the hash check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileResult {
    /// Present and its sha256 is the registry's.
    Verified,
    /// Was missing; downloaded and verified now.
    Fetched,
    /// Missing, and fetching it failed.
    Missing,
    /// Present with another size.
    WrongSize,
    /// Present, right size, other content.
    Mismatch,
}

/// The hash check of one checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    /// What was found.
    pub result: FileResult,
    /// The registry's sha256.
    pub expected_sha256: String,
    /// The sha256 found, when the file was hashed and differs.
    pub sha256: Option<String>,
    /// The size found, when it differs.
    pub bytes: Option<u64>,
}

/// A count or a real number, so counts stay integers in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// An exact count.
    Count(u64),
    /// A measured quantity.
    Real(f64),
}

impl Value {
    fn as_f64(self) -> f64 {
        match self {
            Value::Count(n) => n as f64,
            Value::Real(x) => x,
        }
    }
}

impl std::fmt::Display for Value {
    /// Counts in full; real numbers to 6 decimals, which shows a drift of either tolerance in
    /// `zoo.yaml` (the report keeps full precision).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Real(x) => {
                let s = format!("{x:.6}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                f.write_str(if s == "-0" { "0" } else { s })
            }
        }
    }
}

/// One number compared with its expectation.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    /// Its name: `params`, `sparsity`, `zero_filters`, `mini_ap.easy`, `ap.hard`, ...
    pub metric: String,
    /// What the weights give now.
    pub measured: Value,
    /// What `zoo.yaml` records, if anything.
    pub expected: Option<Value>,
    /// The largest accepted `|measured − expected|`.
    pub tolerance: f64,
    /// Whether it is within tolerance; `None` when there is nothing to compare with.
    pub holds: Option<bool>,
}

impl Metric {
    fn new(metric: &str, measured: Value, expected: Option<Value>, tolerance: f64) -> Metric {
        let holds = expected.map(|e| (measured.as_f64() - e.as_f64()).abs() <= tolerance);
        Metric {
            metric: metric.to_string(),
            measured,
            expected,
            tolerance,
            holds,
        }
    }
}

/// The check of one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCheck {
    /// Zoo name.
    pub name: String,
    /// The network.
    pub arch: Arch,
    /// Where the checkpoint is.
    pub path: PathBuf,
    /// The model's outcome.
    pub verdict: Verdict,
    /// The hash check.
    pub file: FileCheck,
    /// Every number compared, in a fixed order.
    pub metrics: Vec<Metric>,
    /// Names of the metrics that do not hold.
    pub drifted: Vec<String>,
    /// Why the model could not be checked.
    pub error: Option<String>,
}

/// Models per verdict.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Models checked.
    pub models: usize,
    /// Within tolerance.
    pub ok: usize,
    /// Drifted.
    pub drift: usize,
    /// Could not be checked.
    pub error: usize,
}

/// The whole run, as written to the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The worst model verdict.
    pub verdict: Verdict,
    /// The exit code `reproduce check` returns.
    pub exit_code: u8,
    /// The data directory checked.
    pub data_dir: PathBuf,
    /// The tolerances applied (from `zoo.yaml`).
    pub tolerances: Tolerances,
    /// The set APs were measured on, if any.
    pub ap_set: Option<ApSet>,
    /// Models per verdict.
    pub counts: Counts,
    /// One entry per model, in zoo order.
    pub models: Vec<ModelCheck>,
    /// The tables of the models that could be measured (checkpoint-consistent grouping).
    pub tables: Tables,
}

/// Checks the named models and groups (every model when `names` is empty) under `data_dir`.
/// Problems with single models end up in the report; only a bad name or an unreadable data
/// directory is an error.
pub fn run<'a>(
    zoo: &Zoo,
    data_dir: &Path,
    names: &[String],
    fetch_options: &FetchOptions,
    mut aps: Option<&mut (dyn ApMeasure + 'a)>,
    progress: &dyn Progress,
) -> Result<Report> {
    let models: Vec<&Model> = if names.is_empty() {
        zoo.models.iter().collect()
    } else {
        let wanted = zoo.resolve(names)?;
        zoo.models
            .iter()
            .filter(|m| wanted.iter().any(|a| a.name == m.name()))
            .collect()
    };
    if models.is_empty() {
        anyhow::bail!(
            "{} names no model; `reproduce zoo list` lists them",
            names.join(" ")
        );
    }
    let ap_set = aps.as_ref().map(|a| a.set());
    let model_names: Vec<String> = models.iter().map(|m| m.name().to_string()).collect();
    let hashed = fetch::verify(zoo, data_dir, &model_names, false, progress)?;

    let mut checks = Vec::with_capacity(models.len());
    let mut measured = Vec::new();
    for model in &models {
        let verified = hashed
            .iter()
            .find(|v| v.name == model.name())
            .expect("verify reports every entry it is given");
        let mut check = ModelCheck {
            name: model.name().to_string(),
            arch: model.arch,
            path: verified.path.clone(),
            verdict: Verdict::Ok,
            file: FileCheck {
                result: FileResult::Verified,
                expected_sha256: model.artifact.sha256.clone(),
                sha256: None,
                bytes: None,
            },
            metrics: Vec::new(),
            drifted: Vec::new(),
            error: None,
        };
        let problem = match &verified.check {
            Check::Ok => None,
            Check::NotCached => {
                match fetch::fetch(zoo, data_dir, &[model.name()], fetch_options, progress) {
                    Ok(_) => {
                        check.file.result = FileResult::Fetched;
                        None
                    }
                    Err(e) => {
                        check.file.result = FileResult::Missing;
                        Some(e)
                    }
                }
            }
            Check::WrongSize { len } => {
                check.file.result = FileResult::WrongSize;
                check.file.bytes = Some(*len);
                Some(file_problem(model, &check))
            }
            Check::Mismatch { got } => {
                check.file.result = FileResult::Mismatch;
                check.file.sha256 = Some(got.clone());
                Some(file_problem(model, &check))
            }
        };
        let outcome = match problem {
            Some(e) => Err(e),
            None => measure(model, &check.path, zoo.tolerances, aps.as_deref_mut()),
        };
        match outcome {
            Ok((metrics, m)) => {
                check.drifted = metrics
                    .iter()
                    .filter(|x| x.holds == Some(false))
                    .map(|x| x.metric.clone())
                    .collect();
                check.verdict = if check.drifted.is_empty() {
                    Verdict::Ok
                } else {
                    Verdict::Drift
                };
                check.metrics = metrics;
                measured.push((*model, m));
            }
            Err(e) => {
                check.verdict = Verdict::Error;
                check.error = Some(format!("{e:#}"));
            }
        }
        checks.push(check);
    }

    let counts = Counts {
        models: checks.len(),
        ok: checks.iter().filter(|c| c.verdict == Verdict::Ok).count(),
        drift: checks
            .iter()
            .filter(|c| c.verdict == Verdict::Drift)
            .count(),
        error: checks
            .iter()
            .filter(|c| c.verdict == Verdict::Error)
            .count(),
    };
    let verdict = checks
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Ok);
    let pairs: Vec<(&Model, &Measurement)> = measured.iter().map(|(m, x)| (*m, x)).collect();
    Ok(Report {
        version: REPORT_VERSION,
        verdict,
        exit_code: verdict.exit_code(),
        data_dir: data_dir.to_path_buf(),
        tolerances: zoo.tolerances,
        ap_set,
        counts,
        models: checks,
        tables: tables::build(&pairs, Grouping::Checkpoint),
    })
}

/// Why a present file cannot be checked, with the next step.
fn file_problem(model: &Model, check: &ModelCheck) -> anyhow::Error {
    let found = match (&check.file.sha256, check.file.bytes) {
        (Some(sha), _) => format!(
            "its sha256 is {sha}, zoo.yaml records {}",
            model.artifact.sha256
        ),
        (None, Some(len)) => format!(
            "it has {len} bytes, zoo.yaml records {}",
            model.artifact.bytes
        ),
        (None, None) => "it is not the registry's file".to_string(),
    };
    anyhow::anyhow!(
        "{} has changed since it was fetched: {found}; `reproduce fetch {}` downloads it again",
        check.path.display(),
        model.name()
    )
}

/// Measures a verified checkpoint and compares it with the model's expectations.
fn measure<'a>(
    model: &Model,
    path: &Path,
    tolerances: Tolerances,
    aps: Option<&mut (dyn ApMeasure + 'a)>,
) -> Result<(Vec<Metric>, Measurement)> {
    // Non-finite values are a measurement here, not a refusal: the weights drifted.
    let schema = Schema::of(model.arch);
    let sd = schema
        .normalize_structure(&StateDict::read(path)?)
        .with_context(|| format!("{} does not hold {} weights", path.display(), model.arch))?;
    let non_finite: usize = schema.non_finite(&sd).iter().map(|(_, n, _)| n).sum();
    let m = Measurement::of(&sd, model.arch, Grouping::Checkpoint)
        .with_context(|| format!("measuring {}", path.display()))?;
    let e = &model.expected;
    let mut metrics = vec![
        Metric::new(
            "params",
            Value::Count(m.sparsity.total),
            Some(Value::Count(e.params)),
            0.0,
        ),
        Metric::new(
            "sparsity",
            Value::Real(m.sparsity.percent()),
            Some(Value::Real(e.sparsity)),
            tolerances.sparsity,
        ),
        Metric::new(
            "zero_filters",
            Value::Count(m.zero_filters() as u64),
            Some(Value::Count(e.zero_filters)),
            0.0,
        ),
        Metric::new(
            "non_finite",
            Value::Count(non_finite as u64),
            Some(Value::Count(0)),
            0.0,
        ),
    ];
    if let Some(aps) = aps {
        let (prefix, expected, tolerance) = aps.set().expectation(model, tolerances.ap);
        let got = aps.measure(model, path)?;
        metrics.extend(ap_metrics(prefix, got, expected, tolerance));
    }
    Ok((metrics, m))
}

/// The three AP metrics of a set, each with its tolerance.
fn ap_metrics(
    prefix: &str,
    got: ApTriple,
    expected: Option<ApTriple>,
    tolerance: ApTriple,
) -> Vec<Metric> {
    let pick = |t: ApTriple| [t.easy, t.medium, t.hard];
    ["easy", "medium", "hard"]
        .iter()
        .enumerate()
        .map(|(i, setting)| {
            Metric::new(
                &format!("{prefix}.{setting}"),
                Value::Real(pick(got)[i]),
                expected.map(|e| Value::Real(pick(e)[i])),
                pick(tolerance)[i],
            )
        })
        .collect()
}

/// The lines `reproduce check` prints, one per model: verdict, name and what was found, in
/// columns kept at least as wide as "ERROR" and a 16-character name, so CI logs line up run
/// after run.
pub fn verdict_table(checks: &[ModelCheck]) -> String {
    let mut table = TextTable::headless().min_width(0, 5).min_width(1, 16);
    for check in checks {
        let (tag, detail) = verdict(check);
        table.push([tag.to_string(), check.name.clone(), detail]);
    }
    table.plain()
}

/// A model's verdict and its detail: the error, the drifted metrics, or everything measured.
fn verdict(check: &ModelCheck) -> (&'static str, String) {
    let tag = match check.verdict {
        Verdict::Ok => "ok",
        Verdict::Drift => "DRIFT",
        Verdict::Error => "ERROR",
    };
    let detail = match (&check.error, check.verdict) {
        (Some(e), _) => e.clone(),
        (None, Verdict::Drift) => check
            .metrics
            .iter()
            .filter(|m| m.holds == Some(false))
            .map(|m| {
                let expected = m.expected.expect("a drifted metric has an expectation");
                let tolerance = if m.tolerance > 0.0 {
                    format!(" ± {}", m.tolerance)
                } else {
                    String::new()
                };
                format!(
                    "{} {} (expected {expected}{tolerance})",
                    m.metric, m.measured
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        (None, _) => {
            let fetched = if check.file.result == FileResult::Fetched {
                "fetched, "
            } else {
                ""
            };
            let mut parts = vec![format!("{fetched}sha256 ok")];
            for m in &check.metrics {
                let unrecorded = if m.holds.is_none() {
                    " (no expectation recorded)"
                } else {
                    ""
                };
                parts.push(format!("{} {}{unrecorded}", m.metric, m.measured));
            }
            parts.join(", ")
        }
    };
    (tag, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_holds_within_its_tolerance_only() {
        let m = Metric::new(
            "sparsity",
            Value::Real(31.59704),
            Some(Value::Real(31.597)),
            0.00005,
        );
        assert_eq!(m.holds, Some(true));
        // One more zero weight of 92,208 moves the sparsity by 0.0011 points.
        let moved = 100.0 * 29_136.0 / 92_208.0;
        let m = Metric::new(
            "sparsity",
            Value::Real(moved),
            Some(Value::Real(31.597)),
            0.00005,
        );
        assert_eq!(m.holds, Some(false));
        let m = Metric::new(
            "zero_filters",
            Value::Count(268),
            Some(Value::Count(267)),
            0.0,
        );
        assert_eq!(m.holds, Some(false));
        let m = Metric::new("ap.easy", Value::Real(0.9), None, 1e-6);
        assert_eq!(m.holds, None);
    }

    #[test]
    fn ap_metrics_compare_each_setting() {
        let expected = ApTriple {
            easy: 0.9146666638178091,
            medium: 0.9091602329943288,
            hard: 0.7963602486237678,
        };
        let got = ApTriple {
            hard: expected.hard - 2e-6,
            ..expected
        };
        let tolerance = ApTriple {
            easy: 1e-6,
            medium: 1e-6,
            hard: 1e-6,
        };
        let metrics = ap_metrics("mini_ap", got, Some(expected), tolerance);
        let names: Vec<_> = metrics
            .iter()
            .map(|m| (m.metric.as_str(), m.holds))
            .collect();
        assert_eq!(
            names,
            [
                ("mini_ap.easy", Some(true)),
                ("mini_ap.medium", Some(true)),
                ("mini_ap.hard", Some(false))
            ]
        );
    }

    #[test]
    fn the_worst_verdict_decides_the_exit_code() {
        assert_eq!(Verdict::Ok.max(Verdict::Drift), Verdict::Drift);
        assert_eq!(Verdict::Drift.max(Verdict::Error), Verdict::Error);
        let codes: Vec<u8> = [Verdict::Ok, Verdict::Drift, Verdict::Error]
            .iter()
            .map(|v| v.exit_code())
            .collect();
        assert_eq!(codes, [0, 1, 2]);
    }

    #[test]
    fn auto_evaluates_once_wider_val_and_its_ground_truth_are_downloaded() {
        use sha2::{Digest, Sha256};
        let data = tempfile::tempdir().unwrap();
        let entry = |name: &str, group: &str, content: &[u8]| {
            std::fs::create_dir_all(data.path().join("WIDER")).unwrap();
            std::fs::write(data.path().join("WIDER").join(name), content).unwrap();
            format!(
                "  - name: {name}\n    file: {name}\n    bytes: {}\n    sha256: {}\n    \
                 urls: []\n    dest: WIDER\n    groups: [{group}]\n",
                content.len(),
                hex::encode(Sha256::digest(content))
            )
        };
        let val = entry("val", "wider-val", b"images");
        let gt = entry("gt", "wider-gt", b"ground truth");
        let head = "version: 1\npapers: []\n\
                    tolerances: {sparsity: 0.0, ap: 0.0}\nmodels: []\nfiles:\n";
        let zoo = Zoo::parse(&format!("{head}{val}{gt}"), "test").unwrap();
        let options = FetchOptions::default();
        let progress = crate::progress::Hidden;
        // Present but never verified: not trusted yet.
        assert_eq!(EvalChoice::Auto.resolve(&zoo, data.path()), None);
        fetch::fetch(&zoo, data.path(), &["val"], &options, &progress).unwrap();
        assert_eq!(
            EvalChoice::Auto.resolve(&zoo, data.path()),
            None,
            "no ground truth"
        );
        fetch::fetch(&zoo, data.path(), &["gt"], &options, &progress).unwrap();
        assert_eq!(
            EvalChoice::Auto.resolve(&zoo, data.path()),
            Some(ApSet::Full)
        );
        assert_eq!(EvalChoice::Off.resolve(&zoo, data.path()), None);
        assert_eq!(
            EvalChoice::On(ApSet::Mini).resolve(&zoo, data.path()),
            Some(ApSet::Mini)
        );
    }
}
