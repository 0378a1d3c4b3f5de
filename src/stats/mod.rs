//! Pure statistics (no I/O): descriptive summaries, the Brown–Forsythe test of equal variances,
//! Welch's test of means, seeded bootstrap intervals, simulated power, Almost Stochastic Order,
//! McNemar's test of paired predictions, the multi-bootstrap of seeds and evaluation examples,
//! a Monte Carlo test of bimodality, the σ ratio pooled over tasks (stratified bootstrap), the
//! seeds that decide a claim, and the t/F/normal distributions they rest on.

pub mod aso;
pub mod bimodality;
pub mod bootstrap;
pub mod brown_forsythe;
pub mod distributions;
pub mod mcnemar;
pub mod multibootstrap;
pub mod pooled;
pub mod power;
pub mod summary;
pub mod target_power;
pub mod welch;

pub use aso::{almost_stochastic_order, Aso, AsoSettings};
pub use bootstrap::{Bootstrap, Interval};
pub use brown_forsythe::{brown_forsythe, BrownForsythe};
pub use mcnemar::{mcnemar, McNemar};
pub use multibootstrap::{multibootstrap, MultiBootstrap, MultiBootstrapError, VarianceSplit};
pub use power::{min_detectable_reduction, PowerSettings};
pub use summary::Summary;
pub use welch::{welch_t_test, WelchT};
