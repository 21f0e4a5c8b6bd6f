//! The paper's claim as numbers: B-FPGM's models against the uniform FPGM and L1 baselines at
//! the same **measured** sparsity (`reproduce compare`).
//!
//! Each pruning method is a line of (sparsity, AP) points: its models plus the unpruned starting
//! point of the same paper, sorted by sparsity. A uniform model's sparsity is well below its
//! target (25.4 % for "30 %", docs/upstream.md §baselines), so models are compared at the sparsity their
//! weights measure, never at their target: for every model on B-FPGM's line, [`interpolate`]
//! reads each baseline line at that sparsity, linearly between its two neighbouring models, and
//! marks a value read outside the line's range (extrapolated from its nearest segment). The
//! difference is B-FPGM's AP minus the baseline's: positive where B-FPGM is better.
//!
//! [`build`] gives one [`Network`] per architecture, which `report::tradeoff` prints and draws and
//! which serialises as the stable JSON of `compare --json`:
//!
//! ```text
//! { "version": 1, "images": TEXT,
//!   "networks": [ {
//!     "arch": "eresfd" | "extd",
//!     "rows": [ { "model": "eresfd-30", "method": "bfpgm" | "fpgm" | "l1" | "unpruned",
//!                 "paper": "bfpgm" | "uniform" | null, "target_rate": 0.3 | null,
//!                 "sparsity": 31.597,                                    // percent, measured
//!                 "ap": { "easy": AP, "medium": AP, "hard": AP },
//!                 "band": { "easy": B, ... } | null,                     // stability band
//!                 "baselines": [ { "method": "fpgm", "ap": {...}, "difference": {...},
//!                                  "outside": false } ] } ],             // B-FPGM's line only
//!     "lines": [ { "method": "bfpgm", "points": [ { "model": NAME, "sparsity": S,
//!                                                   "ap": {...} } ] } ] } ] }
//! ```

use serde::Serialize;

use crate::zoo::{ApTriple, Arch, Method, Model};

/// Version of the JSON layout in the module doc; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

/// The method whose models are compared against the others at their sparsity.
pub const SUBJECT: Method = Method::Bfpgm;

/// A value read off a line at some sparsity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The value.
    pub value: f64,
    /// Whether the sparsity lies outside the line's points, so the value is extrapolated from the
    /// nearest segment.
    pub outside: bool,
}

/// The value at `x` of the polyline through `points` `(x, y)` (any order): linear between the
/// two neighbouring points, extrapolated from the nearest segment outside them. Points sharing
/// an `x` count as one, at their mean `y`. `None` with fewer than two distinct `x`, or a
/// non-finite input.
pub fn interpolate(points: &[(f64, f64)], x: f64) -> Option<Reading> {
    if !x.is_finite()
        || points
            .iter()
            .any(|(a, b)| !(a.is_finite() && b.is_finite()))
    {
        return None;
    }
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64, usize)> = Vec::new();
    for (px, py) in sorted {
        match merged.last_mut() {
            Some((lx, sum, n)) if *lx == px => {
                *sum += py;
                *n += 1;
            }
            _ => merged.push((px, py, 1)),
        }
    }
    let line: Vec<(f64, f64)> = merged.iter().map(|&(x, s, n)| (x, s / n as f64)).collect();
    if line.len() < 2 {
        return None;
    }
    let last = line.len() - 1;
    let outside = x < line[0].0 || x > line[last].0;
    let i = line[..last].iter().rposition(|p| p.0 <= x).unwrap_or(0);
    let ((x0, y0), (x1, y1)) = (line[i], line[i + 1]);
    Some(Reading {
        value: y0 + (y1 - y0) * (x - x0) / (x1 - x0),
        outside,
    })
}

/// One evaluated model: what [`build`] is given.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The zoo model.
    pub model: &'a Model,
    /// `calc_sparsity` of its weights, in percent.
    pub sparsity: f64,
    /// Its APs on the images compared.
    pub ap: ApTriple,
    /// The stability band of those APs, where it was measured for these images.
    pub band: Option<ApTriple>,
}

/// A model on a method's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Zoo name.
    pub model: String,
    /// Measured sparsity, percent.
    pub sparsity: f64,
    /// APs.
    pub ap: ApTriple,
}

/// A method's models (with the unpruned starting point of its paper), by sparsity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// The pruning method.
    pub method: Method,
    /// Points, by increasing sparsity.
    pub points: Vec<Point>,
}

/// A baseline line read at a B-FPGM model's sparsity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtSameSparsity {
    /// The baseline's method.
    pub method: Method,
    /// Its APs at that sparsity.
    pub ap: ApTriple,
    /// The model's APs minus those: positive where B-FPGM is better.
    pub difference: ApTriple,
    /// Whether the sparsity lies outside the baseline's models (extrapolated).
    pub outside: bool,
}

/// One model of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Zoo name.
    pub model: String,
    /// How it was pruned.
    pub method: Method,
    /// The paper that released it.
    pub paper: Option<String>,
    /// Its target pruning rate (fraction).
    pub target_rate: Option<f64>,
    /// Measured sparsity, percent.
    pub sparsity: f64,
    /// APs.
    pub ap: ApTriple,
    /// Stability band of the APs, where measured.
    pub band: Option<ApTriple>,
    /// Each baseline at this model's sparsity (models on B-FPGM's line only).
    pub baselines: Vec<AtSameSparsity>,
}

/// One network's comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    /// The network.
    pub arch: Arch,
    /// B-FPGM's line first, then the other models by method and sparsity.
    pub rows: Vec<Row>,
    /// One line per pruning method, B-FPGM's first.
    pub lines: Vec<Line>,
}

/// The whole comparison, as `compare --json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// The images the APs were measured on, in words.
    pub images: String,
    /// One per architecture, in the order given.
    pub networks: Vec<Network>,
}

/// Builds the comparison of evaluated models, one [`Network`] per architecture in the order the
/// architectures first appear.
pub fn build(entries: &[Entry<'_>], images: &str) -> Comparison {
    let mut archs: Vec<Arch> = Vec::new();
    for e in entries {
        if !archs.contains(&e.model.arch) {
            archs.push(e.model.arch);
        }
    }
    let networks = archs
        .into_iter()
        .map(|arch| {
            let of_arch: Vec<Entry<'_>> = entries
                .iter()
                .filter(|e| e.model.arch == arch)
                .copied()
                .collect();
            network(arch, &of_arch)
        })
        .collect();
    Comparison {
        version: JSON_VERSION,
        images: images.to_string(),
        networks,
    }
}

fn network(arch: Arch, entries: &[Entry<'_>]) -> Network {
    let mut methods: Vec<Method> = entries
        .iter()
        .map(|e| e.model.method)
        .filter(|m| *m != Method::Unpruned)
        .collect();
    methods.sort();
    methods.dedup();
    let lines: Vec<Line> = methods.iter().map(|&m| line(m, entries)).collect();
    let on_subject_line = |e: &Entry<'_>| {
        lines
            .iter()
            .find(|l| l.method == SUBJECT)
            .is_some_and(|l| l.points.iter().any(|p| p.model == e.model.name()))
    };
    let mut ordered: Vec<&Entry<'_>> = entries.iter().collect();
    ordered.sort_by(|a, b| {
        let key = |e: &Entry<'_>| (!on_subject_line(e), e.model.method != Method::Unpruned);
        key(a)
            .cmp(&key(b))
            .then(a.model.method.cmp(&b.model.method))
            .then(a.sparsity.total_cmp(&b.sparsity))
    });
    let rows = ordered
        .into_iter()
        .map(|e| {
            let baselines = if on_subject_line(e) {
                lines
                    .iter()
                    .filter(|l| l.method != SUBJECT)
                    .filter_map(|l| at_sparsity(l, e))
                    .collect()
            } else {
                Vec::new()
            };
            Row {
                model: e.model.name().to_string(),
                method: e.model.method,
                paper: e.model.paper.clone(),
                target_rate: e.model.target_rate,
                sparsity: e.sparsity,
                ap: e.ap,
                band: e.band,
                baselines,
            }
        })
        .collect();
    Network { arch, rows, lines }
}

/// A method's line: its models and the unpruned models of the papers that released them.
fn line(method: Method, entries: &[Entry<'_>]) -> Line {
    let papers: Vec<&Option<String>> = entries
        .iter()
        .filter(|e| e.model.method == method)
        .map(|e| &e.model.paper)
        .collect();
    let mut points: Vec<Point> = entries
        .iter()
        .filter(|e| {
            e.model.method == method
                || (e.model.method == Method::Unpruned && papers.contains(&&e.model.paper))
        })
        .map(|e| Point {
            model: e.model.name().to_string(),
            sparsity: e.sparsity,
            ap: e.ap,
        })
        .collect();
    points.sort_by(|a, b| a.sparsity.total_cmp(&b.sparsity));
    Line { method, points }
}

/// `line` read at the sparsity of `entry`, with the difference; `None` for a line of fewer than
/// two sparsities.
fn at_sparsity(line: &Line, entry: &Entry<'_>) -> Option<AtSameSparsity> {
    let read = |pick: fn(&ApTriple) -> f64| {
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|p| (p.sparsity, pick(&p.ap)))
            .collect();
        interpolate(&points, entry.sparsity)
    };
    let (easy, medium, hard) = (read(|a| a.easy)?, read(|a| a.medium)?, read(|a| a.hard)?);
    let ap = ApTriple {
        easy: easy.value,
        medium: medium.value,
        hard: hard.value,
    };
    Some(AtSameSparsity {
        method: line.method,
        ap,
        difference: ApTriple {
            easy: entry.ap.easy - ap.easy,
            medium: entry.ap.medium - ap.medium,
            hard: entry.ap.hard - ap.hard,
        },
        outside: easy.outside,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_between_neighbours_by_hand() {
        // (10 %, 0.80) and (30 %, 0.70): at 25 % three quarters of the way down, 0.725.
        let points = [(30.0, 0.70), (0.0, 0.90), (10.0, 0.80)];
        let r = interpolate(&points, 25.0).unwrap();
        assert!((r.value - 0.725).abs() < 1e-15, "{}", r.value);
        assert!(!r.outside);
        // On a point, and at both ends: the point's own value, inside the range.
        assert_eq!(interpolate(&points, 10.0).unwrap().value, 0.80);
        assert_eq!(interpolate(&points, 0.0).unwrap().value, 0.90);
        assert_eq!(interpolate(&points, 30.0).unwrap().value, 0.70);
        // Beyond the last point: the last segment extended (slope -0.005 per point), marked.
        let r = interpolate(&points, 40.0).unwrap();
        assert!((r.value - 0.65).abs() < 1e-15 && r.outside, "{r:?}");
        let r = interpolate(&points, -2.0).unwrap();
        assert!((r.value - 0.92).abs() < 1e-15 && r.outside, "{r:?}");
    }

    fn ap(v: f64) -> ApTriple {
        ApTriple {
            easy: v,
            medium: v - 0.1,
            hard: v - 0.2,
        }
    }

    #[test]
    fn bfpgm_models_are_read_against_each_baseline_line_by_hand() {
        let zoo = crate::zoo::Zoo::builtin();
        // (model, sparsity %, easy AP); medium and hard are 0.1 and 0.2 lower.
        let given = [
            ("eresfd-30", 30.0, 0.88),
            ("eresfd-fpgm-40", 40.0, 0.80),
            ("eresfd-original", 0.1, 0.91),
            ("eresfd-baseline-original", 0.0, 0.90),
            ("eresfd-fpgm-30", 20.0, 0.86),
            ("eresfd-l1-30", 20.0, 0.84),
        ];
        let entries: Vec<Entry<'_>> = given
            .iter()
            .map(|&(name, sparsity, easy)| Entry {
                model: zoo.model(name).unwrap(),
                sparsity,
                ap: ap(easy),
                band: None,
            })
            .collect();
        let c = build(&entries, "test images");
        assert_eq!(c.networks.len(), 1);
        let n = &c.networks[0];
        let order: Vec<&str> = n.rows.iter().map(|r| r.model.as_str()).collect();
        assert_eq!(
            order,
            [
                "eresfd-original",
                "eresfd-30",
                "eresfd-baseline-original",
                "eresfd-fpgm-30",
                "eresfd-fpgm-40",
                "eresfd-l1-30"
            ]
        );
        let methods: Vec<Method> = n.lines.iter().map(|l| l.method).collect();
        assert_eq!(methods, [Method::Bfpgm, Method::Fpgm, Method::L1]);
        // Each baseline line starts at its unpruned starting point.
        assert_eq!(n.lines[1].points[0].model, "eresfd-baseline-original");
        // eresfd-30 at 30 %: FPGM halfway between 20 % (0.86) and 40 % (0.80) = 0.83, so
        // Δ = 0.88 − 0.83 = +0.05; L1 past its last point (20 %, 0.84), on the segment from
        // 0 % (0.90): 0.90 − 0.003 · 30 = 0.81, extrapolated, Δ = +0.07.
        let thirty = &n.rows[1];
        let (fpgm, l1) = (&thirty.baselines[0], &thirty.baselines[1]);
        assert_eq!((fpgm.method, l1.method), (Method::Fpgm, Method::L1));
        assert!(
            (fpgm.ap.easy - 0.83).abs() < 1e-12 && !fpgm.outside,
            "{fpgm:?}"
        );
        assert!((fpgm.difference.hard - 0.05).abs() < 1e-12, "{fpgm:?}");
        assert!((l1.ap.medium - 0.71).abs() < 1e-12 && l1.outside, "{l1:?}");
        assert!((l1.difference.easy - 0.07).abs() < 1e-12, "{l1:?}");
        // The original at 0.1 %: FPGM between 0 % (0.90) and 20 % (0.86): 0.8998.
        assert!((n.rows[0].baselines[0].ap.easy - 0.8998).abs() < 1e-12);
        // Baseline rows are not read against anything.
        assert!(n.rows[2..].iter().all(|r| r.baselines.is_empty()));
    }

    #[test]
    fn shared_sparsities_count_once_at_their_mean() {
        let r = interpolate(&[(0.0, 1.0), (10.0, 0.6), (10.0, 0.8)], 5.0).unwrap();
        assert!((r.value - 0.85).abs() < 1e-15, "{}", r.value);
        assert_eq!(interpolate(&[(5.0, 1.0), (5.0, 0.5)], 5.0), None);
        assert_eq!(interpolate(&[(0.0, 1.0), (1.0, f64::NAN)], 0.5), None);
    }
}
