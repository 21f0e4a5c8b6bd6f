//! `reproduce compare` for people: the comparison of [`crate::tradeoff`] as text, as Markdown to
//! paste into a review, and as charts in the style of the paper's figure (AP against sparsity,
//! one panel per WIDER setting, one line with markers per pruning method).

use std::fmt::Write as _;

use super::chart::{LineChart, Series};
use super::text_table::TextTable;
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

/// The model table: every model with its measured sparsity and APs.
fn model_table(n: &Network) -> TextTable {
    let mut t =
        TextTable::new(["model", "method", "sparsity", "easy", "medium", "hard"]).right_align(2..6);
    for r in &n.rows {
        let mut line = vec![
            r.model.clone(),
            r.method.to_string(),
            format!("{:.4}", r.sparsity),
        ];
        line.extend(triple(&r.ap, r.band.as_ref()));
        t.push(line);
    }
    t
}

/// The versus table: one line per B-FPGM model and baseline; `None` when no model has one.
fn versus_table(n: &Network) -> Option<TextTable> {
    let mut t = TextTable::new([
        "model",
        "sparsity",
        "baseline",
        "easy (Δ)",
        "medium (Δ)",
        "hard (Δ)",
    ])
    .right_align([1, 3, 4, 5]);
    let mut any = false;
    for r in n.rows.iter().filter(|r: &&Row| !r.baselines.is_empty()) {
        for (i, b) in r.baselines.iter().enumerate() {
            let mark = if b.outside { "*" } else { "" };
            let cell = |ap: f64, d: f64| format!("{ap:.4}{mark} ({d:+.4})");
            let (model, sparsity) = if i == 0 {
                (r.model.clone(), format!("{:.4}", r.sparsity))
            } else {
                (String::new(), String::new())
            };
            t.push([
                model,
                sparsity,
                method_name(b.method).to_string(),
                cell(b.ap.easy, b.difference.easy),
                cell(b.ap.medium, b.difference.medium),
                cell(b.ap.hard, b.difference.hard),
            ]);
            any = true;
        }
    }
    any.then_some(t)
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
        out.push_str(&model_table(n).plain());
        if let Some(versus) = versus_table(n) {
            let _ = writeln!(out, "\nB-FPGM against the baselines\n{VERSUS_LEGEND}\n");
            out.push_str(&versus.plain());
        }
        out.push('\n');
    }
    out
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
        out.push_str(&model_table(n).markdown());
        if let Some(versus) = versus_table(n) {
            let _ = writeln!(
                out,
                "\n**B-FPGM against the baselines**\n\n{VERSUS_LEGEND}\n"
            );
            out.push_str(&versus.markdown());
        }
        out.push('\n');
    }
    out
}

/// Reads one setting's AP off a triple.
type Pick = fn(&ApTriple) -> f64;

/// The paper's figure for one network: three panels (easy, medium, hard) of AP against measured
/// sparsity, one line per method with a marker at each model.
pub fn charts(n: &Network, images: &str) -> Vec<LineChart> {
    let settings: [(&str, Pick); 3] = [
        ("easy", |a| a.easy),
        ("medium", |a| a.medium),
        ("hard", |a| a.hard),
    ];
    let max_x = n.rows.iter().map(|r| r.sparsity).fold(0.0, f64::max);
    // From 0 to the next multiple of 10 %, with a margin so that no marker sits on the frame.
    let top = (max_x / 10.0).ceil().max(1.0) * 10.0;
    let x_range = (-0.03 * top, 1.03 * top);
    settings
        .iter()
        .map(|(setting, pick)| {
            let aps = n.rows.iter().map(|r| pick(&r.ap));
            let (lo, hi) = aps.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            let y_range = ((lo - 0.02).max(0.0), (hi + 0.02).min(1.0));
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
                        points: l.points.iter().map(|p| (p.sparsity, pick(&p.ap))).collect(),
                        markers: true,
                    })
                    .collect(),
            }
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
    fn the_figure_has_three_panels_with_one_marked_line_per_method() {
        let zoo = crate::zoo::Zoo::builtin();
        let given = [
            ("eresfd-original", 0.1, 0.91),
            ("eresfd-30", 31.6, 0.88),
            ("eresfd-baseline-original", 0.0, 0.90),
            ("eresfd-fpgm-30", 25.4, 0.86),
            ("eresfd-l1-30", 26.3, 0.84),
        ];
        let entries: Vec<crate::tradeoff::Entry<'_>> = given
            .iter()
            .map(|&(name, sparsity, easy)| crate::tradeoff::Entry {
                model: zoo.model(name).unwrap(),
                sparsity,
                ap: ApTriple {
                    easy,
                    medium: easy - 0.1,
                    hard: easy - 0.2,
                },
                band: None,
            })
            .collect();
        let c = crate::tradeoff::build(&entries, "the test");
        let panels = charts(&c.networks[0], &c.images);
        let titles: Vec<&str> = panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "EResFD on the test: easy",
                "EResFD on the test: medium",
                "EResFD on the test: hard"
            ]
        );
        for p in &panels {
            let names: Vec<&str> = p.series.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["B-FPGM", "uniform FPGM", "uniform L1"]);
            assert!(p.series.iter().all(|s| s.markers && s.points.len() == 2));
        }
        // Each line starts at its starting point; the hard panel reads the hard APs.
        assert_eq!(
            panels[2].series[1].points,
            [(0.0, 0.90 - 0.2), (25.4, 0.86 - 0.2)]
        );
        // 0 to 40 %, 3 % wider on each side.
        let (a, b) = panels[0].x_range.unwrap();
        assert!(
            (a + 1.2).abs() < 1e-12 && (b - 41.2).abs() < 1e-12,
            "{a} {b}"
        );
    }
}
