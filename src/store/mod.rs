//! The one `Store` over SQLite or PostgreSQL (sqlx `Any`): experiments, runs, per-step metrics
//! and final results.
//!
//! One set of query strings serves both backends (`$n` placeholders, `ON CONFLICT`,
//! `RETURNING`); the only SQL that differs is the database clock, [`Backend::now_ms`], spliced
//! into the queries that judge leases, and the migrations' integer types (PostgreSQL gets its
//! own `migrations/postgres/`, with BIGINT where SQLite's `0001` says INTEGER).
//!
//! Scale-out: a run is claimed by a single `UPDATE ... WHERE status = 'queued'`, and the claim
//! is a [`Lease`] (experiment, run, attempt, worker) that expires on the database's clock unless
//! its worker renews it ([`Store::renew`]). Every write of a run ([`Store::write_metrics`],
//! [`Store::delete_metrics_after`], [`Store::mark_started`], [`Store::record_checkpoint`],
//! [`Store::finish`], which also writes the per-example predictions) is fenced: it happens only while the writer still holds an unexpired lease
//! of the attempt it claimed, else it fails with [`StoreError::LostLease`] and writes nothing.
//! [`Store::reap`] puts runs whose lease expired (or whose same-host worker process is gone)
//! back in the queue, or marks them failed after `max_attempts`.

mod open;
pub mod predictions;
mod queue;
mod reads;
mod rows;
#[cfg(any(test, feature = "test-support"))]
pub mod testdb;
mod writes;

pub use predictions::{ExampleValues, SplitPredictions, StoredPredictions};
pub use rows::{ExperimentRow, MetricRow, ResultRow, RunRow, RunStatus};

use sqlx::AnyPool;
use std::path::{Path, PathBuf};

/// A query of the `Any` driver, before or while its values are bound.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Default database path, relative to the working directory.
pub const DEFAULT_DB: &str = "results/harness.db";

/// Environment variable that sets the default `--db`.
pub const DB_ENV: &str = "HARNESS_DB";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the results database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("could not migrate the results database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("no experiment named `{0}` in the database; `harness status` lists the experiments it holds")]
    UnknownExperiment(String),
    #[error("{path} is not a harness results database (it holds no harness schema); give the --db that `harness run` wrote")]
    NotAStore { path: String },
    #[error("{path} has schema version {found}, and this harness reads version {expected}: {fix}")]
    SchemaVersion {
        path: String,
        found: i64,
        expected: i64,
        fix: &'static str,
    },
    #[error("lost the lease of run {key} (attempt {attempt}); another worker owns it now")]
    LostLease { key: String, attempt: i64 },
    #[error(transparent)]
    Predictions(#[from] predictions::PackingError),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` or `postgresql://` URLs are PostgreSQL; anything else is a SQLite path.
    pub fn of(db: &str) -> Backend {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The database's clock in milliseconds since the Unix epoch, as one SQL expression. Leases
    /// are judged by this clock only, so workers' clocks never matter.
    pub fn now_ms(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Whether `db` (a `--db` value) names a PostgreSQL database.
pub fn is_postgres(db: &Path) -> bool {
    Backend::of(&db.to_string_lossy()) == Backend::Postgres
}

/// Whether the database `db` can be read: a SQLite file that exists, or any PostgreSQL URL
/// (whose server answers, or not, when it is opened with [`Store::open`]).
pub fn exists(db: &Path) -> bool {
    is_postgres(db) || db.exists()
}

/// A `--db` value for messages: PostgreSQL URLs without their password.
pub fn display_db(db: &Path) -> String {
    let s = db.to_string_lossy().into_owned();
    if Backend::of(&s) != Backend::Postgres {
        return s;
    }
    // postgres://user:password@host/... → postgres://user:***@host/...
    match (s.find("://"), s.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &s[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => {
                    format!("{}{}:***{}", &s[..scheme + 3], &userinfo[..colon], &s[at..])
                }
                None => s,
            }
        }
        _ => s,
    }
}

/// A run as the grid describes it, ready to be inserted (idempotently) into the store.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub key: String,
    pub ordinal: i64,
    pub task: String,
    pub variant: String,
    pub seed: u64,
    pub sweep_json: String,
    pub config_json: String,
}

/// Who claims runs: recorded on every run it claims.
#[derive(Debug, Clone)]
pub struct WorkerIdentity {
    /// `host:pid:process-start` (see `environment::worker_id`).
    pub id: String,
    pub host: String,
    /// `JOB_TASK` of a Slurm array task, else the Slurm job id, when run under Slurm.
    pub slurm_job: Option<String>,
}

impl WorkerIdentity {
    /// A worker identity without host or Slurm details (tests, synthetic experiments).
    pub fn named(id: &str) -> WorkerIdentity {
        WorkerIdentity {
            id: id.to_string(),
            host: id.split(':').next().unwrap_or(id).to_string(),
            slurm_job: None,
        }
    }
}

/// What a worker holds while it runs a run: every write of the run names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub experiment: String,
    pub key: String,
    pub attempt: i64,
    pub worker: String,
}

/// A claimed run: what a worker needs to execute it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub lease: Lease,
    pub key: String,
    pub config_json: String,
    pub attempt: i64,
    pub task: String,
    pub variant: String,
    pub seed: i64,
}

/// Final bookkeeping of a finished (or failed) run.
#[derive(Debug, Clone, Default)]
pub struct Finish {
    pub status: Option<RunStatus>,
    pub duration_s: f64,
    pub error: Option<String>,
    pub steps: Option<i64>,
    pub train_examples_per_s: Option<f64>,
    pub peak_memory_bytes: Option<i64>,
    /// Per-example predictions of the final evaluation, one entry per split (BERT runs).
    pub predictions: Vec<SplitPredictions>,
}

/// A run taken from a worker that stopped holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub experiment: String,
    pub key: String,
    /// The attempt that was lost.
    pub attempt: i64,
    /// `queued` again, or `failed` after the last allowed attempt.
    pub status: RunStatus,
    pub reason: String,
}

/// The lease of a running run, for `harness status`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseInfo {
    pub key: String,
    pub worker: Option<String>,
    pub host: Option<String>,
    pub slurm_job: Option<String>,
    /// Seconds since the worker last renewed the lease (database clock).
    pub lease_age_s: Option<f64>,
    /// Seconds until the lease expires (negative: expired, waiting to be reaped).
    pub lease_expires_in_s: Option<f64>,
    pub checkpoint_step: Option<i64>,
}

pub struct Store {
    pool: AnyPool,
    backend: Backend,
    location: PathBuf,
    store_id: String,
    /// The schema version of the database (the highest migration applied).
    schema_version: i64,
}

/// The first schema version that holds the `predictions` table.
pub const PREDICTIONS_SCHEMA: i64 = 3;

/// The oldest schema version `open_read_only` reads (versions from here up to this harness's
/// read the same tables; older ones lack the lease columns).
pub const OLDEST_READABLE_SCHEMA: i64 = 2;

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// NaN and infinities are stored as NULL (SQL has no portable NaN).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A query with the four columns of `lease` bound as its next placeholders, in the order of
/// every lease check: experiment, run key, attempt, worker.
fn bind_lease<'q>(q: AnyQuery<'q>, lease: &Lease) -> AnyQuery<'q> {
    q.bind(&lease.experiment)
        .bind(&lease.key)
        .bind(lease.attempt)
        .bind(&lease.worker)
}

/// Deletes what a run's attempt produced (its results and predictions) inside `tx`; its
/// metrics stay.
async fn delete_outputs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    experiment: &str,
    key: &str,
) -> Result<()> {
    for table in ["results", "predictions"] {
        let q = format!("DELETE FROM {table} WHERE experiment = $1 AND run_key = $2");
        sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(experiment)
            .bind(key)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The schema version of the database (read-only stores may be older than this harness).
    pub fn schema_version(&self) -> i64 {
        self.schema_version
    }

    /// The `--db` value this store was opened with (a path or a URL).
    pub fn path(&self) -> &Path {
        &self.location
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The random identity of this database, created once (checkpoints record it).
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    pub async fn close(self) {
        self.pool.close().await;
    }

    /// A query string with the database clock spliced in for `{NOW}`.
    fn sql(&self, template: &str) -> String {
        template.replace("{NOW}", self.backend.now_ms())
    }

    /// The database's clock, milliseconds since the Unix epoch.
    pub async fn db_now_ms(&self) -> Result<i64> {
        let q = self.sql("SELECT {NOW}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests;
