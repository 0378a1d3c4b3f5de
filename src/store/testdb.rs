//! Test support: fresh PostgreSQL databases on the throwaway server of
//! `scripts/postgres-local.sh` (started on demand; it is idempotent), one uniquely named
//! database per call so that tests run in parallel.

use sqlx::Executor;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Exit status of `scripts/postgres-local.sh` when PostgreSQL cannot be installed.
const CANNOT_INSTALL: i32 = 3;

/// The script, in the source tree this library was built from.
pub fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres-local.sh")
}

/// URL of the throwaway server's `harness` database, starting the server if needed. `None`
/// (with a visible message on stderr) only where PostgreSQL cannot be installed; any other
/// failure panics with the script's message.
pub fn server_url() -> Option<String> {
    let out = Command::new(script())
        .arg("start")
        .output()
        .expect("scripts/postgres-local.sh runs");
    if out.status.code() == Some(CANNOT_INSTALL) {
        eprintln!(
            "SKIPPED the PostgreSQL half of this test: PostgreSQL cannot be installed here ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    assert!(
        out.status.success(),
        "scripts/postgres-local.sh start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A new, empty database on the throwaway server: its URL. See [`server_url`] for `None`.
pub async fn fresh_database(label: &str) -> Option<String> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let base = server_url()?;
    let clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "t_{clean}_{}_{}_{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to the throwaway PostgreSQL server");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .expect("CREATE DATABASE on the throwaway server");
    let _ = sqlx::Connection::close(conn).await;
    let root = base.rsplit_once('/').map(|(r, _)| r).unwrap_or(&base);
    Some(format!("{root}/{name}"))
}

/// [`fresh_database`] for synchronous callers (integration tests).
pub fn fresh_database_blocking(label: &str) -> Option<String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(fresh_database(label))
}
