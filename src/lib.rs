//! `harness`: seeded experiment grids for memory-efficient stochastic methods in
//! memory-based transformers (arXiv 2311.08123). Data flows one way:
//! spec → runs → store → statistics → report.

pub mod device;
pub mod model;
