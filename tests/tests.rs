//! End-to-end tests of the `reproduce` binaries (the front and `reproduce-torch`, which it hands
//! network commands to). They all build into this one test binary, because every test binary
//! links libtorch and each one costs minutes to link in CI.
//!
//! Tests that need the shared mirror or reference files skip with a message when
//! `BFPGM_MIRROR` / `BFPGM_REFERENCE` are unset (a user's machine); under CI (`CI` set) a missing
//! variable is a failure instead, so real-file tests can never silently skip there.

mod baselines;
mod check;
mod compare;
mod detect;
mod eval;
mod export;
mod fetch;
mod fuse;
mod layers;
mod models;
mod prune;
mod server;
mod startup;
mod tables;
mod train;
mod util;
mod zoo;
