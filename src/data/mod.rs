//! Task data for BERT fine-tuning: the nine GLUE tasks in their official TSV layouts
//! (`glue`), their official metrics (`metrics`), three stand-in tasks built from public-domain
//! sources and written in GLUE layouts (`standin`), and the GLUE downloader (`download`).
//! Language-modelling corpora (enwik8, text8, WikiText, PTB and two stand-ins) are in `lm`,
//! stored under `<data_dir>/lm/`.
//!
//! On disk, under a data directory `<data_dir>`:
//! - GLUE: `<data_dir>/glue/<DIR>/{train,dev,test}.tsv` with the official directory names
//!   (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI); MNLI has `dev_matched.tsv`,
//!   `dev_mismatched.tsv`, `test_matched.tsv`, `test_mismatched.tsv`.
//! - Stand-ins: `<data_dir>/standin/<name>/{train,dev,test}.tsv` for `spam`, `kjv_next` and
//!   `kjv_testament`.
//!
//! Which tasks there are, and each one's directory, files, labels and metrics, is the task
//! registry's (`crate::task`); the loaders here look it up.

pub mod download;
pub mod glue;
pub mod lm;
pub mod metrics;
pub mod models;
pub mod standin;

use std::path::{Path, PathBuf};

pub use glue::{is_glue, label_names, load_task};
pub use metrics::Predictions;

/// The gold label of one example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Label {
    /// Class id, an index into the task's label list (see [`glue::label_names`]).
    Class(usize),
    /// Real-valued target (STS-B similarity, 0–5).
    Score(f32),
}

/// One example: a single text (`text_b == None`) or a text pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text_a: String,
    pub text_b: Option<String>,
    /// `None` for unlabelled rows (GLUE test files).
    pub label: Option<Label>,
}

/// What the model predicts for a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Classification { num_labels: usize },
    Regression,
}

/// One file of a task, e.g. `train`, `dev`, `dev_matched`, `test_mismatched`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub name: String,
    pub examples: Vec<Example>,
}

/// All splits of one task as loaded from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskData {
    pub name: String,
    pub kind: TaskKind,
    pub train: Split,
    /// Evaluation splits; MNLI has two (matched first, then mismatched).
    pub dev: Vec<Split>,
    /// Test splits that exist on disk (GLUE test files carry no labels; stand-in test files do).
    pub test: Vec<Split>,
    /// Rows skipped as known-malformed (QQP only); every other malformed row is an error.
    pub skipped_rows: usize,
}

/// Errors of the data layer; every message names the file (and line) and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("unknown task `{name}`; known tasks: {known}")]
    UnknownTask { name: String, known: String },

    #[error("{what}: {} not found. {hint}", path.display())]
    Missing {
        what: String,
        path: PathBuf,
        hint: String,
    },

    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("download of {url} failed: {message}")]
    Http { url: String, message: String },

    #[error("archive {name}: {message}")]
    Archive { name: String, message: String },

    #[error("stand-in task {task}: {message}")]
    Standin { task: String, message: String },

    #[error("unknown corpus `{name}`; known corpora: {known}")]
    UnknownCorpus { name: String, known: String },

    #[error("corpus {corpus}: {message}")]
    Corpus { corpus: String, message: String },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `path` made absolute against the current directory (for messages), unchanged on failure.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
