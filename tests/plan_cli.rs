//! `harness plan`: the sample-size answer from a pilot's done runs, through the real binary on a
//! synthetic store (written through the real `Store` API).

mod common;

use common::*;
use harness::store::Store;
use harness::synthetic::{write_experiment, SyntheticRun};
use std::path::Path;

/// `pilot`: rte, 8 seeds of baseline and cross_head; `tiny`: one seed of each.
fn pilot_db(path: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(path).await.unwrap();
        let base = [0.62, 0.70, 0.50, 0.66, 0.58, 0.64, 0.69, 0.55];
        let cross = [0.64, 0.66, 0.61, 0.65, 0.60, 0.67, 0.63, 0.62];
        let mut runs = Vec::new();
        for (i, (b, c)) in base.iter().zip(cross).enumerate() {
            runs.push(SyntheticRun::done(
                "rte",
                "baseline",
                i as u64 + 1,
                &[("acc", *b)],
            ));
            runs.push(SyntheticRun::done(
                "rte",
                "cross_head",
                i as u64 + 1,
                &[("acc", c)],
            ));
        }
        write_experiment(&store, "pilot", "baseline", None, &runs)
            .await
            .unwrap();
        write_experiment(
            &store,
            "tiny",
            "baseline",
            None,
            &[runs[0].clone(), runs[1].clone()],
        )
        .await
        .unwrap();
        store.close().await;
    });
}

#[test]
fn plan_prints_seeds_per_arm_from_a_pilot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    pilot_db(&db);
    let db = db.to_str().unwrap();
    let before = std::fs::read(db).unwrap();

    let out = harness(&["plan", "pilot", "--db", db]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.starts_with("task  metric  variant     n base/v  σ_v/σ_base  seeds to decide  note\nrte   acc     cross_head  8/8 "), "{t}");
    assert!(t.contains("Detecting a 30% std reduction (σ_v/σ_base = 0.70) with the Brown–Forsythe test at 80% power, α = 0.05: "), "{t}");

    let out = harness(&[
        "plan",
        "pilot",
        "--db",
        db,
        "--reduction",
        "0.5",
        "--power",
        "0.9",
        "--format",
        "json",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let doc: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(doc["experiment"], "pilot");
    assert_eq!(doc["reduction"], 0.5);
    assert_eq!(doc["power"], 0.9);
    let row = &doc["rows"][0];
    assert_eq!(
        (row["task"].as_str(), row["metric"].as_str()),
        (Some("rte"), Some("acc"))
    );
    assert_eq!(
        (row["n_reference"].as_u64(), row["n"].as_u64()),
        (Some(8), Some(8))
    );
    // np.std(cross, ddof=1) / np.std(base, ddof=1) = 0.35069477161829804: a strong reduction.
    let r = row["observed_ratio"].as_f64().unwrap();
    assert!((r - 0.35069477161829804).abs() < 1e-12, "{r}");
    // Halving σ at 90% power needs fewer seeds than the 30% reduction at 80% (about 76).
    let n = doc["seeds_for_reduction"].as_u64().unwrap();
    assert!((20..60).contains(&n), "{n}");
    assert_eq!(std::fs::read(db).unwrap(), before, "plan only reads");
}

/// Without `--reduction`, the stored spec's claim says what to plan for.
#[test]
fn plan_takes_the_reduction_from_the_spec_claim() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let spec = "name: claimed\nseeds: {count: 8, base: 1}\nmodel: {kind: bert, pretrained: data/models/m}\ntasks: [rte]\nbaseline: baseline\nvariants: {baseline: {}, cross_head: {cross_head: {prob: 0.1}}}\nclaims: [{variant: cross_head, std_reduction: 0.5}]\n";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&db).await.unwrap();
        let mut runs = Vec::new();
        for (i, (b, c)) in [(0.62, 0.64), (0.70, 0.66), (0.50, 0.61)]
            .into_iter()
            .enumerate()
        {
            runs.push(SyntheticRun::done(
                "rte",
                "baseline",
                i as u64 + 1,
                &[("acc", b)],
            ));
            runs.push(SyntheticRun::done(
                "rte",
                "cross_head",
                i as u64 + 1,
                &[("acc", c)],
            ));
        }
        harness::synthetic::write_experiment_with_spec(
            &store, "claimed", "baseline", None, spec, &runs,
        )
        .await
        .unwrap();
        store.close().await;
    });
    let out = harness(&[
        "plan",
        "claimed",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(doc["reduction"], 0.5);
}

#[test]
fn plan_refuses_too_few_runs_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    pilot_db(&db);
    let db = db.to_str().unwrap();
    let out = harness(&["plan", "tiny", "--db", db]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("too few done runs in `tiny` to plan from: a pilot needs at least 2 done runs in the baseline and in another variant of a task (done runs baseline/variant: rte acc cross_head: 1/1)"), "{t}");

    let out = harness(&["plan", "pilot", "--db", db, "--reduction", "1.5"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("must lie in (0, 1) (0.3 for 30%), got 1.5"),
        "{t}"
    );

    let out = harness(&["plan", "nope", "--db", db]);
    // An experiment the database does not hold is bad input (src/exit.rs).
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no experiment named `nope`"),
        "{}",
        text(&out)
    );

    let missing = dir.path().join("missing.db");
    let out = harness(&["plan", "pilot", "--db", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no results database at "));
    assert!(!missing.exists());
}
