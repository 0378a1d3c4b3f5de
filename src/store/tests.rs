//! Every test of the store runs against both backends: SQLite in a temporary folder and a fresh
//! database on the throwaway PostgreSQL server (scripts/postgres-local.sh).

use super::open::sqlite_url;
use super::*;
use sqlx::any::AnyPoolOptions;
use std::future::Future;
use std::time::Duration;

/// Runs `body` on a fresh SQLite store and on a fresh PostgreSQL store.
fn both<F, Fut>(label: &str, body: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let store = Store::open(dir.path().join("s.db")).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        body(store).await;
        match testdb::fresh_database(label).await {
            Some(url) => {
                let store = Store::open(&url).await.unwrap();
                assert_eq!(store.backend(), Backend::Postgres);
                body(store).await;
            }
            None => eprintln!("{label}: ran on SQLite only (see the message above)"),
        }
    });
}

fn experiment(name: &str) -> ExperimentRow {
    ExperimentRow {
        name: name.into(),
        description: Some("d".into()),
        spec_path: "x.yaml".into(),
        spec_text: "name: x\n".into(),
        overrides: "[]".into(),
        spec_hash: "h".into(),
        baseline: "baseline".into(),
    }
}

fn runs(n: usize) -> Vec<NewRun> {
    (0..n)
        .map(|i| NewRun {
            key: format!("k{i:04}"),
            ordinal: i as i64,
            task: "t".into(),
            variant: "baseline".into(),
            seed: u64::MAX - i as u64, // does not fit i63: stored as its two's complement
            sweep_json: "{}".into(),
            config_json: format!("{{\"i\": {i}}}"),
        })
        .collect()
}

fn me() -> WorkerIdentity {
    WorkerIdentity {
        id: "hostA:1:2".into(),
        host: "hostA".into(),
        slurm_job: Some("77_3".into()),
    }
}

const LONG: Duration = Duration::from_secs(600);

fn metric(step: i64, value: f64) -> MetricRow {
    MetricRow {
        step,
        split: "train".into(),
        name: "loss".into(),
        value,
        phase: Some(1),
    }
}

/// Waits (polling the database clock) until a lease taken `lease_ms` ago has expired.
async fn until_expired(store: &Store, since_ms: i64, lease_ms: i64) {
    let t0 = std::time::Instant::now();
    while store.db_now_ms().await.unwrap() <= since_ms + lease_ms {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "database clock stuck"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_run_round_trips_on_both_backends() {
    both("round_trip", |store| async move {
        let exp = experiment("e");
        assert_eq!(store.register(&exp, &runs(3)).await.unwrap(), 3);
        assert_eq!(store.register(&exp, &runs(4)).await.unwrap(), 1);
        let c = store
            .claim_next("e", &me(), None, LONG)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.key.as_str(), c.attempt), ("k0000", 1));
        assert_eq!(c.seed as u64, u64::MAX);
        assert_eq!(c.config_json, "{\"i\": 0}");
        store
            .mark_started(&c.lease, "cpu", Some("rev"), "{}")
            .await
            .unwrap();
        store
            .write_metrics(&c.lease, &[metric(1, 2.5), metric(2, f64::NAN)])
            .await
            .unwrap();
        // A rewrite of a step replaces it.
        store
            .write_metrics(&c.lease, &[metric(2, 1.5)])
            .await
            .unwrap();
        let leases = store.leases("e").await.unwrap();
        assert_eq!(leases.len(), 4);
        assert_eq!(leases[1].worker, None);
        assert_eq!(leases[0].worker.as_deref(), Some("hostA:1:2"));
        assert_eq!(leases[0].host.as_deref(), Some("hostA"));
        assert_eq!(leases[0].slurm_job.as_deref(), Some("77_3"));
        let age = leases[0].lease_age_s.unwrap();
        assert!((-5.0..600.0).contains(&age), "{age}");
        assert!(leases[0].lease_expires_in_s.unwrap() > 0.0);
        let res = [ResultRow {
            split: "dev".into(),
            name: "acc".into(),
            value: 0.75,
        }];
        store
            .finish(
                &c.lease,
                &res,
                &Finish {
                    steps: Some(2),
                    duration_s: 1.0,
                    peak_memory_bytes: Some(1 << 40),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let rows = store.runs("e").await.unwrap();
        assert_eq!(rows[0].status, "done");
        assert_eq!(rows[0].steps, Some(2));
        assert_eq!(rows[0].peak_memory_bytes, Some(1 << 40));
        assert_eq!(rows[1].status, "queued");
        let m = store.metrics("e", "k0000").await.unwrap();
        assert_eq!(m, vec![metric(1, 2.5), metric(2, 1.5)]);
        assert_eq!(
            store.results("e").await.unwrap(),
            vec![("k0000".into(), res[0].clone())]
        );
        // After finishing, the lease no longer admits writes.
        let e = store
            .write_metrics(&c.lease, &[metric(3, 1.0)])
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::LostLease { .. }), "{e}");
        assert_eq!(store.status_counts(&[]).await.unwrap().len(), 2);
        let after = store.leases("e").await.unwrap();
        assert_eq!(after.len(), 4);
        assert_eq!(after[0].host.as_deref(), Some("hostA"));
        assert_eq!(
            (after[0].lease_age_s, after[0].lease_expires_in_s),
            (None, None)
        );
    });
}

#[test]
fn concurrent_claimers_never_share_a_run() {
    both("concurrent", |store| async move {
        store.register(&experiment("c"), &runs(40)).await.unwrap();
        let store = std::sync::Arc::new(store);
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let me = WorkerIdentity::named(&format!("h:{w}:0"));
                let mut got = Vec::new();
                while let Some(c) = store.claim_next("c", &me, None, LONG).await.unwrap() {
                    got.push(c.key);
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        let expected: Vec<String> = runs(40).into_iter().map(|r| r.key).collect();
        assert_eq!(all, expected);
    });
}

#[test]
fn an_expired_lease_fences_its_writer_and_is_reaped() {
    both("fencing", |store| async move {
        store.register(&experiment("f"), &runs(1)).await.unwrap();
        // Long enough that the first write lands inside it on a loaded machine.
        let lease_ms = 3000;
        let old = store
            .claim_next("f", &me(), None, Duration::from_millis(lease_ms as u64))
            .await
            .unwrap()
            .unwrap();
        // Read after the claim: the lease ends at (claim time + lease) <= t0 + lease.
        let t0 = store.db_now_ms().await.unwrap();
        store
            .write_metrics(&old.lease, &[metric(1, 1.0)])
            .await
            .unwrap();
        until_expired(&store, t0, lease_ms).await;
        // Expired: nothing more from this attempt is written, even before anyone reaps it.
        let e = store
            .write_metrics(&old.lease, &[metric(2, 9.0)])
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("lost the lease of run k0000 (attempt 1)"),
            "{e}"
        );
        assert!(!store.renew(&old.lease, LONG).await.unwrap());
        let reaped = store.reap(&[], 3, |_| false).await.unwrap();
        assert_eq!(reaped.len(), 1);
        assert_eq!(reaped[0].status, RunStatus::Queued);
        assert!(
            reaped[0].reason.contains("lease expired"),
            "{}",
            reaped[0].reason
        );
        let rows = store.runs("f").await.unwrap();
        assert_eq!(rows[0].status, "queued");
        assert!(rows[0]
            .error
            .as_deref()
            .unwrap()
            .contains("attempt 1 was lost"));
        let other = WorkerIdentity::named("hostB:5:6");
        let new = store
            .claim_next("f", &other, None, LONG)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(new.attempt, 2);
        // The old attempt stays fenced out of every write; the new one writes.
        for e in [
            store
                .write_metrics(&old.lease, &[metric(2, 9.0)])
                .await
                .unwrap_err(),
            store.delete_metrics_after(&old.lease, 0).await.unwrap_err(),
            store
                .mark_started(&old.lease, "cpu", None, "{}")
                .await
                .unwrap_err(),
            store.record_checkpoint(&old.lease, 1).await.unwrap_err(),
            store
                .finish(&old.lease, &[], &Finish::default())
                .await
                .unwrap_err(),
        ] {
            assert!(matches!(e, StoreError::LostLease { attempt: 1, .. }), "{e}");
        }
        assert!(!store.release(&old.lease).await.unwrap());
        assert!(store.renew(&new.lease, LONG).await.unwrap());
        store.delete_metrics_after(&new.lease, 0).await.unwrap();
        store.record_checkpoint(&new.lease, 1).await.unwrap();
        assert_eq!(store.leases("f").await.unwrap()[0].checkpoint_step, Some(1));
        store
            .finish(&new.lease, &[], &Finish::default())
            .await
            .unwrap();
        assert!(store.metrics("f", "k0000").await.unwrap().is_empty());
        assert_eq!(store.runs("f").await.unwrap()[0].status, "done");
        // A live lease is not reaped.
        assert!(store.reap(&[], 3, |_| false).await.unwrap().is_empty());
    });
}

#[test]
fn a_run_fails_after_max_attempts_and_dead_workers_are_reaped_at_once() {
    both("attempts", |store| async move {
        store.register(&experiment("a"), &runs(2)).await.unwrap();
        for attempt in 1..=2 {
            let c = store
                .claim_next("a", &me(), Some(&["k0000".to_string()]), LONG)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(c.attempt, attempt);
            // Same-host PID fast path: the worker is declared dead, the lease is still valid.
            let reaped = store
                .reap(&["a".into()], 2, |w| w == "hostA:1:2")
                .await
                .unwrap();
            assert_eq!(reaped.len(), 1);
            let want = if attempt < 2 {
                RunStatus::Queued
            } else {
                RunStatus::Failed
            };
            assert_eq!(reaped[0].status, want, "{:?}", reaped[0]);
        }
        let rows = store.runs("a").await.unwrap();
        assert_eq!(rows[0].status, "failed");
        let err = rows[0].error.as_deref().unwrap();
        assert!(
            err.contains("gave up after 2 attempts") && err.contains("--max-attempts 2"),
            "{err}"
        );
        // Other experiments are left alone; release puts a run back for the next claim.
        let c = store
            .claim_next("a", &me(), None, LONG)
            .await
            .unwrap()
            .unwrap();
        assert!(store
            .reap(&["other".into()], 2, |_| true)
            .await
            .unwrap()
            .is_empty());
        assert!(store.release(&c.lease).await.unwrap());
        assert_eq!(store.runs("a").await.unwrap()[1].status, "queued");
        assert_eq!(
            store.requeue_status("a", RunStatus::Failed).await.unwrap(),
            1
        );
    });
}

#[test]
fn the_store_id_is_created_once_per_database() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let id_a = Store::open(&a).await.unwrap().store_id().to_string();
        assert_eq!(id_a.len(), 32);
        assert_eq!(Store::open(&a).await.unwrap().store_id(), id_a);
        assert_ne!(Store::open(&b).await.unwrap().store_id(), id_a);
        if let Some(url) = testdb::fresh_database("store_id").await {
            let id = Store::open(&url).await.unwrap().store_id().to_string();
            assert_eq!(Store::open(&url).await.unwrap().store_id(), id);
            assert_ne!(id, id_a);
        }
    });
}

#[test]
fn a_database_of_the_first_schema_still_opens() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        // Only 0001, as databases written before leases existed.
        let only_first = dir.path().join("m");
        std::fs::create_dir(&only_first).unwrap();
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/0001_init.sql"
            ),
            only_first.join("0001_init.sql"),
        )
        .unwrap();
        let db = dir.path().join("old.db");
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .connect(&sqlite_url(&db, "rwc"))
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(only_first.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO experiments VALUES ('old', NULL, 'p', 't', '[]', 'h', 'b', 'c', 'u')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let store = Store::open(&db).await.unwrap();
        assert_eq!(store.experiments().await.unwrap()[0].name, "old");
        store.register(&experiment("old"), &runs(1)).await.unwrap();
        assert!(store
            .claim_next("old", &me(), None, LONG)
            .await
            .unwrap()
            .is_some());
    });
}

#[test]
fn postgres_urls_are_told_apart_and_passwords_hidden() {
    assert_eq!(Backend::of("postgres://u@h/db"), Backend::Postgres);
    assert_eq!(Backend::of("postgresql://u@h/db"), Backend::Postgres);
    assert_eq!(Backend::of("results/harness.db"), Backend::Sqlite);
    assert_eq!(
        display_db(Path::new("postgres://u:secret@h:5/db")),
        "postgres://u:***@h:5/db"
    );
    assert_eq!(display_db(Path::new("a/b.db")), "a/b.db");
    assert_eq!(
        sqlite_url(Path::new("/t/a?b#c%.db"), "rwc"),
        "sqlite:///t/a%3Fb%23c%25.db?mode=rwc"
    );
}

fn split_predictions(split: &str, values: ExampleValues) -> SplitPredictions {
    SplitPredictions {
        split: split.into(),
        values,
    }
}

/// Finishes the claimed run `c` with one result row and `preds`.
async fn finish_with(store: &Store, c: &Claim, preds: Vec<SplitPredictions>) {
    let res = [ResultRow {
        split: "dev".into(),
        name: "acc".into(),
        value: 0.5,
    }];
    store
        .finish(
            &c.lease,
            &res,
            &Finish {
                duration_s: 1.0,
                predictions: preds,
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[test]
fn predictions_round_trip_on_both_backends() {
    both("predictions", |store| async move {
        store.register(&experiment("p"), &runs(2)).await.unwrap();
        let classes = ExampleValues::Classes {
            predicted: vec![0, 1, 1, 2, 0],
            gold: vec![0, 1, 0, 2, 2],
        };
        let scores = ExampleValues::Scores {
            predicted: vec![0.25, 4.5, -0.125],
            gold: vec![0.0, 5.0, 1.2],
        };
        for (i, values) in [classes.clone(), scores.clone()].into_iter().enumerate() {
            let c = store
                .claim_next("p", &me(), None, LONG)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(c.key, format!("k{i:04}"));
            let mut preds = vec![split_predictions("dev", values.clone())];
            if i == 0 {
                preds.push(split_predictions("dev_mismatched", values.clone()));
            }
            finish_with(&store, &c, preds).await;
        }
        let got = store.predictions("p").await.unwrap();
        let summary: Vec<(&str, &str, i64, &str)> = got
            .iter()
            .map(|p| {
                (
                    p.run_key.as_str(),
                    p.variant.as_str(),
                    p.seed,
                    p.split.as_str(),
                )
            })
            .collect();
        let s0 = u64::MAX as i64;
        let s1 = (u64::MAX - 1) as i64;
        assert_eq!(
            summary,
            [
                ("k0000", "baseline", s0, "dev"),
                ("k0000", "baseline", s0, "dev_mismatched"),
                ("k0001", "baseline", s1, "dev"),
            ]
        );
        assert_eq!(got[0].task, "t");
        assert_eq!(got[0].values, classes);
        assert_eq!(got[1].values, classes);
        assert_eq!(got[2].values, scores);
        assert!(store.predictions("other").await.unwrap().is_empty());
    });
}

#[test]
fn predictions_of_a_10k_split_take_2_bytes_per_example() {
    both("predictions_size", |store| async move {
        store.register(&experiment("z"), &runs(2)).await.unwrap();
        let n = 10_000u32;
        let classes = ExampleValues::Classes {
            predicted: (0..n).map(|i| i % 3).collect(),
            gold: (0..n).map(|i| (i / 7) % 3).collect(),
        };
        let scores = ExampleValues::Scores {
            predicted: (0..n).map(|i| i as f32 / 2000.0).collect(),
            gold: (0..n).map(|i| (i % 50) as f32 / 10.0).collect(),
        };
        for values in [classes.clone(), scores.clone()] {
            let c = store
                .claim_next("z", &me(), None, LONG)
                .await
                .unwrap()
                .unwrap();
            finish_with(&store, &c, vec![split_predictions("dev", values)]).await;
        }
        // Classification: one byte per class id, two arrays.
        assert_eq!(
            store.predictions_size("z", "k0000", "dev").await.unwrap(),
            Some((10_000, 20_000))
        );
        // Regression: two f32 arrays.
        assert_eq!(
            store.predictions_size("z", "k0001", "dev").await.unwrap(),
            Some((10_000, 80_000))
        );
        let got = store.predictions("z").await.unwrap();
        assert_eq!(got[0].values, classes);
        assert_eq!(got[1].values, scores);
    });
}

#[test]
fn requeue_and_a_new_attempt_replace_predictions_without_duplicates() {
    both("predictions_requeue", |store| async move {
        store.register(&experiment("q"), &runs(1)).await.unwrap();
        let first = ExampleValues::Classes {
            predicted: vec![1, 1, 1],
            gold: vec![1, 0, 1],
        };
        let c = store
            .claim_next("q", &me(), None, LONG)
            .await
            .unwrap()
            .unwrap();
        finish_with(&store, &c, vec![split_predictions("dev", first)]).await;
        assert_eq!(store.predictions("q").await.unwrap().len(), 1);
        // Requeued (e.g. --retry-failed on a failed run, or a done run put back): its
        // predictions go with its results.
        assert!(store.requeue("q", "k0000", "done").await.unwrap());
        assert!(store.predictions("q").await.unwrap().is_empty());
        assert!(store.results("q").await.unwrap().is_empty());
        // The next attempt writes its own; a lost attempt's finish writes nothing.
        let second = ExampleValues::Classes {
            predicted: vec![0, 0, 1],
            gold: vec![1, 0, 1],
        };
        let lost = store
            .claim_next("q", &me(), None, LONG)
            .await
            .unwrap()
            .unwrap();
        assert!(store.reap(&[], 3, |_| true).await.unwrap().len() == 1);
        let e = store
            .finish(
                &lost.lease,
                &[],
                &Finish {
                    predictions: vec![split_predictions("dev", second.clone())],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::LostLease { .. }), "{e}");
        assert!(store.predictions("q").await.unwrap().is_empty());
        let c = store
            .claim_next("q", &me(), None, LONG)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.attempt, 3);
        finish_with(&store, &c, vec![split_predictions("dev", second.clone())]).await;
        let got = store.predictions("q").await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].values, second);
    });
}

#[test]
fn a_store_of_the_second_schema_opens_read_only_without_predictions() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        // 0001 and 0002, as databases written before predictions existed.
        let two = dir.path().join("m");
        std::fs::create_dir(&two).unwrap();
        for m in ["0001_init.sql", "0002_leases.sql"] {
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations/sqlite")
                    .join(m),
                two.join(m),
            )
            .unwrap();
        }
        let db = dir.path().join("v2.db");
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .connect(&sqlite_url(&db, "rwc"))
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(two.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO experiments VALUES ('old', NULL, 'p', 't', '[]', 'h', 'b', 'c', 'u')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let store = Store::open_read_only(&db).await.unwrap();
        assert_eq!(store.schema_version(), 2);
        assert_eq!(store.experiments().await.unwrap()[0].name, "old");
        assert!(store.predictions("old").await.unwrap().is_empty());
        store.close().await;
        // A writing open upgrades it; then it holds the table.
        let store = Store::open(&db).await.unwrap();
        assert_eq!(store.schema_version(), PREDICTIONS_SCHEMA);
        assert!(store.predictions("old").await.unwrap().is_empty());
        store.close().await;
        let store = Store::open_read_only(&db).await.unwrap();
        assert_eq!(store.schema_version(), PREDICTIONS_SCHEMA);
        store.close().await;
        // A newer schema is refused with what to do.
        let pool = AnyPoolOptions::new()
            .connect(&sqlite_url(&db, "rw"))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99, 'future', TRUE, X'00', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let e = Store::open_read_only(&db).await.err().unwrap();
        assert!(
            matches!(e, StoreError::SchemaVersion { found: 99, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("written by a newer harness"), "{e}");
    });
}
