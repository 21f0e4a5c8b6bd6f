//! Hot pixel loops compiled twice: for the x86-64 baseline every build targets, and for AVX2,
//! picked at run time. The loader's resampling and colour conversions are plain integer and
//! float code that LLVM vectorises well only when it may use 256-bit registers; a build for
//! `target-cpu=native` would not run on every machine the binary is copied to (the GPU machines
//! get the binary built here). Both copies are the same Rust source, so they compute the same
//! bits: Rust never fuses a multiply and an add on its own.

/// Defines `fn $name(args) -> ret` whose body runs compiled for AVX2 when the CPU has it, and
/// for the baseline otherwise. Arguments are plain `name: Type` pairs.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn any($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                any($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, as checked just above.
                return unsafe { avx2($($arg),*) };
            }
            any($($arg),*)
        }
    };
}

pub(crate) use multiversion;
