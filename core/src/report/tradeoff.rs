//! `reproduce compare` for people: the comparison of [`crate::tradeoff`] as text, as Markdown to
//! paste into a review, and as charts in the style of the paper's figure (AP against sparsity,
//! one panel per WIDER setting, one line with markers per pruning method).

use std::fmt::Write as _;

use super::plot::{LineChart, Series};
use super::tables::aligned;
use crate::tradeoff::{Comparison, Network, Row};
use crate::zoo::{ApTriple, Arch, Method};

/// An AP to 4 decimals with its stability band, e.g. `0.8731 ± 0.0010`; a band below the fourth
/// decimal is written in scientific notation (`± 3e-5`), so it never reads as zero when it is not.
pub fn ap_text(ap: f64, band: Option<f64>) -> String {
    match band {
        None => format!("{ap:.4}"),
        Some(0.0) => format!("{ap:.4} ± 0"),
        Some(b) if b < 0.00005 => format!("{ap:.4} ± {b:.0e}"),
        Some(b) => format!("{ap:.4} ± {b:.4}"),
    }
}

/// The three APs of a triple, each with its band.
fn triple(ap: &ApTriple, band: Option<&ApTriple>) -> [String; 3] {
    [
        ap_text(ap.easy, band.map(|b| b.easy)),
        ap_text(ap.medium, band.map(|b| b.medium)),
        ap_text(ap.hard, band.map(|b| b.hard)),
    ]
}

fn network_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Eresfd => "EResFD",
        Arch::Extd => "EXTD",
    }
}

/// What a method's line is called in tables and legends.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Bfpgm => "B-FPGM",
        Method::Fpgm => "uniform FPGM",
        Method::L1 => "uniform L1",
        Method::Unpruned => "unpruned",
    }
}

const MODELS_LEGEND: &str = "sparsity: calc_sparsity of the weights (%). APs ± their stability \
    band over kernel settings (docs/evaluation.md), where it was measured for these images.";
const VERSUS_LEGEND: &str = "Each baseline's AP at the B-FPGM model's sparsity, linear between \
    its two neighbouring models (its unpruned starting point included); * outside its models' \
    range, extrapolated from the nearest segment. Δ = B-FPGM − baseline: positive where B-FPGM \
    is better.";

/// The model table's cells.
fn model_lines(n: &Network) -> Vec<Vec<String>> {
    let mut lines = vec![
        ["model", "method", "sparsity", "easy", "medium", "hard"]
            .map(String::from)
            .to_vec(),
    ];
    for r in &n.rows {
        let mut line = vec![
            r.model.clone(),
            r.method.to_string(),
            format!("{:.4}", r.sparsity),
        ];
        line.extend(triple(&r.ap, r.band.as_ref()));
        lines.push(line);
    }
    lines
}

/// The versus table's cells: one line per B-FPGM model and baseline.
fn versus_lines(n: &Network) -> Vec<Vec<String>> {
    let mut lines = vec![
        [
            "model",
            "sparsity",
            "baseline",
            "easy (Δ)",
            "medium (Δ)",
            "hard (Δ)",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in n.rows.iter().filter(|r: &&Row| !r.baselines.is_empty()) {
        for (i, b) in r.baselines.iter().enumerate() {
            let mark = if b.outside { "*" } else { "" };
            let cell = |ap: f64, d: f64| format!("{ap:.4}{mark} ({d:+.4})");
            let (model, sparsity) = if i == 0 {
                (r.model.clone(), format!("{:.4}", r.sparsity))
            } else {
                (String::new(), String::new())
            };
            lines.push(vec![
                model,
                sparsity,
                method_name(b.method).to_string(),
                cell(b.ap.easy, b.difference.easy),
                cell(b.ap.medium, b.difference.medium),
                cell(b.ap.hard, b.difference.hard),
            ]);
        }
    }
    lines
}

/// The comparison as aligned text: per network, the models, then B-FPGM against the baselines.
pub fn render_text(c: &Comparison) -> String {
    let mut out = String::new();
    for n in &c.networks {
        let _ = writeln!(
            out,
            "{}: AP against measured sparsity on {}\n{MODELS_LEGEND}\n",
            network_name(n.arch),
            c.images
        );
        out.push_str(&aligned(&model_lines(n)));
        let versus = versus_lines(n);
        if versus.len() > 1 {
            let _ = writeln!(out, "\nB-FPGM against the baselines\n{VERSUS_LEGEND}\n");
            out.push_str(&aligned(&versus));
        }
        out.push('\n');
    }
    out
}

fn markdown_table(out: &mut String, lines: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", lines[0].join(" | "));
    let align: Vec<&str> = (0..lines[0].len())
        .map(|c| if c == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for line in &lines[1..] {
        let _ = writeln!(out, "| {} |", line.join(" | "));
    }
}

/// The comparison as GitHub-flavoured Markdown, the table a reviewer pastes.
pub fn render_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    for n in &c.networks {
        let _ = writeln!(
            out,
            "**{}: AP against measured sparsity on {}**\n\n{MODELS_LEGEND}\n",
            network_name(n.arch),
            c.images
        );
        markdown_table(&mut out, &model_lines(n));
        let versus = versus_lines(n);
        if versus.len() > 1 {
            let _ = writeln!(
                out,
                "\n**B-FPGM against the baselines**\n\n{VERSUS_LEGEND}\n"
            );
            markdown_table(&mut out, &versus);
        }
        out.push('\n');
    }
    out
}

/// Reads one setting's AP off a triple.
type Pick = fn(&ApTriple) -> f64;

/// The paper's figure for one network: three panels (easy, medium, hard) of AP against measured
/// sparsity, one line per method. The chart API draws lines only, so each point's marker is a
/// small diamond traced by the line itself.
pub fn charts(n: &Network, images: &str) -> Vec<LineChart> {
    let settings: [(&str, Pick); 3] = [
        ("easy", |a| a.easy),
        ("medium", |a| a.medium),
        ("hard", |a| a.hard),
    ];
    let max_x = n.rows.iter().map(|r| r.sparsity).fold(0.0, f64::max);
    let x_range = (0.0, (max_x / 10.0).ceil().max(1.0) * 10.0);
    settings
        .iter()
        .map(|(setting, pick)| {
            let aps = n.rows.iter().map(|r| pick(&r.ap));
            let (lo, hi) = aps.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            let y_range = ((lo - 0.02).max(0.0), (hi + 0.02).min(1.0));
            let marker = (
                (x_range.1 - x_range.0) * 0.008,
                (y_range.1 - y_range.0) * 0.012,
            );
            LineChart {
                title: format!("{} on {images}: {setting}", network_name(n.arch)),
                x_label: "Sparsity (%)".to_string(),
                y_label: "AP".to_string(),
                x_range: Some(x_range),
                y_range: Some(y_range),
                series: n
                    .lines
                    .iter()
                    .map(|l| Series {
                        name: method_name(l.method).to_string(),
                        points: with_markers(
                            l.points.iter().map(|p| (p.sparsity, pick(&p.ap))),
                            marker,
                        ),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The polyline through `points` with a diamond of half-size `(dx, dy)` traced around each.
fn with_markers(points: impl Iterator<Item = (f64, f64)>, (dx, dy): (f64, f64)) -> Vec<(f64, f64)> {
    points
        .flat_map(|(x, y)| {
            [
                (x, y),
                (x + dx, y),
                (x, y + dy),
                (x - dx, y),
                (x, y - dy),
                (x + dx, y),
                (x, y),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_band_is_never_printed_as_zero_unless_it_is() {
        assert_eq!(ap_text(0.87314, Some(0.00104)), "0.8731 ± 0.0010");
        assert_eq!(ap_text(0.87314, Some(0.000033)), "0.8731 ± 3e-5");
        assert_eq!(ap_text(0.87314, Some(0.0)), "0.8731 ± 0");
        assert_eq!(ap_text(0.87314, None), "0.8731");
    }

    #[test]
    fn every_point_gets_a_closed_diamond() {
        let pts = with_markers([(10.0, 0.5), (20.0, 0.4)].into_iter(), (1.0, 0.01));
        assert_eq!(pts.len(), 14);
        assert_eq!(pts[0], (10.0, 0.5));
        assert_eq!(pts[6], (10.0, 0.5));
        assert_eq!(pts[7], (20.0, 0.4));
        assert_eq!(pts[2], (10.0, 0.51));
    }
}
