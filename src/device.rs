//! Where tensors run: the `--device cpu|cuda|auto` choice turned into a `tch::Device`.
//!
//! CUDA can be missing for two reasons: no GPU, or a binary whose linker dropped
//! `libtorch_cuda.so` (`DEVELOPERS.md`, `build.rs`). Either way a run that asked for CUDA falls back
//! to the CPU and says so in one line, rather than failing or silently running slower.

use std::fmt;
use std::str::FromStr;

use tch::Device;

/// The device a user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// Always the CPU (what bit-parity checks use).
    Cpu,
    /// The first CUDA device; falls back to the CPU with a note when there is none.
    Cuda,
    /// CUDA when available, otherwise the CPU, without a note.
    #[default]
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            other => Err(format!("unknown device '{other}'; use cpu, cuda or auto")),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Auto => "auto",
        })
    }
}

/// The device to use, and the one-line note to print when CUDA was asked for but is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The device tensors go to.
    pub device: Device,
    /// Why the choice could not be honoured, if it could not.
    pub note: Option<String>,
}

/// Resolves a choice against what this process can use.
pub fn resolve(choice: DeviceChoice) -> Resolved {
    resolve_with(choice, tch::Cuda::is_available())
}

fn resolve_with(choice: DeviceChoice, cuda: bool) -> Resolved {
    match (choice, cuda) {
        (DeviceChoice::Cpu, _) | (DeviceChoice::Auto, false) => Resolved {
            device: Device::Cpu,
            note: None,
        },
        (DeviceChoice::Cuda | DeviceChoice::Auto, true) => Resolved {
            device: Device::Cuda(0),
            note: None,
        },
        (DeviceChoice::Cuda, false) => Resolved {
            device: Device::Cpu,
            note: Some(
                "note: --device cuda asked for, but CUDA is not available (no GPU, or \
                 libtorch_cuda not linked); running on the CPU"
                    .to_string(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_choices_and_refuses_others() {
        for c in [DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Auto] {
            assert_eq!(c.to_string().parse::<DeviceChoice>(), Ok(c));
        }
        assert_eq!(
            "gpu".parse::<DeviceChoice>(),
            Err("unknown device 'gpu'; use cpu, cuda or auto".to_string())
        );
    }

    #[test]
    fn notes_only_an_explicit_cuda_request_that_cannot_be_met() {
        assert_eq!(resolve_with(DeviceChoice::Auto, false).device, Device::Cpu);
        assert_eq!(resolve_with(DeviceChoice::Auto, false).note, None);
        assert_eq!(
            resolve_with(DeviceChoice::Auto, true).device,
            Device::Cuda(0)
        );
        assert_eq!(resolve_with(DeviceChoice::Cpu, true).device, Device::Cpu);
        let fallback = resolve_with(DeviceChoice::Cuda, false);
        assert_eq!(fallback.device, Device::Cpu);
        assert!(
            fallback
                .note
                .unwrap()
                .starts_with("note: --device cuda asked for")
        );
        assert_eq!(resolve_with(DeviceChoice::Cuda, true).note, None);
    }
}
