//! Link-time settings that let `cargo build/run/test` work with nothing exported.
//!
//! * An rpath to the libtorch folder that torch-sys found, so the binary finds `libtorch*.so`
//!   without `LD_LIBRARY_PATH`.
//! * `--no-as-needed -ltorch`: the linker otherwise drops `libtorch_cuda.so`, because no Rust
//!   symbol refers to it, and CUDA then silently reports as unavailable.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch folder (DEP_TCH_LIBTORCH_LIB)");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-L{lib}");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}
