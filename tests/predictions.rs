//! Per-example predictions end to end: a tiny real BERT grid (MiniLM cut to 1 layer, the spam
//! stand-in task, baseline vs cross-head, 2 seeds) stores the final evaluation's predictions of
//! every run, from which the stored dev metrics are recomputed exactly; the report shows the
//! multi-bootstrap section built from them.

mod common;

use common::{run_spec, text, tiny_spec, TINY_TRAIN};
use harness::data::metrics;
use harness::store::{ExampleValues, Store};

#[test]
fn a_grid_stores_predictions_that_reproduce_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "preds_e2e", TINY_TRAIN, 1);
    let db = dir.path().join("h.db");
    let out = run_spec(&spec, &db, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (runs, results, preds, sizes) = rt.block_on(async {
        let store = Store::open_read_only(&db).await.unwrap();
        let runs = store.runs("preds_e2e").await.unwrap();
        let results = store.results("preds_e2e").await.unwrap();
        let preds = store.predictions("preds_e2e").await.unwrap();
        let mut sizes = Vec::new();
        for r in &runs {
            sizes.push(
                store
                    .predictions_size("preds_e2e", &r.run_key, "dev")
                    .await
                    .unwrap(),
            );
        }
        store.close().await;
        (runs, results, preds, sizes)
    });
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r.status == "done"));
    // One row per run and split, no duplicates.
    assert_eq!(preds.len(), 4, "{preds:?}");
    let stored = |key: &str, name: &str| -> f64 {
        results
            .iter()
            .find(|(k, r)| k == key && r.split == "dev" && r.name == name)
            .unwrap_or_else(|| panic!("no dev/{name} for {key}"))
            .1
            .value
    };
    for (run, size) in runs.iter().zip(&sizes) {
        let p = preds.iter().find(|p| p.run_key == run.run_key).unwrap();
        assert_eq!(
            (p.split.as_str(), p.seed, &p.variant),
            ("dev", run.seed, &run.variant)
        );
        let ExampleValues::Classes { predicted, gold } = &p.values else {
            panic!("spam is a classification task: {:?}", p.values)
        };
        let n = stored(&run.run_key, "examples");
        assert_eq!(predicted.len() as f64, n);
        assert_eq!(gold.len(), 16, "max_eval_examples");
        let pu: Vec<usize> = predicted.iter().map(|&c| c as usize).collect();
        let gu: Vec<usize> = gold.iter().map(|&c| c as usize).collect();
        // Exactly the stored metrics, recomputed from the stored arrays.
        assert_eq!(metrics::accuracy(&pu, &gu), stored(&run.run_key, "acc"));
        assert_eq!(metrics::f1_positive(&pu, &gu), stored(&run.run_key, "f1"));
        // Two bytes per example (one class id each for prediction and gold).
        assert_eq!(*size, Some((16, 32)));
    }
    // Every run was evaluated on the same examples.
    assert!(preds
        .windows(2)
        .all(|w| match (&w[0].values, &w[1].values) {
            (ExampleValues::Classes { gold: a, .. }, ExampleValues::Classes { gold: b, .. }) =>
                a == b,
            _ => false,
        }));

    let report_dir = dir.path().join("report");
    let out = common::harness(&[
        "report",
        "preds_e2e",
        "--db",
        db.to_str().unwrap(),
        "--out",
        report_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains("## Seeds and the evaluation set"), "{md}");
    assert!(
        md.contains("| spam | acc | cross_head | 2/2 | 16 |"),
        "{md}"
    );
    assert!(md.contains("| spam | f1 | cross_head | 2/2 | 16 |"), "{md}");
    assert!(
        md.contains("### Paired per-example comparison (McNemar)"),
        "{md}"
    );
}
