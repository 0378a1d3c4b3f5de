//! Malformed specs, each refused before anything is parsed further, allocated or written: the
//! corpus in tests/malformed/ (each file's first line is `# expect: EXIT MESSAGE`, the exit
//! code and a part of the message `harness run FILE --dry-run` must give), and inputs too large
//! or too odd to commit (a character device, deep nesting, bytes that are not UTF-8).

mod common;

use common::*;
use std::path::Path;

/// Runs `harness run SPEC --dry-run` against a database path in `dir`, asserting the exit code,
/// a part of the message, and that no database was created.
fn refused(spec: &Path, dir: &Path, code: i32, message: &str) {
    let db = dir.join("never.db");
    let out = harness(&[
        "run",
        spec.to_str().unwrap(),
        "--dry-run",
        "--db",
        db.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(code), "{}: {t}", spec.display());
    assert!(
        t.contains(message),
        "{}: expected `{message}` in:\n{t}",
        spec.display()
    );
    assert!(!db.exists(), "{}: a database was written", spec.display());
}

#[test]
fn every_spec_of_the_corpus_is_refused_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = repo().join("tests/malformed");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect: EXIT MESSAGE` line", file.display()));
        let (code, message) = expect.split_once(' ').unwrap();
        refused(file, dir.path(), code.parse().unwrap(), message);
    }
}

#[test]
fn inputs_too_large_deep_or_binary_are_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    // An endless file is read up to the size limit and no further.
    refused(
        Path::new("/dev/zero"),
        dir.path(),
        2,
        "the spec is larger than 1024 KiB",
    );
    // 200,000 nested flow sequences: refused at the 65th, before the YAML parser sees them.
    let deep = dir.path().join("deep.yaml");
    std::fs::write(&deep, format!("name: x\nseeds: {}", "[".repeat(200_000))).unwrap();
    refused(
        &deep,
        dir.path(),
        2,
        "deep.yaml:2:72: nested deeper than 64 levels",
    );
    // Latin-1 bytes.
    let latin1 = dir.path().join("latin1.yaml");
    std::fs::write(&latin1, b"name: caf\xe9\n").unwrap();
    refused(
        &latin1,
        dir.path(),
        2,
        "not UTF-8 text (invalid byte at offset 9)",
    );
    // A grid over the limit runs with --max-grid raised (here: only expanded, --dry-run).
    let out = harness(&[
        "run",
        repo()
            .join("tests/malformed/seed_count_trillion.yaml")
            .to_str()
            .unwrap(),
        "--dry-run",
        "--max-grid",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("more than the limit 10; pass --max-grid"),
        "{}",
        text(&out)
    );
}
