//! Training (placeholder overview, completed below).

pub mod augment;
pub mod data;
pub mod loss;
pub mod matching;
pub mod optim;
pub mod rng;
