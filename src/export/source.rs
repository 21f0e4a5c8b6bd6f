//! The TorchScript program of the exported EResFD: `eresfd.py` (the network, priors, decoding and
//! NMS, written against upstream's state-dict keys) after a prelude of settings rendered from
//! their Rust homes — the input mean ([`model::RGB_MEAN`]), the anchors ([`priors::ERESFD`]),
//! the variances ([`detect::VARIANCE`]), the detection settings ([`detect::DETECT`]), the
//! level-0 background max-out, the FPN fusion eps and the BatchNorm eps and momentum — so a
//! change there reaches the exported model too.

use crate::model::{self, detect, eresfd, layers, priors};

/// The network, its priors and its detection step, in TorchScript.
const ERESFD: &str = include_str!("eresfd.py");

/// The settings the program reads, as TorchScript methods returning constants (freezing inlines
/// them). Floats print with Rust's shortest round-trip form, which TorchScript parses back to
/// the same double.
fn prelude() -> String {
    let a = &priors::ERESFD;
    let d = &detect::DETECT;
    let method = |name: &str, ty: &str, value: String| {
        format!("def {name}(self) -> {ty}:\n    return {value}\n\n\n")
    };
    [
        method(
            "rgb_mean",
            "Tensor",
            format!("torch.tensor({:?})", model::RGB_MEAN),
        ),
        method("anchor_steps", "List[int]", format!("{:?}", a.steps)),
        method("anchor_sizes", "List[int]", format!("{:?}", a.sizes)),
        method("variance", "List[float]", format!("{:?}", detect::VARIANCE)),
        method("conf_thresh", "float", format!("{:?}", d.conf_thresh)),
        method("nms_thresh", "float", format!("{:?}", d.nms_thresh)),
        method("nms_top_k", "int", d.nms_top_k.to_string()),
        method("top_k", "int", d.top_k.to_string()),
        method("maxout_bg", "int", model::MAXOUT_BG.to_string()),
        method("fusion_eps", "float", format!("{:?}", eresfd::FUSION_EPS)),
        method("bn_momentum", "float", format!("{:?}", layers::BN_MOMENTUM)),
        method("bn_eps", "float", format!("{:?}", layers::BN_EPS)),
    ]
    .concat()
}

/// The complete TorchScript source of the exported EResFD.
pub fn eresfd() -> String {
    prelude() + ERESFD
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings as TorchScript literals, with the values of `docs/upstream.md` §input (mean),
    /// §priors (anchors), §decode (variances), §detect (detection) and §head (max-out): floats must
    /// keep their decimal point, or TorchScript would type them as ints.
    #[test]
    fn the_prelude_renders_the_rust_settings() {
        let src = eresfd();
        for line in [
            "    return torch.tensor([123.0, 117.0, 104.0])",
            "    return [4, 8, 16, 32, 64, 128]",
            "    return [16, 32, 64, 128, 256, 512]",
            "    return [0.1, 0.2]",
            "    return 0.05",
            "    return 0.3",
            "    return 5000",
            "    return 750",
            "    return 3",
        ] {
            assert!(src.lines().any(|l| l == line), "missing {line:?}");
        }
    }
}
