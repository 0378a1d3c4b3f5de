//! Grids beyond one process, end to end: `harness enqueue` + `harness worker` processes on
//! PostgreSQL (the throwaway server of scripts/postgres-local.sh, a fresh database per test),
//! workers killed with SIGKILL or frozen with SIGSTOP past a short lease, a Transformer-XL run
//! reclaimed from its checkpoint, and the same grid on SQLite and PostgreSQL.
//!
//! The PostgreSQL tests print "SKIPPED ..." and pass only where PostgreSQL cannot be installed.

mod common;

use common::*;
use harness::analysis::{result_kind, ResultKind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh PostgreSQL database, or None (with the reason printed) where there can be none.
fn pg(label: &str) -> Option<String> {
    harness::store::testdb::fresh_database_blocking(label)
}

fn spec(name: &str) -> PathBuf {
    repo().join("experiments").join(name)
}

fn sets(pairs: &[&str]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect()
}

fn enqueue(spec: &Path, db: &str, set: &[String]) {
    let mut args = vec!["enqueue", spec.to_str().unwrap(), "--db", db];
    args.extend(set.iter().map(String::as_str));
    let out = harness(&args);
    assert!(out.status.success(), "{}", text(&out));
}

/// `harness worker --db DB --quiet EXTRA...` in the background, messages to `log`.
fn spawn_worker(db: &str, extra: &[&str], log: &Path, host: Option<&str>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.args(["worker", "--db", db, "--quiet", "--threads", "1"])
        .args(extra)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    if let Some(h) = host {
        cmd.env("HARNESS_WORKER_HOST", h);
    }
    cmd.spawn().unwrap()
}

fn status(db: &str, exp: &str) -> Value {
    let out = harness(&["status", exp, "--db", db, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `harness status` until `pred` holds (10 minutes at most).
fn wait_until(db: &str, exp: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let out = harness(&["status", exp, "--db", db, "--format", "json"]);
        if out.status.success() {
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            if pred(&doc) {
                return doc;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn wait_exit(child: &mut Child, what: &str) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "{what} did not exit"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

type Rows = Vec<(
    harness::store::RunRow,
    Vec<harness::store::MetricRow>,
    Vec<harness::store::ResultRow>,
)>;

fn store_rows(db: &str, exp: &str) -> Rows {
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

/// Every run done, one train-loss row per step 1..=steps, results present.
fn check_done_once(rows: &Rows, steps: i64) {
    for (run, metrics, results) in rows {
        assert_eq!(run.status, "done", "{run:?}");
        let train: Vec<i64> = metrics
            .iter()
            .filter(|m| m.split == "train" && m.name == "loss")
            .map(|m| m.step)
            .collect();
        assert_eq!(
            train,
            (1..=steps).collect::<Vec<_>>(),
            "run {}: one train-loss row per step",
            run.run_key
        );
        assert!(!results.is_empty(), "run {} has no results", run.run_key);
    }
}

/// (step, split, name, value bits) of every metric row, (split, name, value bits) of every result.
type Values = (Vec<(i64, String, String, u64)>, Vec<(String, String, u64)>);

/// Metric and result values bit for bit (timing results excluded), by run key.
fn values(rows: &Rows) -> BTreeMap<String, Values> {
    let timing = |n: &str| result_kind(n) == ResultKind::Measurement;
    rows.iter()
        .map(|(run, m, r)| {
            (
                run.run_key.clone(),
                (
                    m.iter()
                        .map(|m| (m.step, m.split.clone(), m.name.clone(), m.value.to_bits()))
                        .collect(),
                    r.iter()
                        .filter(|r| !timing(&r.name))
                        .map(|r| (r.split.clone(), r.name.clone(), r.value.to_bits()))
                        .collect(),
                ),
            )
        })
        .collect()
}

/// The comparable part of `harness status --format json` (no times, durations, hosts).
fn comparable(doc: &Value) -> Vec<Value> {
    doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let results = results_without_measurements(r);
            serde_json::json!({
                "key": r["key"], "task": r["task"], "variant": r["variant"], "seed": r["seed"],
                "sweep": r["sweep"], "status": r["status"], "attempt": r["attempt"],
                "steps": r["steps"], "error": r["error"], "results": results,
            })
        })
        .collect()
}

const BERT_SHORT: [&str; 1] = ["train.max_steps=4"];

#[test]
fn local_workers_on_postgres_drain_a_grid_with_every_run_done_once() {
    let Some(db) = pg("drain") else { return };
    let dir = tempfile::tempdir().unwrap();
    enqueue(&spec("ci_smoke.yaml"), &db, &sets(&BERT_SHORT));
    let doc = status(&db, "ci_smoke");
    assert_eq!(doc["counts"]["queued"], 8, "enqueue runs nothing: {doc}");
    let mut workers: Vec<Child> = (0..3)
        .map(|i| {
            spawn_worker(
                &db,
                &["ci_smoke", "--lease", "20s", "--idle-exit", "2s"],
                &dir.path().join(format!("w{i}.log")),
                None,
            )
        })
        .collect();
    for (i, w) in workers.iter_mut().enumerate() {
        let code = wait_exit(w, "a worker");
        let log = std::fs::read_to_string(dir.path().join(format!("w{i}.log"))).unwrap();
        assert_eq!(code, 0, "worker {i}: {log}");
    }
    let doc = status(&db, "ci_smoke");
    assert_eq!(doc["counts"]["done"], 8, "{doc}");
    for r in doc["runs"].as_array().unwrap() {
        assert_eq!(r["attempt"], 1, "every run claimed exactly once: {r}");
        assert!(r["worker"].as_str().is_some_and(|w| w.contains(':')), "{r}");
        assert!(r["host"].is_string(), "{r}");
        assert!(r["lease_age_s"].is_null(), "not running: {r}");
    }
    check_done_once(&store_rows(&db, "ci_smoke"), 4);
}

/// 30 steps: long enough to catch a worker in the middle of a run.
const BERT_LONGER: [&str; 3] = ["train.max_steps=30", "train.max_len=64", "tasks=[spam]"];

#[test]
fn a_killed_and_a_frozen_worker_lose_nothing_and_the_frozen_one_writes_nothing_after_waking() {
    let Some(db) = pg("kill_freeze") else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = sets(&BERT_LONGER);
    enqueue(&spec("ci_smoke.yaml"), &db, &set);
    let log = |n: &str| dir.path().join(format!("{n}.log"));
    // Three "machines": the victims' runs can only be taken over through their leases.
    let lease = ["ci_smoke", "--lease", "4s", "--idle-exit", "120s"];
    let mut killed = spawn_worker(&db, &lease, &log("killed"), Some("machine-a"));
    let mut frozen = spawn_worker(&db, &lease, &log("frozen"), Some("machine-b"));
    let (kpid, fpid) = (killed.id(), frozen.id());
    let owned_by = |doc: &Value, pid: u32| -> Option<(String, i64)> {
        doc["runs"].as_array().unwrap().iter().find_map(|r| {
            let w = r["worker"].as_str()?;
            (r["status"] == "running" && w.split(':').nth(1) == Some(&pid.to_string())).then(|| {
                (
                    r["key"].as_str().unwrap().to_string(),
                    r["attempt"].as_i64().unwrap(),
                )
            })
        })
    };
    let doc = wait_until(&db, "ci_smoke", "both victims to run a run", |d| {
        owned_by(d, kpid).is_some() && owned_by(d, fpid).is_some()
    });
    let (frozen_key, frozen_attempt) = owned_by(&doc, fpid).unwrap();
    unsafe { libc::kill(fpid as i32, libc::SIGSTOP) };
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    let mut rescuer = spawn_worker(&db, &lease, &log("rescuer"), Some("machine-c"));
    // The rescuer takes the frozen worker's run once its lease has expired.
    wait_until(&db, "ci_smoke", "the frozen run to be taken over", |d| {
        d["runs"].as_array().unwrap().iter().any(|r| {
            r["key"] == frozen_key.as_str() && r["attempt"].as_i64().unwrap() > frozen_attempt
        })
    });
    unsafe { libc::kill(fpid as i32, libc::SIGCONT) };
    for (name, child) in [("frozen", &mut frozen), ("rescuer", &mut rescuer)] {
        let code = wait_exit(child, name);
        assert_eq!(
            code,
            0,
            "{name}: {}",
            std::fs::read_to_string(log(name)).unwrap()
        );
    }
    let frozen_log = std::fs::read_to_string(log("frozen")).unwrap();
    assert!(
        frozen_log.contains(&format!(
            "lost the lease of run {frozen_key} (attempt {frozen_attempt}); another worker owns it now"
        )),
        "{frozen_log}"
    );
    let doc = status(&db, "ci_smoke");
    assert_eq!(doc["counts"]["done"], 4, "{doc}");
    let rows = store_rows(&db, "ci_smoke");
    check_done_once(&rows, 30);
    // The frozen worker finished nothing after waking: its run was finished by another worker.
    for (run, _, _) in &rows {
        if run.run_key == frozen_key {
            assert!(run.attempt > frozen_attempt);
            assert!(
                !run.worker.as_deref().unwrap().starts_with("machine-b"),
                "{run:?}"
            );
        }
    }
    // Values equal an uninterrupted single-process run: nothing stale, doubled or missing.
    let reference = dir.path().join("ref.db");
    let out = run_spec(
        &spec("ci_smoke.yaml"),
        &reference,
        &[
            &["--quiet"][..],
            &set.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        values(&rows),
        values(&store_rows(reference.to_str().unwrap(), "ci_smoke"))
    );
}

const LM_CKPT: [&str; 3] = [
    "seeds.count=1",
    "train.max_steps=24",
    "train.checkpoint_every=3",
];

#[test]
fn a_transformer_xl_run_reclaimed_after_a_kill_resumes_from_its_checkpoint_bit_identically() {
    let Some(db) = pg("txl_resume") else { return };
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("shared-checkpoints");
    let set = sets(&LM_CKPT);
    enqueue(&spec("ci_smoke_lm.yaml"), &db, &set);
    let log = |n: &str| dir.path().join(format!("{n}.log"));
    let args = [
        "ci_smoke_lm",
        "--lease",
        "3s",
        "--idle-exit",
        "60s",
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
    ];
    let mut first = spawn_worker(&db, &args, &log("first"), Some("machine-a"));
    let doc = wait_until(&db, "ci_smoke_lm", "a checkpoint at step 6 or later", |d| {
        d["runs"].as_array().unwrap().iter().any(|r| {
            r["status"] == "running" && r["checkpoint_step"].as_i64().is_some_and(|s| s >= 6)
        })
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let victim = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "running")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut second = spawn_worker(&db, &args, &log("second"), Some("machine-b"));
    let code = wait_exit(&mut second, "the second worker");
    let second_log = std::fs::read_to_string(log("second")).unwrap();
    assert_eq!(code, 0, "{second_log}");
    assert!(second_log.contains("resumed at step"), "{second_log}");
    assert!(
        !second_log.contains("ignoring the checkpoint"),
        "{second_log}"
    );
    let rows = store_rows(&db, "ci_smoke_lm");
    check_done_once(&rows, 24);
    let run = rows.iter().find(|(r, _, _)| r.run_key == victim).unwrap();
    assert_eq!(run.0.attempt, 2, "{:?}", run.0);
    // Bit-identical to an uninterrupted run.
    let reference = dir.path().join("ref").join("ref.db");
    let out = run_spec(
        &spec("ci_smoke_lm.yaml"),
        &reference,
        &[
            &["--quiet"][..],
            &set.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        values(&rows),
        values(&store_rows(reference.to_str().unwrap(), "ci_smoke_lm"))
    );
}

#[test]
fn a_checkpoint_of_another_database_is_ignored_with_a_warning() {
    // The repro of issue 15: d/a.db killed mid-run, then the same spec into d/b.db, which
    // shares d/checkpoints/. It must train from the start, not "resume at step 9".
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let set = sets(&LM_CKPT);
    let mut args = vec![
        "run".to_string(),
        spec("ci_smoke_lm.yaml").display().to_string(),
    ];
    args.extend(["--db".into(), a.display().to_string(), "--quiet".into()]);
    args.extend(set.iter().cloned());
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(&args)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ckpts = dir.path().join("checkpoints/ci_smoke_lm");
    let t0 = Instant::now();
    let latest = loop {
        let found = std::fs::read_dir(&ckpts).ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("latest.ckpt"))
                .find(|p| p.exists())
        });
        if let Some(p) = found {
            break p;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first run ended before a checkpoint"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // An orphaned temporary file, as a writer killed mid-write leaves it.
    let orphan = latest.with_file_name("latest.ckpt.tmp-4242");
    std::fs::write(&orphan, b"torn").unwrap();

    let out = run_spec(
        &spec("ci_smoke_lm.yaml"),
        &b,
        &[
            &["--quiet"][..],
            &set.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    let msg = text(&out);
    assert!(out.status.success(), "{msg}");
    assert!(
        msg.contains("warning: ignoring the checkpoint")
            && msg.contains("another results database"),
        "{msg}"
    );
    assert!(!msg.contains("resumed at step"), "{msg}");
    assert!(!orphan.exists(), "the orphaned temporary file is removed");
    check_done_once(&store_rows(b.to_str().unwrap(), "ci_smoke_lm"), 24);
    // a.db's own rerun may still resume its checkpoint (same store, later attempt), if the
    // run that b.db finished did not delete it: b.db's run removed its rolling checkpoint.
}

#[test]
fn the_same_grid_into_sqlite_and_postgres_gives_the_same_status_and_check_verdicts() {
    let Some(url) = pg("same_grid") else { return };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("r.db");
    let out = run_spec(&spec("ci_smoke.yaml"), &sqlite, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    // PostgreSQL through two local worker processes.
    let out = harness(&[
        "run",
        spec("ci_smoke.yaml").to_str().unwrap(),
        "--db",
        &url,
        "--quiet",
        "--workers",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let s = sqlite.to_str().unwrap();
    let (a, b) = (status(s, "ci_smoke"), status(&url, "ci_smoke"));
    assert_eq!(a["counts"], b["counts"]);
    assert_eq!(comparable(&a), comparable(&b));
    assert_eq!(
        values(&store_rows(s, "ci_smoke")),
        values(&store_rows(&url, "ci_smoke"))
    );
    // check, compare and report read either store, with the same verdicts. (Whether the check
    // passes depends on this CPU's kernels matching those the expectations were recorded with.)
    let expected = repo().join("results/expected/ci_smoke.yaml");
    let mut verdicts = Vec::new();
    for db in [s, url.as_str()] {
        let out = harness(&[
            "check",
            "ci_smoke",
            "--db",
            db,
            "--expected",
            expected.to_str().unwrap(),
        ]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{db}: {}",
            text(&out)
        );
        verdicts.push((out.status.code(), text(&out).replace(db, "DB")));
        let out = harness(&["compare", "ci_smoke", "--db", db]);
        assert!(out.status.success(), "{db}: {}", text(&out));
        let rep = dir.path().join(format!("report-{}", db.len()));
        let out = harness(&[
            "report",
            "ci_smoke",
            "--db",
            db,
            "--out",
            rep.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{db}: {}", text(&out));
        assert!(rep.join("report.html").is_file());
    }
    assert_eq!(verdicts[0], verdicts[1]);
    // HARNESS_DB sets the default --db.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["status", "ci_smoke", "--format", "json"])
        .env("HARNESS_DB", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(comparable(&c), comparable(&b));
}

#[test]
fn sigusr2_makes_a_worker_checkpoint_release_its_lease_and_exit_130() {
    let Some(db) = pg("sigusr2") else { return };
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    // Long enough (600 steps) for the signal to arrive while it trains, not in the final
    // evaluation.
    let long = [
        "seeds.count=1",
        "train.max_steps=600",
        "train.checkpoint_every=3",
    ];
    enqueue(&spec("ci_smoke_lm.yaml"), &db, &sets(&long));
    let log = |n: &str| dir.path().join(format!("{n}.log"));
    let args = ["--checkpoint-dir", ckpt.to_str().unwrap()];
    let mut w = spawn_worker(&db, &args, &log("first"), None);
    let doc = wait_until(&db, "ci_smoke_lm", "a first checkpoint", |d| {
        d["runs"].as_array().unwrap().iter().any(|r| {
            r["status"] == "running" && r["checkpoint_step"].as_i64().is_some_and(|s| s >= 3)
        })
    });
    let key = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "running")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    unsafe { libc::kill(w.id() as i32, libc::SIGUSR2) };
    let code = wait_exit(&mut w, "the signalled worker");
    let first = std::fs::read_to_string(log("first")).unwrap();
    assert_eq!(code, 130, "{first}");
    assert!(
        first.contains("the run is back in the queue and resumes from step"),
        "{first}"
    );
    let doc = status(&db, "ci_smoke_lm");
    assert_eq!(doc["counts"]["running"], 0, "the lease was released: {doc}");
    assert!(ckpt
        .join("ci_smoke_lm")
        .join(&key)
        .join("latest.ckpt")
        .is_file());
    let mut w = spawn_worker(&db, &args, &log("second"), None);
    let code = wait_exit(&mut w, "the second worker");
    let second = std::fs::read_to_string(log("second")).unwrap();
    assert_eq!(code, 0, "{second}");
    assert!(second.contains("resumed at step"), "{second}");
    check_done_once(&store_rows(&db, "ci_smoke_lm"), 600);
}
