//! `harness run` of Transformer-XL language-model grids end to end, on tiny corpora written
//! into a temporary data folder.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Tiny word- and byte-level corpora in the real layouts: PTB's `ptb.{train,valid,test}.txt`
/// and the enwik8-format stand-in's single raw file (split 90/5/5 % by bytes by the loader).
fn write_corpora(data: &Path) {
    let words = "the cat sat on the mat and the dog ate the bone while a bird sang\n\
                 a man read the paper on the train to the city of london today\n";
    let ptb = data.join("lm").join("ptb");
    std::fs::create_dir_all(&ptb).unwrap();
    for (split, n) in [("train", 40), ("valid", 4), ("test", 5)] {
        std::fs::write(ptb.join(format!("ptb.{split}.txt")), words.repeat(n)).unwrap();
    }
    let bytes = data.join("lm").join("wikisample_bytes");
    std::fs::create_dir_all(&bytes).unwrap();
    std::fs::write(bytes.join("wikisample_bytes"), words.repeat(40)).unwrap();
}

fn lm_spec(dir: &Path, name: &str, tasks: &str, train: &str, variants: &str) -> PathBuf {
    let data = dir.join("data");
    write_corpora(&data);
    let spec = format!(
        "name: {name}
seeds: [1]
device: cpu
threads: 1
data_dir: {data}
model: {{kind: transformer_xl, n_layer: 4, d_model: 16, n_head: 2, d_head: 8, d_inner: 32, dropout: 0.1, tgt_len: 8, mem_len: 8, eval_tgt_len: 16}}
tasks: [{tasks}]
train: {{{train}}}
baseline: baseline
variants:
{variants}",
        data = data.display()
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    path
}

const FOUR: &str = "  baseline: {}
  two_phase: {skip: {schedule: uniform, p: 0.5}, phase1: 0.5}
  cross_head: {cross_head: {prob: 0.5}}
  skip_cross_head: {skip: {schedule: uniform, p: 0.5}, phase1: 0.5, cross_head: {prob: 0.5}}
";

fn store_rows(
    db: &Path,
    exp: &str,
) -> Vec<(
    harness::store::RunRow,
    Vec<harness::store::MetricRow>,
    Vec<harness::store::ResultRow>,
)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = harness::store::Store::open(db).await.unwrap();
        let results = store.results(exp).await.unwrap();
        let mut out = Vec::new();
        for run in store.runs(exp).await.unwrap() {
            let metrics = store.metrics(exp, &run.run_key).await.unwrap();
            let res = results
                .iter()
                .filter(|(k, _)| *k == run.run_key)
                .map(|(_, r)| r.clone())
                .collect();
            out.push((run, metrics, res));
        }
        store.close().await;
        out
    })
}

fn value(results: &[harness::store::ResultRow], split: &str, name: &str) -> f64 {
    results
        .iter()
        .find(|r| r.split == split && r.name == name)
        .unwrap_or_else(|| panic!("no {split}/{name} in {results:?}"))
        .value
}

#[test]
fn the_four_variants_train_in_two_phases_and_evaluate_whole_splits() {
    let dir = tempfile::tempdir().unwrap();
    let spec = lm_spec(dir.path(), "lmgrid", "ptb, wikisample_bytes", "max_steps: 6, batch_size: 4, lr: 0.003, warmup_ratio: 0.0, eval_every: 3, eval_max_tokens: 40, eval_batch_size: 3", FOUR);
    let db = dir.path().join("r.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc = status_json(&db, "lmgrid");
    assert_eq!(doc["counts"]["done"], 8, "{doc}");
    let corpus =
        |name: &str| harness::data::lm::load_corpus(&dir.path().join("data"), name).unwrap();
    for (run, metrics, results) in store_rows(&db, "lmgrid") {
        let c = corpus(&run.task);
        let metric = if run.task == "ptb" { "ppl" } else { "bpc" };
        // Every token but the first of each split is predicted once.
        assert_eq!(
            value(&results, "valid", "tokens"),
            (c.valid.len() - 1) as f64,
            "{}",
            run.task
        );
        assert_eq!(
            value(&results, "test", "tokens"),
            (c.test.len() - 1) as f64,
            "{}",
            run.task
        );
        assert!(value(&results, "valid", metric) > 0.0 && value(&results, "test", metric) > 0.0);
        assert!(value(&results, "train", "peak_memory_bytes") > 0.0);
        let phases: Vec<(i64, Option<i64>)> = metrics
            .iter()
            .filter(|m| m.split == "train" && m.name == "loss")
            .map(|m| (m.step, m.phase))
            .collect();
        let skipped_in_phase2: f64 = metrics
            .iter()
            .filter(|m| m.name == "skipped_layers" && m.phase == Some(2))
            .map(|m| m.value)
            .sum();
        assert_eq!(skipped_in_phase2, 0.0);
        if run.variant.contains("phase") || run.variant.starts_with("skip") {
            assert_eq!(
                phases,
                vec![
                    (1, Some(1)),
                    (2, Some(1)),
                    (3, Some(1)),
                    (4, Some(2)),
                    (5, Some(2)),
                    (6, Some(2))
                ],
                "{}",
                run.variant
            );
            assert!(value(&results, "train", "ms_per_step_phase1") > 0.0);
            assert_eq!(value(&results, "train", "skip_fraction_expected"), 0.5);
        } else {
            assert!(
                phases.iter().all(|(_, p)| *p == Some(2)),
                "{}: {phases:?}",
                run.variant
            );
            assert_eq!(value(&results, "train", "skip_fraction_observed"), 0.0);
        }
        let valid: Vec<i64> = metrics
            .iter()
            .filter(|m| m.split == "valid" && m.name == metric)
            .map(|m| m.step)
            .collect();
        assert_eq!(
            valid,
            vec![3, 6],
            "a periodic evaluation at 3, the final one at 6"
        );
    }
}

#[test]
fn language_model_tasks_need_a_transformer_xl_and_missing_corpora_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let spec = lm_spec(
        dir.path(),
        "lmbad",
        "ptb, text8",
        "max_steps: 2",
        "  baseline: {}\n",
    );
    let db = dir.path().join("r.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("text8"), "{}", text(&out));
    assert!(!db.exists(), "nothing is written before the data is there");
    let out = run_spec(&spec, &db, &["--set", "tasks=[rte]"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("needs model.kind `bert`"),
        "{}",
        text(&out)
    );
}

/// A metric row as (step, split, name, value bits, phase).
type MetricBits = (i64, String, String, u64, Option<i64>);
/// A result row as (split, name, value bits).
type ResultBits = (String, String, u64);

/// Rows of a run as comparable bits (train-split timings and memory excluded).
fn fingerprint(db: &Path, exp: &str) -> (Vec<MetricBits>, Vec<ResultBits>) {
    let mut rows = store_rows(db, exp);
    assert_eq!(rows.len(), 1);
    let (_, metrics, results) = rows.remove(0);
    let mut m: Vec<_> = metrics
        .into_iter()
        .map(|r| (r.step, r.split, r.name, r.value.to_bits(), r.phase))
        .collect();
    m.sort();
    let r = results
        .into_iter()
        .filter(|r| {
            r.split != "train"
                || r.name.starts_with("skip_fraction")
                || r.name.starts_with("params")
        })
        .map(|r| (r.split, r.name, r.value.to_bits()))
        .collect();
    (m, r)
}

#[test]
fn kill_9_resumes_from_the_checkpoint_with_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let train = "max_steps: 300, batch_size: 4, lr: 0.003, warmup_ratio: 0.0, eval_every: 50, eval_max_tokens: 40, checkpoint_every: 40";
    let variants =
        "  baseline: {skip: {schedule: uniform, p: 0.5}, phase1: 0.5, cross_head: {prob: 0.5}}\n";
    let spec = lm_spec(dir.path(), "lmkill", "wikisample_bytes", train, variants);

    let straight = dir.path().join("straight.db");
    let out = run_spec(&spec, &straight, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let ckpt_dir = dir.path().join("checkpoints/lmkill");
    let key = std::fs::read_dir(&ckpt_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let run_dir = ckpt_dir.join(&key);
    assert!(
        run_dir.join("phase1.ckpt").is_file(),
        "the phase-1 checkpoint is kept"
    );
    assert!(
        !run_dir.join("latest.ckpt").exists(),
        "the rolling checkpoint of a done run is deleted"
    );
    std::fs::remove_dir_all(dir.path().join("checkpoints")).unwrap();

    let killed = dir.path().join("killed.db");
    let mut child = spawn_run(&spec, &killed, Stdio::null());
    let latest = run_dir.join("latest.ckpt");
    let t0 = Instant::now();
    while !latest.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint; make it longer"
        );
        assert!(t0.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(30));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(status_json(&killed, "lmkill")["counts"]["running"], 1);

    let out = run_spec(&spec, &killed, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("resumed at step"), "{}", text(&out));
    let (m_straight, r_straight) = fingerprint(&straight, "lmkill");
    let (m_killed, r_killed) = fingerprint(&killed, "lmkill");
    assert_eq!(
        m_killed.len(),
        m_straight.len(),
        "no metric row lost or duplicated"
    );
    if let Some(i) = (0..m_killed.len()).find(|&i| m_killed[i] != m_straight[i]) {
        panic!(
            "first differing metric row: {:?} after the kill, {:?} straight",
            m_killed[i], m_straight[i]
        );
    }
    assert_eq!(r_killed, r_straight);
}

/// (step, split, name) of every metric row the runs of `exp` have written so far, read
/// while the writer runs.
fn metric_points(db: &Path, exp: &str) -> Vec<(i64, String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Ok(store) = harness::store::Store::open_read_only(db).await else {
            return vec![];
        };
        let mut out = Vec::new();
        for run in store.runs(exp).await.unwrap_or_default() {
            for m in store.metrics(exp, &run.run_key).await.unwrap_or_default() {
                out.push((m.step, m.split, m.name));
            }
        }
        store.close().await;
        out
    })
}

/// Starts the grid, waits until `ready` holds for its metric rows, lets it go on for `after`,
/// then sends SIGINT; returns the exit code and stderr.
fn interrupt_when(
    spec: &Path,
    db: &Path,
    ready: impl Fn(&[(i64, String, String)]) -> bool,
    after: Duration,
) -> (Option<i32>, String) {
    let mut child = spawn_run(spec, db, Stdio::piped());
    let t0 = Instant::now();
    while !ready(&metric_points(db, "lmeval")) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the point to interrupt it at"
        );
        assert!(t0.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(after);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_interrupt_during_an_evaluation_stops_within_a_batch_and_resumes_identically() {
    // Evaluations over long validation and test splits dominate the run: an interrupt soon
    // after a step lands in one. Before, SIGINT during an evaluation was ignored until the run
    // had finished (it ended `done`, exit 130 and no message).
    let dir = tempfile::tempdir().unwrap();
    let train = "max_steps: 4, batch_size: 4, lr: 0.003, warmup_ratio: 0.0, eval_every: 2, checkpoint_every: 1";
    let spec = lm_spec(dir.path(), "lmeval", "ptb", train, "  baseline: {}\n");
    let words = "the cat sat on the mat and the dog ate the bone while a bird sang\n\
                 a man read the paper on the train to the city of london today\n";
    let ptb = dir.path().join("data/lm/ptb");
    for split in ["valid", "test"] {
        std::fs::write(ptb.join(format!("ptb.{split}.txt")), words.repeat(3000)).unwrap();
    }
    let straight = dir.path().join("straight.db");
    let out = run_spec(
        &spec,
        &straight,
        &[
            "--quiet",
            "--checkpoint-dir",
            dir.path().join("ck0").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    let db = dir.path().join("cut.db");
    // 1. In the periodic evaluation of step 2 (step 1 is written; step 2 takes milliseconds).
    let (code, err) = interrupt_when(
        &spec,
        &db,
        |rows| rows.iter().any(|(s, split, _)| *s == 1 && split == "train"),
        Duration::from_millis(150),
    );
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted during"), "{err}");
    assert_eq!(status_json(&db, "lmeval")["counts"]["queued"], 1, "{err}");
    assert!(
        !metric_points(&db, "lmeval")
            .iter()
            .any(|(s, split, _)| *s == 2 && split == "valid"),
        "the evaluation was cut short, not finished first"
    );
    // 2. In the final evaluation (the periodic one of step 2 is written; steps 3 and 4 are
    // quick).
    let (code, err) = interrupt_when(
        &spec,
        &db,
        |rows| rows.iter().any(|(s, split, _)| *s == 2 && split == "valid"),
        Duration::from_millis(300),
    );
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted during"), "{err}");
    assert_eq!(status_json(&db, "lmeval")["counts"]["queued"], 1, "{err}");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));

    let (m_straight, r_straight) = fingerprint(&straight, "lmeval");
    let (m_cut, r_cut) = fingerprint(&db, "lmeval");
    assert_eq!(m_cut, m_straight, "metric rows lost, duplicated or changed");
    assert_eq!(r_cut, r_straight);
}
