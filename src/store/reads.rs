//! The reads of a store: experiments, runs and their leases, results, metrics, predictions and
//! environments.

use super::{
    predictions, ExperimentRow, LeaseInfo, MetricRow, Result, ResultRow, RunRow, Store, StoreError,
    StoredPredictions, PREDICTIONS_SCHEMA,
};
use sqlx::Row;

impl Store {
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
