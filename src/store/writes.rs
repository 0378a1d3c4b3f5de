//! The fenced writes of a claimed run: each checks, in its own transaction, that the writer
//! still holds the run's lease before it writes ([`Store::fence`]).

use super::{
    bind_lease, delete_outputs, finite, now, predictions, Finish, Lease, MetricRow, Result,
    ResultRow, RunStatus, Store, StoreError,
};

impl Store {
    /// The fence of every write: inside `tx`, checks (and touches) the run's row for `lease`;
    /// no row means the lease is lost and the transaction must not write.
    async fn fence(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, lease: &Lease) -> Result<()> {
        let q = self.sql(
            "UPDATE runs SET heartbeat_at = $1
             WHERE experiment = $2 AND run_key = $3 AND attempt = $4 AND status = 'running'
                 AND worker = $5 AND lease_expires_ms > {NOW}",
        );
        let res = bind_lease(sqlx::query(sqlx::AssertSqlSafe(q)).bind(now()), lease)
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
        delete_outputs(&mut tx, &lease.experiment, &lease.key).await?;
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
}
