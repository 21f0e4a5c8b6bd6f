//! The safe side of `shim.cpp`: TorchScript compilation, optimize-for-mobile and the two
//! serialisations, which libtorch offers only in C++.
//!
//! Weights cross as tch's `at::Tensor` pointers, which stay valid for the duration of the call;
//! the archives come back as bytes through a callback, so Rust decides where and how files are
//! written (atomically, by `fsutil`).

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use anyhow::{Context, Result, bail};
use tch::Tensor;

unsafe extern "C" {
    fn bfpgm_libtorch_version() -> *const c_char;
    fn bfpgm_export_compile(
        class_name: *const c_char,
        source: *const c_char,
        names: *const *const c_char,
        tensors: *const *const c_void,
        count: usize,
        sink: extern "C" fn(*mut c_void, c_int, *const c_char, usize),
        ctx: *mut c_void,
        bytecode_version: *mut u64,
    ) -> c_int;
}

/// The parts `shim.cpp` sends (its `Part` enum); the third is an error message.
const TORCHSCRIPT: c_int = 0;
const LITE: c_int = 1;

/// A compiled module, serialised twice.
#[derive(Debug)]
pub struct Compiled {
    /// The TorchScript archive of the module as compiled (weights in its `w` attribute), for
    /// `torch.jit.load`: the same ATen ops as the Rust model, so the same results.
    pub torchscript: Vec<u8>,
    /// The lite-interpreter archive of the module after optimize-for-mobile (frozen, BatchNorm
    /// folded into the convolutions, XNNPACK prepacked).
    pub lite: Vec<u8>,
    /// The lite archive's bytecode version, which a mobile runtime must support.
    pub bytecode_version: u64,
}

#[derive(Default)]
struct Parts {
    torchscript: Vec<u8>,
    lite: Vec<u8>,
    error: Vec<u8>,
}

extern "C" fn collect(ctx: *mut c_void, part: c_int, data: *const c_char, len: usize) {
    // SAFETY: `ctx` is the `Parts` that `compile` passed for this call, and `data` points to
    // `len` readable bytes for the duration of the callback.
    let parts = unsafe { &mut *(ctx as *mut Parts) };
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
    match part {
        TORCHSCRIPT => parts.torchscript.extend_from_slice(bytes),
        LITE => parts.lite.extend_from_slice(bytes),
        _ => parts.error.extend_from_slice(bytes),
    }
}

/// The libtorch version the shim was built against (`TORCH_VERSION` of the wheel's headers).
pub fn libtorch_version() -> String {
    // SAFETY: the shim returns a static NUL-terminated string literal.
    unsafe { CStr::from_ptr(bfpgm_libtorch_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Compiles TorchScript `source` into a module of class `class_name` whose `w` attribute is
/// `Dict[str, Tensor]` holding `weights`, and serialises it for `torch.jit.load` and, after
/// optimize-for-mobile, for the lite interpreter. A source error comes back with libtorch's
/// message, which points at the offending line.
pub fn compile(class_name: &str, source: &str, weights: &[(&str, &Tensor)]) -> Result<Compiled> {
    let class_name = CString::new(class_name).context("class name contains NUL")?;
    let source = CString::new(source).context("TorchScript source contains NUL")?;
    let names = weights
        .iter()
        .map(|(n, _)| CString::new(*n).with_context(|| format!("weight name {n:?} contains NUL")))
        .collect::<Result<Vec<_>>>()?;
    let name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let tensor_ptrs: Vec<*const c_void> = weights
        .iter()
        .map(|(_, t)| t.as_ptr() as *const c_void)
        .collect();
    let mut parts = Parts::default();
    let mut bytecode_version = 0u64;
    // SAFETY: every pointer refers to data owned by this frame (the CStrings, the tensors
    // borrowed from `weights`, `parts`), alive until the call returns; the shim catches all C++
    // exceptions and does not keep any pointer.
    let status = unsafe {
        bfpgm_export_compile(
            class_name.as_ptr(),
            source.as_ptr(),
            name_ptrs.as_ptr(),
            tensor_ptrs.as_ptr(),
            weights.len(),
            collect,
            &mut parts as *mut Parts as *mut c_void,
            &mut bytecode_version,
        )
    };
    if status != 0 {
        bail!(
            "libtorch: {}",
            String::from_utf8_lossy(&parts.error).trim_end()
        );
    }
    Ok(Compiled {
        torchscript: parts.torchscript,
        lite: parts.lite,
        bytecode_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shim_reports_the_headers_libtorch() {
        // tch 0.24 requires torch 2.11; the shim must have been built against the same headers.
        assert!(
            libtorch_version().starts_with("2.11."),
            "{}",
            libtorch_version()
        );
    }

    #[test]
    fn a_small_module_round_trips_and_source_errors_name_the_line() {
        let w = Tensor::from_slice(&[2.0f32, 3.0]);
        let ok = compile(
            "__torch__.bfpgm.Probe",
            "def forward(self, x: Tensor) -> Tensor:\n    return x * self.w[\"scale\"]\n",
            &[("scale", &w)],
        )
        .unwrap();
        assert!(ok.torchscript.starts_with(b"PK"), "a zip archive");
        assert!(ok.lite.starts_with(b"PK"), "a zip archive");
        assert!(ok.bytecode_version >= 4, "{}", ok.bytecode_version);

        let err = compile(
            "__torch__.bfpgm.Probe",
            "def forward(self, x: Tensor) -> Tensor:\n    return x * self.nowhere\n",
            &[("scale", &w)],
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("nowhere"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }
}
