//! `train.precision` end to end: the run key, the refusal of tf32 on a CPU spec, and bf16
//! training of both model kinds on the CPU, recorded with each run.

mod common;

use common::*;
use harness::data::lm::Level;
use harness::precision::Precision;
use harness::train::language_model::{train, LmSettings};
use harness::train::lm_fixture::{self, Recorder};
use std::path::Path;
use tch::Device;

/// The run keys `harness run --dry-run` lists, in its order.
fn dry_run_keys(spec: &Path, db: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--dry-run"];
    args.extend_from_slice(extra);
    let out = run_spec(spec, db, &args);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("spam"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn a_set_precision_is_part_of_the_run_key_and_unset_keys_do_not_move() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "keys", TINY_TRAIN, 1);
    let db = dir.path().join("r.db");
    let unset = dry_run_keys(&spec, &db, &[]);
    let fp32 = dry_run_keys(&spec, &db, &["--set", "train.precision=fp32"]);
    let bf16 = dry_run_keys(&spec, &db, &["--set", "train.precision=bf16"]);
    assert_eq!(unset.len(), 4);
    for (i, key) in unset.iter().enumerate() {
        assert_ne!(key, &fp32[i]);
        assert_ne!(key, &bf16[i]);
        assert_ne!(fp32[i], bf16[i]);
    }
    // Unset, the field is not serialized: the keys are those of a spec that never heard of it.
    let plain = dry_run_keys(&spec, &db, &["--set", "train.precision=null"]);
    assert_eq!(plain, unset);
}

#[test]
fn tf32_on_a_cpu_spec_and_unknown_precisions_are_refused_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    let train = format!("{TINY_TRAIN}, precision: tf32");
    let spec = tiny_spec(dir.path(), "tf32cpu", &train, 1);
    let db = dir.path().join("r.db");
    let out = run_spec(&spec, &db, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("tf32cpu.yaml:8:") && msg.contains("train.precision"),
        "{msg}"
    );
    assert!(msg.contains("CUDA") && msg.contains("bf16"), "{msg}");
    // On `device: auto` the spec is fine (a GPU machine runs it in tf32, a CPU one in fp32).
    assert!(run_spec(&spec, &db, &["--dry-run", "--set", "device=auto"])
        .status
        .success());

    let out = run_spec(&spec, &db, &["--dry-run", "--set", "train.precision=fp16"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("fp16") && msg.contains("fp32") && msg.contains("bf16"),
        "{msg}"
    );
    assert!(!db.exists());
}

/// Each run's recorded precision and its dev loss, by run key.
fn precisions_and_losses(db: &Path, exp: &str) -> Vec<(String, String, f64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = harness::store::Store::open(db).await.unwrap();
        let envs = store.environments(exp).await.unwrap();
        let results = store.results(exp).await.unwrap();
        store.close().await;
        let mut out: Vec<_> = envs
            .into_iter()
            .map(|(key, env)| {
                let env: serde_json::Value = serde_json::from_str(&env.unwrap()).unwrap();
                let loss = results
                    .iter()
                    .find(|(k, r)| k == &key && r.split == "dev" && r.name == "loss")
                    .map(|(_, r)| r.value)
                    .unwrap();
                (key, env["precision"].as_str().unwrap().to_string(), loss)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    })
}

#[test]
fn a_bf16_bert_grid_trains_on_the_cpu_and_records_its_precision() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny_spec(dir.path(), "bf", TINY_TRAIN, 1);
    let (fp32_db, bf16_db) = (dir.path().join("fp32.db"), dir.path().join("bf16.db"));
    let one = [
        "--quiet",
        "--set",
        "seeds.count=1",
        "--set",
        "variants={baseline: {}}",
    ];
    let out = run_spec(&spec, &fp32_db, &one);
    assert!(out.status.success(), "{}", text(&out));
    let mut args = one.to_vec();
    args.extend(["--set", "train.precision=bf16"]);
    let out = run_spec(&spec, &bf16_db, &args);
    assert!(out.status.success(), "{}", text(&out));

    let fp32 = precisions_and_losses(&fp32_db, "bf");
    let bf16 = precisions_and_losses(&bf16_db, "bf");
    assert_eq!(fp32.len(), 1);
    assert_eq!(bf16.len(), 1);
    assert_eq!(fp32[0].1, "fp32", "unset on the CPU means fp32");
    assert_eq!(bf16[0].1, "bf16");
    let (a, b) = (fp32[0].2, bf16[0].2);
    assert!(b.is_finite() && b > 0.0, "bf16 dev loss {b}");
    // The same run in bfloat16 autocast: close to fp32, but not the same numbers.
    assert_ne!(a, b, "bf16 must change the arithmetic");
    assert!((a - b).abs() < 0.1 * a, "fp32 {a} vs bf16 {b}");
}

fn lm_settings(precision: Option<Precision>) -> LmSettings {
    LmSettings {
        precision,
        ..lm_fixture::settings(lm_fixture::skip_cross_head(2), 4)
    }
}

#[test]
fn a_bf16_transformer_xl_trains_on_the_cpu_close_to_fp32() {
    let corpus = lm_fixture::corpus(Level::Char);
    let bpc = |precision| {
        let mut rec = Recorder::default();
        let out = train(&lm_settings(precision), &corpus, Device::Cpu, &mut rec).unwrap();
        out.results
            .iter()
            .find(|r| r.split == "valid" && r.name == "bpc")
            .unwrap()
            .value
    };
    let (fp32, bf16) = (bpc(None), bpc(Some(Precision::Bf16)));
    assert!(bf16.is_finite(), "bf16 bpc {bf16}");
    assert_ne!(fp32, bf16, "bf16 must change the arithmetic");
    assert!(
        (fp32 - bf16).abs() < 0.05 * fp32,
        "fp32 {fp32} vs bf16 {bf16}"
    );
    assert_eq!(bpc(Some(Precision::Fp32)), fp32, "fp32 is the CPU default");
}
