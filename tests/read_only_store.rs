//! Commands that only read (`status`, `compare`, `report`, `check`) open the store read-only:
//! they never turn a file into a database, never migrate, and work where they cannot write.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn an_empty_file_is_not_turned_into_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let db = empty.to_str().unwrap();
    for args in [
        vec!["status", "--db", db],
        vec!["compare", "x", "--db", db],
        vec![
            "check",
            "x",
            "--expected",
            "results/expected/ci_smoke.yaml",
            "--db",
            db,
        ],
    ] {
        let out = harness(&args);
        let t = text(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {t}");
        assert!(
            t.contains("is not a harness results database"),
            "{args:?}: {t}"
        );
    }
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no -wal/-shm files"
    );
}

#[test]
fn status_reads_a_database_in_a_folder_it_cannot_write() {
    // Root may write anywhere, so the reader is another user.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let runuser = std::path::Path::new("/usr/sbin/runuser").exists()
        || std::path::Path::new("/sbin/runuser").exists();
    if !is_root || !runuser {
        eprintln!("SKIPPED: needs root and runuser to read as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("results");
    std::fs::create_dir(&folder).unwrap();
    let db = folder.join("r.db");
    let spec = repo().join("experiments/ci_smoke.yaml");
    let out = harness(&[
        "enqueue",
        spec.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_harness")])
        .args([
            "status",
            "ci_smoke",
            "--db",
            db.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["counts"]["queued"], 8, "{doc}");
    let after: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_store_of_another_schema_version_is_named_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sql = |statement: &'static str| {
        rt.block_on(async {
            use sqlx::Connection;
            let url = format!("sqlite://{}", db.display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(statement).execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        })
    };
    rt.block_on(async {
        harness::store::Store::open(&db)
            .await
            .unwrap()
            .close()
            .await;
    });
    // As written by a newer harness: one migration more than this one knows.
    sql(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         SELECT MAX(version) + 1, 'from the future', TRUE, X'00', 0 FROM _sqlx_migrations",
    );
    let out = harness(&["status", "--db", db.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("has schema version") && t.contains("newer harness"),
        "{t}"
    );
    // As written by a much older one: only the first migration (schema 2 still reads, without
    // predictions).
    sql("DELETE FROM _sqlx_migrations WHERE version > 1");
    let out = harness(&["status", "--db", db.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("older harness") && t.contains("upgrades it"),
        "{t}"
    );
}
