//! The paper's tables of pruning rate per layer group and sparsity, measured from the weights and
//! set beside the published values.
//!
//! [`build`] turns each zoo model and its [`Measurement`] into one [`Row`] of its architecture's
//! [`Table`], in the README's layout (models down, G1..G6 and Sparsity across). Every cell holds
//! the published value, the measured one and their difference Δ = published − measured:
//!
//! * **rates**: the weights give a range, the rates `[lo, hi)` that zero exactly the filters
//!   found in every conv of the group ([`Measurement::group_range`]). Δ is the published rate's
//!   distance from that range (0 inside). The published rate *reproduces* the weights when
//!   upstream's rule `⌊r · O⌋` gives each conv's zero count exactly; it agrees *within rounding*
//!   when some rate within half a printed unit (0.05 %) of it lies in the range.
//! * **sparsity**: `calc_sparsity` in percent; the README truncates it to 2 decimals, so it agrees
//!   when the truncated value is the published one.
//!
//! A row with a cell that disagrees beyond rounding is marked, and a numbered note under its
//! table says which convs disagree and, for the known cases, why. Each table also notes the
//! grouping it uses and, for EResFD, the FPN conv whose extra zeros are documented rather than a
//! disagreement.
//!
//! [`render_text`] and [`render_markdown`] print the tables; [`render_json`] is the stable form
//! scripts and CI read:
//!
//! ```text
//! { "version": 1,
//!   "grouping": "checkpoint" | "upstream-code",          // the EResFD grouping asked for
//!   "tables": [ {
//!     "arch": "eresfd" | "extd",
//!     "grouping": "checkpoint" | "upstream-code" | null,  // null: the architecture has one
//!     "groups": [ ["base.conv1", "base.conv2"], ... ],    // module paths of G1..G6
//!     "rows": [ {
//!       "model": "eresfd-10", "label": "Pruned 10 %", "target_rate": 0.1 | null,
//!       "params": 92208, "zero_params": 9446, "filters": 886, "zero_filters": 86,
//!       "sparsity": { "published": 10.24, "measured": 10.2442.., "truncated": 10.24,
//!                     "difference": -0.0042.., "agrees": true },      // percent
//!       "groups": [ { "group": 1, "published": 0.2,                      // fractions
//!                     "measured": { "lo": 0.0, "hi": 0.125 } | null,    // null: no single rate
//!                     "difference": 0.075 | null,
//!                     "reproduces": false, "within_rounding": false,
//!                     "mismatches": [ { "conv": "base.conv1.0", "filters": 8,
//!                                       "zero_filters": 0, "predicted": 1 } ] }, ... ],
//!       "marked": true, "notes": [1],
//!       "convs": [ { "path": "base.conv1.0", "filters": 8, "zero_filters": 0,
//!                    "group": 0 | null, "dead_input": false }, ... ] } ],  // group 0-based
//!     "notes": [ { "number": 1, "text": "..." } ] } ],
//!   "baselines": [ {                                      // report::baselines
//!     "arch": "eresfd" | "extd",
//!     "rows": [ {
//!       "model": "eresfd-fpgm-30", "method": "fpgm" | "l1" | "unpruned",
//!       "target_rate": 0.3 | null, "params": 92208, "zero_params": 23464,
//!       "sparsity": 25.4468..,                                          // percent, measured
//!       "filters": 886, "zero_filters": 220,
//!       "groups": [ { "group": 1, "measured": { "lo": .., "hi": .. } | null,
//!                     "reproduces": true, "mismatches": [ ... ] }, ... ],
//!       "marked": false, "notes": [], "convs": [ ... ] } ],
//!     "notes": [ { "number": 1, "text": "..." } ] } ] }
//! ```
//!
//! Models with published per-group rates (B-FPGM's, the README tables) make `tables`; the others,
//! whose paper publishes only a target rate (the uniform baselines), make `baselines`.
//!
//! Rates are fractions as in `zoo.yaml`; sparsities are percentages as in the README.

use std::fmt::Write as _;

use serde::Serialize;

use super::baselines::{self, BaselineTable};
use super::cells::{Mismatch, Note, list, num, range_text};
use super::text_table::TextTable;
use crate::groups::{GROUPS, Grouping};
use crate::measure::{ConvZeros, Measurement, RateRange};
use crate::zoo::{Arch, Model};

/// Version of the JSON layout in the module doc; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

/// Half the unit in which the README prints rates (0.1 %, e.g. 7.9 %).
const RATE_HALF_STEP: f64 = 0.0005;

/// Why a published cell disagrees with the released weights, where the cause is known. Keyed by
/// zoo name and cell, so a new disagreement in the same model is never explained away; group
/// causes hold for the checkpoint-consistent grouping.
const KNOWN_CAUSES: &[(&str, Cell, &str)] = &[
    (
        "eresfd-original",
        Cell::Sparsity,
        "These zeros are the β of the five BatchNorms of base.m0.layer5, a stage the forward \
         pass never uses, still at their initial value (docs/upstream.md §checkpoint-values); the \
         README's 0 stands for \"not pruned\".",
    ),
    ("eresfd-10", Cell::Group(0), EARLIER_TEN_PERCENT_RUN),
    ("eresfd-10", Cell::Group(2), EARLIER_TEN_PERCENT_RUN),
];

const EARLIER_TEN_PERCENT_RUN: &str = "These README rates belong to an earlier 10 % run: with \
    this grouping they give a sparsity of 11.94 %, the value the README showed until upstream \
    commit e686770 (2024-11-27), which replaced every sparsity cell with what the released \
    checkpoints measure (10.24 % here) and kept the rate cells (docs/upstream.md \
    §released-rates).";

/// A cell of a row, for [`KNOWN_CAUSES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Sparsity,
    /// 0-based group.
    Group(usize),
}

/// Both tables, as `reproduce tables` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct Tables {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// The EResFD grouping asked for.
    pub grouping: Grouping,
    /// One table per architecture, in zoo order.
    pub tables: Vec<Table>,
    /// The uniform baselines, one table per architecture.
    pub baselines: Vec<BaselineTable>,
}

/// One architecture's table.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// The network.
    pub arch: Arch,
    /// The grouping used, `None` for an architecture with only one (EXTD).
    pub grouping: Option<Grouping>,
    /// Module paths of G1..G6.
    pub groups: Vec<Vec<&'static str>>,
    /// One row per model, in zoo order.
    pub rows: Vec<Row>,
    /// Numbered notes printed under the table.
    pub notes: Vec<Note>,
}

/// One model: published and measured, cell by cell.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Zoo name.
    pub model: String,
    /// The README's row label, e.g. "Pruned 10 %".
    pub label: String,
    /// Target pruning rate, `None` for the unpruned original.
    pub target_rate: Option<f64>,
    /// Parameters, each tensor once.
    pub params: u64,
    /// Parameters exactly zero.
    pub zero_params: u64,
    /// Output filters over all convs.
    pub filters: usize,
    /// All-zero output filters over all convs.
    pub zero_filters: usize,
    /// The sparsity column.
    pub sparsity: SparsityCell,
    /// The G1..G6 columns.
    pub groups: Vec<RateCell>,
    /// Whether a cell disagrees beyond rounding.
    pub marked: bool,
    /// Numbers of the notes about this row.
    pub notes: Vec<usize>,
    /// Every conv's zero filters, for readers who want the evidence.
    pub convs: Vec<ConvZeros>,
}

/// The sparsity column of a row, in percent.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SparsityCell {
    /// The README's value.
    pub published: f64,
    /// `calc_sparsity` of the weights.
    pub measured: f64,
    /// `measured` truncated to 2 decimals, as the README prints it.
    pub truncated: f64,
    /// `published − measured`.
    pub difference: f64,
    /// Whether `truncated` is the published value.
    pub agrees: bool,
}

/// One group's rate column of a row, as fractions.
#[derive(Debug, Clone, Serialize)]
pub struct RateCell {
    /// 1-based group number, as in "G1".
    pub group: usize,
    /// The README's rate.
    pub published: f64,
    /// The rates consistent with the group's zeros; `None` when its convs need different rates.
    pub measured: Option<RateRange>,
    /// `published` minus the nearest rate of `measured` (0 inside).
    pub difference: Option<f64>,
    /// Whether `⌊published · O⌋` is each conv's zero count.
    pub reproduces: bool,
    /// Whether a rate within printing precision of `published` fits the weights.
    pub within_rounding: bool,
    /// The convs `published` does not reproduce.
    pub mismatches: Vec<Mismatch>,
}

/// Builds the tables from zoo models and their measurements, one table per architecture in the
/// order the architectures first appear: the README's for models with published rates, the
/// baselines' for the others. `grouping` is the EResFD grouping the measurements used.
pub fn build(all: &[(&Model, &Measurement)], grouping: Grouping) -> Tables {
    let (models, others): (Vec<_>, Vec<_>) = all.iter().partition(|(m, _)| m.published.is_some());
    let mut archs: Vec<Arch> = Vec::new();
    for (m, _) in &models {
        if !archs.contains(&m.arch) {
            archs.push(m.arch);
        }
    }
    let tables = archs
        .into_iter()
        .map(|arch| {
            let of_arch: Vec<_> = models.iter().filter(|(m, _)| m.arch == arch).collect();
            build_table(arch, grouping, &of_arch)
        })
        .collect();
    Tables {
        version: JSON_VERSION,
        grouping,
        tables,
        baselines: baselines::build(&others),
    }
}

fn build_table(arch: Arch, grouping: Grouping, models: &[&(&Model, &Measurement)]) -> Table {
    let grouping = match arch {
        Arch::Eresfd => Some(grouping),
        Arch::Extd => None,
    };
    let groups = crate::groups::groups(arch, grouping.unwrap_or_default())
        .iter()
        .map(|g| g.to_vec())
        .collect();
    let mut notes = Vec::new();
    let mut rows = Vec::with_capacity(models.len());
    for (model, m) in models {
        let mut row = build_row(model, m);
        if row.marked {
            let number = notes.len() + 1;
            notes.push(Note {
                number,
                text: row_note(model, m, &row),
            });
            row.notes.push(number);
        }
        rows.push(row);
    }
    if let Some(text) = extra_zeros_note(models) {
        notes.push(Note {
            number: notes.len() + 1,
            text,
        });
    }
    notes.push(Note {
        number: notes.len() + 1,
        text: grouping_note(arch, grouping),
    });
    Table {
        arch,
        grouping,
        groups,
        rows,
        notes,
    }
}

fn build_row(model: &Model, m: &Measurement) -> Row {
    let rates = model
        .published
        .as_ref()
        .expect("build puts only models with published numbers here");
    let published = rates.sparsity;
    let sparsity = SparsityCell {
        published,
        measured: m.sparsity.percent(),
        truncated: m.sparsity.truncated_percent(),
        difference: published - m.sparsity.percent(),
        agrees: (published * 100.0).round() as u64 == m.sparsity.truncated_hundredths(),
    };
    let groups: Vec<RateCell> = (0..GROUPS)
        .map(|g| {
            let rate = rates.group_rates[g];
            let range = m.group_range(g);
            let reproduces = m.reproduces(g, rate);
            RateCell {
                group: g + 1,
                published: rate,
                measured: range,
                difference: range.map(|r| r.offset(rate)),
                reproduces,
                within_rounding: reproduces || range.is_some_and(|r| r.near(rate, RATE_HALF_STEP)),
                mismatches: m
                    .mismatches(g, rate)
                    .into_iter()
                    .map(|c| Mismatch {
                        conv: c.path.clone(),
                        filters: c.filters,
                        zero_filters: c.zero_filters,
                        predicted: c.predicted(rate),
                    })
                    .collect(),
            }
        })
        .collect();
    Row {
        model: model.name().to_string(),
        label: label(model),
        target_rate: model.target_rate,
        params: m.sparsity.total,
        zero_params: m.sparsity.zeros,
        filters: m.filters(),
        zero_filters: m.zero_filters(),
        marked: !sparsity.agrees || groups.iter().any(|c| !c.within_rounding),
        sparsity,
        groups,
        notes: Vec::new(),
        convs: m.convs.clone(),
    }
}

/// The README's row label: "Original" or "Pruned 10 %".
fn label(model: &Model) -> String {
    match model.target_rate {
        None => "Original".to_string(),
        Some(r) => format!("Pruned {} %", num(r * 100.0, 1)),
    }
}

/// What disagrees in a marked row, conv by conv, and why where that is known.
fn row_note(model: &Model, m: &Measurement, row: &Row) -> String {
    let mut parts = Vec::new();
    let mut causes: Vec<&str> = Vec::new();
    let mut add_cause = |cell: Cell| {
        for (name, c, text) in KNOWN_CAUSES {
            if *name == model.name() && *c == cell && !causes.contains(text) {
                causes.push(text);
            }
        }
    };
    let s = &row.sparsity;
    if !s.agrees {
        parts.push(format!(
            "Sparsity: the README prints {} %, the weights give {:.4} % ({} of {} parameters are \
             exactly zero), {} when truncated as the README does.",
            num(s.published, 2),
            s.measured,
            row.zero_params,
            row.params,
            num(s.truncated, 2)
        ));
        add_cause(Cell::Sparsity);
    }
    for cell in row.groups.iter().filter(|c| !c.within_rounding) {
        let g = cell.group - 1;
        let total = m.group_convs(g).count();
        // Convs that disagree the same way are named together.
        let mut classes: Vec<(&Mismatch, Vec<&str>)> = Vec::new();
        for x in &cell.mismatches {
            let same = |(y, _): &&mut (&Mismatch, Vec<&str>)| {
                (y.filters, y.zero_filters, y.predicted) == (x.filters, x.zero_filters, x.predicted)
            };
            match classes.iter_mut().find(same) {
                Some((_, convs)) => convs.push(&x.conv),
                None => classes.push((x, vec![&x.conv])),
            }
        }
        let said: Vec<String> = classes
            .iter()
            .map(|(x, convs)| {
                let which = if convs.len() == total && total > 1 {
                    format!("each of the group's {total} convs")
                } else {
                    list(convs)
                };
                format!(
                    "⌊{} · {o}⌋ = {} of the {o} filters in {which}, the weights have {}",
                    num(cell.published, 3),
                    x.predicted,
                    x.zero_filters,
                    o = x.filters,
                )
            })
            .collect();
        let fits = match cell.measured {
            Some(r) => format!("the rates that fit are {} %", range_text(r)),
            None => "no single rate fits all of the group's convs".to_string(),
        };
        parts.push(format!(
            "G{}: the published {} % zeroes {}; {fits}.",
            cell.group,
            num(cell.published * 100.0, 2),
            said.join("; ")
        ));
        // The known causes speak of the grouping the released models follow.
        if m.grouping == Grouping::Checkpoint || m.arch == Arch::Extd {
            add_cause(Cell::Group(g));
        }
    }
    parts.extend(causes.iter().map(|c| c.to_string()));
    format!("{} ({}): {}", row.label, row.model, parts.join(" "))
}

/// The note on dead-input convs holding more zeros than their group's rate gives.
fn extra_zeros_note(models: &[&(&Model, &Measurement)]) -> Option<String> {
    let mut conv = None;
    let mut seen = Vec::new();
    for (model, m) in models {
        for (c, given) in m.extra_zeros() {
            conv.get_or_insert_with(|| (c.path.clone(), c.group));
            seen.push(format!(
                "{}: {} instead of {given}",
                label(model),
                c.zero_filters
            ));
        }
    }
    let (path, group) = conv?;
    Some(format!(
        "G{}: {path} holds more zero filters than its group's rate gives ({}). Its input is \
         identically zero (the FPN fusion weight w1[:, 4] is negative, so 0 after the ReLU): \
         its filters get no gradient and the zeros of every soft-pruning step accumulate \
         (docs/upstream.md §sfp). This is documented, not a disagreement: its count only bounds \
         the group's rate from above.",
        group.map_or(0, |g| g + 1),
        seen.join(", ")
    ))
}

/// Which grouping a table uses, and the other choice.
fn grouping_note(arch: Arch, grouping: Option<Grouping>) -> String {
    let groups = crate::groups::groups(arch, grouping.unwrap_or_default());
    let listed: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(g, paths)| format!("G{} {}", g + 1, paths.join(" + ")))
        .collect();
    let which = match grouping {
        None => {
            "EXTD's only grouping (upstream's code and the released checkpoint agree)".to_string()
        }
        Some(Grouping::Checkpoint) => "checkpoint-consistent grouping, the one the released \
            checkpoints and README rates follow (docs/upstream.md §groups); `--grouping \
            upstream-code` uses the grouping written in upstream's main_bayesian_prune.py instead"
            .to_string(),
        Some(Grouping::UpstreamCode) => "upstream-code grouping, as written in upstream's \
            main_bayesian_prune.py, which the released checkpoints do not follow \
            (docs/upstream.md §groups); the default `--grouping checkpoint` uses the grouping \
            they do follow"
            .to_string(),
    };
    format!("Groups: {which}: {}.", listed.join("; "))
}

/// A signed difference ("+7.5", "-0.0042", "0").
fn signed(x: f64, decimals: usize) -> String {
    let s = num(x, decimals);
    if s == "0" || s.starts_with('-') {
        s
    } else {
        format!("+{s}")
    }
}

/// The three lines of a row: published, measured, Δ; each a list of cells (label column first).
fn row_lines(row: &Row) -> [Vec<String>; 3] {
    let mark = |ok: bool| if ok { "" } else { " ✗" };
    let label = if row.notes.is_empty() {
        row.label.clone()
    } else {
        let refs: Vec<String> = row.notes.iter().map(|n| format!("[{n}]")).collect();
        format!("{} {}", row.label, refs.join(""))
    };
    let mut published = vec![label, "published".to_string()];
    let mut measured = vec![String::new(), "weights".to_string()];
    let mut delta = vec![String::new(), "Δ".to_string()];
    for c in &row.groups {
        published.push(num(c.published * 100.0, 2));
        measured.push(c.measured.map_or("none".to_string(), range_text));
        delta.push(match c.difference {
            Some(d) => format!("{}{}", signed(d * 100.0, 2), mark(c.within_rounding)),
            None => "✗".to_string(),
        });
    }
    let s = &row.sparsity;
    published.push(num(s.published, 2));
    measured.push(format!("{:.2} ({:.4})", s.truncated, s.measured));
    delta.push(format!("{}{}", signed(s.difference, 4), mark(s.agrees)));
    [published, measured, delta]
}

fn header(table: &Table) -> Vec<String> {
    let mut h = vec!["model".to_string(), String::new()];
    h.extend((1..=table.groups.len()).map(|g| format!("G{g}")));
    h.push("Sparsity".to_string());
    h
}

fn title(table: &Table) -> String {
    let name = match table.arch {
        Arch::Eresfd => "EResFD",
        Arch::Extd => "EXTD",
    };
    format!("{name}: pruning rate per layer group (%) and sparsity (%)")
}

const LEGEND: &str = "published: the upstream README. weights: measured from the checkpoint; \
    for a group, the rates [lo, hi) whose ⌊rate · filters⌋ zeroes exactly the filters found in \
    each of its convs. Δ = published − weights. ✗: disagrees beyond rounding (see the note).";

/// One table's header and rows, three lines per model.
fn text_table(table: &Table) -> TextTable {
    let mut t = TextTable::new(header(table));
    for row in &table.rows {
        for line in row_lines(row) {
            t.push(line);
        }
    }
    t
}

/// The tables as aligned plain text.
pub fn render_text(tables: &Tables) -> String {
    let mut out = String::new();
    for (i, table) in tables.tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}\n{LEGEND}\n", title(table));
        out.push_str(&text_table(table).plain());
        out.push('\n');
        for note in &table.notes {
            let _ = writeln!(out, "[{}] {}", note.number, note.text);
        }
    }
    out.push_str(&baselines::render_text(&tables.baselines));
    out
}

/// The tables as GitHub-flavoured Markdown, to paste into a review; the numeric columns are
/// right-aligned.
pub fn render_markdown(tables: &Tables) -> String {
    let mut out = String::new();
    for (i, table) in tables.tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "**{}**\n\n{LEGEND}\n", title(table));
        let columns = header(table).len();
        out.push_str(&text_table(table).right_align(2..columns).markdown());
        out.push('\n');
        for note in &table.notes {
            let _ = writeln!(out, "{}. {}", note.number, note.text);
        }
    }
    out.push_str(&baselines::render_markdown(&tables.baselines));
    out
}

/// The tables as the JSON document of the module doc.
pub fn render_json(tables: &Tables) -> String {
    serde_json::to_string_pretty(tables).expect("the tables serialise") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::StateDict;
    use crate::testutil::mirror_file;
    use crate::zoo::Zoo;

    /// The cells of a Markdown table row, trimmed.
    fn markdown_cells(line: &str) -> Vec<&str> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        inner.split(" | ").map(str::trim).collect()
    }

    #[test]
    fn numbers_are_printed_without_trailing_zeros() {
        assert_eq!(num(0.079 * 100.0, 2), "7.9");
        assert_eq!(num(20.0, 2), "20");
        assert_eq!(num(18.75, 2), "18.75");
        assert_eq!(num(-0.0001, 2), "0");
        assert_eq!(signed(7.5, 2), "+7.5");
        assert_eq!(signed(-0.00421, 4), "-0.0042");
        assert_eq!(signed(0.0, 2), "0");
        assert_eq!(
            range_text(RateRange {
                lo: 0.1875,
                hi: 0.25
            }),
            "18.75–25"
        );
    }

    /// The 10 % and 30 % EResFD models, measured from the mirror.
    fn two_rows() -> Option<Tables> {
        let zoo = Zoo::builtin();
        let mut measured = Vec::new();
        for name in ["eresfd-10", "eresfd-30"] {
            let model = zoo.model(name).unwrap();
            let sd = StateDict::read(&mirror_file(&model.artifact.file)?).unwrap();
            let m = Measurement::of(&sd, model.arch, Grouping::Checkpoint).unwrap();
            measured.push((model, m));
        }
        let pairs: Vec<_> = measured.iter().map(|(m, x)| (*m, x)).collect();
        Some(build(&pairs, Grouping::Checkpoint))
    }

    #[test]
    fn the_ten_percent_row_is_marked_and_explained() {
        let Some(tables) = two_rows() else { return };
        let table = &tables.tables[0];
        let (ten, thirty) = (&table.rows[0], &table.rows[1]);
        assert!(ten.marked && !thirty.marked);
        assert_eq!(ten.notes, [1]);
        let bad: Vec<usize> = ten
            .groups
            .iter()
            .filter(|c| !c.within_rounding)
            .map(|c| c.group)
            .collect();
        assert_eq!(bad, [1, 3]);
        let note = &table.notes[0].text;
        assert!(
            note.starts_with("Pruned 10 % (eresfd-10): G1: the published 20 %"),
            "{note}"
        );
        assert!(note.contains("zeroes ⌊0.2 · 8⌋ = 1 of the 8 filters in each of the group's 2 convs, the weights have 0; the rates that fit are 0–12.5 %."), "{note}");
        assert!(note.contains("G3: the published 7.9 %"), "{note}");
        assert!(note.contains(EARLIER_TEN_PERCENT_RUN), "{note}");
        // Notes 2 and 3: itm.3's documented extra zeros, then the grouping.
        assert!(
            table.notes[1]
                .text
                .contains("(Pruned 10 %: 5 instead of 3, Pruned 30 %: 8 instead of 5)")
        );
        assert!(
            table.notes[2]
                .text
                .starts_with("Groups: checkpoint-consistent grouping")
        );

        let text = render_text(&tables);
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("Pruned 10 % [1]"))
            .unwrap();
        fn cells(l: &str) -> Vec<&str> {
            l.split("  ")
                .filter(|c| !c.is_empty())
                .map(str::trim)
                .collect()
        }
        assert_eq!(
            cells(lines[at]),
            [
                "Pruned 10 % [1]",
                "published",
                "20",
                "0",
                "7.9",
                "20",
                "20",
                "17.2",
                "10.24"
            ]
        );
        assert_eq!(
            cells(lines[at + 1]),
            [
                "weights",
                "0–12.5",
                "0–6.25",
                "0–6.25",
                "18.75–25",
                "18.75–25",
                "12.5–25",
                "10.24 (10.2442)"
            ]
        );
        assert_eq!(
            cells(lines[at + 2]),
            ["Δ", "+7.5 ✗", "0", "+1.65 ✗", "0", "0", "0", "-0.0042"]
        );
        let md = render_markdown(&tables);
        assert!(
            md.lines().any(|l| markdown_cells(l)
                == [
                    "Pruned 10 % [1]",
                    "published",
                    "20",
                    "0",
                    "7.9",
                    "20",
                    "20",
                    "17.2",
                    "10.24"
                ]),
            "{md}"
        );
        assert!(md.contains("\n1. Pruned 10 % (eresfd-10): "));
    }
}
