//! Faults a run meets outside the spec: a full disk (checkpoint, store, report), a broken
//! pretrained checkpoint or `init_from`, a signal before any run has started. tests/FAULTS.md
//! lists every case tried and the test that keeps it fixed.
//!
//! Full disks are small tmpfs mounts (root only); where mounting is impossible the test says
//! SKIPPED and passes.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tmpfs of `size` (e.g. "16k") mounted at `dir/name`, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, name: &str, size: &str) -> Option<SmallDisk> {
        let at = dir.join(name);
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a {size} tmpfs here (needs root); the full-disk case is untested");
            return None;
        }
        Some(SmallDisk(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A tiny Transformer-XL grid on a tiny PTB-layout corpus in `dir/data`.
fn lm_grid(dir: &Path, name: &str, train: &str, seeds: &str) -> PathBuf {
    let words = "the cat sat on the mat and the dog ate the bone while a bird sang\n\
                 a man read the paper on the train to the city of london today\n";
    let ptb = dir.join("data/lm/ptb");
    std::fs::create_dir_all(&ptb).unwrap();
    for (split, n) in [("train", 40), ("valid", 4), ("test", 5)] {
        std::fs::write(ptb.join(format!("ptb.{split}.txt")), words.repeat(n)).unwrap();
    }
    let spec = format!(
        "name: {name}
seeds: {seeds}
device: cpu
threads: 1
data_dir: {data}
model: {{kind: transformer_xl, n_layer: 2, d_model: 16, n_head: 2, d_head: 8, d_inner: 32, dropout: 0.1, tgt_len: 8, mem_len: 8, eval_tgt_len: 16}}
tasks: [ptb]
train: {{{train}}}
baseline: baseline
variants:
  baseline: {{}}
",
        data = dir.join("data").display()
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, spec).unwrap();
    path
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn integrity(db: &Path) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}?mode=ro", db.display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let (r,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&mut c)
            .await
            .unwrap();
        r
    })
}

#[test]
fn a_full_disk_while_checkpointing_fails_the_run_with_the_reason_and_the_grid_goes_on() {
    // Before: libtorch's writer aborted the process (exit 134, `unexpected pos`), the run was
    // left `running` with a partial temporary file.
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(dir.path(), "ck", "16k") else {
        return;
    };
    let spec = lm_grid(
        dir.path(),
        "fullck",
        "max_steps: 6, batch_size: 2, eval_every: 3, eval_max_tokens: 40, checkpoint_every: 2",
        "[1, 2]",
    );
    let db = dir.path().join("r.db");
    let out = run_spec(
        &spec,
        &db,
        &["--quiet", "--checkpoint-dir", disk.0.to_str().unwrap()],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let status = status_json(&db, "fullck");
    assert_eq!(status["counts"]["failed"], 2, "the grid went on: {status}");
    for run in status["runs"].as_array().unwrap() {
        let message = run["error"].as_str().unwrap_or_default();
        assert!(
            message.contains("cannot write the checkpoint")
                && message.contains("No space left on device"),
            "{run}"
        );
        assert_eq!(
            message.matches("No space left on device").count(),
            1,
            "the reason is said once: {message}"
        );
    }
    assert!(
        files_under(&disk.0).is_empty(),
        "{:?}",
        files_under(&disk.0)
    );
    assert_eq!(integrity(&db), "ok");
}

#[test]
fn a_full_disk_under_the_store_exits_1_and_a_rerun_elsewhere_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(dir.path(), "db", "200k") else {
        return;
    };
    let spec = lm_grid(
        dir.path(),
        "fulldb",
        "max_steps: 400, batch_size: 2, eval_every: 50, eval_max_tokens: 40",
        "[1, 2]",
    );
    let db = disk.0.join("r.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("database or disk is full") && t.contains(&db.display().to_string()),
        "the reason and the database: {t}"
    );
    assert_eq!(integrity(&db), "ok");
    let moved = dir.path().join("moved.db");
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::copy(&from, format!("{}{suffix}", moved.display())).unwrap();
        }
    }
    // The run whose write failed is `failed` with the reason, or, where the disk had no room
    // even for that row, left `running` by the exited process (the next run requeues it).
    let status = status_json(&moved, "fulldb");
    let runs = status["runs"].as_array().unwrap();
    let failed: Vec<_> = runs.iter().filter(|r| r["status"] == "failed").collect();
    let running = runs.iter().filter(|r| r["status"] == "running").count();
    assert!(failed.len() + running >= 1, "{status}");
    for r in &failed {
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("database or disk is full"),
            "{r}"
        );
    }
    // The same database on a disk with room finishes the grid.
    let out = run_spec(&spec, &moved, &["--quiet", "--retry-failed"]);
    assert!(out.status.success(), "{}", text(&out));
    let status = status_json(&moved, "fulldb");
    assert_eq!(status["counts"]["done"], 2, "{status}");
}

#[test]
fn a_report_on_a_full_disk_exits_1_and_leaves_no_half_written_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = lm_grid(
        dir.path(),
        "fullrep",
        "max_steps: 6, batch_size: 2, eval_every: 3, eval_max_tokens: 40",
        "[1, 2]",
    );
    let db = dir.path().join("r.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let Some(disk) = SmallDisk::mount(dir.path(), "rep", "64k") else {
        return;
    };
    let out = harness(&[
        "report",
        "fullrep",
        "--db",
        db.to_str().unwrap(),
        "--out",
        disk.0.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("No space left on device"), "{t}");
    // What is there is whole: every PNG decodes, no temporary file is left.
    for f in files_under(&disk.0) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp-"), "left behind: {name}");
        if name.ends_with(".png") {
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
            assert_eq!(
                &bytes[bytes.len() - 8..bytes.len() - 4],
                b"IEND",
                "{name} is whole"
            );
        }
    }
}

/// Error lines in a command's output.
fn errors(t: &str) -> usize {
    t.lines().filter(|l| l.starts_with("error:")).count()
}

/// A copy of MiniLM in `dir/model` whose files are links to the real ones, except those
/// `change` writes.
fn model_copy(dir: &Path, change: impl Fn(&Path)) -> PathBuf {
    let (model, _) = require_data();
    let copy = dir.join("model");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&model).unwrap() {
        let e = e.unwrap();
        std::os::unix::fs::symlink(e.path(), copy.join(e.file_name())).unwrap();
    }
    change(&copy);
    copy
}

/// `harness run` of a tiny BERT grid on `model` (with `layers`): exit 1, one message holding
/// `expect`, and no database written.
fn refused_before_any_run(dir: &Path, model: &Path, layers: usize, expect: &str) {
    let spec = tiny_spec(dir, "pre", TINY_TRAIN, 1);
    let text_spec = std::fs::read_to_string(&spec)
        .unwrap()
        .replace(
            &format!("pretrained: {}", require_data().0.display()),
            &format!("pretrained: {}", model.display()),
        )
        .replace("layers: 1}", &format!("layers: {layers}}}"));
    std::fs::write(&spec, text_spec).unwrap();
    let db = dir.join("never.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains(expect), "expected `{expect}` in: {t}");
    assert_eq!(errors(&t), 1, "one message: {t}");
    assert!(!db.exists(), "nothing is written before the checks pass");
}

#[test]
fn a_broken_pretrained_checkpoint_is_refused_before_any_run_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = require_data();
    // model.layers beyond the checkpoint's 6.
    refused_before_any_run(
        dir.path(),
        &model,
        7,
        "cannot keep 7 encoder layers, the checkpoint has 6",
    );
    // A truncated model.safetensors.
    let cut = model_copy(&dir.path().join("cut"), |m| {
        let f = m.join("model.safetensors");
        let bytes = std::fs::read(&f).unwrap();
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    });
    refused_before_any_run(&dir.path().join("cut"), &cut, 1, "truncated");
    // A tokenizer.json that is not JSON.
    let tok = model_copy(&dir.path().join("tok"), |m| {
        let f = m.join("tokenizer.json");
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, "{\"version\": ").unwrap();
    });
    refused_before_any_run(&dir.path().join("tok"), &tok, 1, "tokenizer.json");
}

#[test]
fn a_missing_init_from_is_refused_before_any_run_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere/phase1.ckpt");
    let spec = lm_grid(
        dir.path(),
        "initfrom",
        &format!(
            "max_steps: 4, batch_size: 2, init_from: {}",
            missing.display()
        ),
        "[1, 2, 3]",
    );
    let db = dir.path().join("never.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&missing.display().to_string()) && t.contains("train.init_from"),
        "{t}"
    );
    assert_eq!(errors(&t), 1, "one message, not one per run: {t}");
    assert!(!db.exists());
}

/// Whether process `pid` sleeps reading a pipe (so `main` has long been entered).
fn blocked_on_pipe(pid: u32) -> bool {
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    wchan.contains("pipe_read")
}

#[test]
fn a_signal_before_any_run_exits_130_with_a_message() {
    // Before: SIGTERM before the handlers were installed killed the process silently (143).
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["run", "/dev/stdin", "--db"])
            .arg(dir.path().join("never.db"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The spec is read from a pipe that stays open: the process waits in `read`.
        let t0 = Instant::now();
        while !blocked_on_pipe(child.id()) {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "never read the spec"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "signal {signal}: {err}");
        assert!(err.contains("interrupted before any run started"), "{err}");
        assert!(!dir.path().join("never.db").exists());
    }
}
