//! `harness run SPEC --dry-run --format json`: every run of the grid with its key and parameter
//! counts, before anything runs; the counts the language-model loop stores agree with them.

mod common;

use common::{harness, repo, require_data, run_spec, status_json, text};
use harness::model::BertConfig;

fn dry_run_json(spec: &str, extra: &[&str]) -> serde_json::Value {
    let path = repo().join("experiments").join(spec);
    let mut args = vec![
        "run",
        path.to_str().unwrap(),
        "--dry-run",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = harness(&args);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("--dry-run --format json prints JSON")
}

#[test]
fn bert_runs_carry_keys_and_counts_from_the_checkpoint_config() {
    let (model, _) = require_data();
    let doc = dry_run_json("ci_smoke.yaml", &[]);
    assert_eq!(doc["experiment"], "ci_smoke");
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * 2 * 2);
    // The same keys, in the same order, as the table form.
    let table = harness(&[
        "run",
        repo().join("experiments/ci_smoke.yaml").to_str().unwrap(),
        "--dry-run",
    ]);
    let keys: Vec<String> = String::from_utf8_lossy(&table.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let json_keys: Vec<String> = runs
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, json_keys);
    // MiniLM-L6 cut to 2 layers, a 2-class head.
    let mut config = BertConfig::from_file(&model.join("config.json")).unwrap();
    config.num_hidden_layers = 2;
    let want = config.parameter_counts(2);
    for run in runs {
        assert!(run["task"] == "spam" || run["task"] == "kjv_next", "{run}");
        assert!(run["seed"].is_u64() && run["variant"].is_string(), "{run}");
        assert_eq!(run["parameters"]["total"], want.total, "{run}");
        assert_eq!(
            run["parameters"]["non_embedding"], want.non_embedding,
            "{run}"
        );
    }
    // The table shows the total.
    let shown = format!("{:.1}M", want.total as f64 / 1e6);
    assert!(String::from_utf8_lossy(&table.stdout).contains(&shown));

    // Without the checkpoint: null, with the reason.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let doc = dry_run_json(
        "glue_variance.yaml",
        &["--set", &format!("model.pretrained={}", missing.display())],
    );
    let run = &doc["runs"][0];
    assert!(run["parameters"].is_null(), "{run}");
    assert!(
        run["parameters_reason"]
            .as_str()
            .unwrap()
            .contains("config.json"),
        "{run}"
    );
}

/// The stored `train/params_*` facts of the run that the dry run lists first.
fn assert_stored_counts_equal_the_dry_run(spec_file: &str, experiment: &str, sets: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let doc = dry_run_json(spec_file, sets);
    let run = &doc["runs"][0];
    let spec = repo().join("experiments").join(spec_file);
    let mut args: Vec<&str> = sets.to_vec();
    args.extend(["--max-runs", "1", "--quiet"]);
    let out = run_spec(&spec, &db, &args);
    assert!(out.status.success(), "{}", text(&out));
    let status = status_json(&db, experiment);
    let done = status["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == run["key"])
        .unwrap_or_else(|| panic!("run {} not in {status}", run["key"]));
    let train = &done["results"]["train"];
    assert_eq!(
        train["params_total"].as_f64().unwrap() as i64,
        run["parameters"]["total"].as_i64().unwrap(),
        "{train}"
    );
    assert_eq!(
        train["params_non_embedding"].as_f64().unwrap() as i64,
        run["parameters"]["non_embedding"].as_i64().unwrap()
    );
}

#[test]
fn stored_bert_counts_equal_the_dry_run() {
    require_data();
    let sets = [
        "--set",
        "seeds=[1]",
        "--set",
        "train.max_steps=1",
        "--set",
        "tasks=[spam]",
    ];
    assert_stored_counts_equal_the_dry_run("ci_smoke.yaml", "ci_smoke", &sets);
}

#[test]
fn stored_language_model_counts_equal_the_dry_run() {
    require_data();
    let sets = ["--set", "seeds=[1]", "--set", "train.max_steps=2"];
    assert_stored_counts_equal_the_dry_run("ci_smoke_lm.yaml", "ci_smoke_lm", &sets);
}
