//! The uniform-pruning baselines in `reproduce tables`: what their weights measure beside the one
//! number their paper publishes, the target rate.
//!
//! A uniform model prunes every conv but the heads at its target rate (docs/upstream.md §baselines), so each
//! group's measured rates ([`Measurement::group_range`]) should hold the target, and the group
//! cells say where they do not: a conv whose zeros the target's `⌊rate · filters⌋` does not give
//! is named in a note under the table. The sparsity is measured, never published: it is the
//! x axis of `reproduce compare`, and lies below the target because the heads, the BatchNorms and
//! the filters' remainders stay dense.

use serde::Serialize;

use super::cells::{Mismatch, Note, list, num, range_text};
use super::text_table::TextTable;
use crate::groups::GROUPS;
use crate::measure::{ConvZeros, Measurement, RateRange};
use crate::zoo::{Arch, Method, Model};

/// One architecture's baselines.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineTable {
    /// The network.
    pub arch: Arch,
    /// One row per model, in zoo order.
    pub rows: Vec<BaselineRow>,
    /// Numbered notes printed under the table.
    pub notes: Vec<Note>,
}

/// One baseline model, measured.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineRow {
    /// Zoo name.
    pub model: String,
    /// FPGM, L1, or unpruned (the starting point).
    pub method: Method,
    /// The published target rate (fraction); `None` for the starting point.
    pub target_rate: Option<f64>,
    /// Parameters, each tensor once.
    pub params: u64,
    /// Parameters exactly zero.
    pub zero_params: u64,
    /// `calc_sparsity` in percent.
    pub sparsity: f64,
    /// Output filters over all convs.
    pub filters: usize,
    /// All-zero output filters over all convs.
    pub zero_filters: usize,
    /// The G1..G6 columns.
    pub groups: Vec<GroupCell>,
    /// Whether the target leaves some conv's zeros unexplained.
    pub marked: bool,
    /// Numbers of the notes about this row.
    pub notes: Vec<usize>,
    /// Every conv's zero filters.
    pub convs: Vec<ConvZeros>,
}

/// One group's measured rates beside the target.
#[derive(Debug, Clone, Serialize)]
pub struct GroupCell {
    /// 1-based group number.
    pub group: usize,
    /// The rates consistent with the group's zeros; `None` when its convs need different rates.
    pub measured: Option<RateRange>,
    /// Whether the target (0 for the starting point) gives each conv's zero count.
    pub reproduces: bool,
    /// The convs whose zeros the target does not give.
    pub mismatches: Vec<Mismatch>,
}

/// The baselines' tables, one per architecture in the order they first appear.
pub fn build(models: &[(&Model, &Measurement)]) -> Vec<BaselineTable> {
    let mut archs: Vec<Arch> = Vec::new();
    for (m, _) in models {
        if !archs.contains(&m.arch) {
            archs.push(m.arch);
        }
    }
    archs
        .into_iter()
        .map(|arch| {
            let mut notes = Vec::new();
            let rows = models
                .iter()
                .filter(|(m, _)| m.arch == arch)
                .map(|(model, m)| {
                    let mut row = build_row(model, m);
                    if row.marked {
                        notes.push(Note {
                            number: notes.len() + 1,
                            text: row_note(&row),
                        });
                        row.notes.push(notes.len());
                    }
                    row
                })
                .collect();
            BaselineTable { arch, rows, notes }
        })
        .collect()
}

fn build_row(model: &Model, m: &Measurement) -> BaselineRow {
    let target = model.target_rate.unwrap_or(0.0);
    let groups: Vec<GroupCell> = (0..GROUPS)
        .map(|g| GroupCell {
            group: g + 1,
            measured: m.group_range(g),
            reproduces: m.reproduces(g, target),
            mismatches: m
                .mismatches(g, target)
                .into_iter()
                .map(|c| Mismatch {
                    conv: c.path.clone(),
                    filters: c.filters,
                    zero_filters: c.zero_filters,
                    predicted: c.predicted(target),
                })
                .collect(),
        })
        .collect();
    BaselineRow {
        model: model.name().to_string(),
        method: model.method,
        target_rate: model.target_rate,
        params: m.sparsity.total,
        zero_params: m.sparsity.zeros,
        sparsity: m.sparsity.percent(),
        filters: m.filters(),
        zero_filters: m.zero_filters(),
        marked: groups.iter().any(|c| !c.reproduces),
        groups,
        notes: Vec::new(),
        convs: m.convs.clone(),
    }
}

/// The convs of a marked row whose zeros the target does not give, per group.
fn row_note(row: &BaselineRow) -> String {
    let target = row.target_rate.unwrap_or(0.0);
    let parts: Vec<String> = row
        .groups
        .iter()
        .filter(|c| !c.reproduces)
        .map(|c| {
            let convs: Vec<String> = c
                .mismatches
                .iter()
                .map(|x| {
                    format!(
                        "{} ({} of {} zero, ⌊{} · {}⌋ = {})",
                        x.conv,
                        x.zero_filters,
                        x.filters,
                        num(target, 3),
                        x.filters,
                        x.predicted
                    )
                })
                .collect();
            let names: Vec<&str> = convs.iter().map(String::as_str).collect();
            format!("G{}: {}", c.group, list(&names))
        })
        .collect();
    format!(
        "{}: the target {} % does not give the zeros of {}.",
        row.model,
        num(target * 100.0, 1),
        parts.join("; ")
    )
}

fn title(arch: Arch) -> String {
    let name = match arch {
        Arch::Eresfd => "EResFD",
        Arch::Extd => "EXTD",
    };
    format!(
        "{name} baselines (uniform FPGM / L1 pruning, WACVW 2024): pruning rate per layer group \
         (%) and sparsity (%), measured from the weights"
    )
}

const LEGEND: &str = "target: the rate the baseline was pruned with, for every conv but the \
    heads (its only published number). G1..G6: the rates [lo, hi) whose ⌊rate · filters⌋ zeroes \
    exactly the filters found in each of the group's convs. ✗: the target does not give some \
    conv's zeros (see the note).";

/// The cells of a row, label column first.
fn cells(row: &BaselineRow) -> Vec<String> {
    let label = if row.notes.is_empty() {
        row.model.clone()
    } else {
        let refs: Vec<String> = row.notes.iter().map(|n| format!("[{n}]")).collect();
        format!("{} {}", row.model, refs.join(""))
    };
    let mut line = vec![
        label,
        row.method.to_string(),
        row.target_rate
            .map_or("-".to_string(), |r| num(r * 100.0, 1)),
    ];
    for c in &row.groups {
        let range = c.measured.map_or("none".to_string(), range_text);
        line.push(if c.reproduces {
            range
        } else {
            format!("{range} ✗")
        });
    }
    line.push(format!("{:.4}", row.sparsity));
    line.push(format!("{} / {}", row.zero_filters, row.filters));
    line
}

fn header() -> Vec<String> {
    let mut h = vec!["model".to_string(), "method".into(), "target".into()];
    h.extend((1..=GROUPS).map(|g| format!("G{g}")));
    h.push("Sparsity".into());
    h.push("zero filters".into());
    h
}

/// One table's header and rows.
fn text_table(table: &BaselineTable) -> TextTable {
    let mut t = TextTable::new(header());
    for row in &table.rows {
        t.push(cells(row));
    }
    t
}

/// The tables as aligned plain text, under their own heading.
pub fn render_text(tables: &[BaselineTable]) -> String {
    let mut out = String::new();
    for table in tables {
        out.push_str(&format!("\n{}\n{LEGEND}\n\n", title(table.arch)));
        out.push_str(&text_table(table).plain());
        out.push('\n');
        for note in &table.notes {
            out.push_str(&format!("[{}] {}\n", note.number, note.text));
        }
    }
    out
}

/// The tables as GitHub-flavoured Markdown; the target and the measured columns are
/// right-aligned.
pub fn render_markdown(tables: &[BaselineTable]) -> String {
    let mut out = String::new();
    for table in tables {
        out.push_str(&format!("\n**{}**\n\n{LEGEND}\n\n", title(table.arch)));
        out.push_str(&text_table(table).right_align(2..header().len()).markdown());
        out.push('\n');
        for note in &table.notes {
            out.push_str(&format!("{}. {}\n", note.number, note.text));
        }
    }
    out
}
