//! Pure statistics (no I/O): descriptive summaries, the Brown–Forsythe test of equal variances,
//! Welch's test of means, seeded bootstrap intervals, simulated power, and the t/F distributions
//! they rest on.

pub mod bootstrap;
pub mod brown_forsythe;
pub mod distributions;
pub mod means_test;
pub mod power;
pub mod summary;

pub use bootstrap::{Bootstrap, Interval};
pub use brown_forsythe::{brown_forsythe, BrownForsythe};
pub use means_test::{welch_t_test, WelchT};
pub use power::{min_detectable_reduction, PowerSettings};
pub use summary::Summary;
