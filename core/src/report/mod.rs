//! Everything `reproduce` writes for people and machines to read: tables, JSON for CI, plots and
//! images with detections drawn on them.
//!
//! * [`chart`]: what a line chart shows (series, axes), apart from its drawing.
//! * [`plot`]: line charts (PR curves, loss curves, BO trials, the trade-off figure) as PNG, drawn
//!   with plotters; `legend` places their legends where they cover no data, [`style`] holds their
//!   look.
//! * [`boxes`]: detections drawn on a photo (`detect --draw`).
//! * `font`: the embedded typeface all of them write with.
//! * [`tables`]: the paper's group-rate and sparsity tables, published beside measured, as text,
//!   Markdown and JSON; [`baselines`]: the uniform baselines' table beside them; [`cells`]: the
//!   numbers and notes both print.
//! * [`tradeoff`]: the AP-against-sparsity comparison of `reproduce compare`, as text, Markdown
//!   and charts.
//! * [`text_table`] renders every table the binary prints.

pub mod baselines;
pub mod boxes;
pub mod cells;
pub mod chart;
mod font;
mod legend;
pub mod plot;
pub mod style;
pub mod tables;
pub mod text_table;
pub mod tradeoff;
