-- Per-example predictions of a run's final evaluation: one row per (run, split), the arrays
-- packed little-endian (see src/store/predictions.rs). `format` names the element type of both
-- arrays: 'class-u8', 'class-u16', 'class-u32' (predicted class id, gold class id) or
-- 'score-f32' (predicted score, gold score); `version` is the packing's version (1).
-- Written with the final results by the attempt that finished the run; deleted with them when
-- a run is requeued or its attempt is lost.
CREATE TABLE predictions (
    experiment TEXT NOT NULL,
    run_key    TEXT NOT NULL,
    split      TEXT NOT NULL,
    format     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    examples   INTEGER NOT NULL,        -- length of each array
    predicted  BLOB NOT NULL,
    gold       BLOB NOT NULL,
    PRIMARY KEY (experiment, run_key, split),
    FOREIGN KEY (experiment, run_key) REFERENCES runs(experiment, run_key)
);
