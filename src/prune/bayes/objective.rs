//! The quantity the BO maximises: minus the validation loss minus a penalty for missing the
//! target sparsity (`docs/upstream.md` §bo-objective).
//!
//! Out of the ±4-point band the penalty is 100 and upstream skips the training (validation loss
//! counted as 0), so those cheap points land far below every feasible one; at or slightly above
//! the target it is free; slightly below it grows linearly. EResFD and EXTD differ only in the
//! weights: EResFD multiplies the penalty by λ = 5, EXTD multiplies the shortfall by 5 and the
//! penalty by 1, so in band both cost 5 per unit of shortfall while out of band they score −500
//! and −100.

use serde::{Deserialize, Serialize};

use bfpgm_core::zoo::Arch;

/// Width of the accepted band around the target, as a sparsity fraction.
pub const BAND: f64 = 0.04;
/// Penalty of a point outside the band.
pub const OUT_OF_BAND: f64 = 100.0;

/// How an architecture's driver weighs the penalty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PenaltyWeights {
    /// Multiplies the shortfall inside the band (EResFD 1, EXTD 5).
    pub shortfall: f64,
    /// Multiplies the whole penalty (EResFD λ = 5, EXTD 1).
    pub lambda: f64,
}

impl PenaltyWeights {
    /// Upstream's weights for an architecture's BO driver.
    pub fn upstream(arch: Arch) -> PenaltyWeights {
        match arch {
            Arch::Eresfd => PenaltyWeights {
                shortfall: 1.0,
                lambda: 5.0,
            },
            Arch::Extd => PenaltyWeights {
                shortfall: 5.0,
                lambda: 1.0,
            },
        }
    }

    /// `calc_pruning_penalty(target, actual)`, branch for branch.
    pub fn penalty(&self, target: f64, actual: f64) -> f64 {
        let difference = (actual - target).abs();
        if difference >= BAND {
            OUT_OF_BAND
        } else if target <= actual && actual <= target + BAND {
            0.0
        } else {
            // Only the "slightly below" case is left; upstream's last `else 0` is unreachable.
            difference * self.shortfall
        }
    }

    /// Whether a sparsity is far enough off target that upstream skips training the point.
    pub fn skips_training(&self, target: f64, actual: f64) -> bool {
        self.penalty(target, actual) >= 10.0
    }

    /// The objective `−L_val − λ·P`, with `L_val = 0` for skipped points.
    pub fn objective(&self, val_loss: Option<f64>, target: f64, actual: f64) -> f64 {
        -val_loss.unwrap_or(0.0) - self.lambda * self.penalty(target, actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eresfd_penalty_branches() {
        let w = PenaltyWeights::upstream(Arch::Eresfd);
        assert_eq!(w.penalty(0.3, 0.3), 0.0);
        assert_eq!(w.penalty(0.3, 0.33), 0.0);
        assert_eq!(w.penalty(0.3, 0.35), OUT_OF_BAND);
        assert_eq!(w.penalty(0.3, 0.25), OUT_OF_BAND);
        assert!((w.penalty(0.3, 0.28) - 0.02).abs() < 1e-12);
        assert_eq!(w.objective(None, 0.3, 0.1), -500.0);
        assert!((w.objective(Some(4.0), 0.3, 0.28) + 4.1).abs() < 1e-12);
        assert!(w.skips_training(0.3, 0.1) && !w.skips_training(0.3, 0.28));
    }

    #[test]
    fn extd_weighs_shortfall_and_band_differently() {
        let w = PenaltyWeights::upstream(Arch::Extd);
        assert_eq!(w.objective(None, 0.2, 0.5), -100.0);
        assert!((w.objective(Some(1.0), 0.2, 0.18) + 1.1).abs() < 1e-12);
    }
}
