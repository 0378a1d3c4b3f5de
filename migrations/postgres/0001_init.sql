-- The store of `harness` on PostgreSQL: the SQLite schema (migrations/sqlite/0001_init.sql) with
-- every integer column BIGINT (PostgreSQL INTEGER is 32-bit and does not decode as i64).

CREATE TABLE experiments (
    name        TEXT PRIMARY KEY,
    description TEXT,
    spec_path   TEXT NOT NULL,
    spec_text   TEXT NOT NULL,
    overrides   TEXT NOT NULL,          -- JSON array of the --set arguments
    spec_hash   TEXT NOT NULL,
    baseline    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE runs (
    experiment   TEXT NOT NULL REFERENCES experiments(name),
    run_key      TEXT NOT NULL,
    ordinal      BIGINT NOT NULL,      -- position in the grid, the order runs are claimed in
    task         TEXT NOT NULL,
    variant      TEXT NOT NULL,
    seed         BIGINT NOT NULL,
    sweep        TEXT NOT NULL,         -- JSON object of sweep values
    config       TEXT NOT NULL,         -- JSON of the resolved run config
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'diverged')),
    attempt      BIGINT NOT NULL DEFAULT 0,
    worker       TEXT,                  -- host:pid of the process that claimed it
    queued_at    TEXT NOT NULL,
    started_at   TEXT,
    heartbeat_at TEXT,
    finished_at  TEXT,
    duration_s   DOUBLE PRECISION,
    device       TEXT,
    git_rev      TEXT,
    error        TEXT,
    steps        BIGINT,                -- optimizer steps taken
    train_examples_per_s DOUBLE PRECISION,
    peak_memory_bytes    BIGINT,        -- peak RSS on CPU, max allocated on CUDA
    environment  TEXT,                  -- JSON: host, threads, libtorch, harness version, ...
    PRIMARY KEY (experiment, run_key)
);
CREATE INDEX runs_by_status ON runs (experiment, status, ordinal);

CREATE TABLE metrics (
    experiment TEXT NOT NULL,
    run_key    TEXT NOT NULL,
    step       BIGINT NOT NULL,
    split      TEXT NOT NULL,           -- train, dev, dev_matched, ...
    name       TEXT NOT NULL,           -- loss, lr, acc, f1, mcc, pearson, ...
    value      DOUBLE PRECISION,        -- NULL where the value was NaN or infinite
    phase      BIGINT,                  -- two-phase training: 1 or 2; NULL where not applicable
    PRIMARY KEY (experiment, run_key, split, name, step),
    FOREIGN KEY (experiment, run_key) REFERENCES runs(experiment, run_key)
);

CREATE TABLE results (
    experiment TEXT NOT NULL,
    run_key    TEXT NOT NULL,
    split      TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      DOUBLE PRECISION,
    PRIMARY KEY (experiment, run_key, split, name),
    FOREIGN KEY (experiment, run_key) REFERENCES runs(experiment, run_key)
);
