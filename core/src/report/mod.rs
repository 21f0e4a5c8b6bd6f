//! Everything `reproduce` writes for people and machines to read: tables, JSON for CI, plots and
//! images with detections drawn on them.
//!
//! * [`chart`]: what a line chart shows (series, axes), apart from its drawing.
//! * [`plot`]: line charts (PR curves, loss curves, BO trials) as PNG, drawn with plotters;
//!   `legend` places their legends where they cover no data, [`style`] holds their look.
//! * [`boxes`]: detections drawn on a photo (`detect --draw`).
//! * `font`: the embedded typeface all of them write with.
//! * [`tables`]: the paper's group-rate and sparsity tables, published beside measured, as text,
//!   Markdown and JSON; [`text_table`] renders every table the binary prints.

pub mod boxes;
pub mod chart;
mod font;
mod legend;
pub mod plot;
pub mod style;
pub mod tables;
pub mod text_table;
