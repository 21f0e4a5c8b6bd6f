//! Where tensors run: a `--device` choice (`bfpgm_core::device::DeviceChoice`) turned into a
//! `tch::Device`, loading CUDA only then.
//!
//! The binary links libtorch's CPU library alone. `libtorch_cuda.so`, and with it cuDNN, cuBLAS,
//! NCCL and the rest of the CUDA stack (about 350 MiB mapped and a few tenths of a second),
//! is loaded here, the first time a command resolves `cuda` or `auto`, and only where an NVIDIA
//! driver is present. Loading it registers libtorch's CUDA hooks; libtorch looks those up once,
//! so nothing may ask libtorch about CUDA (not even `manual_seed`) before [`resolve`] has run.
//!
//! `cuda` and `cuda:N` mean that device or an error that says why not (exit 2): a scheduled job
//! that asked for the GPU must not quietly measure something else. Only `auto` falls back to the
//! CPU, and says so once per process.

use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::sync::{Once, OnceLock};

use anyhow::{Result, bail};
use tch::Device;

use bfpgm_core::device::DeviceChoice;

/// Resolves a choice against what this process can use (see the module doc).
pub fn resolve(choice: DeviceChoice) -> Result<Device> {
    if choice == DeviceChoice::Cpu {
        return Ok(Device::Cpu);
    }
    match (choice, cuda_devices()) {
        (DeviceChoice::Cpu, _) => unreachable!("answered above, without loading CUDA"),
        (DeviceChoice::Cuda(i), Ok(n)) if i < n => Ok(Device::Cuda(i)),
        (DeviceChoice::Cuda(i), Ok(n)) => bail!(
            "CUDA device {i} asked for ({choice}), but CUDA sees {n} device{}",
            if n == 1 { "" } else { "s" }
        ),
        (DeviceChoice::Cuda(_), Err(e)) => bail!(
            "CUDA asked for ({choice}), but it cannot be used: {}; {}",
            e.reason,
            e.remedy
        ),
        (DeviceChoice::Auto, Ok(n)) if n > 0 => Ok(Device::Cuda(0)),
        (DeviceChoice::Auto, Ok(_)) => {
            note_once("CUDA sees no device");
            Ok(Device::Cpu)
        }
        (DeviceChoice::Auto, Err(e)) => {
            note_once(&e.reason);
            Ok(Device::Cpu)
        }
    }
}

/// Resolves several choices (`bo --devices`), each of which must be a device that can be used.
pub fn resolve_all(choices: &[DeviceChoice]) -> Result<Vec<Device>> {
    choices.iter().map(|&c| resolve(c)).collect()
}

/// `cpu`, `cuda:0`, ...: how devices are written in logs, reports and on the command line.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn note_once(why: &str) {
    static NOTE: Once = Once::new();
    NOTE.call_once(|| eprintln!("note: --device auto: {why}; running on the CPU"));
}

/// Why CUDA cannot be used, and what would fix it.
#[derive(Debug, Clone)]
struct Unavailable {
    reason: String,
    remedy: &'static str,
}

/// The number of CUDA devices once CUDA is loaded, or why it cannot be. Loads it on the first
/// call that is not about the CPU, and only then.
fn cuda_devices() -> Result<usize, Unavailable> {
    static DEVICES: OnceLock<Result<usize, Unavailable>> = OnceLock::new();
    DEVICES
        .get_or_init(|| {
            load_cuda()?;
            Ok(tch::Cuda::device_count().max(0) as usize)
        })
        .clone()
}

/// Loads the NVIDIA driver library, then libtorch's CUDA library from the folder the running
/// libtorch came from, so that its CUDA kernels and hooks register.
fn load_cuda() -> Result<(), Unavailable> {
    dlopen("libcuda.so.1").map_err(|e| Unavailable {
        reason: format!("no NVIDIA driver ({e})"),
        remedy: "install the NVIDIA driver, or use --device cpu",
    })?;
    let cuda = libtorch_dir().map_or_else(
        || PathBuf::from("libtorch_cuda.so"),
        |dir| dir.join("libtorch_cuda.so"),
    );
    dlopen(&cuda.to_string_lossy()).map_err(|e| {
        if e.contains("cannot open shared object file") {
            Unavailable {
                reason: format!("the CUDA libraries are not installed ({e})"),
                remedy: "`./reproduce setup --cuda` adds them to .venv",
            }
        } else {
            Unavailable {
                reason: format!("libtorch's CUDA library does not load ({e})"),
                remedy: "reinstall with `./reproduce setup --cuda`",
            }
        }
    })
}

/// The folder of the `libtorch_cpu.so` this process runs, from its memory map.
fn libtorch_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .and_then(|p| PathBuf::from(p).parent().map(PathBuf::from))
}

/// `dlopen(name, RTLD_NOW | RTLD_GLOBAL)`, kept loaded for the life of the process; the error is
/// `dlerror()`'s text.
fn dlopen(name: &str) -> Result<(), String> {
    let c = CString::new(name).map_err(|_| format!("{name:?} holds a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated string; the handle is deliberately never closed, and
    // dlerror's text is copied before any other dl call.
    unsafe {
        let handle = libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        if handle.is_null() {
            let err = libc::dlerror();
            return Err(if err.is_null() {
                "unknown error".to_string()
            } else {
                CStr::from_ptr(err).to_string_lossy().into_owned()
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_needs_no_cuda_and_names_are_stable() {
        assert_eq!(resolve(DeviceChoice::Cpu).unwrap(), Device::Cpu);
        assert_eq!(device_name(Device::Cpu), "cpu");
        assert_eq!(device_name(Device::Cuda(2)), "cuda:2");
    }

    #[test]
    fn cuda_is_a_device_or_an_error_and_auto_always_a_device() {
        let auto = resolve(DeviceChoice::Auto).unwrap();
        match resolve(DeviceChoice::Cuda(0)) {
            Ok(d) => assert_eq!((d, auto), (Device::Cuda(0), Device::Cuda(0))),
            Err(e) => {
                assert_eq!(auto, Device::Cpu);
                let msg = e.to_string();
                assert!(
                    msg.starts_with("CUDA asked for (cuda:0), but it cannot be used: "),
                    "{msg}"
                );
            }
        }
        let far = resolve(DeviceChoice::Cuda(1000)).unwrap_err().to_string();
        assert!(
            far.starts_with("CUDA device 1000 asked for (cuda:1000), but CUDA sees ")
                || far.starts_with("CUDA asked for (cuda:1000), but it cannot be used: "),
            "{far}"
        );
    }
}
