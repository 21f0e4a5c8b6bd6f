//! What a run reports besides its checkpoints:
//!
//! * `log.jsonl`: one JSON object per line, appended as training goes (`start`, `resume`,
//!   `step` every few batches, `epoch`, `stop`), for `tail -f` and for machines;
//! * `epochs.csv`: one row per completed epoch (loss terms, learning rate, images/s), rewritten
//!   from the committed history at each epoch, so it never holds a half-finished epoch;
//! * `loss.png`: the training loss along the iterations and the per-epoch train / validation
//!   losses, drawn with `report::plot`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use super::state::EpochRecord;
use bfpgm_core::fsutil::write_atomic;
use bfpgm_core::report::chart::{LineChart, Series};
use bfpgm_core::report::plot::save_charts;

/// The append-only event log of a run.
pub struct EventLog {
    file: File,
    path: std::path::PathBuf,
}

impl EventLog {
    /// Opens (creating or appending to) `path`.
    pub fn open(path: &Path) -> Result<EventLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the log {}", path.display()))?;
        Ok(EventLog {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends one event: `{"event": kind, ...fields}` (the event name first, then the fields,
    /// which must be a JSON object).
    pub fn event(&mut self, kind: &str, fields: serde_json::Value) -> Result<()> {
        let fields = fields.to_string();
        let inner = fields
            .strip_prefix('{')
            .and_then(|f| f.strip_suffix('}'))
            .unwrap_or_default();
        let sep = if inner.is_empty() { "" } else { "," };
        let line = format!(
            "{{\"event\":{}{sep}{inner}}}",
            serde_json::Value::from(kind)
        );
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write to {}", self.path.display()))
    }
}

/// The CSV header of `epochs.csv`.
pub const CSV_HEADER: &str = "epoch,lr,train_loc,train_conf,train_loss,val_loc,val_conf,val_loss,\
                              images,seconds,images_per_s";

/// `epochs.csv` for a history.
pub fn epochs_csv(history: &[EpochRecord]) -> String {
    let mut s = format!("{CSV_HEADER}\n");
    for r in history {
        let (vl, vc, vt) = match &r.val {
            Some(v) => (v.loc.to_string(), v.conf.to_string(), v.total().to_string()),
            None => (String::new(), String::new(), String::new()),
        };
        let _ = writeln!(
            s,
            "{},{},{},{},{},{vl},{vc},{vt},{},{:.3},{:.1}",
            r.epoch,
            r.lr,
            r.train.loc,
            r.train.conf,
            r.train.total(),
            r.train.images,
            r.train.seconds,
            r.train.images_per_second()
        );
    }
    s
}

/// Writes `epochs.csv` and `loss.png` into `dir` from the committed history.
pub fn write_reports(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    write_atomic(&dir.join("epochs.csv"), epochs_csv(history).as_bytes())?;
    if history.is_empty() {
        return Ok(());
    }
    let steps = Series {
        name: "train (running mean)".into(),
        points: history
            .iter()
            .flat_map(|r| r.curve.iter().map(|&(i, l)| (i as f64, l)))
            .collect(),
        markers: false,
    };
    let per_epoch = |name: &str, pick: &dyn Fn(&EpochRecord) -> Option<f64>| Series {
        name: name.into(),
        points: history
            .iter()
            .filter_map(|r| pick(r).map(|v| (r.epoch as f64, v)))
            .collect(),
        markers: true,
    };
    let mut epoch_series = vec![per_epoch("train", &|r| Some(r.train.total()))];
    if history.iter().any(|r| r.val.is_some()) {
        epoch_series.push(per_epoch("validation", &|r| r.val.map(|v| v.total())));
    }
    let charts = [
        LineChart {
            title: "Training loss".into(),
            x_label: "iteration".into(),
            y_label: "L_loc + L_conf".into(),
            x_range: None,
            y_range: None,
            series: vec![steps],
        },
        LineChart {
            title: "Loss per epoch".into(),
            x_label: "epoch".into(),
            y_label: "L_loc + L_conf".into(),
            x_range: None,
            y_range: None,
            series: epoch_series,
        },
    ];
    save_charts(&charts, &dir.join("loss.png"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::trainer::EpochLoss;

    fn record(epoch: u32, val: bool) -> EpochRecord {
        let l = |x: f64| EpochLoss {
            loc: x,
            conf: 2.0 * x,
            batches: 4,
            images: 64,
            seconds: 2.0,
        };
        EpochRecord {
            epoch,
            lr: 1e-3,
            train: l(1.0 / (epoch + 1) as f64),
            val: val.then(|| l(0.5)),
            curve: vec![(epoch as u64 * 4, 3.0), (epoch as u64 * 4 + 2, 2.5)],
        }
    }

    #[test]
    fn the_csv_has_one_row_per_epoch_and_empty_cells_without_validation() {
        let csv = epochs_csv(&[record(0, true), record(1, false)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "0,0.001,1,2,3,0.5,1,1.5,64,2.000,32.0");
        assert_eq!(lines[2], "1,0.001,0.5,1,1.5,,,,64,2.000,32.0");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn reports_are_written_and_the_event_log_appends() {
        let dir = tempfile::tempdir().unwrap();
        write_reports(dir.path(), &[record(0, true), record(1, true)]).unwrap();
        // Two panels (per step, per epoch); the train and validation curves in their colours.
        let img = bfpgm_core::imageio::read_image(&dir.path().join("loss.png")).unwrap();
        assert_eq!(img.width, 2 * bfpgm_core::report::plot::PANEL.0);
        assert!(img.height >= bfpgm_core::report::plot::PANEL.1);
        for k in 0..2 {
            let c = bfpgm_core::report::style::color(k);
            let n = img.data.chunks(3).filter(|p| *p == [c.0, c.1, c.2]).count();
            assert!(n > 300, "series {k}: {n} pixels of its colour");
        }
        let path = dir.path().join("log.jsonl");
        EventLog::open(&path)
            .unwrap()
            .event("start", serde_json::json!({"epoch": 0}))
            .unwrap();
        EventLog::open(&path)
            .unwrap()
            .event("stop", serde_json::json!({"reason": "done"}))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"event\":\"start\",\"epoch\":0}\n{\"event\":\"stop\",\"reason\":\"done\"}\n"
        );
    }
}
