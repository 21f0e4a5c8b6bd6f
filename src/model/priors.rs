//! Prior (anchor) boxes: one per feature-map cell, rebuilt from the input size
//! (`docs/upstream.md` §priors; upstream `layers/functions/prior_box.py`).
//!
//! [`AnchorConfig`] is the single home of the anchor steps and sizes: the detectors read the
//! number of head levels from it, and [`priors`] turns `(H, W)` into boxes. Both detectors use
//! the same steps and sizes; they differ in the grid of the sixth level, which EResFD takes from
//! level 4 (its FPN repeats that level, `docs/upstream.md` §eresfd-fpn) while EXTD has a true
//! stride-128 grid.

use tch::Tensor;

/// How the last head level's grid relates to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopLevel {
    /// The sixth level has the grid of the fifth (EResFD's duplicated pyramid level).
    RepeatsLevel4,
    /// Every level `k` has its own grid `⌈H / step_k⌉` (EXTD).
    OwnGrid,
}

/// Anchor steps and sizes of a detector: one anchor per cell, aspect ratio 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorConfig {
    /// Stride of each head level in input pixels (`cfg.STEPS`).
    pub steps: [u32; 6],
    /// Anchor side of each level in input pixels (`cfg.ANCHOR_SIZES`).
    pub sizes: [u32; 6],
    /// The sixth level's grid.
    pub top_level: TopLevel,
}

/// EResFD: `STEPS [4..128]`, `ANCHOR_SIZES [16..512]`, sixth level on the fifth's grid.
pub const ERESFD: AnchorConfig = AnchorConfig {
    steps: [4, 8, 16, 32, 64, 128],
    sizes: [16, 32, 64, 128, 256, 512],
    top_level: TopLevel::RepeatsLevel4,
};

/// EXTD: the same steps and sizes, with a true stride-128 sixth level.
pub const EXTD: AnchorConfig = AnchorConfig {
    steps: [4, 8, 16, 32, 64, 128],
    sizes: [16, 32, 64, 128, 256, 512],
    top_level: TopLevel::OwnGrid,
};

impl AnchorConfig {
    /// Number of head levels.
    pub const fn levels(&self) -> usize {
        self.steps.len()
    }

    /// `(h_k, w_k)` of every head level for an `H × W` input: each stride-2 stage maps `n` to
    /// `⌈n/2⌉`, so level `k` has `⌈H / step_k⌉` rows (`docs/upstream.md` §level-sizes).
    pub fn level_sizes(&self, height: i64, width: i64) -> Vec<(i64, i64)> {
        let mut sizes: Vec<(i64, i64)> = self
            .steps
            .iter()
            .map(|&s| {
                let s = s as i64;
                ((height + s - 1) / s, (width + s - 1) / s)
            })
            .collect();
        if self.top_level == TopLevel::RepeatsLevel4 {
            let last = sizes.len() - 1;
            sizes[last] = sizes[last - 1];
        }
        sizes
    }
}

/// Priors for an `H × W` input on the given head grids: `[P, 4]` float32 rows `(cx, cy, w, h)`,
/// normalised by the input size (centre-size form), in the order level, row, column.
///
/// Every value is upstream's float64 expression rounded once to float32, so the result equals
/// upstream's bit for bit: `(j + 0.5) / (W / step)` is not the same double as
/// `(j + 0.5) * step / W`. No clipping; EResFD's sixth-level centres reach about 2.
pub fn prior_boxes(
    height: i64,
    width: i64,
    grids: &[(i64, i64)],
    anchors: &AnchorConfig,
) -> Tensor {
    assert_eq!(grids.len(), anchors.levels(), "one grid per head level");
    let (h, w) = (height as f64, width as f64);
    let total: i64 = grids.iter().map(|(gh, gw)| gh * gw).sum();
    let mut out = Vec::with_capacity(total as usize * 4);
    for (k, &(gh, gw)) in grids.iter().enumerate() {
        let step = anchors.steps[k] as f64;
        let size = anchors.sizes[k] as f64;
        let (f_w, f_h) = (w / step, h / step);
        let (s_w, s_h) = (size / w, (size / h) * 1.0);
        for i in 0..gh {
            let cy = (i as f64 + 0.5) / f_h;
            for j in 0..gw {
                let cx = (j as f64 + 0.5) / f_w;
                out.extend_from_slice(&[cx as f32, cy as f32, s_w as f32, s_h as f32]);
            }
        }
    }
    Tensor::from_slice(&out).view([total, 4])
}

/// Priors for an `H × W` input on the grids the detector produces for it.
pub fn priors(height: i64, width: i64, anchors: &AnchorConfig) -> Tensor {
    prior_boxes(height, width, &anchors.level_sizes(height, width), anchors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(t: &Tensor) -> Vec<[f32; 4]> {
        let v = Vec::<f32>::try_from(&t.view(-1)).unwrap();
        v.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
    }

    #[test]
    fn a_one_cell_grid_is_worked_out_by_hand() {
        // A 4x8 input: level 0 has a 1x2 grid with step 4, so the two anchors are centred at
        // x = 2 and 6 px, y = 2 px, with side 16 px.
        let tiny = AnchorConfig {
            steps: [4, 8, 16, 32, 64, 128],
            sizes: [16, 32, 64, 128, 256, 512],
            top_level: TopLevel::OwnGrid,
        };
        let grids = [(1, 2), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)];
        let p = rows(&prior_boxes(4, 8, &grids, &tiny));
        assert_eq!(p, [[0.25, 0.5, 2.0, 4.0], [0.75, 0.5, 2.0, 4.0]]);
    }

    #[test]
    fn level_sizes_follow_the_spec_tables() {
        // docs/upstream.md §level-sizes.
        assert_eq!(
            ERESFD.level_sizes(250, 333),
            [(63, 84), (32, 42), (16, 21), (8, 11), (4, 6), (4, 6)]
        );
        assert_eq!(
            EXTD.level_sizes(250, 333),
            [(63, 84), (32, 42), (16, 21), (8, 11), (4, 6), (2, 3)]
        );
        let n =
            |c: &AnchorConfig, h, w| c.level_sizes(h, w).iter().map(|(a, b)| a * b).sum::<i64>();
        assert_eq!(n(&ERESFD, 640, 640), 34_200);
        assert_eq!(n(&ERESFD, 1428, 1428), 170_673);
        assert_eq!(n(&ERESFD, 683, 1024), 58_592);
        assert_eq!(n(&EXTD, 640, 640), 34_125);
        assert_eq!(n(&EXTD, 683, 1024), 58_464);
    }

    #[test]
    fn equal_the_upstream_priors_exactly() {
        use bfpgm_core::testutil::npy::Npy;
        for (name, anchors) in [("eresfd", ERESFD), ("extd", EXTD)] {
            for (h, w) in [(320, 320), (250, 333)] {
                let file = format!("reference/outputs/{name}_priors_{h}x{w}.npy");
                let Some(path) = bfpgm_core::testutil::reference_file(&file) else {
                    return;
                };
                let expected = crate::tensors::npy_tensor(&Npy::read(&path).unwrap());
                let got = priors(h, w, &anchors);
                assert_eq!(got.size(), expected.size(), "{file}");
                assert!(got.equal(&expected), "{file}: priors differ");
            }
        }
    }
}
