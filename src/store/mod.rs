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

pub mod predictions;
mod rows;
pub mod testdb;

pub use predictions::{ExampleValues, SplitPredictions, StoredPredictions};
pub use rows::{ExperimentRow, MetricRow, ResultRow, RunRow, RunStatus};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// The schema version this harness writes: its highest migration.
fn current_schema(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
    .iter()
    .map(|m| m.version)
    .max()
    .unwrap_or(0)
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// NaN and infinities are stored as NULL (SQL has no portable NaN).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// `sqlite://PATH?mode=rwc` with the characters the URL parser would misread escaped.
fn sqlite_url(path: &Path, mode: &str) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push_str("?mode=");
    url.push_str(mode);
    url
}

fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Store {
    /// Opens (creating if needed) the database `db` and applies migrations: a SQLite file path,
    /// or a `postgres://` URL (the database must exist; the tables are created).
    pub async fn open(db: impl AsRef<Path>) -> Result<Store> {
        let db = db.as_ref();
        let backend = Backend::of(&db.to_string_lossy());
        let open_err = |source: sqlx::Error| StoreError::Open {
            path: PathBuf::from(display_db(db)),
            source,
        };
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => {
                if let Some(dir) = db.parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(|e| open_err(sqlx::Error::Io(e)))?;
                    }
                }
                sqlite_url(db, "rwc")
            }
            Backend::Postgres => db.to_string_lossy().into_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Through `Any` these are PRAGMAs, not connect options.
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    } else {
                        // A worker frozen inside one of its (millisecond) transactions must not
                        // hold its run's row lock, and so block the worker taking the run over,
                        // for longer than this.
                        conn.execute("SET idle_in_transaction_session_timeout = '10s'")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(open_err)?;
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|source| StoreError::Migrate {
            path: PathBuf::from(display_db(db)),
            source,
        })?;
        sqlx::query(
            "INSERT INTO store_meta (name, value) VALUES ('store_id', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(random_id())
        .execute(&pool)
        .await?;
        let store_id: String =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'store_id'")
                .fetch_one(&pool)
                .await?;
        Ok(Store {
            pool,
            backend,
            location: db.to_path_buf(),
            store_id,
            schema_version: current_schema(backend),
        })
    }

    /// Opens an existing database for reading only (`status`, `report`, `compare`, `check`):
    /// never creates, migrates or writes it, so it works on a read-only file or mount, and a
    /// file that is not a harness database, or one of another schema version, is refused with
    /// a message that says so.
    pub async fn open_read_only(db: impl AsRef<Path>) -> Result<Store> {
        let db = db.as_ref();
        let backend = Backend::of(&db.to_string_lossy());
        let shown = display_db(db);
        let open_err = |source: sqlx::Error| StoreError::Open {
            path: PathBuf::from(&shown),
            source,
        };
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => {
                if !db.is_file() {
                    return Err(open_err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file",
                    ))));
                }
                sqlite_url(db, "ro")
            }
            Backend::Postgres => db.to_string_lossy().into_owned(),
        };
        let connect = |url: String| async move {
            AnyPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(60))
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute("PRAGMA busy_timeout = 30000").await?;
                        }
                        Ok(())
                    })
                })
                .connect(&url)
                .await
        };
        let version_query = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
        let mut pool = connect(url.clone()).await.map_err(open_err)?;
        let mut first = sqlx::query_scalar::<_, Option<i64>>(version_query)
            .fetch_one(&pool)
            .await;
        // A WAL database in a folder this process cannot write (a read-only mount, another
        // user's results): SQLite cannot create the shared-memory file beside it, and opens it
        // as immutable instead (nothing can write there while it is read).
        let read_only_folder = matches!(&first, Err(e) if e.to_string().contains("readonly"));
        if backend == Backend::Sqlite && read_only_folder {
            pool.close().await;
            pool = connect(format!("{url}&immutable=1"))
                .await
                .map_err(open_err)?;
            first = sqlx::query_scalar::<_, Option<i64>>(version_query)
                .fetch_one(&pool)
                .await;
        }
        let expected = current_schema(backend);
        let found: Option<i64> = first.map_err(|e| {
            let missing_table = e.to_string().contains("_sqlx_migrations");
            match missing_table {
                true => StoreError::NotAStore {
                    path: shown.clone(),
                },
                false => open_err(e),
            }
        })?;
        let found = found.ok_or_else(|| StoreError::NotAStore {
            path: shown.clone(),
        })?;
        // A store of an older schema from OLDEST_READABLE_SCHEMA on reads as it is: what it
        // lacks (the predictions of version 3) is simply not there.
        if !(OLDEST_READABLE_SCHEMA..=expected).contains(&found) {
            return Err(StoreError::SchemaVersion {
                path: shown,
                found,
                expected,
                fix: if found < expected {
                    "it was written by an older harness; a writing command of this one (harness run, enqueue or worker) upgrades it"
                } else {
                    "it was written by a newer harness; read it with that version"
                },
            });
        }
        let store_id: String =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'store_id'")
                .fetch_optional(&pool)
                .await?
                .unwrap_or_default();
        Ok(Store {
            pool,
            backend,
            location: db.to_path_buf(),
            store_id,
            schema_version: found,
        })
    }

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

    /// Records the experiment (or updates its spec) and inserts the runs it does not hold yet.
    /// Returns how many runs were new.
    pub async fn register(&self, experiment: &ExperimentRow, runs: &[NewRun]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let now = now();
        sqlx::query(
            "INSERT INTO experiments (name, description, spec_path, spec_text, overrides, spec_hash, baseline, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, spec_path = excluded.spec_path,
                 spec_text = excluded.spec_text, overrides = excluded.overrides, spec_hash = excluded.spec_hash,
                 baseline = excluded.baseline, updated_at = excluded.updated_at",
        )
        .bind(&experiment.name)
        .bind(&experiment.description)
        .bind(&experiment.spec_path)
        .bind(&experiment.spec_text)
        .bind(&experiment.overrides)
        .bind(&experiment.spec_hash)
        .bind(&experiment.baseline)
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let mut added = 0;
        for run in runs {
            let res = sqlx::query(
                "INSERT INTO runs (experiment, run_key, ordinal, task, variant, seed, sweep, config, status, queued_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9)
                 ON CONFLICT (experiment, run_key) DO NOTHING",
            )
            .bind(&experiment.name)
            .bind(&run.key)
            .bind(run.ordinal)
            .bind(&run.task)
            .bind(&run.variant)
            .bind(run.seed as i64)
            .bind(&run.sweep_json)
            .bind(&run.config_json)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            added += res.rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Takes running runs of `experiments` (all when empty) from workers that no longer hold
    /// them: the lease expired on the database's clock, or `is_dead(worker)` (the same-host PID
    /// fast path). Each goes back to `queued` (its next claim is attempt + 1), or to `failed`
    /// once it has had `max_attempts` attempts; the reason is kept in `error`.
    pub async fn reap(
        &self,
        experiments: &[String],
        max_attempts: i64,
        is_dead: impl Fn(&str) -> bool,
    ) -> Result<Vec<Reaped>> {
        let q = self.sql(
            "SELECT experiment, run_key, attempt, worker,
                    CAST(CASE WHEN lease_expires_ms IS NOT NULL AND lease_expires_ms <= {NOW} THEN 1 ELSE 0 END AS BIGINT)
             FROM runs WHERE status = 'running' ORDER BY experiment, ordinal",
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(q))
            .fetch_all(&self.pool)
            .await?;
        let mut reaped = Vec::new();
        for row in rows {
            let experiment: String = row.get(0);
            if !experiments.is_empty() && !experiments.contains(&experiment) {
                continue;
            }
            let key: String = row.get(1);
            let attempt: i64 = row.get(2);
            let worker: Option<String> = row.get(3);
            let expired: i64 = row.get(4);
            let who = worker.clone().unwrap_or_else(|| "an unknown worker".into());
            let cause = if expired == 1 {
                format!("its lease expired ({who} stopped renewing it)")
            } else if worker.as_deref().is_none_or(&is_dead) {
                format!("its worker process {who} is gone")
            } else {
                continue;
            };
            let (status, reason) = if attempt >= max_attempts {
                (
                    RunStatus::Failed,
                    format!(
                        "attempt {attempt} was lost: {cause}; gave up after {attempt} attempts \
                         (--max-attempts {max_attempts}); `harness run SPEC --retry-failed` runs it again"
                    ),
                )
            } else {
                (
                    RunStatus::Queued,
                    format!("attempt {attempt} was lost: {cause}; requeued"),
                )
            };
            let mut tx = self.pool.begin().await?;
            let res = sqlx::query(
                "UPDATE runs SET status = $1, error = $2, worker = NULL, lease_expires_ms = NULL,
                     lease_renewed_ms = NULL, heartbeat_at = NULL, finished_at = $3
                 WHERE experiment = $4 AND run_key = $5 AND attempt = $6 AND status = 'running'
                     AND COALESCE(worker, '') = $7",
            )
            .bind(status.as_str())
            .bind(&reason)
            .bind((status == RunStatus::Failed).then(now))
            .bind(&experiment)
            .bind(&key)
            .bind(attempt)
            .bind(worker.clone().unwrap_or_default())
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 1 {
                for table in ["results", "predictions"] {
                    let q = format!("DELETE FROM {table} WHERE experiment = $1 AND run_key = $2");
                    sqlx::query(sqlx::AssertSqlSafe(q))
                        .bind(&experiment)
                        .bind(&key)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                reaped.push(Reaped {
                    experiment,
                    key,
                    attempt,
                    status,
                    reason,
                });
            } else {
                // Renewed, finished or reaped by someone else meanwhile.
                tx.rollback().await?;
            }
        }
        Ok(reaped)
    }

    /// Requeues runs in the given statuses (e.g. `--retry failed`). Returns how many.
    pub async fn requeue_status(&self, experiment: &str, status: RunStatus) -> Result<u64> {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT run_key FROM runs WHERE experiment = $1 AND status = $2")
                .bind(experiment)
                .bind(status.as_str())
                .fetch_all(&self.pool)
                .await?;
        for key in &keys {
            self.requeue(experiment, key, status.as_str()).await?;
        }
        Ok(keys.len() as u64)
    }

    /// Moves one run from `from_status` back to `queued` and deletes its results and
    /// predictions, in one
    /// transaction. Its metrics stay: the next attempt keeps those up to the step it resumes
    /// from (a checkpoint's, or none) and deletes the rest ([`Store::delete_metrics_after`])
    /// before it trains, so that a rerun never duplicates or loses a row.
    pub async fn requeue(&self, experiment: &str, key: &str, from_status: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "UPDATE runs SET status = 'queued', worker = NULL, started_at = NULL, heartbeat_at = NULL,
                 finished_at = NULL, duration_s = NULL, error = NULL, steps = NULL,
                 lease_expires_ms = NULL, lease_renewed_ms = NULL
             WHERE experiment = $1 AND run_key = $2 AND status = $3",
        )
        .bind(experiment)
        .bind(key)
        .bind(from_status)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            for table in ["results", "predictions"] {
                let q = format!("DELETE FROM {table} WHERE experiment = $1 AND run_key = $2");
                sqlx::query(sqlx::AssertSqlSafe(q))
                    .bind(experiment)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(res.rows_affected() == 1)
    }

    /// Gives a claimed run back to the queue (a worker stopping on a signal). Fenced: a lease
    /// already lost is left alone. Returns whether it was released.
    pub async fn release(&self, lease: &Lease) -> Result<bool> {
        let q = self.sql(
            "UPDATE runs SET status = 'queued', worker = NULL, started_at = NULL, heartbeat_at = NULL,
                 lease_expires_ms = NULL, lease_renewed_ms = NULL
             WHERE experiment = $1 AND run_key = $2 AND attempt = $3 AND status = 'running'
                 AND worker = $4 AND lease_expires_ms > {NOW}",
        );
        let res = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(&lease.experiment)
            .bind(&lease.key)
            .bind(lease.attempt)
            .bind(&lease.worker)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Atomically claims the next queued run of `experiment` (lowest ordinal) for `worker`,
    /// with a lease of `lease` from now on the database's clock. The status change happens in
    /// one statement; a concurrent claimer gets another run or none.
    pub async fn claim_next(
        &self,
        experiment: &str,
        worker: &WorkerIdentity,
        only: Option<&[String]>,
        lease: Duration,
    ) -> Result<Option<Claim>> {
        let claim = self.sql(
            "UPDATE runs SET status = 'running', worker = $1, host = $2, slurm_job = $3,
                 attempt = attempt + 1, started_at = $4, heartbeat_at = $4, error = NULL,
                 finished_at = NULL, checkpoint_step = NULL,
                 lease_expires_ms = {NOW} + $5, lease_renewed_ms = {NOW}
             WHERE experiment = $6 AND run_key = $7 AND status = 'queued'
             RETURNING run_key, config, attempt, task, variant, seed",
        );
        loop {
            let candidates: Vec<String> = sqlx::query_scalar(
                "SELECT run_key FROM runs WHERE experiment = $1 AND status = 'queued' ORDER BY ordinal",
            )
            .bind(experiment)
            .fetch_all(&self.pool)
            .await?;
            let next = candidates
                .into_iter()
                .find(|k| only.is_none_or(|keys| keys.contains(k)));
            let Some(key) = next else { return Ok(None) };
            let now = now();
            let row: Option<AnyRow> = sqlx::query(sqlx::AssertSqlSafe(claim.clone()))
                .bind(&worker.id)
                .bind(&worker.host)
                .bind(&worker.slurm_job)
                .bind(&now)
                .bind(lease.as_millis() as i64)
                .bind(experiment)
                .bind(&key)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = row {
                let key: String = row.get(0);
                let attempt: i64 = row.get(2);
                return Ok(Some(Claim {
                    lease: Lease {
                        experiment: experiment.to_string(),
                        key: key.clone(),
                        attempt,
                        worker: worker.id.clone(),
                    },
                    key,
                    config_json: row.get(1),
                    attempt,
                    task: row.get(3),
                    variant: row.get(4),
                    seed: row.get(5),
                }));
            }
            // Another worker took it between the SELECT and the UPDATE: look again.
        }
    }

    /// Extends the lease by `lease` from now (database clock). False: the lease is lost
    /// (expired, reaped, or the run is no longer this attempt's); the worker must stop the run.
    pub async fn renew(&self, lease: &Lease, duration: Duration) -> Result<bool> {
        let q = self.sql(
            "UPDATE runs SET lease_expires_ms = {NOW} + $1, lease_renewed_ms = {NOW}, heartbeat_at = $2
             WHERE experiment = $3 AND run_key = $4 AND attempt = $5 AND status = 'running'
                 AND worker = $6 AND lease_expires_ms > {NOW}",
        );
        let res = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(duration.as_millis() as i64)
            .bind(now())
            .bind(&lease.experiment)
            .bind(&lease.key)
            .bind(lease.attempt)
            .bind(&lease.worker)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    /// The fence of every write: inside `tx`, checks (and touches) the run's row for `lease`;
    /// no row means the lease is lost and the transaction must not write.
    async fn fence(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, lease: &Lease) -> Result<()> {
        let q = self.sql(
            "UPDATE runs SET heartbeat_at = $1
             WHERE experiment = $2 AND run_key = $3 AND attempt = $4 AND status = 'running'
                 AND worker = $5 AND lease_expires_ms > {NOW}",
        );
        let res = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(now())
            .bind(&lease.experiment)
            .bind(&lease.key)
            .bind(lease.attempt)
            .bind(&lease.worker)
            .execute(&mut **tx)
            .await?;
        if res.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LostLease {
                key: lease.key.clone(),
                attempt: lease.attempt,
            })
        }
    }

    /// Records device, git revision and environment once the run has started (fenced).
    pub async fn mark_started(
        &self,
        lease: &Lease,
        device: &str,
        git_rev: Option<&str>,
        environment_json: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx, lease).await?;
        sqlx::query(
            "UPDATE runs SET device = $1, git_rev = $2, environment = $3 WHERE experiment = $4 AND run_key = $5",
        )
        .bind(device)
        .bind(git_rev)
        .bind(environment_json)
        .bind(&lease.experiment)
        .bind(&lease.key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that the attempt wrote a checkpoint at `step` (fenced): a worker that lost its
    /// lease learns it here, before it would write another checkpoint file.
    pub async fn record_checkpoint(&self, lease: &Lease, step: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx, lease).await?;
        sqlx::query("UPDATE runs SET checkpoint_step = $1 WHERE experiment = $2 AND run_key = $3")
            .bind(step)
            .bind(&lease.experiment)
            .bind(&lease.key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the run's metric rows with a step after `step` (every row for `step` = 0: steps
    /// count from 1), i.e. what an attempt that resumes at `step` writes again (fenced).
    pub async fn delete_metrics_after(&self, lease: &Lease, step: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx, lease).await?;
        let res =
            sqlx::query("DELETE FROM metrics WHERE experiment = $1 AND run_key = $2 AND step > $3")
                .bind(&lease.experiment)
                .bind(&lease.key)
                .bind(step)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(res.rows_affected())
    }

    /// Writes a batch of per-step metrics in one transaction (fenced).
    pub async fn write_metrics(&self, lease: &Lease, rows: &[MetricRow]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx, lease).await?;
        for chunk in rows.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO metrics (experiment, run_key, step, split, name, value, phase) VALUES ",
            );
            let tuples: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = 7 * i;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7
                    )
                })
                .collect();
            sql.push_str(&tuples.join(", "));
            sql.push_str(" ON CONFLICT (experiment, run_key, split, name, step) DO UPDATE SET value = excluded.value, phase = excluded.phase");
            // Only placeholders are generated; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = q
                    .bind(&lease.experiment)
                    .bind(&lease.key)
                    .bind(m.step)
                    .bind(&m.split)
                    .bind(&m.name)
                    .bind(finite(m.value))
                    .bind(m.phase);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes the final results, the per-example predictions and the run's closing status in
    /// one transaction (fenced: the results and predictions of a run are always those of the
    /// attempt that finished it; whatever an earlier attempt left is replaced).
    pub async fn finish(
        &self,
        lease: &Lease,
        results: &[ResultRow],
        finish: &Finish,
    ) -> Result<()> {
        let status = finish.status.unwrap_or(RunStatus::Done);
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx, lease).await?;
        for table in ["results", "predictions"] {
            let q = format!("DELETE FROM {table} WHERE experiment = $1 AND run_key = $2");
            sqlx::query(sqlx::AssertSqlSafe(q))
                .bind(&lease.experiment)
                .bind(&lease.key)
                .execute(&mut *tx)
                .await?;
        }
        for p in &finish.predictions {
            let (format, predicted, gold) = predictions::pack(&p.values);
            sqlx::query(
                "INSERT INTO predictions (experiment, run_key, split, format, version, examples, predicted, gold)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&lease.experiment)
            .bind(&lease.key)
            .bind(&p.split)
            .bind(format)
            .bind(predictions::PACKING_VERSION)
            .bind(p.values.len() as i64)
            .bind(predicted)
            .bind(gold)
            .execute(&mut *tx)
            .await?;
        }
        for r in results {
            sqlx::query(
                "INSERT INTO results (experiment, run_key, split, name, value) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (experiment, run_key, split, name) DO UPDATE SET value = excluded.value",
            )
            .bind(&lease.experiment)
            .bind(&lease.key)
            .bind(&r.split)
            .bind(&r.name)
            .bind(finite(r.value))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE runs SET status = $1, finished_at = $2, duration_s = $3, error = $4, steps = $5,
                 train_examples_per_s = $6, peak_memory_bytes = $7, heartbeat_at = $8,
                 lease_expires_ms = NULL
             WHERE experiment = $9 AND run_key = $10",
        )
        .bind(status.as_str())
        .bind(now())
        .bind(finish.duration_s)
        .bind(&finish.error)
        .bind(finish.steps)
        .bind(finish.train_examples_per_s.and_then(finite))
        .bind(finish.peak_memory_bytes)
        .bind(now())
        .bind(&lease.experiment)
        .bind(&lease.key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn experiments(&self) -> Result<Vec<ExperimentRow>> {
        let rows = sqlx::query_as::<_, ExperimentRow>(
            "SELECT name, description, spec_path, spec_text, overrides, spec_hash, baseline FROM experiments ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    pub async fn experiment(&self, name: &str) -> Result<ExperimentRow> {
        sqlx::query_as::<_, ExperimentRow>(
            "SELECT name, description, spec_path, spec_text, overrides, spec_hash, baseline FROM experiments WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::UnknownExperiment(name.to_string()))
    }

    pub async fn runs(&self, experiment: &str) -> Result<Vec<RunRow>> {
        let rows = sqlx::query_as::<_, RunRow>(
            "SELECT run_key, ordinal, task, variant, seed, sweep, config, status, attempt, worker,
                    started_at, finished_at, duration_s, device, git_rev, error, steps,
                    train_examples_per_s, peak_memory_bytes, host, slurm_job
             FROM runs WHERE experiment = $1 ORDER BY ordinal",
        )
        .bind(experiment)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Counts of runs by status over `experiments` (all when empty): (status, count).
    pub async fn status_counts(&self, experiments: &[String]) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT experiment, status, CAST(COUNT(*) AS BIGINT) FROM runs GROUP BY experiment, status",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, i64)> = Vec::new();
        for r in rows {
            let exp: String = r.get(0);
            if !experiments.is_empty() && !experiments.contains(&exp) {
                continue;
            }
            let status: String = r.get(1);
            let n: i64 = r.get(2);
            match out.iter_mut().find(|(s, _)| *s == status) {
                Some((_, c)) => *c += n,
                None => out.push((status, n)),
            }
        }
        Ok(out)
    }

    /// Who holds (or last held) each run of the experiment, in grid order; the lease times are
    /// set for running runs only (database clock).
    pub async fn leases(&self, experiment: &str) -> Result<Vec<LeaseInfo>> {
        let q = self.sql(
            "SELECT run_key, worker, host, slurm_job,
                    CASE WHEN status = 'running' THEN CAST({NOW} - lease_renewed_ms AS BIGINT) END,
                    CASE WHEN status = 'running' THEN CAST(lease_expires_ms - {NOW} AS BIGINT) END,
                    checkpoint_step
             FROM runs WHERE experiment = $1 ORDER BY ordinal",
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(experiment)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let age: Option<i64> = r.get(4);
                let left: Option<i64> = r.get(5);
                LeaseInfo {
                    key: r.get(0),
                    worker: r.get(1),
                    host: r.get(2),
                    slurm_job: r.get(3),
                    lease_age_s: age.map(|ms| ms as f64 / 1000.0),
                    lease_expires_in_s: left.map(|ms| ms as f64 / 1000.0),
                    checkpoint_step: r.get(6),
                }
            })
            .collect())
    }

    pub async fn results(&self, experiment: &str) -> Result<Vec<(String, ResultRow)>> {
        let rows = sqlx::query(
            "SELECT run_key, split, name, value FROM results WHERE experiment = $1 ORDER BY run_key, split, name",
        )
        .bind(experiment)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let value: Option<f64> = r.get(3);
                (
                    r.get(0),
                    ResultRow {
                        split: r.get(1),
                        name: r.get(2),
                        value: value.unwrap_or(f64::NAN),
                    },
                )
            })
            .collect())
    }

    /// The per-example predictions of the experiment's runs, in grid order then split order.
    /// Empty for a store of a schema before predictions existed.
    pub async fn predictions(&self, experiment: &str) -> Result<Vec<StoredPredictions>> {
        if self.schema_version < PREDICTIONS_SCHEMA {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT p.run_key, r.task, r.variant, r.seed, p.split, p.format, p.version, p.examples,
                    p.predicted, p.gold
             FROM predictions p JOIN runs r ON r.experiment = p.experiment AND r.run_key = p.run_key
             WHERE p.experiment = $1 ORDER BY r.ordinal, p.split",
        )
        .bind(experiment)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let key: String = r.get(0);
            let split: String = r.get(4);
            let format: String = r.get(5);
            let predicted: Vec<u8> = r.get(8);
            let gold: Vec<u8> = r.get(9);
            let values =
                predictions::unpack(&key, &split, &format, r.get(6), r.get(7), &predicted, &gold)?;
            out.push(StoredPredictions {
                run_key: key,
                task: r.get(1),
                variant: r.get(2),
                seed: r.get(3),
                split,
                values,
            });
        }
        Ok(out)
    }

    /// The packed size of the stored predictions of one run and split: (examples, bytes of
    /// both arrays).
    pub async fn predictions_size(
        &self,
        experiment: &str,
        key: &str,
        split: &str,
    ) -> Result<Option<(i64, i64)>> {
        let row = sqlx::query(
            "SELECT examples, CAST(LENGTH(predicted) + LENGTH(gold) AS BIGINT) FROM predictions
             WHERE experiment = $1 AND run_key = $2 AND split = $3",
        )
        .bind(experiment)
        .bind(key)
        .bind(split)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// The environment JSON (see [`crate::environment::Environment`]) of each run, by run key.
    pub async fn environments(&self, experiment: &str) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT run_key, environment FROM runs WHERE experiment = $1 ORDER BY ordinal",
        )
        .bind(experiment)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn metrics(&self, experiment: &str, key: &str) -> Result<Vec<MetricRow>> {
        let rows = sqlx::query(
            "SELECT step, split, name, value, phase FROM metrics WHERE experiment = $1 AND run_key = $2
             ORDER BY split, name, step",
        )
        .bind(experiment)
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let value: Option<f64> = r.get(3);
                MetricRow {
                    step: r.get(0),
                    split: r.get(1),
                    name: r.get(2),
                    value: value.unwrap_or(f64::NAN),
                    phase: r.get(4),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
