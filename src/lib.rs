//! `harness`: seeded experiment grids for memory-efficient stochastic methods in
//! memory-based transformers (arXiv 2311.08123). Data flows one way:
//! spec → runs → store → statistics → report.

pub mod analysis;
pub mod atomic_file;
pub mod bench;
pub mod check;
pub mod cli;
pub mod compare;
pub mod data;
pub mod device;
pub mod environment;
pub mod exit;
pub mod model;
pub mod native;
pub mod output;
pub mod plan;
pub mod plot;
pub mod precision;
pub mod report;
pub mod runner;
pub mod seed;
pub mod slurm;
pub mod spec;
pub mod stats;
pub mod status;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod synthetic;
pub mod task;
pub mod train;
pub mod worker;
