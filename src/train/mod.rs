//! Training loops and their pieces: the optimizer, the learning-rate schedules, checkpoints, the
//! loop that fine-tunes BERT on a sequence-classification task, and the two-phase
//! language-model loop of Transformer-XL.

pub mod checkpoint;
pub mod finetune;
pub mod language_model;
#[cfg(any(test, feature = "test-support"))]
pub mod lm_fixture;
pub mod optim;
pub mod schedule;

/// Why a training loop returned early, or that it did not.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Trained all steps.
    Completed,
    /// The training loss became NaN or infinite at this step.
    Diverged { step: i64, loss: f64 },
    /// The user asked to stop (Ctrl-C / SIGTERM); nothing of this attempt should be kept.
    Interrupted,
}
