//! Link-time settings that let `cargo build/run/test` work with nothing exported, and the one C++
//! file of the crate.
//!
//! * An rpath to the libtorch folder that torch-sys found, so the binary finds `libtorch*.so`
//!   without `LD_LIBRARY_PATH`.
//! * `--no-as-needed -ltorch`: the linker otherwise drops `libtorch_cuda.so`, because no Rust
//!   symbol refers to it, and CUDA then silently reports as unavailable.
//! * `src/export/shim.cpp`, compiled against the same libtorch's headers (the folder beside its
//!   `lib/`) with its C++ ABI: the mobile export's calls into libtorch's C++ API that tch does not
//!   wrap. Cargo reruns this script only when this file or the shim changes.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch folder (DEP_TCH_LIBTORCH_LIB)");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    export_shim(Path::new(&lib));
}

/// Compiles the export shim; `_GLIBCXX_USE_CXX11_ABI` follows `LIBTORCH_CXX11_ABI` as torch-sys
/// does (default 1, the pip wheel's ABI).
fn export_shim(lib: &Path) {
    const SHIM: &str = "src/export/shim.cpp";
    println!("cargo:rerun-if-changed={SHIM}");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    let include = lib
        .parent()
        .expect("the libtorch lib folder has a parent")
        .join("include");
    cc::Build::new()
        .cpp(true)
        .file(SHIM)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .std("c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .define("GLOG_USE_GLOG_EXPORT", None)
        // libtorch's own headers warn under -Wall; the shim's warnings would drown in them.
        .warnings(false)
        .compile("bfpgm_export_shim");
}
