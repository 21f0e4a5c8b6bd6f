//! Fused BO trials (`bo --fuse K`) on the mini WIDER training set, on the CPU: three pruned
//! copies of EResFD-original trained as one network end with the weights and losses of the
//! three trained alone on the same batches, and get each one's own gradient; each trial's prune
//! zeroes its own filters only.
//! The fused search's resume test is in `prune.rs`, beside the unfused one.

use std::path::PathBuf;
use std::sync::Arc;

use bfpgm::model::{Detector, priors};
use bfpgm::prune::bo::InnerTraining;
use bfpgm::prune::pruner::{PrunePlan, Zeroed, prune};
use bfpgm::train::augment::AugmentConfig;
use bfpgm::train::data::{Batch, Dataset, Loader, LoaderConfig, Mode, Split, WiderDir, shuffled};
use bfpgm::train::loss::Loss;
use bfpgm::train::optim::OptimConfig;
use bfpgm::train::{DeviceOptions, Trainer};
use bfpgm_core::groups::Grouping;
use bfpgm_core::record::Criterion;
use bfpgm_core::zoo::Arch;
use tch::{Device, Kind, Tensor};

use crate::util::fetched;

/// Three rate sets far enough apart that the trials prune different filters.
const RATES: [[f64; 6]; 3] = [
    [0.1, 0.2, 0.1, 0.3, 0.2, 0.1],
    [0.4, 0.1, 0.5, 0.2, 0.4, 0.3],
    [0.25, 0.45, 0.3, 0.0, 0.1, 0.5],
];

/// Gradients this close to 0, relative to the largest of their tensor, are within rounding
/// of 0.
const NEAR_ZERO: f64 = 1e-4;

/// Training steps compared.
const STEPS: usize = 3;

/// What the comparison allows, relative to the values (at least 1): float32 arithmetic in
/// another order.
const TOLERANCE: f64 = 1e-5;

fn data() -> PathBuf {
    fetched(&["models", "wider-mini"])
}

/// The released model of `arch` pruned at `rates`, and the filters the prune zeroed.
fn pruned(data: &std::path::Path, arch: Arch, rates: [f64; 6]) -> (Detector, Zeroed) {
    let file = match arch {
        Arch::Eresfd => "EResFD-original.pth",
        Arch::Extd => "EXTD-original.pth",
    };
    let path = data.join("Pruned_Models").join(file);
    let mut d = Detector::load(arch, &path, Device::Cpu).unwrap();
    let plan = PrunePlan {
        grouping: Grouping::Checkpoint,
        rates,
        criterion: Criterion::Fpgm,
    };
    let zeroed = prune(&mut d, &plan).unwrap();
    (d, zeroed)
}

/// `STEPS` augmented training batches of 4 mini images at 128 × 128.
fn batches(data: &std::path::Path) -> Vec<Batch> {
    let ds = Dataset::load(&WiderDir::at(&data.join("WIDER-mini")), Split::Train).unwrap();
    let ds = Arc::new(ds.subset(&(0..4 * STEPS).collect::<Vec<_>>()));
    let mode = Mode::Train(AugmentConfig::upstream(128, &priors::ERESFD.sizes));
    let cfg = LoaderConfig {
        batch_size: 4,
        workers: 2,
        prefetch: 2,
        pin: None,
        nice: 0,
        max_pixels: bfpgm_core::imageio::DEFAULT_MAX_PIXELS,
    };
    Loader::start(ds.clone(), shuffled(ds.len(), 0, 5), mode, 0, 5, cfg)
        .map(|b| b.unwrap())
        .collect()
}

#[test]
fn three_fused_trials_train_as_each_trains_alone() {
    crate::require_mirror!();
    tch::set_num_threads(2);
    let data = data();
    let (parts, zeroed): (Vec<Detector>, Vec<Zeroed>) = RATES
        .iter()
        .map(|&r| pruned(&data, Arch::Eresfd, r))
        .unzip();
    let fused = Detector::fuse(&parts).unwrap();

    // Each trial's prune zeroed its own filters in its own rows, and no other trial's.
    let vars = fused.var_store().variables();
    let mut elsewhere = 0;
    for (k, filters) in zeroed.iter().enumerate() {
        for (module, rows) in filters {
            let w = &vars[&format!("{module}.weight")];
            let n = w.size()[0] / 3;
            for &r in rows {
                assert_eq!(w.get(k as i64 * n + r).abs().max().double_value(&[]), 0.0);
                let kept = |j: usize| !zeroed[j].get(module).is_some_and(|z| z.contains(&r));
                for j in (0..3).filter(|&j| j != k && kept(j)) {
                    assert!(w.get(j as i64 * n + r).abs().max().double_value(&[]) > 0.0);
                    elsewhere += 1;
                }
            }
        }
    }
    assert!(
        elsewhere > 100,
        "the rate sets prune different filters ({elsewhere})"
    );

    // EResFD's inner training (Adam, lr 1e-3), step by step: before each step, every trial
    // alone is set to its fused copy's weights and statistics (its optimiser moments go on by
    // themselves), so each step is compared from the same start. Adam moves an element by about
    // ±lr, the sign of its (averaged) gradient, so an element whose gradient rounding leaves at
    // ±1e-9 instead of 0 may move the other way: any two computations in another order differ so.
    // Every other element must agree.
    let adam = InnerTraining::upstream(Arch::Eresfd).optimizer;
    let mut alone: Vec<Trainer> = (0..3).map(|k| trainer(fused.trial(k), adam)).collect();
    let mut together = trainer(fused, adam);
    let (mut worst, mut flipped, mut elements): (f64, i64, i64) = (0.0, 0, 0);
    for batch in batches(&data) {
        for (k, t) in alone.iter_mut().enumerate() {
            let now = together.detector().trial(k as i64).state_dict();
            t.detector_mut().load_state_dict(&now).unwrap();
        }
        let l = together.train_step(&batch, adam.lr, true);
        let fused_vars = together.detector().var_store().variables();
        for (k, t) in alone.iter_mut().enumerate() {
            let own = t.train_step(&batch, adam.lr, true);
            worst = worst.max(same_loss(&l, k, &own));
            for (key, theirs) in t.detector().var_store().variables() {
                let f = &fused_vars[&key];
                let ours = if f.dim() == 0 {
                    f.shallow_clone()
                } else {
                    let n = theirs.size()[0];
                    f.narrow(0, k as i64 * n, n)
                };
                let d = relative_diff(&ours, &theirs);
                let g = theirs.grad();
                let near_zero = if g.defined() {
                    let g = g.abs();
                    g.le(NEAR_ZERO * g.max().double_value(&[]))
                } else {
                    d.zeros_like().to_kind(Kind::Bool)
                };
                let regular = d.masked_fill(&near_zero, 0.0).max().double_value(&[]);
                assert!(
                    regular <= TOLERANCE,
                    "trial {k} {key}: differs by {regular}"
                );
                let rest = d.masked_fill(&near_zero.logical_not(), 0.0);
                let m = rest.max().double_value(&[]);
                assert!(
                    m <= 2.0 * adam.lr + TOLERANCE,
                    "trial {k} {key}: an element with a gradient near 0 moved by {m}"
                );
                worst = worst.max(regular);
                flipped += rest.gt(TOLERANCE).sum(Kind::Int64).int64_value(&[]);
                elements += d.numel() as i64;
            }
        }
    }
    eprintln!(
        "fused vs alone: largest difference {worst:e}; {flipped} of {elements} elements with a \
         gradient near 0 differ by more"
    );
}

/// A trainer on the CPU.
fn trainer(d: Detector, optim: OptimConfig) -> Trainer {
    Trainer::new(d, optim, DeviceOptions::on(Device::Cpu))
}

/// Checks that trial `k`'s loss terms in `fused` are `alone`'s; returns the relative difference.
fn same_loss(fused: &Loss, k: usize, alone: &Loss) -> f64 {
    let mut worst: f64 = 0.0;
    for (f, a) in [(&fused.loc, &alone.loc), (&fused.conf, &alone.conf)] {
        let (f, a) = (f.double_value(&[k as i64]), a.double_value(&[]));
        let d = (f - a).abs() / a.abs().max(1.0);
        assert!(d <= TOLERANCE, "trial {k}: loss {f} instead of {a}");
        worst = worst.max(d);
    }
    worst
}

/// `|a − b| / (1 + |b|)` element by element: float32 rounding of values as large as
/// BatchNorm's running variances (thousands) exceeds an absolute 1e-5.
fn relative_diff(a: &Tensor, b: &Tensor) -> Tensor {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    (&a - &b).abs() / (b.abs() + 1.0)
}
