//! The pieces the published tables ([`super::tables`]) and the baselines' ([`super::baselines`])
//! share: numbers as the README prints them, rate ranges, and the numbered notes under a table
//! with the convs they name.

use serde::Serialize;

use crate::measure::RateRange;

/// A conv whose zero count the published rate does not give.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// Module path.
    pub conv: String,
    /// Output filters.
    pub filters: usize,
    /// All-zero filters found.
    pub zero_filters: usize,
    /// Filters the published rate zeroes.
    pub predicted: usize,
}

/// A numbered note under a table.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    /// The number rows refer to.
    pub number: usize,
    /// The explanation.
    pub text: String,
}

/// Up to three names, then how many more.
pub fn list(names: &[&str]) -> String {
    match names.len() {
        0..=3 => names.join(", "),
        n => format!("{} and {} more", names[..3].join(", "), n - 3),
    }
}

/// A number with at most `decimals` decimals, trailing zeros dropped ("20", "7.9", "18.75").
pub fn num(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" { "0".into() } else { s.into() }
}

/// A rate range in percent, e.g. "18.75–25".
pub fn range_text(r: RateRange) -> String {
    format!("{}–{}", num(r.lo * 100.0, 2), num(r.hi * 100.0, 2))
}
