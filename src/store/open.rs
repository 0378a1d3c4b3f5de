//! Opening a store: the connection pool, the migrations of a writer and the schema check of a
//! reader.

use super::{display_db, Backend, Result, Store, StoreError, OLDEST_READABLE_SCHEMA};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema version this harness writes: its highest migration.
fn current_schema(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
    .iter()
    .map(|m| m.version)
    .max()
    .unwrap_or(0)
}

/// `sqlite://PATH?mode=rwc` with the characters the URL parser would misread escaped.
pub(super) fn sqlite_url(path: &Path, mode: &str) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push_str("?mode=");
    url.push_str(mode);
    url
}

/// What a pool's connections are opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A writer (`harness run`, `enqueue`, `worker`): the tables are created and migrated.
    ReadWrite,
    /// A reader (`status`, `report`, `compare`, `check`): nothing is created or written.
    ReadOnly,
}

/// The statements every new connection runs first (through `Any`, SQLite's settings are
/// PRAGMAs, not connect options).
fn session_setup(backend: Backend, access: Access) -> &'static [&'static str] {
    match (backend, access) {
        (Backend::Sqlite, Access::ReadWrite) => &[
            "PRAGMA busy_timeout = 30000",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
        ],
        (Backend::Sqlite, Access::ReadOnly) => &["PRAGMA busy_timeout = 30000"],
        // A worker frozen inside one of its (millisecond) transactions must not hold its run's
        // row lock, and so block the worker taking the run over, for longer than this.
        (Backend::Postgres, Access::ReadWrite) => {
            &["SET idle_in_transaction_session_timeout = '10s'"]
        }
        (Backend::Postgres, Access::ReadOnly) => &[],
    }
}

/// A connection pool on `url`: 4 connections for a writer, 2 for a reader, each set up by
/// [`session_setup`].
async fn connect(
    backend: Backend,
    access: Access,
    url: &str,
) -> std::result::Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(match access {
            Access::ReadWrite => 4,
            Access::ReadOnly => 2,
        })
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                for statement in session_setup(backend, access) {
                    conn.execute(*statement).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

impl Store {
    /// Opens (creating if needed) the database `db` and applies migrations: a SQLite file path,
    /// or a `postgres://` URL (the database must exist; the tables are created).
    pub async fn open(db: impl AsRef<Path>) -> Result<Store> {
        let db = db.as_ref();
        let backend = Backend::of(&db.to_string_lossy());
        let open_err = |source: sqlx::Error| StoreError::Open {
            path: PathBuf::from(display_db(db)),
            source,
        };
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => {
                if let Some(dir) = db.parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(|e| open_err(sqlx::Error::Io(e)))?;
                    }
                }
                sqlite_url(db, "rwc")
            }
            Backend::Postgres => db.to_string_lossy().into_owned(),
        };
        let pool = connect(backend, Access::ReadWrite, &url)
            .await
            .map_err(open_err)?;
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|source| StoreError::Migrate {
            path: PathBuf::from(display_db(db)),
            source,
        })?;
        sqlx::query(
            "INSERT INTO store_meta (name, value) VALUES ('store_id', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(random_id())
        .execute(&pool)
        .await?;
        let store_id: String =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'store_id'")
                .fetch_one(&pool)
                .await?;
        Ok(Store {
            pool,
            backend,
            location: db.to_path_buf(),
            store_id,
            schema_version: current_schema(backend),
        })
    }

    /// Opens an existing database for reading only (`status`, `report`, `compare`, `check`):
    /// never creates, migrates or writes it, so it works on a read-only file or mount, and a
    /// file that is not a harness database, or one of another schema version, is refused with
    /// a message that says so.
    pub async fn open_read_only(db: impl AsRef<Path>) -> Result<Store> {
        let db = db.as_ref();
        let backend = Backend::of(&db.to_string_lossy());
        let shown = display_db(db);
        let open_err = |source: sqlx::Error| StoreError::Open {
            path: PathBuf::from(&shown),
            source,
        };
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => {
                if !db.is_file() {
                    return Err(open_err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file",
                    ))));
                }
                sqlite_url(db, "ro")
            }
            Backend::Postgres => db.to_string_lossy().into_owned(),
        };
        let version_query = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
        let mut pool = connect(backend, Access::ReadOnly, &url)
            .await
            .map_err(open_err)?;
        let mut first = sqlx::query_scalar::<_, Option<i64>>(version_query)
            .fetch_one(&pool)
            .await;
        // A WAL database in a folder this process cannot write (a read-only mount, another
        // user's results): SQLite cannot create the shared-memory file beside it, and opens it
        // as immutable instead (nothing can write there while it is read).
        let read_only_folder = matches!(&first, Err(e) if e.to_string().contains("readonly"));
        if backend == Backend::Sqlite && read_only_folder {
            pool.close().await;
            pool = connect(backend, Access::ReadOnly, &format!("{url}&immutable=1"))
                .await
                .map_err(open_err)?;
            first = sqlx::query_scalar::<_, Option<i64>>(version_query)
                .fetch_one(&pool)
                .await;
        }
        let expected = current_schema(backend);
        let found: Option<i64> = first.map_err(|e| {
            let missing_table = e.to_string().contains("_sqlx_migrations");
            match missing_table {
                true => StoreError::NotAStore {
                    path: shown.clone(),
                },
                false => open_err(e),
            }
        })?;
        let found = found.ok_or_else(|| StoreError::NotAStore {
            path: shown.clone(),
        })?;
        // A store of an older schema from OLDEST_READABLE_SCHEMA on reads as it is: what it
        // lacks (the predictions of version 3) is simply not there.
        if !(OLDEST_READABLE_SCHEMA..=expected).contains(&found) {
            return Err(StoreError::SchemaVersion {
                path: shown,
                found,
                expected,
                fix: if found < expected {
                    "it was written by an older harness; a writing command of this one (harness run, enqueue or worker) upgrades it"
                } else {
                    "it was written by a newer harness; read it with that version"
                },
            });
        }
        let store_id: String =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'store_id'")
                .fetch_optional(&pool)
                .await?
                .unwrap_or_default();
        Ok(Store {
            pool,
            backend,
            location: db.to_path_buf(),
            store_id,
            schema_version: found,
        })
    }
}

fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
