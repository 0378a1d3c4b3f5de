-- Leases instead of PIDs (scale-out): a claimed run holds a lease its worker renews on a timer.
-- Lease times are milliseconds since the Unix epoch on the DATABASE's clock (never a worker's).
ALTER TABLE runs ADD COLUMN host TEXT;                  -- host name of the claiming worker
ALTER TABLE runs ADD COLUMN slurm_job TEXT;             -- JOB_TASK (array) or JOB, when under Slurm
ALTER TABLE runs ADD COLUMN lease_expires_ms BIGINT;    -- the lease ends here unless renewed
ALTER TABLE runs ADD COLUMN lease_renewed_ms BIGINT;    -- last renewal (lease age = now - this)
ALTER TABLE runs ADD COLUMN checkpoint_step BIGINT;     -- step of the last checkpoint this attempt recorded

-- One row per store: `store_id` (random, created on first open) names this database in the
-- checkpoints it owns, so that a checkpoint is only ever resumed by the store that wrote it.
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
