//! Benchmark of `harness report` on a large synthetic experiment: 1,000 runs (2 tasks × 2 variants
//! × 250 seeds), about 200 per-step metric points each. Times loading, statistics, figures and
//! writing separately, then the whole `report_command` end to end.
//!
//! `cargo run --release --example report_bench [-- OUT_DIR]` (a temporary directory by default).

use harness::analysis::{analyse, ExperimentData, Options};
use harness::store::Store;
use harness::synthetic::{generated_grid, write_experiment};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let out_dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("report"));
    let db = tmp.path().join("bench.db");
    // 167 steps: 167 train-loss points + 17 evaluations × (acc, f1) = 201 points per run.
    let runs = generated_grid(
        &["rte", "mrpc"],
        &[("baseline", 1.0), ("cross_head", 0.7)],
        250,
        167,
        42,
    );
    let points: usize = runs.iter().map(|r| r.curve.len()).sum();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    rt.block_on(async {
        let store = Store::open(&db).await?;
        write_experiment(
            &store,
            "bench",
            "baseline",
            Some("synthetic benchmark"),
            &runs,
        )
        .await?;
        store.close().await;
        anyhow::Ok(())
    })?;
    eprintln!(
        "database: {} runs, {} metric points ({:.0} per run), written in {:.1} s (not part of the report)",
        runs.len(),
        points,
        points as f64 / runs.len() as f64,
        t.elapsed().as_secs_f64()
    );

    let t0 = Instant::now();
    let data = rt.block_on(async {
        let store = Store::open(&db).await?;
        let d = ExperimentData::load(&store, "bench", true).await?;
        store.close().await;
        anyhow::Ok(d)
    })?;
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let analysis = analyse(&data, &Options::default());
    let t_stats = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let files = harness::report::write_report(&analysis, &data, &out_dir, &db)?;
    let t_write = t2.elapsed().as_secs_f64();
    eprintln!(
        "phases: load {t_load:.2} s, statistics {t_stats:.2} s, figures + report.md + report.html {t_write:.2} s ({} figures)",
        files.figures.len()
    );

    let t3 = Instant::now();
    let html = harness::report::report_command(&db, "bench", Some(&out_dir))?;
    let total = t3.elapsed().as_secs_f64();
    let size = std::fs::metadata(&html)?.len();
    println!(
        "report_command: {total:.2} s end to end for {} runs ({} bytes of HTML at {})",
        runs.len(),
        size,
        html.display()
    );
    Ok(())
}
