//! Upstream's `calc_sparsity` on a live model, so the search's sparsity constraint, SFP and
//! fine-tuning count the zeros exactly as the tables count them in a file
//! (`bfpgm_core::measure::calc_sparsity`); a test checks that the two agree.

use tch::Kind;

use crate::model::Detector;
use bfpgm_core::measure::Sparsity;

/// Exact zeros over the model's parameters: its trainable variables, frozen or not (freezing only
/// clears `requires_grad`), and none of the BatchNorm running statistics, which the models
/// register as non-trainable buffers.
pub fn calc_sparsity(detector: &Detector) -> Sparsity {
    tch::no_grad(|| {
        detector.var_store().trainable_variables().iter().fold(
            Sparsity { zeros: 0, total: 0 },
            |acc, t| Sparsity {
                zeros: acc.zeros + t.eq(0.0).sum(Kind::Int64).int64_value(&[]) as u64,
                total: acc.total + t.numel() as u64,
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfpgm_core::checkpoint::StateDict;
    use bfpgm_core::testutil::mirror_file;
    use bfpgm_core::zoo::Arch;
    use tch::Device;

    #[test]
    fn a_file_and_the_model_loaded_from_it_count_the_same_zeros() {
        let Some(path) = mirror_file("EResFD-30-pruned.pth") else {
            return;
        };
        let from_file =
            bfpgm_core::measure::calc_sparsity(&StateDict::read(&path).unwrap(), Arch::Eresfd)
                .unwrap();
        let model = Detector::load(Arch::Eresfd, &path, Device::Cpu).unwrap();
        assert_eq!(calc_sparsity(&model), from_file);
        assert_eq!(from_file.zeros, 29_135);
    }
}
