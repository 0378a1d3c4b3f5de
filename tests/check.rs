//! `harness check` end to end: the real binary on a tiny real grid (MiniLM cut to 1 layer,
//! 4 steps on the stand-in task `spam`, 2 variants × 2 seeds, CPU, 1 thread).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A grid run once for every test of this file, with its expectations written by `--update`.
struct Recorded {
    _dir: tempfile::TempDir,
    spec: PathBuf,
    db: PathBuf,
    expected: PathBuf,
    update_output: String,
}

fn recorded() -> &'static Recorded {
    static CELL: OnceLock<Recorded> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let spec = tiny_spec(dir.path(), "chk", TINY_TRAIN, 1);
        let db = dir.path().join("r.db");
        let out = harness(&["run", s(&spec), "--db", s(&db), "--quiet"]);
        assert!(out.status.success(), "{}", text(&out));
        let expected = dir.path().join("expected/chk.yaml");
        let out = harness(&[
            "check",
            "chk",
            "--expected",
            s(&expected),
            "--db",
            s(&db),
            "--update",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        Recorded {
            _dir: dir,
            spec,
            db,
            expected,
            update_output: text(&out),
        }
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn check_json(db: &Path, expected: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec![
        "check",
        "chk",
        "--expected",
        s(expected),
        "--db",
        s(db),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = harness(&args);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out.status.code(), doc)
}

/// Copies a database (with its WAL files, if any) so that a test can change it alone.
fn copy_db(from: &Path, dir: &Path) -> PathBuf {
    let to = dir.join("copy.db");
    for suffix in ["", "-wal", "-shm"] {
        let src = PathBuf::from(format!("{}{suffix}", from.display()));
        if src.exists() {
            std::fs::copy(&src, format!("{}{suffix}", to.display())).unwrap();
        }
    }
    to
}

#[test]
fn update_writes_expectations_that_pass() {
    let r = recorded();
    let upd = &r.update_output;
    assert!(
        upd.contains("+ runs section (tolerance abs 1e-7 | rel 1e-6)"),
        "{upd}"
    );
    assert!(
        upd.contains("+ spam/cross_head seed 2 (acc, examples, f1, loss, train/params_non_embedding, train/params_total)"),
        "{upd}"
    );
    assert!(upd.contains("~ recorded_on: recorded on "), "{upd}");
    let file = std::fs::read_to_string(&r.expected).unwrap();
    assert_eq!(file.matches("\n  - task: spam\n").count(), 4, "{file}");
    assert!(!file.contains("majority"), "{file}");
    // Where it was recorded: libtorch's kernel level and version, the spec's thread count.
    assert!(file.contains("recorded_on:\n  cpu: "), "{file}");
    assert!(file.contains("  libtorch: 2.11.0"), "{file}");
    // Quoted: a string, not a number.
    assert!(file.contains("  threads: '1'\n"), "{file}");
    let capability = file
        .lines()
        .find_map(|l| l.strip_prefix("  cpu_capability: "))
        .unwrap_or_else(|| panic!("no cpu_capability in {file}"));
    assert!(
        ["AVX512", "AVX2", "DEFAULT"].contains(&capability),
        "{capability}"
    );

    // The table: every check holds, exit 0.
    let out = harness(&[
        "check",
        "chk",
        "--expected",
        s(&r.expected),
        "--db",
        s(&r.db),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("PASS: all 24 checks hold"), "{t}"); // 4 runs × acc, examples, f1, loss, 2 parameter counts
    assert!(
        t.contains("spam/baseline seed 1")
            && t.contains("abs 1e-7 | rel 1e-6")
            && t.contains("exact"),
        "{t}"
    );
    assert!(
        !t.contains("machine:"),
        "same machine, all pass: nothing to say\n{t}"
    );

    // The JSON document.
    let (code, doc) = check_json(&r.db, &r.expected, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(doc["passed"], true);
    assert_eq!(doc["counts"]["pass"], 24);
    let c = &doc["checks"][0];
    assert_eq!(c["kind"], "run");
    assert_eq!(c["statistic"], "value");
    assert_eq!(c["difference"], 0.0);
    assert_eq!(c["verdict"], "pass");
    assert!(c["run_key"].as_str().is_some_and(|k| k.len() == 16), "{c}");

    // A second --update changes nothing; --record both adds groups that pass too.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("chk.yaml");
    std::fs::copy(&r.expected, &copy).unwrap();
    let out = harness(&[
        "check",
        "chk",
        "--expected",
        s(&copy),
        "--db",
        s(&r.db),
        "--update",
    ]);
    assert!(text(&out).contains("no changes"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), file);
    let out = harness(&[
        "check",
        "chk",
        "--expected",
        s(&copy),
        "--db",
        s(&r.db),
        "--update",
        "--record",
        "both",
    ]);
    assert!(text(&out).contains("+ groups section"), "{}", text(&out));
    let (code, doc) = check_json(&r.db, &copy, &[]);
    assert_eq!(code, Some(0), "{doc}");
    let kinds: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"group"), "{doc}");
}

#[test]
fn a_perturbed_learning_rate_fails_naming_the_moved_metric() {
    let r = recorded();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("perturbed.db");
    // 1% off the default 2e-5.
    let out = run_spec(&r.spec, &db, &["--quiet", "--set", "train.lr=2.02e-5"]);
    assert!(out.status.success(), "{}", text(&out));

    let out = harness(&["check", "chk", "--expected", s(&r.expected), "--db", s(&db)]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("FAIL:"), "{t}");
    // The loss of every run moved; each problem names run, metric, amount and direction.
    let problem = t
        .lines()
        .find(|l| l.contains("spam/baseline seed 1: loss moved from"))
        .unwrap_or_else(|| panic!("no problem line for the loss of spam/baseline seed 1:\n{t}"));
    assert!(
        problem.contains("lower is better")
            && problem.contains("beyond the tolerance abs 1e-7 | rel 1e-6"),
        "{problem}"
    );
    // Same machine: the message puts the blame on the change.
    assert!(t.contains("the same machine configuration"), "{t}");
    // Another learning rate is another run key: said, not failed.
    assert!(
        t.contains("note: 4 runs have another key than recorded"),
        "{t}"
    );

    let (code, doc) = check_json(&db, &r.expected, &[]);
    assert_eq!(code, Some(3));
    assert_eq!(doc["passed"], false);
    let loss = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entry"] == "spam/baseline seed 1" && c["metric"] == "loss")
        .unwrap();
    let diff = loss["difference"].as_f64().unwrap();
    assert!(
        diff.abs() > 1e-6 * loss["expected"].as_f64().unwrap(),
        "{loss}"
    );
    // Loss is lower-is-better: a higher loss is worse, a lower one better.
    let want = if diff > 0.0 { "worse" } else { "better" };
    assert_eq!(loss["verdict"], want, "{loss}");
    assert_eq!(loss["direction"], "lower");
    assert!(
        problem.contains(&format!("{want}: lower is better")),
        "{problem}"
    );
}

/// `harness run` of the recorded spec with extra environment variables and arguments.
fn run_with_env(spec: &Path, db: &Path, env: &[(&str, &str)], extra: &[&str]) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.args(["run", s(spec), "--db", s(db), "--quiet"])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the harness binary runs");
    assert!(out.status.success(), "{}", text(&out));
}

/// The (entry, metric) pairs whose verdict is not `pass`.
fn failing(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] != "pass")
        .map(|c| {
            (
                c["entry"].as_str().unwrap().to_string(),
                c["metric"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_same_grid_on_other_kernels_passes_and_says_where_it_ran() {
    // ATen's portable kernels and MKL's compatible code path: another summation order than
    // this machine's native one, as on another CPU model (bench/kernel_variation.sh measures
    // how far that moves the results; the README has the table).
    let r = recorded();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kernels.db");
    let env = [
        ("ATEN_CPU_CAPABILITY", "default"),
        ("MKL_CBWR", "COMPATIBLE"),
    ];
    run_with_env(&r.spec, &db, &env, &[]);
    let out = harness(&["check", "chk", "--expected", s(&r.expected), "--db", s(&db)]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("PASS: all 24 checks hold"), "{t}");
    assert!(t.contains("machine: recorded on "), "{t}");
    assert!(t.contains("→ DEFAULT"), "{t}");
    assert!(
        t.contains("kernel_env (none set) → ATEN_CPU_CAPABILITY=default, MKL_CBWR=COMPATIBLE"),
        "{t}"
    );
    let (_, doc) = check_json(&db, &r.expected, &[]);
    assert_eq!(doc["running_on"]["cpu_capability"], "DEFAULT", "{doc}");
}

#[test]
fn another_seed_or_one_step_more_fails_naming_the_moved_metrics() {
    let r = recorded();
    let dir = tempfile::tempdir().unwrap();
    // Another seed: the expectations of seed 1 and seed 2 swapped, as if each run now gave
    // what the other seed gives.
    let recorded_text = std::fs::read_to_string(&r.expected).unwrap();
    let swapped = dir.path().join("swapped.yaml");
    std::fs::write(
        &swapped,
        recorded_text
            .replace("    seed: 1\n", "    seed: X\n")
            .replace("    seed: 2\n", "    seed: 1\n")
            .replace("    seed: X\n", "    seed: 2\n"),
    )
    .unwrap();
    let (code, doc) = check_json(&r.db, &swapped, &[]);
    assert_eq!(code, Some(3), "{doc}");
    let moved = failing(&doc);
    for entry in ["spam/baseline seed 1", "spam/cross_head seed 2"] {
        assert!(
            moved.contains(&(entry.to_string(), "loss".to_string())),
            "{moved:?}"
        );
    }

    // One optimizer step more.
    let db = dir.path().join("steps.db");
    let train = TINY_TRAIN.replace("max_steps: 4", "max_steps: 5");
    let spec = tiny_spec(dir.path(), "chk", &train, 1);
    run_with_env(&spec, &db, &[], &[]);
    let (code, doc) = check_json(&db, &r.expected, &[]);
    assert_eq!(code, Some(3), "{doc}");
    let moved = failing(&doc);
    for seed in 1..=2 {
        for variant in ["baseline", "cross_head"] {
            let entry = format!("spam/{variant} seed {seed}");
            assert!(moved.contains(&(entry, "loss".to_string())), "{moved:?}");
        }
    }
}

#[test]
fn a_run_that_is_not_done_is_missing() {
    let r = recorded();
    let dir = tempfile::tempdir().unwrap();
    let db = copy_db(&r.db, dir.path());
    // Put one finished run back in the queue (as `--retry-failed` would a failed one): its
    // results are deleted and the expectations now miss them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = rt.block_on(async {
        let store = harness::store::Store::open(&db).await.unwrap();
        let run = store
            .runs("chk")
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.variant == "cross_head" && r.seed == 2)
            .unwrap();
        assert!(store.requeue("chk", &run.run_key, "done").await.unwrap());
        store.close().await;
        run.run_key
    });
    let out = harness(&["check", "chk", "--expected", s(&r.expected), "--db", s(&db)]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains("spam/cross_head seed 2: missing: the run is queued"),
        "{t}"
    );
    assert!(t.contains("FAIL: 6 of 24 checks (6 missing)"), "{t}");
    let (_, doc) = check_json(&db, &r.expected, &[]);
    let missing: Vec<&serde_json::Value> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "missing")
        .collect();
    assert_eq!(missing.len(), 6);
    assert!(
        missing
            .iter()
            .all(|c| c["run_key"] == key.as_str() && c["actual"].is_null()),
        "{doc}"
    );

    // --update keeps the queued run's old expectations rather than dropping them.
    let copy = dir.path().join("chk.yaml");
    std::fs::copy(&r.expected, &copy).unwrap();
    let out = harness(&[
        "check",
        "chk",
        "--expected",
        s(&copy),
        "--db",
        s(&db),
        "--update",
    ]);
    assert!(
        text(&out).contains(
            "warning: spam/cross_head seed 2: the run is queued; kept its old expectations"
        ),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        std::fs::read_to_string(&r.expected).unwrap()
    );
}

#[test]
fn bad_input_exits_2_with_file_and_line() {
    let r = recorded();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let good = std::fs::read_to_string(&r.expected).unwrap();
    // An unknown field inside the third entry.
    let line = good.lines().position(|l| l == "    seed: 2").unwrap() + 1;
    let text_bad = good.replacen("    seed: 2\n", "    seed: 2\n    seeds: 3\n", 1);
    std::fs::write(&bad, text_bad).unwrap();
    let out = harness(&["check", "chk", "--expected", s(&bad), "--db", s(&r.db)]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains(&format!(
            "bad.yaml:{}:5: runs.entries[1]: unknown field `seeds`",
            line + 1
        )),
        "{t}"
    );

    // A negative tolerance, at its line; --update refuses to overwrite a bad file.
    std::fs::write(
        &bad,
        good.replacen(
            "  tolerance:\n    abs: 1e-7\n",
            "  tolerance:\n    abs: -1\n",
            1,
        ),
    )
    .unwrap();
    let tolerance_line = good.lines().position(|l| l == "  tolerance:").unwrap() + 2;
    let before = std::fs::read_to_string(&bad).unwrap();
    for extra in [&[][..], &["--update"][..]] {
        let mut args = vec!["check", "chk", "--expected", s(&bad), "--db", s(&r.db)];
        args.extend_from_slice(extra);
        let out = harness(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains(&format!(
                "bad.yaml:{tolerance_line}:10: runs.tolerance.abs: `abs` must be a finite number >= 0"
            )),
            "{}",
            text(&out)
        );
    }
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), before);

    // No such file, no database, no such experiment.
    let out = harness(&[
        "check",
        "chk",
        "--expected",
        s(&dir.path().join("none.yaml")),
        "--db",
        s(&r.db),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("none.yaml") && text(&out).contains("--update"),
        "{}",
        text(&out)
    );
    let out = harness(&[
        "check",
        "chk",
        "--expected",
        s(&r.expected),
        "--db",
        s(&dir.path().join("none.db")),
    ]);
    // The store failing is a run-time failure (1), like for every other command.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no results database"), "{}", text(&out));
    assert!(!dir.path().join("none.db").exists());
    let out = harness(&[
        "check",
        "nope",
        "--expected",
        s(&r.expected),
        "--db",
        s(&r.db),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no experiment named `nope`"),
        "{}",
        text(&out)
    );
}
