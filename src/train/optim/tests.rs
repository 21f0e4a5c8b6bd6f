//! Schedules against upstream's milestones, the optimisers against element-wise re-statements of
//! `torch.optim`'s update rules, and the flat-buffer plumbing against a real detector.

use super::*;
use bfpgm_core::zoo::Arch;

#[test]
fn eresfd_pretraining_never_decays_the_learning_rate() {
    let s = LrSchedule::eresfd_pretrain();
    assert_eq!(s.lr(1e-3, 0, 0), 1e-3);
    // 12,876 images at batch 16 are 805 iterations per epoch; 300 epochs end at 241,499.
    assert_eq!(s.lr(1e-3, 299, 805 * 300 - 1), 1e-3);
    assert_eq!(s.lr(1e-3, 310, 249_999), 1e-3);
    assert_eq!(s.lr(1e-3, 310, 250_000), 1e-3 * 0.1);
    assert_eq!(s.lr(1e-3, 400, 300_000), 1e-3 * 0.1f64.powf(2.0));
    assert_eq!(s.lr(1e-3, 400, 320_000), 1e-3 * 0.1f64.powf(3.0));
}

#[test]
fn extd_pretraining_decays_around_epochs_75_and_112() {
    let s = LrSchedule::extd_pretrain();
    // 12,876 images at batch 4: 3,219 iterations per epoch, so 240 k falls in epoch 74 (the
    // 75th) and 360 k in epoch 111 (the 112th).
    assert_eq!(s.lr(1e-3, 73, 3219 * 74 - 1), 1e-3);
    assert_eq!(s.lr(1e-3, 74, 239_999), 1e-3);
    assert_eq!(s.lr(1e-3, 74, 240_000), 1e-3 * 0.1);
    assert_eq!(s.lr(1e-3, 110, 3219 * 111 - 1), 1e-3 * 0.1);
    assert_eq!(s.lr(1e-3, 111, 360_000), 1e-3 * 0.1f64.powf(2.0));
}

#[test]
fn epoch_schedules_switch_at_their_milestones() {
    // Fine-tuning: schedule [5], gamma 0.1 (docs/upstream.md §finetune); SFP's nominal [100, 150].
    let ft = LrSchedule::Epochs {
        milestones: vec![5],
        gamma: 0.1,
    };
    let lrs: Vec<f64> = (0..10).map(|e| ft.lr(1e-3, e, 0)).collect();
    assert_eq!(lrs[..5], [1e-3; 5]);
    assert_eq!(lrs[5..], [1e-3 * 0.1; 5]);
    let sfp = LrSchedule::Epochs {
        milestones: vec![100, 150],
        gamma: 0.1,
    };
    assert_eq!(sfp.lr(1e-3, 99, 0), 1e-3);
    assert_eq!(sfp.lr(1e-3, 149, 0), 1e-3 * 0.1);
    assert_eq!(sfp.lr(1e-3, 150, 0), 1e-3 * 0.1f64.powf(2.0));
}

fn detector() -> (Detector, FlatParams) {
    tch::manual_seed(0);
    let d = Detector::new(Arch::Eresfd, Device::Cpu);
    let f = FlatParams::new(&d, false);
    (d, f)
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.to_kind(Kind::Float).contiguous().view([-1])).unwrap()
}

#[test]
fn the_model_trains_through_the_flat_buffers() {
    let (d, flat) = detector();
    // layer5 feeds nothing: its 5 convs and 5 BNs (γ and β: 15 tensors) are unreachable, and
    // nothing else is.
    let unreachable = flat.unreachable();
    assert_eq!(unreachable.len(), 15, "{unreachable:?}");
    assert!(unreachable.iter().all(|k| k.starts_with("base.m0.layer5.")));
    // Every parameter starts on a slot boundary; the mask covers exactly the reachable ones.
    let vars = d.var_store().variables();
    let base = flat.data.data_ptr() as i64;
    let mut unreachable_numel = 0;
    for (key, v) in vars.iter().filter(|(k, _)| !is_buffer(k)) {
        let floats = (v.data_ptr() as i64 - base) / 4;
        assert_eq!(floats.rem_euclid(SLOT_ALIGN), 0, "{key} at {floats}");
        if unreachable.contains(&key.as_str()) {
            unreachable_numel += v.numel() as u64;
        }
    }
    let updated = flat
        .update_mask(&|_| false)
        .sum(Kind::Int64)
        .int64_value(&[]) as u64;
    assert_eq!(updated + unreachable_numel, d.parameter_count());
    // The variables are views of the flat buffer.
    let w = &vars["loc.0.bias"];
    let before = values(w);
    tch::no_grad(|| {
        let _ = flat.data.shallow_clone().g_add_scalar_(1.0);
    });
    let after = values(w);
    assert!(
        before
            .iter()
            .zip(&after)
            .all(|(a, b)| (b - a - 1.0).abs() < 1e-6)
    );
    // Back-propagation accumulates into the flat gradient.
    let x = Tensor::randn([1, 3, 64, 64], (Kind::Float, Device::Cpu)) * 50.0;
    let out = d.forward_t(&x, true);
    (out.loc.square().mean(Kind::Float) + out.conf.square().mean(Kind::Float)).backward();
    let g = flat.grad.abs().sum(Kind::Float).double_value(&[]);
    assert!(g > 0.0);
    let gw = vars["loc.0.weight"]
        .grad()
        .abs()
        .sum(Kind::Float)
        .double_value(&[]);
    assert!(gw > 0.0);
}

/// `torch.optim.Adam`'s update for one element, in f64, from the documented algorithm.
fn adam_reference(p: &mut [f64], g: &[Vec<f64>], lr: f64, wd: f64) {
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let mut m = vec![0.0; p.len()];
    let mut v = vec![0.0; p.len()];
    for (t, gt) in g.iter().enumerate() {
        let t = (t + 1) as f64;
        for i in 0..p.len() {
            let gi = gt[i] + wd * p[i];
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let denom = v[i].sqrt() / (1.0 - b2.powf(t)).sqrt() + eps;
            p[i] -= lr / (1.0 - b1.powf(t)) * m[i] / denom;
        }
    }
}

#[test]
fn adam_matches_torch_adam_and_skips_unreachable_and_frozen_parameters() {
    let (d, flat) = detector();
    let mut opt = Optimizer::new(OptimConfig::ERESFD_PRETRAIN, &flat);
    let frozen = |k: &str| k.starts_with("base.conv1.");
    opt.set_frozen(&flat, &frozen);
    let mask = flat.update_mask(&frozen);
    let start: Vec<f64> = values(&flat.data).iter().map(|&v| v as f64).collect();
    let mut grads = Vec::new();
    for step in 0..3 {
        tch::manual_seed(step);
        let g = Tensor::randn([flat.len()], (Kind::Float, Device::Cpu));
        flat.grad.shallow_clone().copy_(&g);
        grads.push(values(&g).iter().map(|&v| v as f64).collect::<Vec<_>>());
        opt.step(&flat, 1e-3, None);
    }
    let got = values(&flat.data);
    let mut want = start.clone();
    adam_reference(&mut want, &grads, 1e-3, 5e-4);
    let on = Vec::<bool>::try_from(&mask).unwrap();
    for i in 0..got.len() {
        if on[i] {
            assert!(
                (got[i] as f64 - want[i]).abs() < 1e-6,
                "element {i}: {} vs {}",
                got[i],
                want[i]
            );
        } else {
            assert_eq!(got[i] as f64, start[i], "element {i} must not move");
        }
    }
    // layer5 keeps its initial BN (γ = 0.5, β = 0) as in EResFD-original (docs/upstream.md
    // §checkpoint-values).
    let vars = d.var_store().variables();
    assert!(
        values(&vars["base.m0.layer5.0.res_layer.1.weight"])
            .iter()
            .all(|&v| v == 0.5)
    );
}

#[test]
fn sgd_matches_torch_sgd_with_its_first_step_copy() {
    let (_, flat) = detector();
    let mut opt = Optimizer::new(OptimConfig::EXTD_PRETRAIN, &flat);
    let on = Vec::<bool>::try_from(&flat.update_mask(&|_| false)).unwrap();
    let start: Vec<f64> = values(&flat.data).iter().map(|&v| v as f64).collect();
    let mut want = start.clone();
    let mut buf = vec![0.0; want.len()];
    for step in 0..3 {
        tch::manual_seed(10 + step);
        let g = Tensor::randn([flat.len()], (Kind::Float, Device::Cpu));
        flat.grad.shallow_clone().copy_(&g);
        let gv = values(&g);
        for i in 0..want.len() {
            let gi = gv[i] as f64 + 5e-4 * want[i];
            buf[i] = if step == 0 { gi } else { 0.9 * buf[i] + gi };
            if on[i] {
                want[i] -= 1e-3 * buf[i];
            }
        }
        opt.step(&flat, 1e-3, None);
    }
    let got = values(&flat.data);
    for i in 0..got.len() {
        assert!((got[i] as f64 - want[i]).abs() < 1e-6, "element {i}");
    }
}

#[test]
fn a_saved_optimizer_continues_bit_for_bit() {
    let (_, flat) = detector();
    let mut a = Optimizer::new(OptimConfig::ERESFD_PRETRAIN, &flat);
    let g = |seed| {
        tch::manual_seed(seed);
        Tensor::randn([flat.len()], (Kind::Float, Device::Cpu))
    };
    flat.grad.shallow_clone().copy_(&g(1));
    a.step(&flat, 1e-3, None);
    let saved_params = flat.data.copy();
    let sd = a.state_dict(&flat);
    let mut b = Optimizer::new(OptimConfig::ERESFD_PRETRAIN, &flat);
    b.load_state_dict(&flat, &sd).unwrap();
    assert_eq!(b.step, 1);
    flat.grad.shallow_clone().copy_(&g(2));
    a.step(&flat, 1e-3, None);
    let after_a = flat.data.copy();
    flat.data.shallow_clone().copy_(&saved_params);
    b.step(&flat, 1e-3, None);
    assert!(crate::tensors::bit_equal(&after_a, &flat.data));
    // An SGD state does not load into Adam.
    let sgd = Optimizer::new(OptimConfig::EXTD_PRETRAIN, &flat).state_dict(&flat);
    assert!(b.load_state_dict(&flat, &sgd).is_err());
}

#[test]
fn the_grad_scaler_skips_overflowed_steps_and_adapts_the_scale() {
    let (_, flat) = detector();
    let mut scaler = GradScaler::new(Device::Cpu);
    let mut opt = Optimizer::new(OptimConfig::ERESFD_PRETRAIN, &flat);
    let before = flat.data.copy();
    let _ = flat.grad.shallow_clone().fill_(65_536.0 * 2.0);
    let ok = scaler.unscale(&flat.grad);
    assert!(bool::try_from(&ok).unwrap());
    assert_eq!(values(&flat.grad)[0], 2.0);
    assert_eq!(scaler.scale.double_value(&[]), 65_536.0);
    assert_eq!(scaler.growth_tracker.double_value(&[]), 1.0);
    let _ = flat.grad.shallow_clone().fill_(f64::INFINITY);
    let ok = scaler.unscale(&flat.grad);
    assert!(!bool::try_from(&ok).unwrap());
    opt.step(&flat, 1e-3, Some(&ok));
    assert!(
        crate::tensors::bit_equal(&before, &flat.data),
        "an overflowed step changes nothing"
    );
    assert_eq!(scaler.scale.double_value(&[]), 32_768.0);
    assert_eq!(scaler.growth_tracker.double_value(&[]), 0.0);
    let _ = scaler.growth_tracker.fill_(1999.0);
    let _ = flat.grad.shallow_clone().fill_(1.0);
    let _ = scaler.unscale(&flat.grad);
    assert_eq!(scaler.scale.double_value(&[]), 65_536.0);
    assert_eq!(scaler.growth_tracker.double_value(&[]), 0.0);
}
