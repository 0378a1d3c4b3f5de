use super::*;
use crate::analysis::tests::small_runs;
use crate::store::Store;
use crate::synthetic::{write_experiment, SyntheticRun};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The small experiment (see `analysis::tests::small_runs`) as `small`, and `after`: the same
/// grid rerun with other baseline values (seed 3 missing) and the same cross_head values.
fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&path).await.unwrap();
        write_experiment(&store, "small", "baseline", None, &small_runs())
            .await
            .unwrap();
        let mut after = Vec::new();
        for (seed, v) in [(1, 0.60), (2, 0.64), (4, 0.62), (5, 0.61)] {
            after.push(SyntheticRun::done("rte", "baseline", seed, &[("acc", v)]));
        }
        after.push(
            SyntheticRun::done("rte", "baseline", 3, &[])
                .with_status(crate::store::RunStatus::Queued, None),
        );
        write_experiment(&store, "after", "baseline", None, &after)
            .await
            .unwrap();
        store.close().await;
    });
    (dir, path)
}

fn run(
    path: &Path,
    exps: &[&str],
    task: Option<&str>,
    metric: Option<&str>,
    f: CompareFormat,
) -> String {
    compare_command(&args(path, exps, task, metric, f)).unwrap()
}

fn args(
    path: &Path,
    exps: &[&str],
    task: Option<&str>,
    metric: Option<&str>,
    format: CompareFormat,
) -> CompareArgs {
    CompareArgs {
        experiments: exps.iter().map(|s| s.to_string()).collect(),
        db: path.to_path_buf(),
        task: task.map(str::to_string),
        metric: metric.map(str::to_string),
        format,
    }
}

// Numbers checked against scipy 1.17.1 (BASE = baseline acc, CROSS = cross_head acc):
// np.std(BASE, ddof=1) = 0.07694153624668537, np.std(CROSS, ddof=1) = 0.021602468994692887,
// 1 − σ_c/σ_b = 0.7192352785180642, levene(BASE, CROSS, center='median').pvalue =
// 0.1305988180502319, ttest_ind(CROSS, BASE, equal_var=False).pvalue = 0.47427339600605667.
const TABLE: &str = "\
rte acc (higher is better), reference: baseline
seed              baseline  cross_head
1                   0.6200      0.6400
2                   0.7000      0.6600
3                   0.5000      0.6100
4                   0.6600      0.6500
5                   0.5800    diverged
n                        5           4
mean                0.6120      0.6400
std                0.07694     0.02160
std reduction                   +71.9%
p Brown–Forsythe                 0.131
p Welch                          0.474
";

#[test]
fn one_experiment_as_table_and_markdown() {
    let (_d, path) = db();
    assert_eq!(
        run(&path, &["small"], None, None, CompareFormat::Table),
        TABLE
    );
    // The same with the task and metric named (`rte`'s primary metric is acc).
    assert_eq!(
        run(
            &path,
            &["small"],
            Some("rte"),
            Some("dev/acc"),
            CompareFormat::Table
        ),
        TABLE
    );
    let md = run(&path, &["small"], None, None, CompareFormat::Md);
    assert_eq!(
        md,
        "### rte acc (higher is better), reference: baseline\n\n\
         | seed | baseline | cross_head |\n|---|---:|---:|\n\
         | 1 | 0.6200 | 0.6400 |\n| 2 | 0.7000 | 0.6600 |\n| 3 | 0.5000 | 0.6100 |\n\
         | 4 | 0.6600 | 0.6500 |\n| 5 | 0.5800 | diverged |\n| n | 5 | 4 |\n\
         | mean | 0.6120 | 0.6400 |\n| std | 0.07694 | 0.02160 |\n\
         | std reduction |  | +71.9% |\n| p Brown–Forsythe |  | 0.131 |\n| p Welch |  | 0.474 |\n"
    );
}

#[test]
fn one_experiment_as_csv() {
    let (_d, path) = db();
    assert_eq!(
        run(&path, &["small"], None, None, CompareFormat::Csv),
        "task,metric,row,baseline,cross_head\n\
         rte,acc,1,0.62,0.64\nrte,acc,2,0.7,0.66\nrte,acc,3,0.5,0.61\nrte,acc,4,0.66,0.65\n\
         rte,acc,5,0.58,\nrte,acc,n,5,4\nrte,acc,mean,0.612,0.64\n\
         rte,acc,std,0.07694153624668537,0.021602468994692887\n\
         rte,acc,std_reduction,,0.7192352785180642\n\
         rte,acc,p_brown_forsythe,,0.13059881805023196\n\
         rte,acc,p_welch,,0.47427339600605745\n\
         rte,acc,degenerate,1,0\nrte,acc,interpretable,,true\n"
    );
    // Every metric of the task when asked for a bare name present on one split only.
    let loss = run(&path, &["small"], None, Some("loss"), CompareFormat::Csv);
    assert!(
        loss.starts_with("task,metric,row,baseline,cross_head\nrte,loss,1,0.38,0.36"),
        "{loss}"
    );
}

#[test]
fn one_experiment_as_json() {
    let (_d, path) = db();
    let doc: Value =
        serde_json::from_str(&run(&path, &["small"], None, None, CompareFormat::Json)).unwrap();
    assert_eq!(doc["experiments"], json!(["small"]));
    let b = &doc["blocks"][0];
    assert_eq!(doc["blocks"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            b["task"].as_str(),
            b["metric"].as_str(),
            b["direction"].as_str(),
            b["reference"].as_str()
        ),
        (Some("rte"), Some("acc"), Some("higher"), Some("baseline"))
    );
    assert_eq!(b["columns"], json!(["baseline", "cross_head"]));
    assert_eq!(
        b["rows"][4],
        json!({"seed": 5, "values": [0.58, null], "status": ["done", "diverged"]})
    );
    assert_eq!(
        b["rows"][0],
        json!({"seed": 1, "values": [0.62, 0.64], "status": ["done", "done"]})
    );
    let s = &b["summary"];
    assert_eq!(s["n"], json!([5, 4]));
    assert_eq!(s["std_reduction"][0], Value::Null);
    let close = |v: &Value, x: f64| assert!((v.as_f64().unwrap() - x).abs() < 1e-12, "{v} vs {x}");
    close(&s["std"][0], 0.07694153624668537);
    close(&s["std"][1], 0.021602468994692887);
    close(&s["std_reduction"][1], 0.7192352785180642);
    close(&s["p_brown_forsythe"][1], 0.1305988180502319);
    close(&s["p_welch"][1], 0.47427339600605667);
}

/// The same variant across two experiments. scipy 1.17.1 with AFTER = [0.60, 0.64, 0.62, 0.61]:
/// np.std(AFTER, ddof=1) = 0.017078251276599347, 1 − σ_after/σ_base = 0.7780359983735693,
/// levene(BASE, AFTER, center='median').pvalue = 0.1066754522354368,
/// ttest_ind(AFTER, BASE, equal_var=False).pvalue = 0.8834507555559178.
#[test]
fn two_experiments() {
    let (_d, path) = db();
    let expected = "\
rte acc (higher is better), reference: small:baseline
seed              small:baseline  after:baseline
1                         0.6200          0.6000
2                         0.7000          0.6400
3                         0.5000          queued
4                         0.6600          0.6200
5                         0.5800          0.6100
n                              5               4
mean                      0.6120          0.6175
std                      0.07694         0.01708
std reduction                             +77.8%
p Brown–Forsythe                           0.107
p Welch                                    0.883
";
    assert_eq!(
        run(&path, &["small..after"], None, None, CompareFormat::Table),
        expected
    );
    assert_eq!(
        run(&path, &["small", "after"], None, None, CompareFormat::Table),
        expected
    );
    assert_eq!(
        run(
            &path,
            &["small", "after"],
            Some("rte"),
            Some("acc"),
            CompareFormat::Csv
        ),
        "task,metric,row,small:baseline,after:baseline\n\
         rte,acc,1,0.62,0.6\nrte,acc,2,0.7,0.64\nrte,acc,3,0.5,\nrte,acc,4,0.66,0.62\n\
         rte,acc,5,0.58,0.61\nrte,acc,n,5,4\nrte,acc,mean,0.612,0.6174999999999999\n\
         rte,acc,std,0.07694153624668537,0.017078251276599347\n\
         rte,acc,std_reduction,,0.7780359983735694\n\
         rte,acc,p_brown_forsythe,,0.10667545223543677\n\
         rte,acc,p_welch,,0.883450755555917\n\
         rte,acc,degenerate,1,\nrte,acc,interpretable,,true\n"
    );
}

/// rte where the baseline has not learned: 4 of 5 runs at or below the majority class
/// (0.527); cross_head learned. No std reduction is given; the counts say why.
#[test]
fn a_task_not_learned_is_not_interpretable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&path).await.unwrap();
        let mut runs = Vec::new();
        for (seed, (b, c)) in [
            (0.527, 0.66),
            (0.47, 0.64),
            (0.527, 0.70),
            (0.68, 0.61),
            (0.50, 0.65),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = SyntheticRun::done("rte", "baseline", seed as u64 + 1, &[("acc", b)]);
            r.results.push(("dev".into(), "majority_acc".into(), 0.527));
            runs.push(r);
            runs.push(SyntheticRun::done(
                "rte",
                "cross_head",
                seed as u64 + 1,
                &[("acc", c)],
            ));
        }
        write_experiment(&store, "collapsed", "baseline", None, &runs)
            .await
            .unwrap();
        store.close().await;
    });
    let table = run(&path, &["collapsed"], None, None, CompareFormat::Table);
    let words = |prefix: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        words("degenerate"),
        ["degenerate", "4", "of", "5", "0", "of", "5"]
    );
    assert_eq!(
        words("std reduction"),
        ["std", "reduction", "not", "interpretable"]
    );
    assert!(table.ends_with("cross_head: not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class)\n"), "{table}");
    let csv = run(&path, &["collapsed"], None, None, CompareFormat::Csv);
    assert!(csv.contains("rte,acc,std_reduction,,\n"), "{csv}");
    assert!(
        csv.contains("rte,acc,degenerate,4,0\nrte,acc,interpretable,,false\n"),
        "{csv}"
    );
    let doc: Value =
        serde_json::from_str(&run(&path, &["collapsed"], None, None, CompareFormat::Json)).unwrap();
    let s = &doc["blocks"][0]["summary"];
    assert_eq!(s["std_reduction"], json!([null, null]));
    assert_eq!(s["degenerate"], json!([4, 0]));
    assert_eq!(s["interpretable"], json!([null, false]));
    assert_eq!(
        s["not_interpretable"][1],
        json!("not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class)")
    );
    // Unchanged fields stay.
    assert_eq!(s["n"], json!([5, 5]));
    assert!(s["p_brown_forsythe"][1].is_number());
}

#[test]
fn arguments_and_errors() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(parse_experiments(&s(&["a..b"])).unwrap(), ["a", "b"]);
    assert_eq!(parse_experiments(&s(&["a"])).unwrap(), ["a"]);
    assert_eq!(parse_experiments(&s(&["a", "b"])).unwrap(), ["a", "b"]);
    assert!(parse_experiments(&s(&["a.."])).is_err());
    assert!(parse_experiments(&s(&["a..b..c"])).is_err());
    let (_d, path) = db();
    let err = compare_command(&args(
        &path,
        &["small"],
        None,
        Some("f1"),
        CompareFormat::Table,
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "nothing to compare in small: no done results for metric `f1` (present: rte acc, rte loss)"
    );
    let err = compare_command(&args(&path, &["nope"], None, None, CompareFormat::Table))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no experiment named `nope`"), "{err}");
    let missing = path.with_file_name("missing.db");
    let err = compare_command(&args(
        &missing,
        &["small"],
        None,
        None,
        CompareFormat::Table,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("no results database at "), "{err}");
}

/// A baseline without done runs: the other columns' std reduction reads `n/a` in the tables
/// (as before the comparison took its statistics from `analysis`), empty in CSV, `null` in JSON.
#[test]
fn a_baseline_without_done_runs_has_no_std_reduction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&path).await.unwrap();
        let mut runs = Vec::new();
        for (seed, v) in [(1, 0.64), (2, 0.66), (3, 0.61)] {
            runs.push(
                SyntheticRun::done("rte", "baseline", seed, &[])
                    .with_status(crate::store::RunStatus::Diverged, Some("nan loss")),
            );
            runs.push(SyntheticRun::done("rte", "cross_head", seed, &[("acc", v)]));
        }
        write_experiment(&store, "nobase", "baseline", None, &runs)
            .await
            .unwrap();
        store.close().await;
    });
    let table = run(&path, &["nobase"], None, None, CompareFormat::Table);
    let line = |prefix: &str| table.lines().find(|l| l.starts_with(prefix)).unwrap_or("");
    assert_eq!(
        line("std reduction").split_whitespace().collect::<Vec<_>>(),
        ["std", "reduction", "n/a"],
        "{table}"
    );
    assert!(line("1 ").contains("diverged"), "{table}");
    let md = run(&path, &["nobase"], None, None, CompareFormat::Md);
    assert!(md.contains("| std reduction |  | n/a |\n"), "{md}");
    let csv = run(&path, &["nobase"], None, None, CompareFormat::Csv);
    assert!(csv.contains("rte,acc,std_reduction,,\n"), "{csv}");
    let doc: Value =
        serde_json::from_str(&run(&path, &["nobase"], None, None, CompareFormat::Json)).unwrap();
    let s = &doc["blocks"][0]["summary"];
    assert_eq!(s["std_reduction"], json!([null, null]));
    assert_eq!(s["n"], json!([0, 3]));
}
