//! Scale-out benchmark: the cost of the queue itself, on SQLite and on PostgreSQL.
//!
//! 1. Per-step overhead of a claimed run: mean wall time of one fenced `write_metrics` of one
//!    step's rows (train loss, lr, skipped layers: what the language-model loop writes per step)
//!    and of one lease renewal.
//! 2. Drain time: W `harness worker --dry-train` processes claim and finish a queue of N no-op
//!    runs (claim, reap, fenced start and finish per run; no training).
//!
//! ```text
//! cargo build --release && cargo run --release --example scaleout_bench -- [--runs 1000] [--workers 8] [--steps 300]
//! ```
//! SQLite goes to a temporary folder; PostgreSQL to a fresh database on the throwaway server of
//! scripts/postgres-local.sh (started if needed). Prints one JSON line per measurement.

use harness::store::{testdb, ExperimentRow, MetricRow, NewRun, RunStatus, Store, WorkerIdentity};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn experiment(name: &str) -> ExperimentRow {
    ExperimentRow {
        name: name.into(),
        description: Some("scale-out benchmark: no-op runs".into()),
        spec_path: "-".into(),
        spec_text: "-".into(),
        overrides: "[]".into(),
        spec_hash: "-".into(),
        baseline: "baseline".into(),
    }
}

fn noop_runs(n: usize) -> Vec<NewRun> {
    (0..n)
        .map(|i| NewRun {
            key: format!("{i:016x}"),
            ordinal: i as i64,
            task: "noop".into(),
            variant: "baseline".into(),
            seed: i as u64,
            sweep_json: "{}".into(),
            config_json: "{}".into(),
        })
        .collect()
}

async fn per_step(db: &str, backend: &str, steps: usize) {
    let store = Store::open(db).await.unwrap();
    store
        .register(&experiment("bench_step"), &noop_runs(1))
        .await
        .unwrap();
    let me = WorkerIdentity::named("bench:0:0");
    let claim = store
        .claim_next("bench_step", &me, None, Duration::from_secs(600))
        .await
        .unwrap()
        .unwrap();
    let t0 = Instant::now();
    for step in 1..=steps as i64 {
        let rows: Vec<MetricRow> = ["loss", "lr", "skipped_layers"]
            .iter()
            .map(|n| MetricRow {
                step,
                split: "train".into(),
                name: n.to_string(),
                value: 0.5,
                phase: Some(1),
            })
            .collect();
        store.write_metrics(&claim.lease, &rows).await.unwrap();
    }
    let write_ms = t0.elapsed().as_secs_f64() * 1000.0 / steps as f64;
    let t0 = Instant::now();
    for _ in 0..steps {
        assert!(store
            .renew(&claim.lease, Duration::from_secs(600))
            .await
            .unwrap());
    }
    let renew_ms = t0.elapsed().as_secs_f64() * 1000.0 / steps as f64;
    println!(
        "{{\"backend\": \"{backend}\", \"measure\": \"per_step\", \"steps\": {steps}, \"fenced_write_metrics_ms\": {write_ms:.3}, \"renew_ms\": {renew_ms:.3}}}"
    );
    store.close().await;
}

async fn drain(db: &str, backend: &str, runs: usize, workers: usize) {
    let store = Store::open(db).await.unwrap();
    store
        .register(&experiment("bench_noop"), &noop_runs(runs))
        .await
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let harness = exe
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("harness");
    assert!(
        harness.is_file(),
        "{} missing: cargo build --release first",
        harness.display()
    );
    let t0 = Instant::now();
    let mut children: Vec<_> = (0..workers)
        .map(|_| {
            Command::new(&harness)
                .args(["worker", "bench_noop", "--db", db, "--dry-train", "--quiet"])
                .args(["--idle-exit", "0s", "--lease", "60s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let secs = t0.elapsed().as_secs_f64();
    let rows = store.runs("bench_noop").await.unwrap();
    let done = rows
        .iter()
        .filter(|r| r.status == RunStatus::Done.as_str())
        .count();
    let once = rows.iter().all(|r| r.attempt == 1);
    assert_eq!(done, runs, "every run done");
    assert!(once, "every run claimed exactly once");
    println!(
        "{{\"backend\": \"{backend}\", \"measure\": \"drain\", \"runs\": {runs}, \"workers\": {workers}, \"seconds\": {secs:.2}, \"runs_per_s\": {:.1}, \"all_done_once\": true}}",
        runs as f64 / secs
    );
    store.close().await;
}

fn main() {
    let runs = arg("--runs", 1000);
    let workers = arg("--workers", 8);
    let steps = arg("--steps", 300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("bench.db").display().to_string();
    rt.block_on(per_step(&sqlite, "sqlite", steps));
    rt.block_on(drain(&sqlite, "sqlite", runs, workers));
    match rt.block_on(testdb::fresh_database("bench")) {
        Some(url) => {
            rt.block_on(per_step(&url, "postgres", steps));
            rt.block_on(drain(&url, "postgres", runs, workers));
        }
        None => eprintln!("PostgreSQL half skipped (see above)"),
    }
}
