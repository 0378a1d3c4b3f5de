//! Shared helpers of the end-to-end tests: the real binary on tiny real data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// MiniLM-L6 and the stand-in tasks, as scripts/setup.sh prepares them. Missing data fails the
/// test with the fix, never skips it.
pub fn require_data() -> (PathBuf, PathBuf) {
    let model = repo().join("data/models/all-MiniLM-L6-v2");
    let data = repo().join("data");
    for p in [
        model.join("model.safetensors"),
        data.join("standin/spam/train.tsv"),
        data.join("standin/kjv_next/train.tsv"),
    ] {
        assert!(
            p.exists(),
            "{} is missing: run scripts/setup.sh first",
            p.display()
        );
    }
    (model, data)
}

pub fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .expect("the harness binary runs")
}

/// `harness run SPEC --db DB EXTRA...`.
pub fn run_spec(spec: &Path, db: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", spec.to_str().unwrap(), "--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    harness(&args)
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Training settings of the tiny grids: 4 steps of 4 examples of at most 32 tokens.
pub const TINY_TRAIN: &str =
    "max_steps: 4, batch_size: 4, max_len: 32, eval_every: 2, max_train_examples: 32, max_eval_examples: 16";

/// A tiny grid over the real stand-in data: MiniLM truncated to `layers` layers, `train` as the
/// body of the `train:` flow mapping (e.g. [`TINY_TRAIN`]).
pub fn tiny_spec(dir: &Path, name: &str, train: &str, layers: usize) -> PathBuf {
    let (model, data) = require_data();
    let spec = format!(
        "name: {name}
seeds: {{count: 2, base: 1}}
device: cpu
threads: 1
data_dir: {data}
model: {{kind: bert, pretrained: {model}, layers: {layers}}}
tasks: [spam]
train: {{{train}}}
baseline: baseline
variants:
  baseline: {{}}
  cross_head: {{cross_head: {{prob: 0.5}}}}
",
        data = data.display(),
        model = model.display()
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    path
}

pub fn status_json(db: &Path, experiment: &str) -> serde_json::Value {
    let out = harness(&[
        "status",
        experiment,
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("status --format json prints JSON")
}

/// Starts `harness run SPEC --db DB --quiet` in the background (stdout discarded), for tests that
/// interrupt it; `stderr` says where its messages go.
pub fn spawn_run(spec: &Path, db: &Path, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            spec.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// A run's results (status JSON) without its measurements of the machine (step times, rates,
/// peak memory: `analysis::result_kind`), which differ between any two runs.
pub fn results_without_measurements(run: &serde_json::Value) -> serde_json::Value {
    use harness::analysis::{result_kind, ResultKind};
    let mut results = run["results"].clone();
    for split in results.as_object_mut().unwrap().values_mut() {
        split
            .as_object_mut()
            .unwrap()
            .retain(|name, _| result_kind(name) != ResultKind::Measurement);
    }
    results
}
