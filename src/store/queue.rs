//! The run queue and its leases: registering a grid's runs, claiming the next one, renewing,
//! releasing and reaping leases, and putting runs back in the queue.

use super::{
    bind_lease, delete_outputs, now, Claim, ExperimentRow, Lease, NewRun, Reaped, Result,
    RunStatus, Store, WorkerIdentity,
};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::time::Duration;

impl Store {
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
                delete_outputs(&mut tx, &experiment, &key).await?;
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
            delete_outputs(&mut tx, experiment, key).await?;
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
        let res = bind_lease(sqlx::query(sqlx::AssertSqlSafe(q)), lease)
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
        let res = bind_lease(
            sqlx::query(sqlx::AssertSqlSafe(q))
                .bind(duration.as_millis() as i64)
                .bind(now()),
            lease,
        )
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }
}
