//! Pure statistics (no I/O): descriptive summaries, the Brown–Forsythe test of equal variances,
//! Welch's test of means, seeded bootstrap intervals, simulated power, Almost Stochastic Order,
//! McNemar's test of paired predictions, the multi-bootstrap of seeds and evaluation examples,
//! and the t/F/normal distributions they rest on.

pub mod aso;
pub mod bootstrap;
pub mod brown_forsythe;
pub mod distributions;
pub mod mcnemar;
pub mod means_test;
pub mod multibootstrap;
pub mod power;
pub mod summary;

pub use aso::{almost_stochastic_order, Aso, AsoSettings};
pub use bootstrap::{Bootstrap, Interval};
pub use brown_forsythe::{brown_forsythe, BrownForsythe};
pub use mcnemar::{mcnemar, McNemar};
pub use means_test::{welch_t_test, WelchT};
pub use multibootstrap::{multibootstrap, MultiBootstrap, MultiBootstrapError, VarianceSplit};
pub use power::{min_detectable_reduction, PowerSettings};
pub use summary::Summary;
