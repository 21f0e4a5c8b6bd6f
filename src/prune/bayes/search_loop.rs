//! The search loop around the [`Optimizer`]: it hands trials to workers (one per device),
//! records every trial the moment it finishes, and continues a stopped search without repeating
//! a finished trial. A worker may evaluate several trials at once, as one fused group.
//!
//! A search lives in a folder:
//!
//! ```text
//! <dir>/search.json               the state: what is searched (the caller's spec), the optimiser
//!                                 (queue, observations, random stream) and every trial handed out
//! <dir>/optimization_results.csv  one row per finished trial, in trial order: upstream's columns
//!                                 iter, x0..x5, objective_fn, val_loss, pruning_penalty, sparsity,
//!                                 then seconds and device
//! <dir>/optimization.png          the objective and the sparsity per trial
//! ```
//!
//! The optimiser hands out the initial design (the probe and the random points, fixed by the
//! seed) as one batch, then batches of GP-guided points, one group per worker
//! ([`Optimizer::next_batch`]); the state is saved with the batch before any of it runs. The
//! unfinished trials of the batch are first screened in trial order ([`Objective::screen`]: a
//! point that needs no worker, such as one outside the sparsity band, is finished at once), and
//! the others form groups of [`Objective::group_size`] consecutive trials. Each group that
//! finishes is stored in the state, and the CSV and the plot are rewritten from it (every file
//! written under a temporary name and renamed, the state first), so a search killed at any moment
//! loses only the groups that were running. When the whole batch is in, its trials are registered
//! with the optimiser in order and the next batch is drawn. A resumed search first re-runs the
//! unfinished trials of the batch it was in; since only whole groups finish, and a call stopped by
//! its trial limit stops only between groups, they form the very groups they formed before.
//! Because an evaluation's random draws derive from the seed and the numbers of its trials, a
//! search resumed on the CPU with one worker produces the very trials of an uninterrupted one.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::optimizer::{Optimizer, SearchSettings};
use bfpgm_core::fsutil::write_atomic;
use bfpgm_core::progress::Progress;
use bfpgm_core::report::chart::{LineChart, Series};
use bfpgm_core::report::plot::save_charts;

/// The state file.
pub const STATE: &str = "search.json";
/// The per-trial log.
pub const CSV: &str = "optimization_results.csv";
/// The per-trial plot.
pub const PLOT: &str = "optimization.png";
/// `search.json`'s format version.
const VERSION: u32 = 1;

/// What one evaluation of the objective measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The value the search maximises.
    pub objective: f64,
    /// The validation loss, `None` when the point was out of band and not trained (upstream logs
    /// 0 for it).
    pub val_loss: Option<f64>,
    /// The sparsity penalty before its weight λ.
    pub penalty: f64,
    /// Whole-model sparsity of the pruned copy, as a fraction.
    pub sparsity: f64,
    /// Wall time of the evaluation, seconds.
    pub seconds: f64,
    /// Where it ran, e.g. `cuda:1`.
    pub device: String,
}

/// One point handed out by the optimiser, and its outcome once it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// 0-based trial number (upstream's `iter`).
    pub iter: usize,
    /// The point: one pruning rate per group.
    pub x: Vec<f64>,
    /// The measurement; `None` while the trial is running or after it was interrupted.
    pub outcome: Option<Outcome>,
}

/// The function the search maximises. Evaluations of different groups may run at the same time
/// on different workers.
pub trait Objective: Sync {
    /// How many trials a worker evaluates together (fused into one network, say); a batch holds
    /// this many per worker.
    fn group_size(&self) -> usize {
        1
    }

    /// The outcome of point `x` (trial `iter`) when it needs no worker, `None` when it does.
    /// Runs on the calling thread, before groups are formed, so that groups hold only trials
    /// that need a worker.
    fn screen(&self, iter: usize, x: &[f64]) -> Result<Option<Outcome>> {
        let _ = (iter, x);
        Ok(None)
    }

    /// Evaluates the `(trial number, point)`s of one group together on worker `worker`
    /// (`0..workers`, one per device); one outcome per trial, in order.
    fn evaluate(&self, worker: usize, group: &[(usize, Vec<f64>)]) -> Result<Vec<Outcome>>;
}

/// How a call of [`run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every trial of the budget has finished.
    Done,
    /// The per-invocation limit was reached; `--resume` continues.
    Limit,
    /// The shard's share of the initial design has finished; [`SearchState::merge`] it.
    Shard,
}

/// One share of the initial design (the probe and the random points), whose points are fixed by
/// the seed before anything is evaluated: shard `index` of `count` evaluates the trials whose
/// number is `index` modulo `count`. Shards run anywhere (one per node) and are merged into one
/// search, which then runs the GP-guided phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Whether trial `iter` is this shard's.
    pub fn owns(&self, iter: usize) -> bool {
        iter % self.count == self.index
    }
}

/// Everything a search folder records (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchState {
    version: u32,
    /// What is searched and on which data, as the caller describes it: a resumed search must be
    /// given the same description.
    pub spec: serde_json::Value,
    optimizer: Optimizer,
    trials: Vec<Trial>,
}

impl SearchState {
    /// A new search described by `spec`.
    pub fn new(spec: serde_json::Value, settings: SearchSettings) -> Result<SearchState> {
        Ok(SearchState {
            version: VERSION,
            spec,
            optimizer: Optimizer::new(settings)?,
            trials: Vec::new(),
        })
    }

    /// Reads the search in `dir` and checks that it is the one `spec` describes.
    pub fn resume(dir: &Path, spec: &serde_json::Value) -> Result<SearchState> {
        let path = dir.join(STATE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}; nothing to resume in {} (start the search without --resume)",
                path.display(),
                dir.display()
            )
        })?;
        let state: SearchState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid search state", path.display()))?;
        if state.version != VERSION {
            bail!(
                "{}: format version {}, this build reads {VERSION}",
                path.display(),
                state.version
            );
        }
        if &state.spec != spec {
            bail!(
                "{} was started with other settings ({}); a resumed search keeps its settings",
                path.display(),
                changed_keys(&state.spec, spec).join(", ")
            );
        }
        Ok(state)
    }

    /// Whether a search has been started in `dir`.
    pub fn exists(dir: &Path) -> bool {
        dir.join(STATE).is_file()
    }

    /// The optimiser's settings.
    pub fn settings(&self) -> &SearchSettings {
        self.optimizer.settings()
    }

    /// Every trial handed out, in order.
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// Trials with an outcome.
    pub fn finished(&self) -> impl Iterator<Item = (&Trial, &Outcome)> {
        self.trials
            .iter()
            .filter_map(|t| t.outcome.as_ref().map(|o| (t, o)))
    }

    /// The finished trial with the largest objective, the first on ties (as `np.argmax` picks
    /// bayes_opt's `max`).
    pub fn best(&self) -> Option<(&Trial, &Outcome)> {
        self.finished().fold(None, |best, (t, o)| match best {
            Some((_, b)) if b.objective >= o.objective => best,
            _ => Some((t, o)),
        })
    }

    /// Whether every trial of the budget has finished.
    pub fn is_done(&self) -> bool {
        self.optimizer.is_done() && self.trials.iter().all(|t| t.outcome.is_some())
    }

    /// Writes the state, then the CSV and the plot derived from it.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("the state serialises");
        write_atomic(&dir.join(STATE), format!("{json}\n").as_bytes())?;
        write_atomic(&dir.join(CSV), self.csv().as_bytes())?;
        save_charts(&self.charts(), &dir.join(PLOT))
    }

    /// `optimization_results.csv` (module docs): upstream's columns, then seconds and device.
    pub fn csv(&self) -> String {
        let dims = self.settings().dims;
        let mut s = String::from("iter,");
        for i in 0..dims {
            let _ = write!(s, "x{i},");
        }
        s.push_str("objective_fn,val_loss,pruning_penalty,sparsity,seconds,device\n");
        for (t, o) in self.finished() {
            let _ = write!(s, "{},", t.iter);
            for v in &t.x {
                let _ = write!(s, "{v},");
            }
            let _ = writeln!(
                s,
                "{},{},{},{},{:.3},{}",
                o.objective,
                o.val_loss.unwrap_or(0.0),
                o.penalty,
                o.sparsity,
                o.seconds,
                o.device
            );
        }
        s
    }

    /// The objective of the trained (in-band) trials and the best so far; the sparsity of every
    /// trial against the target band.
    fn charts(&self) -> Vec<LineChart> {
        let feasible: Vec<(f64, f64)> = self
            .finished()
            .filter(|(_, o)| o.val_loss.is_some())
            .map(|(t, o)| (t.iter as f64, o.objective))
            .collect();
        let mut best = Vec::new();
        for &(i, y) in &feasible {
            let top = best.last().map_or(y, |&(_, b): &(f64, f64)| b.max(y));
            best.push((i, top));
        }
        let sparsity: Vec<(f64, f64)> = self
            .finished()
            .map(|(t, o)| (t.iter as f64, 100.0 * o.sparsity))
            .collect();
        let last = self.trials.len().max(1) as f64;
        let target = 100.0 * self.settings().target;
        let flat = |name: &str, y: f64| Series {
            name: name.into(),
            points: vec![(0.0, y), (last, y)],
            markers: false,
        };
        vec![
            LineChart {
                title: "Objective per trial".into(),
                x_label: "trial (out-of-band trials, not trained, left out)".into(),
                y_label: "-val loss - lambda * penalty".into(),
                x_range: Some((0.0, last)),
                y_range: None,
                series: vec![
                    Series {
                        name: "trained trials".into(),
                        points: feasible,
                        markers: true,
                    },
                    Series {
                        name: "best so far".into(),
                        points: best,
                        markers: false,
                    },
                ],
            },
            LineChart {
                title: "Sparsity per trial".into(),
                x_label: "trial".into(),
                y_label: "sparsity (%)".into(),
                x_range: Some((0.0, last)),
                y_range: None,
                series: vec![
                    Series {
                        name: "sparsity".into(),
                        points: sparsity,
                        markers: true,
                    },
                    flat("target", target),
                    flat("band -4", target - 100.0 * super::objective::BAND),
                    flat("band +4", target + 100.0 * super::objective::BAND),
                ],
            },
        ]
    }

    /// Trials of the initial design: the probe and the random points.
    fn initial_design(&self) -> usize {
        1 + self.settings().n_init
    }

    /// Hands out whatever is left of the initial design, adding it to the batch in progress. Its
    /// points come from the queue the seed filled, so every copy of a search (every shard) hands
    /// out the same points under the same numbers.
    fn hand_out_initial_design(&mut self) -> Result<()> {
        self.register_finished_batch();
        let first = self.trials.len();
        let rest = self.initial_design().saturating_sub(first);
        for (k, x) in self.optimizer.next_batch(rest)?.into_iter().enumerate() {
            self.trials.push(Trial {
                iter: first + k,
                x,
                outcome: None,
            });
        }
        Ok(())
    }

    /// Takes the finished initial-design trials of `shard` (a copy of this search, run with
    /// [`Shard`]) that this search has not finished yet; returns how many.
    pub fn merge(&mut self, shard: &SearchState) -> Result<usize> {
        if shard.spec != self.spec || shard.settings() != self.settings() {
            bail!(
                "it was started with other settings ({})",
                changed_keys(&shard.spec, &self.spec).join(", ")
            );
        }
        self.hand_out_initial_design()?;
        let initial = self.initial_design();
        let mut taken = 0;
        for (t, o) in shard.finished().filter(|(t, _)| t.iter < initial) {
            let mine = &mut self.trials[t.iter];
            if mine.x != t.x {
                bail!("its trial {} has other rates than this search's", t.iter);
            }
            if mine.outcome.is_none() {
                mine.outcome = Some(o.clone());
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// Registers the batch in progress with the optimiser once all of it has finished.
    fn register_finished_batch(&mut self) {
        let registered = self.optimizer.observations().len();
        let batch = &self.trials[registered..];
        if batch.is_empty() || batch.iter().any(|t| t.outcome.is_none()) {
            return;
        }
        for t in batch {
            let y = t.outcome.as_ref().expect("checked above").objective;
            self.optimizer.register(t.x.clone(), y);
        }
    }

    /// Trials handed out that have no outcome yet, by index.
    fn unfinished(&self) -> Vec<usize> {
        (0..self.trials.len())
            .filter(|&i| self.trials[i].outcome.is_none())
            .collect()
    }
}

/// Runs the search in `dir` from `state` with `workers` parallel evaluations until the budget is
/// spent or, with `limit`, after that many evaluations in this call (rounded up to a whole
/// group); with `shard`, only that share of the initial design. The state is saved after every
/// group (module docs).
pub fn run(
    dir: &Path,
    state: &mut SearchState,
    objective: &dyn Objective,
    workers: usize,
    limit: Option<usize>,
    shard: Option<Shard>,
    progress: &dyn Progress,
) -> Result<Stop> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let workers = workers.max(1);
    if let Some(shard) = shard {
        state.hand_out_initial_design()?;
        state.save(dir)?;
        let initial = state.initial_design();
        let todo: Vec<usize> = state
            .unfinished()
            .into_iter()
            .filter(|&i| i < initial && shard.owns(state.trials[i].iter))
            .collect();
        let all = todo.len();
        let ran = run_batch(dir, state, todo, objective, workers, limit, progress)?;
        state.register_finished_batch();
        state.save(dir)?;
        return Ok(if ran == all { Stop::Shard } else { Stop::Limit });
    }
    let mut evaluated = 0usize;
    loop {
        state.register_finished_batch();
        let mut todo = state.unfinished();
        if todo.is_empty() {
            if state.optimizer.is_done() {
                state.save(dir)?;
                return Ok(Stop::Done);
            }
            if limit.is_some_and(|l| evaluated >= l) {
                state.save(dir)?;
                return Ok(Stop::Limit);
            }
            if state.trials.len() < state.initial_design() {
                state.hand_out_initial_design()?;
            } else {
                let first = state.trials.len();
                let size = workers * objective.group_size().max(1);
                for (k, x) in state.optimizer.next_batch(size)?.into_iter().enumerate() {
                    state.trials.push(Trial {
                        iter: first + k,
                        x,
                        outcome: None,
                    });
                }
            }
            state.save(dir)?;
            todo = state.unfinished();
        }
        let budget = limit.map(|l| l.saturating_sub(evaluated));
        if budget == Some(0) {
            return Ok(Stop::Limit);
        }
        evaluated += run_batch(dir, state, todo, objective, workers, budget, progress)?;
    }
}

/// Screens the trials at `todo` in order, storing the outcomes of those that need no worker,
/// and groups the others by [`Objective::group_size`]. With a `budget`, stops at the first group
/// boundary where that many trials have finished or are grouped. Returns the groups and how many
/// trials were screened out.
fn screen_and_group(
    state: &mut SearchState,
    todo: Vec<usize>,
    objective: &dyn Objective,
    budget: Option<usize>,
    progress: &dyn Progress,
) -> Result<(Vec<Vec<usize>>, usize)> {
    let size = objective.group_size().max(1);
    let total = state.settings().total();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut open = Vec::new();
    let mut screened = 0;
    for i in todo {
        let taken = screened + groups.iter().map(Vec::len).sum::<usize>();
        if open.is_empty() && budget.is_some_and(|b| taken >= b) {
            break;
        }
        let (iter, x) = (state.trials[i].iter, state.trials[i].x.clone());
        let outcome = objective
            .screen(iter, &x)
            .with_context(|| format!("trial {iter} (rates {})", rates_text(&x)))?;
        match outcome {
            Some(o) => {
                progress.note(&trial_line(iter, total, &x, &o));
                state.trials[i].outcome = Some(o);
                screened += 1;
            }
            None => {
                open.push(i);
                if open.len() == size {
                    groups.push(std::mem::take(&mut open));
                }
            }
        }
    }
    if !open.is_empty() {
        groups.push(open);
    }
    Ok((groups, screened))
}

/// Evaluates the trials at `todo` (up to `budget` of them, in whole groups) on up to `workers`
/// threads, one group per thread at a time, storing and saving each group's outcomes as they
/// arrive; returns how many trials finished. Stops handing out groups at the first error and
/// returns it once the running ones are done.
fn run_batch(
    dir: &Path,
    state: &mut SearchState,
    todo: Vec<usize>,
    objective: &dyn Objective,
    workers: usize,
    budget: Option<usize>,
    progress: &dyn Progress,
) -> Result<usize> {
    let total = state.settings().total();
    let (groups, screened) = screen_and_group(state, todo, objective, budget, progress)?;
    if screened > 0 {
        state.save(dir)?;
    }
    let count = screened + groups.iter().map(Vec::len).sum::<usize>();
    let threads = workers.min(groups.len());
    let queue = Mutex::new(groups.into_iter().collect::<VecDeque<_>>());
    let shared = Mutex::new(state);
    let failed = AtomicBool::new(false);
    let errors: Mutex<Vec<anyhow::Error>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let (queue, shared, failed, errors) = (&queue, &shared, &failed, &errors);
            scope.spawn(move || {
                loop {
                    if failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let Some(group) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        return;
                    };
                    let points: Vec<(usize, Vec<f64>)> = {
                        let st = shared.lock().unwrap_or_else(|e| e.into_inner());
                        group
                            .iter()
                            .map(|&i| (st.trials[i].iter, st.trials[i].x.clone()))
                            .collect()
                    };
                    let result = objective.evaluate(worker, &points).and_then(|outcomes| {
                        if outcomes.len() != points.len() {
                            bail!(
                                "{} outcomes for a group of {} trials",
                                outcomes.len(),
                                points.len()
                            );
                        }
                        let mut st = shared.lock().unwrap_or_else(|e| e.into_inner());
                        for ((&i, (iter, x)), outcome) in group.iter().zip(&points).zip(outcomes) {
                            progress.note(&trial_line(*iter, total, x, &outcome));
                            st.trials[i].outcome = Some(outcome);
                        }
                        st.save(dir)
                    });
                    if let Err(e) = result {
                        failed.store(true, Ordering::SeqCst);
                        errors
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(e.context(group_text(&points)));
                        return;
                    }
                }
            });
        }
    });
    match errors.into_inner().unwrap_or_else(|e| e.into_inner()).pop() {
        Some(e) => Err(e),
        None => Ok(count),
    }
}

/// What an error names: `trial 7 (rates [...] %)`, or `fused trials 4, 5, 6`.
fn group_text(points: &[(usize, Vec<f64>)]) -> String {
    match points {
        [(iter, x)] => format!("trial {iter} (rates {})", rates_text(x)),
        _ => {
            let iters: Vec<String> = points.iter().map(|(i, _)| i.to_string()).collect();
            format!("fused trials {}", iters.join(", "))
        }
    }
}

/// The rates of a point in percent, e.g. `[24, 24, 3.1, ...]`.
pub fn rates_text(x: &[f64]) -> String {
    let parts: Vec<String> = x.iter().map(|v| format!("{:.1}", 100.0 * v)).collect();
    format!("[{}] %", parts.join(", "))
}

/// The progress line of a finished trial.
fn trial_line(iter: usize, total: usize, x: &[f64], o: &Outcome) -> String {
    let trained = match o.val_loss {
        Some(l) => format!("validation loss {l:.4}"),
        None => "out of band, not trained".to_string(),
    };
    format!(
        "trial {}/{total}: rates {}, sparsity {:.2} %, objective {:.4} ({trained}), {:.1} s on {}",
        iter + 1,
        rates_text(x),
        100.0 * o.sparsity,
        o.objective,
        o.seconds,
        o.device
    )
}

/// The top-level keys whose values differ between two JSON objects (for messages that say which
/// settings changed).
pub fn changed_keys(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let a = old.as_object().unwrap_or(&empty);
    let b = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::progress::Hidden;
    use std::sync::atomic::AtomicUsize;

    /// A smooth synthetic objective with a sparsity that is in band near the optimum, which
    /// counts its calls and can be told to fail at one trial.
    struct Synthetic {
        calls: AtomicUsize,
        fail_at: Option<usize>,
    }

    impl Synthetic {
        fn new(fail_at: Option<usize>) -> Synthetic {
            Synthetic {
                calls: AtomicUsize::new(0),
                fail_at,
            }
        }
    }

    /// The synthetic outcome of `x`; `offset` is added to the loss of a trained point.
    fn synthetic(worker: usize, x: &[f64], offset: f64) -> Outcome {
        let sparsity = x.iter().sum::<f64>() / x.len() as f64;
        let in_band = (sparsity - 0.2).abs() < 0.04;
        let val_loss = in_band.then(|| x.iter().map(|v| (v - 0.2).powi(2)).sum::<f64>() + offset);
        Outcome {
            objective: -val_loss.unwrap_or(0.0) - if in_band { 0.0 } else { 500.0 },
            val_loss,
            penalty: if in_band { 0.0 } else { 100.0 },
            sparsity,
            seconds: 0.0,
            device: format!("worker{worker}"),
        }
    }

    impl Objective for Synthetic {
        fn evaluate(&self, worker: usize, group: &[(usize, Vec<f64>)]) -> Result<Vec<Outcome>> {
            group
                .iter()
                .map(|(iter, x)| {
                    self.calls.fetch_add(1, Ordering::SeqCst);
                    if self.fail_at == Some(*iter) {
                        bail!("synthetic failure");
                    }
                    Ok(synthetic(worker, x, 0.0))
                })
                .collect()
        }
    }

    /// Fused groups of three: out-of-band points are screened out, and a trained point's loss
    /// depends on the first trial of its group (as a fused group's shared batches do), so a
    /// regrouped trial would log another value. Records every group it evaluates.
    #[derive(Default)]
    struct Fused {
        groups: Mutex<Vec<Vec<usize>>>,
    }

    impl Objective for Fused {
        fn group_size(&self) -> usize {
            3
        }

        fn screen(&self, _: usize, x: &[f64]) -> Result<Option<Outcome>> {
            let o = synthetic(0, x, 0.0);
            Ok(o.val_loss.is_none().then_some(o))
        }

        fn evaluate(&self, worker: usize, group: &[(usize, Vec<f64>)]) -> Result<Vec<Outcome>> {
            self.groups
                .lock()
                .unwrap()
                .push(group.iter().map(|(i, _)| *i).collect());
            let first = group[0].0 as f64;
            Ok(group
                .iter()
                .map(|(_, x)| synthetic(worker, x, first / 1000.0))
                .collect())
        }
    }

    fn settings() -> SearchSettings {
        SearchSettings {
            target: 0.2,
            dims: 2,
            n_init: 3,
            n_iter: 4,
            probe_offset: 0.04,
            seed: 0,
        }
    }

    fn spec() -> serde_json::Value {
        serde_json::json!({"what": "synthetic"})
    }

    fn rows(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(CSV))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    }

    #[test]
    fn a_search_evaluates_its_whole_budget_and_logs_every_trial() {
        let dir = tempfile::tempdir().unwrap();
        let f = Synthetic::new(None);
        let mut state = SearchState::new(spec(), settings()).unwrap();
        let stop = run(dir.path(), &mut state, &f, 1, None, None, &Hidden).unwrap();
        assert_eq!(stop, Stop::Done);
        assert!(state.is_done());
        assert_eq!(f.calls.load(Ordering::SeqCst), 8);
        let csv = rows(dir.path());
        assert_eq!(
            csv[0],
            "iter,x0,x1,objective_fn,val_loss,pruning_penalty,sparsity,seconds"
        );
        assert_eq!(csv.len(), 9);
        // The probe comes first: [T + 0.04] × 2, in band.
        assert!(csv[1].starts_with("0,0.24000000000000002,0.24000000000000002,"));
        let (best, outcome) = state.best().unwrap();
        assert!(outcome.val_loss.is_some() && best.iter < 8);
        assert!(dir.path().join(PLOT).is_file());
    }

    /// The folder of a search run to its budget in one go, with one worker: what a stopped,
    /// resumed or sharded search must reproduce.
    fn uninterrupted() -> (tempfile::TempDir, SearchState) {
        let dir = tempfile::tempdir().unwrap();
        let mut state = SearchState::new(spec(), settings()).unwrap();
        run(
            dir.path(),
            &mut state,
            &Synthetic::new(None),
            1,
            None,
            None,
            &Hidden,
        )
        .unwrap();
        (dir, state)
    }

    #[test]
    fn a_stopped_search_resumes_without_repeating_a_trial() {
        let (straight, all) = uninterrupted();

        let dir = tempfile::tempdir().unwrap();
        let mut first = SearchState::new(spec(), settings()).unwrap();
        let f = Synthetic::new(None);
        let stop = run(dir.path(), &mut first, &f, 1, Some(5), None, &Hidden).unwrap();
        assert_eq!(stop, Stop::Limit);
        assert_eq!(f.calls.load(Ordering::SeqCst), 5);
        assert_eq!(rows(dir.path()).len(), 6);

        let mut resumed = SearchState::resume(dir.path(), &spec()).unwrap();
        let g = Synthetic::new(None);
        assert_eq!(
            run(dir.path(), &mut resumed, &g, 1, None, None, &Hidden).unwrap(),
            Stop::Done
        );
        assert_eq!(
            g.calls.load(Ordering::SeqCst),
            3,
            "only the 3 missing trials"
        );
        assert_eq!(rows(dir.path()), rows(straight.path()));
        assert_eq!(resumed.optimizer, all.optimizer);
    }

    #[test]
    fn an_interrupted_batch_reruns_only_its_unfinished_trials() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = SearchState::new(spec(), settings()).unwrap();
        // Trial 2 fails: the batch of two holds it and trial 3, which may or may not have run.
        let err = run(
            dir.path(),
            &mut state,
            &Synthetic::new(Some(2)),
            2,
            None,
            None,
            &Hidden,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("trial 2"), "{err:#}");
        let saved = SearchState::resume(dir.path(), &spec()).unwrap();
        assert_eq!(saved.trials.len(), 4);
        assert!(saved.trials[..2].iter().all(|t| t.outcome.is_some()));
        assert!(saved.trials[2].outcome.is_none());
        let already = saved.finished().count();
        let mut resumed = saved;
        let f = Synthetic::new(None);
        run(dir.path(), &mut resumed, &f, 2, None, None, &Hidden).unwrap();
        assert_eq!(f.calls.load(Ordering::SeqCst), 8 - already);
        let iters: Vec<usize> = resumed.finished().map(|(t, _)| t.iter).collect();
        assert_eq!(iters, (0..8).collect::<Vec<_>>());
    }

    /// A band wide enough that the random points fall in and out of it.
    fn fused_settings() -> SearchSettings {
        SearchSettings {
            n_init: 11,
            n_iter: 7,
            ..settings()
        }
    }

    #[test]
    fn fused_groups_hold_trained_trials_and_resume_to_the_same_log() {
        let straight = tempfile::tempdir().unwrap();
        let mut all = SearchState::new(spec(), fused_settings()).unwrap();
        let f = Fused::default();
        assert_eq!(
            run(straight.path(), &mut all, &f, 1, None, None, &Hidden).unwrap(),
            Stop::Done
        );
        let groups = f.groups.into_inner().unwrap();
        assert!(groups.iter().all(|g| !g.is_empty() && g.len() <= 3));
        assert!(groups.iter().any(|g| g.len() == 3), "{groups:?}");
        let trained: Vec<usize> = all
            .finished()
            .filter(|(_, o)| o.val_loss.is_some())
            .map(|(t, _)| t.iter)
            .collect();
        assert_eq!(groups.concat(), trained, "only trained trials, in order");
        assert!(trained.len() < all.trials().len(), "some were screened out");

        // Stopped every 2 trials (rounded up to whole groups) and resumed each time.
        let dir = tempfile::tempdir().unwrap();
        let mut state = SearchState::new(spec(), fused_settings()).unwrap();
        let mut calls = 0;
        while calls < 100 {
            calls += 1;
            let f = Fused::default();
            let stop = run(dir.path(), &mut state, &f, 1, Some(2), None, &Hidden).unwrap();
            state = SearchState::resume(dir.path(), &spec()).unwrap();
            if stop == Stop::Done {
                break;
            }
        }
        assert!((4..100).contains(&calls), "{calls} calls");
        assert_eq!(rows(dir.path()), rows(straight.path()));
        assert_eq!(state.optimizer, all.optimizer);
    }

    #[test]
    fn parallel_workers_each_take_trials_of_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = SearchState::new(spec(), settings()).unwrap();
        run(
            dir.path(),
            &mut state,
            &Synthetic::new(None),
            2,
            None,
            None,
            &Hidden,
        )
        .unwrap();
        assert_eq!(state.finished().count(), 8);
        let devices: std::collections::BTreeSet<&str> =
            state.finished().map(|(_, o)| o.device.as_str()).collect();
        assert!(devices.contains("worker0"));
        // Every point of the initial design is evaluated, in the optimiser's order.
        let mut single = Optimizer::new(settings()).unwrap();
        let initial = single.next_batch(4).unwrap();
        let got: Vec<Vec<f64>> = state.trials()[..4].iter().map(|t| t.x.clone()).collect();
        assert_eq!(got, initial);
    }

    #[test]
    fn shards_of_the_initial_design_merge_into_the_uninterrupted_search() {
        let (straight, _) = uninterrupted();

        let mut shards = Vec::new();
        for index in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let mut state = SearchState::new(spec(), settings()).unwrap();
            let f = Synthetic::new(None);
            let shard = Some(Shard { index, count: 2 });
            let stop = run(dir.path(), &mut state, &f, 1, None, shard, &Hidden).unwrap();
            assert_eq!(stop, Stop::Shard);
            assert_eq!(
                f.calls.load(Ordering::SeqCst),
                2,
                "half of the 4 initial trials"
            );
            shards.push(SearchState::resume(dir.path(), &spec()).unwrap());
        }
        let dir = tempfile::tempdir().unwrap();
        let mut merged = SearchState::new(spec(), settings()).unwrap();
        assert_eq!(merged.merge(&shards[0]).unwrap(), 2);
        assert_eq!(merged.merge(&shards[1]).unwrap(), 2);
        assert_eq!(
            merged.merge(&shards[1]).unwrap(),
            0,
            "nothing new the second time"
        );
        let f = Synthetic::new(None);
        run(dir.path(), &mut merged, &f, 1, None, None, &Hidden).unwrap();
        assert_eq!(f.calls.load(Ordering::SeqCst), 4, "only the guided trials");
        assert_eq!(rows(dir.path()), rows(straight.path()));

        let other = SearchState::new(serde_json::json!({"what": "else"}), settings()).unwrap();
        let err = merged.merge(&other).unwrap_err().to_string();
        assert!(err.contains("other settings (what)"), "{err}");
    }

    #[test]
    fn a_search_with_other_settings_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = SearchState::new(spec(), settings()).unwrap();
        run(
            dir.path(),
            &mut state,
            &Synthetic::new(None),
            1,
            Some(1),
            None,
            &Hidden,
        )
        .unwrap();
        let other = serde_json::json!({"what": "else"});
        let err = SearchState::resume(dir.path(), &other)
            .unwrap_err()
            .to_string();
        assert!(err.contains("other settings (what)"), "{err}");
        let missing = tempfile::tempdir().unwrap();
        let err = SearchState::resume(missing.path(), &spec())
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing to resume"), "{err}");
    }
}
