-- Per-example predictions (migrations/sqlite/0003_predictions.sql) with BIGINT integers and
-- BYTEA arrays.
CREATE TABLE predictions (
    experiment TEXT NOT NULL,
    run_key    TEXT NOT NULL,
    split      TEXT NOT NULL,
    format     TEXT NOT NULL,
    version    BIGINT NOT NULL,
    examples   BIGINT NOT NULL,         -- length of each array
    predicted  BYTEA NOT NULL,
    gold       BYTEA NOT NULL,
    PRIMARY KEY (experiment, run_key, split),
    FOREIGN KEY (experiment, run_key) REFERENCES runs(experiment, run_key)
);
