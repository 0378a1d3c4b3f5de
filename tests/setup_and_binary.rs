//! The setup script and the built binary as a new user meets them.

mod common;

use common::*;
use std::process::Command;

#[test]
fn setup_rejects_a_file_whose_checksum_differs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("archive.whl");
    std::fs::write(&file, b"not the pinned archive").unwrap();
    let run = |sha: &str| {
        Command::new("bash")
            .arg(repo().join("scripts/setup.sh"))
            .args(["--verify", file.to_str().unwrap(), sha])
            .output()
            .unwrap()
    };
    let bad = run("b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54");
    assert_eq!(bad.status.code(), Some(1));
    let msg = text(&bad);
    assert!(
        msg.contains("checksum mismatch") && msg.contains("archive.whl"),
        "{msg}"
    );
    assert!(msg.contains("expected sha256 b9a0018d"), "{msg}");
    // The file's real digest passes.
    let want = Command::new("sha256sum").arg(&file).output().unwrap();
    let want = String::from_utf8_lossy(&want.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let ok = Command::new("bash")
        .arg(repo().join("scripts/setup.sh"))
        .args(["--verify", file.to_str().unwrap(), &want])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
}

#[test]
fn a_second_setup_does_nothing_already_done() {
    require_data();
    let out = Command::new("bash")
        .arg(repo().join("scripts/setup.sh"))
        .arg("--no-build")
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    for what in [
        "libtorch 2.11.0 already",
        "MiniLM-L6 already",
        "SpamAssassin corpus already",
        "King James verses already",
        "language-modelling stand-ins already",
    ] {
        assert!(log.contains(what), "missing `{what}` in:\n{log}");
    }
    assert!(
        !log.contains("downloading") && !log.contains("installing"),
        "{log}"
    );
}

#[test]
fn the_binary_carries_a_runpath_to_libtorch_and_runs_without_exports() {
    let bin = env!("CARGO_BIN_EXE_harness");
    let out = Command::new("readelf").args(["-d", bin]).output().unwrap();
    let dynamic = String::from_utf8_lossy(&out.stdout);
    let runpath = dynamic
        .lines()
        .find(|l| l.contains("(RUNPATH)"))
        .unwrap_or_else(|| panic!("no RUNPATH:\n{dynamic}"));
    assert!(runpath.contains("torch/lib"), "{runpath}");
    let out = Command::new(bin)
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // An explicit LD_LIBRARY_PATH is still honoured (RUNPATH, not RPATH): pointing it at a
    // directory with a broken libc10.so makes the loader fail.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libc10.so"), b"not a library").unwrap();
    let out = Command::new(bin)
        .arg("--version")
        .env("LD_LIBRARY_PATH", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "LD_LIBRARY_PATH was ignored");
}

#[test]
fn bad_arguments_exit_2() {
    let out = harness(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    let out = harness(&["status", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "dev", TINY_TRAIN, 1);
    let out = harness(&[
        "run",
        spec.to_str().unwrap(),
        "--device",
        "tpu",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("auto, cpu, cuda, cuda:N"));
}

#[test]
fn missing_data_says_where_it_looked_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("glue.yaml");
    let (model, _) = require_data();
    std::fs::write(
        &spec,
        format!(
            "name: g\nseeds: [1]\ndevice: cpu\ndata_dir: {}\nmodel: {{kind: bert, pretrained: {}}}\ntasks: [rte]\nbaseline: baseline\nvariants: {{baseline: {{}}}}\n",
            dir.path().join("data").display(),
            model.display()
        ),
    )
    .unwrap();
    let db = dir.path().join("r.db");
    let out = harness(&["run", spec.to_str().unwrap(), "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let msg = text(&out);
    assert!(
        msg.contains("RTE") && msg.contains("harness data glue"),
        "{msg}"
    );
    assert!(!db.exists(), "nothing is written when data is missing");
    // The same for a missing pretrained model.
    let out = run_spec(
        &spec,
        &db,
        &["--set", "model.pretrained=/nonexistent/model"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("/nonexistent/model/config.json")
            && text(&out).contains("scripts/setup.sh"),
        "{}",
        text(&out)
    );
    assert!(!db.exists());
}
