//! The one read path from the store: every command that reports on results (`status`,
//! `compare`, `plan`, `check`, `report`) opens the results database here, read-only, with one
//! message when it is missing, and gets [`ExperimentData`] back.

use super::ExperimentData;
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// What to read beyond runs and final results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Runs, final results and where the done runs ran.
    Results,
    /// Also every done run's per-step metrics and the stored per-example predictions.
    Curves,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no results database at {}; `harness run SPEC` creates it (or pass --db PATH)", crate::store::display_db(.0))]
    NoDatabase(PathBuf),
    /// Said as the store says it; the store error stays the cause, so that `exit::code_of`
    /// finds an unknown experiment (exit code 2) through `anyhow`.
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl ReadError {
    /// 2 for an experiment the database does not hold (bad input), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReadError::Store(StoreError::UnknownExperiment(_)) => crate::exit::BAD_INPUT,
            _ => crate::exit::FAILURE,
        }
    }
}

/// Opens `db` read-only, runs `read` on it and closes it again, on a runtime of its own.
pub fn with_store<T>(
    db: &Path,
    read: impl AsyncFnOnce(&Store) -> Result<T, StoreError>,
) -> Result<T, ReadError> {
    if !crate::store::exists(db) {
        return Err(ReadError::NoDatabase(db.to_path_buf()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ReadError::Runtime)?;
    rt.block_on(async {
        let store = Store::open_read_only(db).await?;
        let out = read(&store).await;
        store.close().await;
        Ok(out?)
    })
}

/// Reads the named experiments, in order.
pub fn experiments(
    db: &Path,
    names: &[&str],
    depth: Depth,
) -> Result<Vec<ExperimentData>, ReadError> {
    with_store(db, async |store: &Store| {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            out.push(ExperimentData::load(store, name, depth == Depth::Curves).await?);
        }
        Ok(out)
    })
}

/// Reads one experiment.
pub fn experiment(db: &Path, name: &str, depth: Depth) -> Result<ExperimentData, ReadError> {
    Ok(experiments(db, &[name], depth)?.remove(0))
}
