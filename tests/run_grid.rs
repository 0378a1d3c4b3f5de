//! `harness run` end to end: grids, resume after kill -9 and Ctrl-C, divergence, determinism.

mod common;

use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn bad_spec_exits_2_with_location_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.yaml");
    std::fs::write(
        &spec,
        "name: bad\nseeds: {count: 2, base: 1}\nmodel: {kind: bert, pretrained: x}\ntasks: [spam]\ntrain: {lr: -1}\nbaseline: baseline\nvariants: {baseline: {}}\n",
    )
    .unwrap();
    let db = dir.path().join("r.db");
    let out = harness(&["run", spec.to_str().unwrap(), "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("bad.yaml:5:") && msg.contains("train.lr"),
        "{msg}"
    );
    assert!(!db.exists(), "a bad spec must not create the database");

    let out = run_spec(
        &spec,
        &db,
        &["--set", "train.lr=2e-5", "--set", "train.nope=1"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("train.nope"), "{}", text(&out));
    assert!(!db.exists());
}

#[test]
fn dry_run_lists_the_grid_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "dry", TINY_TRAIN, 1);
    let db = dir.path().join("r.db");
    let out = run_spec(&spec, &db, &["--dry-run", "--set", "seeds.count=3"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("spam")).collect();
    assert_eq!(lines.len(), 6, "{stdout}"); // 1 task × 2 variants × 3 seeds
    assert!(lines.iter().any(|l| l.contains("cross_head")), "{stdout}");
    assert!(!db.exists());
}

#[test]
fn a_grid_runs_to_done_and_reruns_are_free() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "grid", TINY_TRAIN, 1);
    let db = dir.path().join("r.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc = status_json(&db, "grid");
    assert_eq!(doc["counts"]["done"], 4, "{doc}");
    for run in doc["runs"].as_array().unwrap() {
        assert_eq!(run["device"], "cpu");
        assert_eq!(run["steps"], 4);
        let acc = run["results"]["dev"]["acc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{run}");
        assert!(run["results"]["dev"]["f1"].is_number(), "{run}");
        // Where a step's time went: the whole loop, and the part outside the model and the
        // optimizer, a part of it.
        let per_step = run["results"]["train"]["ms_per_step"].as_f64().unwrap();
        let outside = run["results"]["train"]["ms_per_step_outside_model"]
            .as_f64()
            .unwrap();
        assert!(
            per_step > 0.0 && (0.0..per_step).contains(&outside),
            "{run}"
        );
    }
    // A rerun finds nothing to do; adding a seed adds exactly the new runs.
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success());
    assert!(text(&out).contains("0 runs ran now"), "{}", text(&out));
    let out = run_spec(&spec, &db, &["--quiet", "--set", "seeds.count=3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 runs ran now"), "{}", text(&out));
    let table = harness(&["status", "grid", "--db", db.to_str().unwrap()]);
    let t = text(&table);
    assert!(t.contains("done 6") && t.contains("dev: acc="), "{t}");
}

fn metric_rows(db: &std::path::Path, exp: &str) -> Vec<(String, Vec<harness::store::MetricRow>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = harness::store::Store::open(db).await.unwrap();
        let mut out = Vec::new();
        for r in store.runs(exp).await.unwrap() {
            let m = store.metrics(exp, &r.run_key).await.unwrap();
            out.push((r.run_key, m));
        }
        store.close().await;
        out
    })
}

#[test]
fn the_same_run_is_bit_identical_on_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "det", TINY_TRAIN, 2);
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for db in [&a, &b] {
        let out = run_spec(&spec, db, &["--quiet"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let (ma, mb) = (metric_rows(&a, "det"), metric_rows(&b, "det"));
    assert_eq!(ma.len(), 4);
    for ((ka, ra), (kb, rb)) in ma.iter().zip(&mb) {
        assert_eq!(ka, kb);
        assert!(ra.len() > 8, "{ra:?}");
        for (x, y) in ra.iter().zip(rb) {
            assert_eq!((x.step, &x.split, &x.name), (y.step, &y.split, &y.name));
            assert_eq!(x.value.to_bits(), y.value.to_bits(), "{x:?} vs {y:?}");
        }
    }
    // Different seeds (and variants) give different training curves.
    let loss = |rows: &Vec<harness::store::MetricRow>| -> Vec<u64> {
        rows.iter()
            .filter(|m| m.name == "loss" && m.split == "train")
            .map(|m| m.value.to_bits())
            .collect()
    };
    assert_ne!(loss(&ma[0].1), loss(&ma[1].1));
}

#[test]
fn a_diverged_run_is_recorded_and_the_grid_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // An absurd learning rate without clipping blows the weights up within a few steps.
    let spec = tiny_spec(
        dir.path(),
        "boom",
        &format!("{TINY_TRAIN}, lr: 1.0e30, grad_clip: null, warmup_ratio: 0.0"),
        1,
    );
    let db = dir.path().join("r.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc = status_json(&db, "boom");
    assert_eq!(doc["counts"]["diverged"], 4, "{doc}");
    for run in doc["runs"].as_array().unwrap() {
        let err = run["error"].as_str().unwrap();
        assert!(err.contains("NaN") || err.contains("inf"), "{err}");
    }
}

/// Runs long enough (30 steps) to be caught in the middle.
const LONGER_TRAIN: &str =
    "max_steps: 30, batch_size: 4, max_len: 64, eval_every: 2, max_train_examples: 32, max_eval_examples: 16";

fn wait_for(
    child: &mut std::process::Child,
    db: &std::path::Path,
    exp: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("harness run exited early with {status}");
        }
        if db.exists() {
            let out = harness(&[
                "status",
                exp,
                "--db",
                db.to_str().unwrap(),
                "--format",
                "json",
            ]);
            if out.status.success() {
                let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                if pred(&doc) {
                    return;
                }
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "timed out waiting for the grid"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn check_complete_once(db: &std::path::Path, exp: &str, runs: usize, steps: i64) {
    let doc = status_json(db, exp);
    assert_eq!(doc["counts"]["done"], runs, "{doc}");
    for (key, rows) in metric_rows(db, exp) {
        let train: Vec<i64> = rows
            .iter()
            .filter(|m| m.split == "train" && m.name == "loss")
            .map(|m| m.step)
            .collect();
        assert_eq!(
            train,
            (1..=steps).collect::<Vec<_>>(),
            "run {key}: one train-loss row per step"
        );
    }
}

#[test]
fn kill_9_mid_grid_then_rerun_finishes_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "killed", LONGER_TRAIN, 2);
    let db = dir.path().join("r.db");
    let mut child = spawn_run(&spec, &db, Stdio::null());
    // Kill while the second run is under way, with its metrics partly written.
    wait_for(&mut child, &db, "killed", |d| {
        d["counts"]["done"] == 1 && d["counts"]["running"] == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let doc = status_json(&db, "killed");
    assert_eq!(
        doc["counts"]["running"], 1,
        "the killed run is left `running`: {doc}"
    );

    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 requeued"), "{}", text(&out));
    check_complete_once(&db, "killed", 4, 30);
    let doc = status_json(&db, "killed");
    let mut attempts: Vec<i64> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attempt"].as_i64().unwrap())
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        vec![1, 1, 1, 2],
        "only the killed run ran twice: {doc}"
    );
}

#[test]
fn ctrl_c_requeues_the_current_run_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "sigint", LONGER_TRAIN, 2);
    let db = dir.path().join("r.db");
    let mut child = spawn_run(&spec, &db, Stdio::piped());
    wait_for(&mut child, &db, "sigint", |d| d["counts"]["running"] == 1);
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = status_json(&db, "sigint");
    assert_eq!(doc["counts"]["running"], 0, "{doc}");
    assert!(doc["counts"]["queued"].as_u64().unwrap() >= 1, "{doc}");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    check_complete_once(&db, "sigint", 4, 30);
}
