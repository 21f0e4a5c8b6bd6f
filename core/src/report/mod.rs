//! Everything `reproduce` writes for people and machines to read: images with detections drawn on
//! them today; tables, JSON for CI and plots as the pipeline grows.
//!
//! * [`canvas`]: an RGB canvas with lines, rectangles and bitmap text, saved as PNG — the drawing
//!   layer of `detect --draw` and of the plots.
//! * [`plot`]: line charts (PR curves, loss curves, BO trials) drawn on the canvas.
//! * [`tables`]: the paper's group-rate and sparsity tables, published beside measured, as text,
//!   Markdown and JSON; [`baselines`]: the uniform baselines' table beside them.
//! * [`tradeoff`]: the AP-against-sparsity comparison of `reproduce compare`, as text, Markdown
//!   and charts.

pub mod baselines;
pub mod canvas;
pub mod plot;
pub mod tables;
pub mod tradeoff;
