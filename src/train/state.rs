//! The run folder: what a training run writes, and how it commits an epoch so that `--resume`
//! always finds a consistent state.
//!
//! ```text
//! <run>/config.json          the TrainConfig (written once)
//! <run>/init.pth             the initial weights
//! <run>/epoch-NNN.pth        weights after epoch NNN (0-based, upstream's ERES-{epoch}.pth)
//! <run>/best.pth             weights of the lowest validation loss so far (upstream's selection)
//! <run>/optimizer-NNN.pth    optimiser moments and step after epoch NNN (only the latest kept)
//! <run>/state.json           the commit record: epochs done, iteration, files, history
//! <run>/epochs.csv, log.jsonl, loss.png   logs (see `log`)
//! ```
//!
//! Weights are upstream state dicts (`StateDict::write`: `torch.load` and our reader accept
//! them, and so does `reproduce detect --model <file>`). Every file is written to a temporary
//! name and renamed; `state.json` is renamed last and names the weights and optimiser files of
//! its epoch, so a run killed at any point resumes from the last complete epoch. The random
//! state is the seed: every draw derives from `(seed, epoch, sample)`, so restarting an epoch
//! from its beginning replays it exactly.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::trainer::EpochLoss;
use bfpgm_core::fsutil::write_atomic;

/// `state.json`'s format version.
const VERSION: u32 = 1;

/// One finished epoch, as logged and plotted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch index (0-based).
    pub epoch: u32,
    /// Learning rate of its first batch.
    pub lr: f64,
    /// Training loss terms (means over batches).
    pub train: EpochLoss,
    /// Validation loss terms, when validated.
    pub val: Option<EpochLoss>,
    /// `(iteration, running mean loss)` samples taken while training, for the loss curve.
    pub curve: Vec<(u64, f64)>,
}

/// The best validation loss so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Its epoch.
    pub epoch: u32,
    /// `mean(L_loc) + mean(L_conf)` on the validation set.
    pub val_loss: f64,
}

/// The commit record of a run (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunState {
    /// Format version.
    pub version: u32,
    /// Epochs completed; the next epoch to train.
    pub epochs_done: u32,
    /// Batches trained so far (the learning-rate schedule counts them).
    pub iteration: u64,
    /// Weights file of the last completed epoch (or `init.pth`), relative to the run folder.
    pub weights: String,
    /// Optimiser file of the last completed epoch, if any.
    pub optimizer: Option<String>,
    /// Mixed precision's loss scale and growth counter, if on.
    pub loss_scale: Option<(f64, f64)>,
    /// The best validation loss, if validated.
    pub best: Option<Best>,
    /// Every completed epoch.
    pub history: Vec<EpochRecord>,
}

impl RunState {
    /// The state of a run that has trained nothing yet.
    pub fn initial() -> RunState {
        RunState {
            version: VERSION,
            epochs_done: 0,
            iteration: 0,
            weights: INIT.to_string(),
            optimizer: None,
            loss_scale: None,
            best: None,
            history: Vec::new(),
        }
    }
}

/// The initial weights' file name.
pub const INIT: &str = "init.pth";
/// The best weights' file name.
pub const BEST: &str = "best.pth";

/// A run folder (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// The folder.
    pub path: PathBuf,
}

impl RunDir {
    /// The folder at `path` (nothing is created yet).
    pub fn new(path: &Path) -> RunDir {
        RunDir {
            path: path.to_path_buf(),
        }
    }

    /// A file of the run.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Weights after `epoch`.
    pub fn epoch_weights(epoch: u32) -> String {
        format!("epoch-{epoch:03}.pth")
    }

    /// Optimiser state after `epoch`.
    pub fn epoch_optimizer(epoch: u32) -> String {
        format!("optimizer-{epoch:03}.pth")
    }

    /// Whether a run has been started here.
    pub fn exists(&self) -> bool {
        self.file("state.json").is_file()
    }

    /// Refuses to start a run where one was started: a new run never overwrites another.
    pub fn refuse_existing(&self) -> Result<()> {
        if self.exists() {
            bail!(
                "{} already holds a training run; continue it with --resume or choose another \
                 --out",
                self.path.display()
            );
        }
        Ok(())
    }

    /// Reads the settings a stage saved beside its run (`sfp.json`, `finetune.json`).
    pub fn read_settings<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// Binds a stage's settings to this run before it trains: a new run (refused where one
    /// was started) saves them; a resumed run must have saved the same ones, and `differ` says
    /// in the error what another value would mean.
    pub fn claim_settings<T>(
        &self,
        name: &str,
        settings: &T,
        resume: bool,
        differ: &str,
    ) -> Result<()>
    where
        T: Serialize + DeserializeOwned + PartialEq,
    {
        let path = self.file(name);
        if resume {
            let saved: T = self
                .read_settings(name)
                .with_context(|| format!("is {} a run of this stage?", self.path.display()))?;
            if saved != *settings {
                bail!(
                    "{} {differ} ({}); a resumed run keeps its settings",
                    self.path.display(),
                    path.display()
                );
            }
            return Ok(());
        }
        self.refuse_existing()?;
        let json = serde_json::to_string_pretty(settings).expect("settings serialise");
        write_atomic(&path, format!("{json}\n").as_bytes())
    }

    /// Writes `config.json`.
    pub fn write_config(&self, cfg: &TrainConfig) -> Result<()> {
        let json = serde_json::to_string_pretty(cfg).expect("the config serialises");
        write_atomic(&self.file("config.json"), format!("{json}\n").as_bytes())
    }

    /// Reads `config.json`.
    pub fn read_config(&self) -> Result<TrainConfig> {
        let path = self.file("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}; is {} a training run folder?",
                path.display(),
                self.path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid run config", path.display()))
    }

    /// Commits `state` (the files it names must already be written).
    pub fn commit(&self, state: &RunState) -> Result<()> {
        let json = serde_json::to_string_pretty(state).expect("the state serialises");
        write_atomic(&self.file("state.json"), format!("{json}\n").as_bytes())
    }

    /// Reads the last commit and checks that the files it names exist.
    pub fn read_state(&self) -> Result<RunState> {
        let path = self.file("state.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}; nothing to resume in {} (start the run without --resume)",
                path.display(),
                self.path.display()
            )
        })?;
        let state: RunState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid run state", path.display()))?;
        if state.version != VERSION {
            bail!(
                "{}: format version {}, this build reads {VERSION}",
                path.display(),
                state.version
            );
        }
        for name in std::iter::once(&state.weights).chain(&state.optimizer) {
            if !self.file(name).is_file() {
                bail!(
                    "{} names {name}, which is missing from {}",
                    path.display(),
                    self.path.display()
                );
            }
        }
        Ok(state)
    }

    /// Deletes optimiser files other than `keep` (only the latest is needed to resume).
    pub fn prune_optimizer_files(&self, keep: &str) -> Result<()> {
        for entry in std::fs::read_dir(&self.path)
            .with_context(|| format!("cannot list {}", self.path.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("optimizer-") && name.ends_with(".pth") && name != keep {
                std::fs::remove_file(self.file(&name))
                    .with_context(|| format!("cannot remove {}", self.file(&name).display()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_reads_back_and_names_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(!run.exists());
        let mut state = RunState::initial();
        state.epochs_done = 1;
        state.weights = RunDir::epoch_weights(0);
        run.commit(&state).unwrap();
        // The weights file is not there: a resume must refuse.
        let err = run.read_state().unwrap_err().to_string();
        assert!(err.contains("epoch-000.pth"), "{err}");
        std::fs::write(run.file("epoch-000.pth"), b"x").unwrap();
        assert_eq!(run.read_state().unwrap(), state);
    }

    #[test]
    fn only_the_latest_optimizer_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        for e in 0..3 {
            std::fs::write(run.file(&RunDir::epoch_optimizer(e)), b"x").unwrap();
        }
        std::fs::write(run.file("epoch-000.pth"), b"x").unwrap();
        run.prune_optimizer_files(&RunDir::epoch_optimizer(2))
            .unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["epoch-000.pth", "optimizer-002.pth"]);
    }
}
