//! The `--device` a user asks for: `cpu`, `cuda` (the first GPU), `cuda:N` or `auto`.
//!
//! This is only the request. Whether CUDA is there is decided when a network command resolves
//! it (`crate::device`), the first moment CUDA's libraries are loaded: a command that runs no
//! network never loads them.

use std::fmt;
use std::str::FromStr;

/// The device a user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// Always the CPU (what bit-parity checks use).
    Cpu,
    /// CUDA device N, or an error saying why it cannot be used; never a silent CPU run.
    Cuda(usize),
    /// The first CUDA device when one can be used, otherwise the CPU, said once.
    #[default]
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            "auto" => Ok(DeviceChoice::Auto),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(DeviceChoice::Cuda(i)),
                _ => Err(format!(
                    "unknown device '{other}'; use cpu, cuda, cuda:N or auto"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceChoice::Auto => f.write_str("auto"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_choice_and_refuses_others() {
        for c in [
            DeviceChoice::Cpu,
            DeviceChoice::Cuda(0),
            DeviceChoice::Cuda(3),
            DeviceChoice::Auto,
        ] {
            assert_eq!(c.to_string().parse::<DeviceChoice>(), Ok(c));
        }
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1"] {
            assert_eq!(
                bad.parse::<DeviceChoice>(),
                Err(format!(
                    "unknown device '{bad}'; use cpu, cuda, cuda:N or auto"
                ))
            );
        }
    }
}
