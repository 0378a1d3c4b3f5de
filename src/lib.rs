//! `harness`: seeded experiment grids for memory-efficient stochastic methods in
//! memory-based transformers (arXiv 2311.08123). Data flows one way:
//! spec → runs → store → statistics → report.

pub mod device;
pub mod cli;
pub mod environment;
pub mod model;
pub mod runner;
pub mod status;
pub mod store;
pub mod train;
pub mod bench;
