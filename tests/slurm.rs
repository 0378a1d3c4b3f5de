//! End-to-end: grids through a real single-node Slurm (scripts/slurm-local.sh) on a real
//! PostgreSQL (scripts/postgres-local.sh), both started by the tests themselves. Skipped, with a
//! message saying why, only where they cannot be installed (not root, no apt-get).

mod common;

use common::{harness, repo, require_data, results_without_measurements, text};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The two tests share one cluster and two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Generous: 8 tiny runs on a loaded 2-core machine.
const GRID_TIMEOUT: Duration = Duration::from_secs(900);

/// Starts Slurm and PostgreSQL; the database URL, or `None` (after saying why) where they cannot
/// be installed here.
fn services() -> Option<String> {
    let slurm = Command::new(repo().join("scripts/slurm-local.sh"))
        .arg("start")
        .output()
        .expect("scripts/slurm-local.sh runs");
    match slurm.status.code() {
        Some(0) => {}
        Some(77) => {
            eprintln!(
                "SKIPPED: no Slurm on this machine and it cannot be installed here:\n{}",
                text(&slurm)
            );
            return None;
        }
        _ => panic!("scripts/slurm-local.sh start failed:\n{}", text(&slurm)),
    }
    let pg = Command::new(repo().join("scripts/postgres-local.sh"))
        .arg("start")
        .output()
        .expect("scripts/postgres-local.sh runs");
    match pg.status.code() {
        Some(0) => {}
        Some(3) => {
            eprintln!(
                "SKIPPED: no PostgreSQL on this machine and it cannot be installed here:\n{}",
                text(&pg)
            );
            return None;
        }
        _ => panic!("scripts/postgres-local.sh start failed:\n{}", text(&pg)),
    }
    let url = String::from_utf8_lossy(&pg.stdout).trim().to_string();
    assert!(
        url.starts_with("postgres://"),
        "postgres-local.sh printed `{url}`"
    );
    Some(url)
}

/// An experiment name no earlier test run has used in the shared database.
fn fresh_name(prefix: &str) -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!("{prefix}_{ms}_{}", std::process::id())
}

fn status_json(experiment: &str, db: &str) -> Value {
    let out = harness(&["status", experiment, "--db", db, "--format", "json"]);
    assert!(out.status.success(), "harness status: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `squeue` lines (one per array task) of a job name, with their state.
fn squeue(job_name: &str) -> Vec<(String, String)> {
    let out = Command::new("squeue")
        .args([
            "--noheader",
            "--array",
            "--name",
            job_name,
            "--format=%i %T",
        ])
        .output()
        .expect("squeue runs");
    assert!(out.status.success(), "squeue: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (id, state) = l.trim().split_once(' ')?;
            Some((id.to_string(), state.to_string()))
        })
        .collect()
}

fn scontrol(args: &[&str]) -> std::process::Output {
    Command::new("scontrol")
        .args(args)
        .output()
        .expect("scontrol runs")
}

/// Every per-task output file in `dir`, for failure messages.
fn outputs(dir: &Path) -> String {
    let mut all = String::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "out"))
    {
        all.push_str(&format!(
            "==> {} <==\n{}\n",
            f.display(),
            std::fs::read_to_string(&f).unwrap_or_default()
        ));
    }
    all
}

/// Waits until every run is finished and Slurm has no task of the job name left.
fn wait_for_grid(experiment: &str, db: &str, job_name: &str, logs: &Path) -> Value {
    let start = Instant::now();
    loop {
        let doc = status_json(experiment, db);
        let c = &doc["counts"];
        let unfinished = c["queued"].as_u64().unwrap() + c["running"].as_u64().unwrap();
        let tasks = squeue(job_name);
        if unfinished == 0 && tasks.is_empty() {
            return doc;
        }
        if start.elapsed() > GRID_TIMEOUT {
            panic!(
                "grid not finished after {GRID_TIMEOUT:?}: counts {c}, Slurm tasks {tasks:?}\n{}",
                outputs(logs)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The job id in "... submitted N workers as Slurm job ID (...".
fn submitted_job(out: &str) -> String {
    let at = out
        .find("as Slurm job ")
        .unwrap_or_else(|| panic!("no job submitted:\n{out}"));
    out[at + "as Slurm job ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect()
}

/// `--set`s that make the smoke grid's runs 24 steps long (four epochs of its 48 examples).
const LONGER: [&str; 2] = ["train.epochs=4", "train.max_steps=24"];

fn submit(spec_sets: &[&str], db: &str, logs: &Path, extra: &[&str]) -> String {
    let checkpoints = logs.join("checkpoints");
    let mut args = vec!["slurm", "submit", "experiments/ci_smoke.yaml"];
    for s in spec_sets {
        args.extend(["--set", s]);
    }
    args.extend(["--db", db, "--output-dir", logs.to_str().unwrap()]);
    args.extend([
        "--time",
        "20",
        "--checkpoint-dir",
        checkpoints.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    let out = harness(&args);
    assert!(out.status.success(), "harness slurm submit: {}", text(&out));
    text(&out)
}

/// `f` on the store at `db`.
fn with_store<T>(db: &str, f: impl AsyncFnOnce(&harness::store::Store) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = harness::store::Store::open(Path::new(db)).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

/// Leases of the experiment's running runs: which worker (and Slurm task) holds each.
fn leases(db: &str, experiment: &str) -> Vec<harness::store::LeaseInfo> {
    with_store(db, async |s| s.leases(experiment).await.unwrap())
}

/// (split, name) → steps of a run's metrics; panics on a step recorded twice.
fn metric_steps(db: &str, experiment: &str, key: &str) -> BTreeMap<(String, String), Vec<i64>> {
    let rows = with_store(db, async |s| s.metrics(experiment, key).await.unwrap());
    let mut steps: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for r in rows {
        steps.entry((r.split, r.name)).or_default().push(r.step);
    }
    for ((split, name), s) in &steps {
        let unique: BTreeSet<_> = s.iter().collect();
        assert_eq!(
            unique.len(),
            s.len(),
            "run {key}: {split}/{name} steps repeat: {s:?}"
        );
    }
    steps
}

/// Runs done, by the workers' own account: the sum of "D done" over the "worker ...: R runs: D
/// done, ..." lines of the Slurm tasks' output files (a worker stopped by a signal says it too).
fn done_by_workers(logs: &Path) -> u64 {
    let all = outputs(logs);
    all.lines()
        .filter(|l| l.starts_with("worker ") && l.contains(" runs: "))
        .map(|l| {
            let after = &l[l.find(" runs: ").unwrap() + " runs: ".len()..];
            let done: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
            assert!(after[done.len()..].starts_with(" done"), "{l}");
            done.parse::<u64>().unwrap()
        })
        .sum()
}

/// Every run done, once: done in the store, done by exactly one Slurm worker (the workers'
/// counts add up to the grid), a training loss for each of its steps, and the same metric steps
/// as every other run of its task (no step missing or doubled).
fn assert_done_once(doc: &Value, db: &str, logs: &Path) {
    let experiment = doc["experiment"].as_str().unwrap();
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(doc["counts"]["done"], doc["counts"]["total"], "{doc:#}");
    assert_eq!(
        done_by_workers(logs),
        runs.len() as u64,
        "the workers' done counts do not add up to the grid:\n{}",
        outputs(logs)
    );
    let mut by_task: BTreeMap<String, BTreeMap<(String, String), Vec<i64>>> = BTreeMap::new();
    for r in runs {
        assert_eq!(r["status"], "done", "{r:#}");
        let steps = metric_steps(db, experiment, r["key"].as_str().unwrap());
        // A training loss for every step the run took, each once.
        let last = r["steps"].as_i64().unwrap();
        assert_eq!(
            steps[&("train".to_string(), "loss".to_string())],
            (1..=last).collect::<Vec<_>>(),
            "run {}",
            r["key"]
        );
        let task = r["task"].as_str().unwrap().to_string();
        match by_task.get(&task) {
            Some(other) => assert_eq!(&steps, other, "run {} metric steps differ", r["key"]),
            None => {
                by_task.insert(task, steps);
            }
        }
    }
}

#[test]
fn a_three_task_array_runs_every_run_of_the_grid_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_data();
    let Some(db) = services() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("slurm logs"); // a space: the script quotes it
    let name = fresh_name("slurm_array");
    let sets = [
        format!("name={name}"),
        "train.max_steps=2".to_string(),
        "train.eval_every=1".to_string(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let out = submit(&sets, &db, &logs, &["--workers", "3"]);
    assert!(out.contains("8 runs in the grid (8 new)"), "{out}");
    assert!(out.contains("submitted 3 workers"), "{out}");
    let job = submitted_job(&out);
    let job_name = format!("harness-{name}");

    let doc = wait_for_grid(&name, &db, &job_name, &logs);
    assert_done_once(&doc, &db, &logs);
    for r in doc["runs"].as_array().unwrap() {
        assert_eq!(r["attempt"], 1, "{r:#}");
        // The Slurm array task that ran it stays on the finished run.
        let slurm_job = r["slurm_job"].as_str().unwrap_or_default();
        assert!((0..3).any(|t| slurm_job == format!("{job}_{t}")), "{r:#}");
    }
    for task in 0..3 {
        let f = logs.join(format!("{job_name}_{job}_{task}.out"));
        let body = std::fs::read_to_string(&f)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", f.display(), outputs(&logs)));
        assert!(body.contains("harness worker: Slurm job"), "{body}");
        // The worker recognised its Slurm array task.
        assert!(
            body.contains(&format!("(Slurm job {job}_{task})")),
            "{body}"
        );
    }

    // Nothing left: a second submit registers nothing new and submits nothing.
    let again = submit(&sets, &db, &logs, &["--workers", "3"]);
    assert!(again.contains("(0 new)"), "{again}");
    assert!(again.contains("nothing to do"), "{again}");
    assert!(squeue(&job_name).is_empty());
}

#[test]
fn a_requeued_task_leaves_every_run_done_once_with_the_uninterrupted_results() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_data();
    let Some(db) = services() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let name = fresh_name("slurm_requeue");
    let set_name = format!("name={name}");
    // sbatch's refusal comes back with its reason, and nothing is submitted.
    let mut args = vec![
        "slurm",
        "submit",
        "experiments/ci_smoke.yaml",
        "--set",
        &set_name,
    ];
    for set in LONGER {
        args.extend(["--set", set]);
    }
    args.extend([
        "--db",
        &db,
        "--workers",
        "2",
        "--partition",
        "no_such_partition",
    ]);
    args.extend(["--output-dir", logs.to_str().unwrap()]);
    let refused = harness(&args);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("sbatch refused the job")
            && text(&refused).contains("invalid partition"),
        "{}",
        text(&refused)
    );
    // The smoke grid with runs four times as long (24 steps), so that the requeue below lands
    // while task 0's first run trains, however slowly the machine hands out the signal.
    let sets = [set_name.as_str(), LONGER[0], LONGER[1]];
    let out = submit(&sets, &db, &logs, &["--workers", "2"]);
    let job = submitted_job(&out);
    let job_name = format!("harness-{name}");
    let task = format!("{job}_0");

    // Top-ups while they work: two wanted and two there is nothing to do; three wanted is one more.
    let again = submit(&sets, &db, &logs, &["--workers", "2"]);
    assert!(
        again.contains("2 workers pending or running in Slurm, 2 wanted")
            && again.contains("nothing to do"),
        "{again}"
    );
    let more = submit(&sets, &db, &logs, &["--workers", "3"]);
    assert!(more.contains("submitted 1 worker as Slurm job"), "{more}");

    // As soon as task 0 has a run, requeue the task (its worker gets SIGTERM and releases it).
    let start = Instant::now();
    loop {
        let leases = leases(&db, &name);
        if leases
            .iter()
            .any(|l| l.slurm_job.as_deref() == Some(task.as_str()))
        {
            break;
        }
        assert!(
            start.elapsed() < GRID_TIMEOUT,
            "task {task} never held a run: {leases:?}\n{}",
            outputs(&logs)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = scontrol(&["requeue", &task]);
    assert!(r.status.success(), "scontrol requeue {task}: {}", text(&r));
    // Requeued, it waits ~120 s unless told to start now (once it is pending again).
    let start = Instant::now();
    loop {
        let pending = squeue(&job_name)
            .iter()
            .any(|(id, state)| *id == task && state == "PENDING");
        if pending {
            let u = scontrol(&["update", &format!("JobId={task}"), "StartTime=now"]);
            assert!(u.status.success(), "scontrol update: {}", text(&u));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "task {task} not pending after requeue: {:?}",
            squeue(&job_name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let doc = wait_for_grid(&name, &db, &job_name, &logs);
    assert_done_once(&doc, &db, &logs);
    let retried: Vec<&Value> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["attempt"].as_i64().unwrap() > 1)
        .collect();
    assert!(
        !retried.is_empty(),
        "no run was claimed again after the requeue: {doc:#}\n{}",
        outputs(&logs)
    );
    let task0 = std::fs::read_to_string(logs.join(format!("{job_name}_{job}_0.out"))).unwrap();
    assert!(
        task0.contains("restart 1"),
        "task 0's output shows no restart:\n{task0}"
    );
    // The retried runs' results are the final attempt's: bit for bit those of the same runs run
    // once, uninterrupted, by `harness run` (same machine, one thread: deterministic).
    let reference = tmp.path().join("reference.db");
    let reference = reference.to_str().unwrap();
    for r in &retried {
        let mut args = vec![
            "run",
            "experiments/ci_smoke.yaml",
            "--db",
            reference,
            "--quiet",
        ];
        let sets = [
            format!("name=reference_{}", r["key"].as_str().unwrap()),
            format!("tasks=[{}]", r["task"].as_str().unwrap()),
            format!("seeds.base={}", r["seed"]),
            "seeds.count=1".to_string(),
            LONGER[0].to_string(),
            LONGER[1].to_string(),
        ];
        for set in &sets {
            args.extend(["--set", set]);
        }
        let out = harness(&args);
        assert!(out.status.success(), "harness run: {}", text(&out));
        let doc = status_json(&sets[0]["name=".len()..], reference);
        let once = doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == r["key"])
            .unwrap_or_else(|| panic!("run {} not in the reference grid: {doc:#}", r["key"]));
        assert_eq!(once["status"], "done", "{once:#}");
        assert_eq!(
            results_without_measurements(r),
            results_without_measurements(once),
            "run {} after the requeue vs uninterrupted",
            r["key"]
        );
    }
}

#[test]
fn dry_run_prints_the_script_and_touches_neither_slurm_nor_the_database() {
    // Nothing listens on port 9: a dry run that tried the database would fail.
    let out = harness(&[
        "slurm",
        "submit",
        "experiments/ci_smoke.yaml",
        "--db",
        "postgres://nobody@127.0.0.1:9/none",
        "--workers",
        "4",
        "--max-parallel",
        "2",
        "--partition",
        "gpu",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.starts_with("#!/bin/bash\n"), "{script}");
    for line in [
        "#SBATCH --job-name=harness-ci_smoke",
        "#SBATCH --array=0-3%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --requeue",
    ] {
        assert!(
            script.lines().any(|l| l == line),
            "{line} missing:\n{script}"
        );
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_harness"))
        .canonicalize()
        .unwrap();
    let exec = script.lines().last().unwrap();
    assert!(
        exec.starts_with(&format!("exec {} worker ci_smoke --db ", exe.display())),
        "{exec}"
    );
    assert!(text(&out).contains("nothing submitted"), "{}", text(&out));
}

#[test]
fn without_sbatch_on_path_the_error_says_how_to_get_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "slurm",
            "submit",
            "experiments/ci_smoke.yaml",
            "--db",
            "postgres://nobody@127.0.0.1:9/none",
            "--workers",
            "2",
        ])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "Slurm's sbatch is not on PATH; install slurm-client or run scripts/slurm-local.sh \
             start for a local test cluster"
        ),
        "{}",
        text(&out)
    );
}
