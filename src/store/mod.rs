//! The one `Store` over SQLite (sqlx): experiments, runs, per-step metrics and final results.
//!
//! The SQL is kept portable to PostgreSQL (text keys, `DOUBLE PRECISION`, `ON CONFLICT`,
//! `RETURNING`), and a run is claimed by a single `UPDATE ... WHERE status = 'queued'`, so several
//! worker processes can share one database without running a run twice.

mod rows;

pub use rows::{ExperimentRow, MetricRow, ResultRow, RunRow, RunStatus};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Default database path, relative to the working directory.
pub const DEFAULT_DB: &str = "results/harness.db";

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
}

pub type Result<T> = std::result::Result<T, StoreError>;

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

/// A claimed run: what a worker needs to execute it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key: String,
    pub config_json: String,
    pub attempt: i64,
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
}

pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// NaN and infinities are stored as NULL (SQL has no portable NaN).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                    path: path.to_path_buf(),
                    source: sqlx::Error::Io(e),
                })?;
            }
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn close(self) {
        self.pool.close().await;
    }

    /// Records the experiment (or updates its spec) and inserts the runs it does not hold yet.
    /// Returns how many runs were new.
    pub async fn register(&self, experiment: &ExperimentRow, runs: &[NewRun]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let now = now();
        sqlx::query(
            "INSERT INTO experiments (name, description, spec_path, spec_text, overrides, spec_hash, baseline, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
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
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)
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

    /// Puts runs that a dead worker left `running` back in the queue, deleting what that attempt
    /// wrote. `is_dead(worker)` decides; returns the keys requeued.
    pub async fn requeue_abandoned(
        &self,
        experiment: &str,
        is_dead: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT run_key, worker FROM runs WHERE experiment = ? AND status = 'running'",
        )
        .bind(experiment)
        .fetch_all(&self.pool)
        .await?;
        let mut requeued = Vec::new();
        for row in rows {
            let key: String = row.get(0);
            let worker: Option<String> = row.get(1);
            if worker.as_deref().is_none_or(&is_dead) {
                self.requeue(experiment, &key, "running").await?;
                requeued.push(key);
            }
        }
        Ok(requeued)
    }

    /// Requeues runs in the given statuses (e.g. `--retry failed`). Returns how many.
    pub async fn requeue_status(&self, experiment: &str, status: RunStatus) -> Result<u64> {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT run_key FROM runs WHERE experiment = ? AND status = ?")
                .bind(experiment)
                .bind(status.as_str())
                .fetch_all(&self.pool)
                .await?;
        for key in &keys {
            self.requeue(experiment, key, status.as_str()).await?;
        }
        Ok(keys.len() as u64)
    }

    /// Moves one run from `from_status` back to `queued` and deletes its results, in one
    /// transaction. Its metrics stay: the next attempt keeps those up to the step it resumes
    /// from (a checkpoint's, or none) and deletes the rest ([`Store::delete_metrics_after`])
    /// before it trains, so that a rerun never duplicates or loses a row.
    pub async fn requeue(&self, experiment: &str, key: &str, from_status: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "UPDATE runs SET status = 'queued', worker = NULL, started_at = NULL, heartbeat_at = NULL,
                 finished_at = NULL, duration_s = NULL, error = NULL, steps = NULL
             WHERE experiment = ? AND run_key = ? AND status = ?",
        )
        .bind(experiment)
        .bind(key)
        .bind(from_status)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            sqlx::query("DELETE FROM results WHERE experiment = ? AND run_key = ?")
                .bind(experiment)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(res.rows_affected() == 1)
    }

    /// Atomically claims the next queued run of `experiment` (lowest ordinal) for `worker`.
    /// The status change happens in one statement; a concurrent claimer gets another run or none.
    pub async fn claim_next(
        &self,
        experiment: &str,
        worker: &str,
        only: Option<&[String]>,
    ) -> Result<Option<Claim>> {
        loop {
            let candidates: Vec<String> = sqlx::query_scalar(
                "SELECT run_key FROM runs WHERE experiment = ? AND status = 'queued' ORDER BY ordinal",
            )
            .bind(experiment)
            .fetch_all(&self.pool)
            .await?;
            let next = candidates
                .into_iter()
                .find(|k| only.is_none_or(|keys| keys.contains(k)));
            let Some(key) = next else { return Ok(None) };
            let now = now();
            let row = sqlx::query(
                "UPDATE runs SET status = 'running', worker = ?, attempt = attempt + 1,
                     started_at = ?, heartbeat_at = ?
                 WHERE experiment = ? AND run_key = ? AND status = 'queued'
                 RETURNING run_key, config, attempt",
            )
            .bind(worker)
            .bind(&now)
            .bind(&now)
            .bind(experiment)
            .bind(&key)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                return Ok(Some(Claim {
                    key: row.get(0),
                    config_json: row.get(1),
                    attempt: row.get(2),
                }));
            }
            // Another worker took it between the SELECT and the UPDATE: look again.
        }
    }

    /// Records device, git revision and environment once the run has started.
    pub async fn mark_started(
        &self,
        experiment: &str,
        key: &str,
        device: &str,
        git_rev: Option<&str>,
        environment_json: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET device = ?, git_rev = ?, environment = ? WHERE experiment = ? AND run_key = ?",
        )
        .bind(device)
        .bind(git_rev)
        .bind(environment_json)
        .bind(experiment)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the run's metric rows with a step after `step` (every row for `step` = 0: steps
    /// count from 1), i.e. what an attempt that resumes at `step` writes again.
    pub async fn delete_metrics_after(
        &self,
        experiment: &str,
        key: &str,
        step: i64,
    ) -> Result<u64> {
        let res =
            sqlx::query("DELETE FROM metrics WHERE experiment = ? AND run_key = ? AND step > ?")
                .bind(experiment)
                .bind(key)
                .bind(step)
                .execute(&self.pool)
                .await?;
        Ok(res.rows_affected())
    }

    /// Writes a batch of per-step metrics in one transaction and refreshes the heartbeat.
    pub async fn write_metrics(
        &self,
        experiment: &str,
        key: &str,
        rows: &[MetricRow],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO metrics (experiment, run_key, step, split, name, value, phase) VALUES ",
            );
            sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", "));
            sql.push_str(" ON CONFLICT (experiment, run_key, split, name, step) DO UPDATE SET value = excluded.value, phase = excluded.phase");
            // Only placeholders are generated; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = q
                    .bind(experiment)
                    .bind(key)
                    .bind(m.step)
                    .bind(&m.split)
                    .bind(&m.name)
                    .bind(finite(m.value))
                    .bind(m.phase);
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE runs SET heartbeat_at = ? WHERE experiment = ? AND run_key = ?")
            .bind(now())
            .bind(experiment)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes the final results and the run's closing status in one transaction.
    pub async fn finish(
        &self,
        experiment: &str,
        key: &str,
        results: &[ResultRow],
        finish: &Finish,
    ) -> Result<()> {
        let status = finish.status.unwrap_or(RunStatus::Done);
        let mut tx = self.pool.begin().await?;
        for r in results {
            sqlx::query(
                "INSERT INTO results (experiment, run_key, split, name, value) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (experiment, run_key, split, name) DO UPDATE SET value = excluded.value",
            )
            .bind(experiment)
            .bind(key)
            .bind(&r.split)
            .bind(&r.name)
            .bind(finite(r.value))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, error = ?, steps = ?,
                 train_examples_per_s = ?, peak_memory_bytes = ?, heartbeat_at = ?
             WHERE experiment = ? AND run_key = ?",
        )
        .bind(status.as_str())
        .bind(now())
        .bind(finish.duration_s)
        .bind(&finish.error)
        .bind(finish.steps)
        .bind(finish.train_examples_per_s.and_then(finite))
        .bind(finish.peak_memory_bytes)
        .bind(now())
        .bind(experiment)
        .bind(key)
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
            "SELECT name, description, spec_path, spec_text, overrides, spec_hash, baseline FROM experiments WHERE name = ?",
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
                    train_examples_per_s, peak_memory_bytes
             FROM runs WHERE experiment = ? ORDER BY ordinal",
        )
        .bind(experiment)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    pub async fn results(&self, experiment: &str) -> Result<Vec<(String, ResultRow)>> {
        let rows = sqlx::query(
            "SELECT run_key, split, name, value FROM results WHERE experiment = ? ORDER BY run_key, split, name",
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
            "SELECT step, split, name, value, phase FROM metrics WHERE experiment = ? AND run_key = ?
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
