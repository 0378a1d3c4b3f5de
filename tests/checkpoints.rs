//! BERT checkpoints as they exist in the wild: the same all-MiniLM-L6-v2 weights written with
//! the old LayerNorm names (`gamma`/`beta`) and the `bert.` prefix, without a pooler, with only
//! `vocab.txt` as tokenizer, or only as `pytorch_model.bin`. Every loadable form must give the
//! outputs of the original directory, and these the numbers of tests/fixtures/bert_reference.json
//! (Hugging Face transformers, the same tolerance as tests/bert_parity.rs).

use std::path::{Path, PathBuf};

use harness::model::{BertForSequenceClassification, BertOutput, BertTokenizer, Head};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Deserialize;
use tch::{nn, Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Input {
    a: String,
    b: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    max_len: usize,
    inputs: Vec<Input>,
    hidden_dims: i64,
    hidden_first_dims: Vec<f32>,
    pooler_output: Vec<f32>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn minilm() -> PathBuf {
    let dir = root().join("data/models/all-MiniLM-L6-v2");
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "config.json",
    ] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: run scripts/setup.sh (it fetches all-MiniLM-L6-v2)",
            dir.join(f).display()
        );
    }
    dir
}

fn reference() -> Reference {
    let file = root().join("tests/fixtures/bert_reference.json");
    let text = std::fs::read_to_string(&file).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn examples(r: &Reference) -> Vec<(String, Option<String>)> {
    r.inputs
        .iter()
        .map(|i| (i.a.clone(), i.b.clone()))
        .collect()
}

/// Encodes the reference inputs with the checkpoint in `dir` (its own tokenizer).
fn encode(dir: &Path, seed: u64) -> (BertOutput, BertForSequenceClassification) {
    let r = reference();
    let tok = BertTokenizer::from_dir(dir).unwrap();
    let batch = tok.encode_batch(&examples(&r), r.max_len).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let model = BertForSequenceClassification::load(
        &vs.root(),
        dir,
        Head::Classification(2),
        None,
        None,
        &mut rng,
    )
    .unwrap();
    let out = model.encode(&batch);
    (out, model)
}

fn max_abs_diff(got: &Tensor, want: &[f32]) -> f64 {
    let got: Vec<f32> = Vec::try_from(&got.to_kind(Kind::Float).reshape([-1])).unwrap();
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - *w as f64).abs())
        .fold(0.0, f64::max)
}

/// Copies MiniLM into a temporary directory with `rename` applied to every tensor name
/// (`None` drops the tensor) and the given tokenizer files.
fn rewrite(rename: impl Fn(&str) -> Option<String>, tokenizer_files: &[&str]) -> tempfile::TempDir {
    let src = minilm();
    let dir = tempfile::tempdir().unwrap();
    let tensors = Tensor::read_safetensors(src.join("model.safetensors")).unwrap();
    let renamed: Vec<(String, Tensor)> = tensors
        .into_iter()
        .filter_map(|(n, t)| rename(&n).map(|m| (m, t)))
        .collect();
    Tensor::write_safetensors(&renamed, dir.path().join("model.safetensors")).unwrap();
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    for f in tokenizer_files {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

fn old_names(name: &str) -> String {
    let n = format!("bert.{name}");
    if let Some(stem) = n.strip_suffix("LayerNorm.weight") {
        format!("{stem}LayerNorm.gamma")
    } else if let Some(stem) = n.strip_suffix("LayerNorm.bias") {
        format!("{stem}LayerNorm.beta")
    } else {
        n
    }
}

#[test]
fn old_layer_norm_names_and_bert_prefix_give_identical_outputs() {
    let (orig, _) = encode(&minilm(), 0);
    let dir = rewrite(|n| Some(old_names(n)), &["tokenizer.json"]);
    let names: Vec<String> = Tensor::read_safetensors(dir.path().join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.iter().any(|n| n == "bert.embeddings.LayerNorm.gamma"));
    assert!(!names.iter().any(|n| n.ends_with("LayerNorm.weight")));
    let (out, model) = encode(dir.path(), 0);
    assert!(!model.pooler_initialised());
    assert!(out.hidden.equal(&orig.hidden), "hidden states differ");
    assert!(out.pooled.equal(&orig.pooled), "pooler outputs differ");
    let r = reference();
    let d_first = max_abs_diff(
        &out.hidden.narrow(2, 0, r.hidden_dims),
        &r.hidden_first_dims,
    );
    let d_pooled = max_abs_diff(&out.pooled, &r.pooler_output);
    println!("old names: max |rust - transformers| hidden {d_first:.3e}, pooler {d_pooled:.3e}");
    assert!(d_first <= TOLERANCE && d_pooled <= TOLERANCE);
}

#[test]
fn missing_pooler_is_initialised_from_the_head_init_stream() {
    let (orig, _) = encode(&minilm(), 0);
    let dir = rewrite(
        |n| (!n.contains("pooler")).then(|| n.to_string()),
        &["tokenizer.json"],
    );
    let (out, model) = encode(dir.path(), 7);
    assert!(model.pooler_initialised());
    assert!(out.hidden.equal(&orig.hidden), "hidden states differ");
    let r = reference();
    let d_first = max_abs_diff(
        &out.hidden.narrow(2, 0, r.hidden_dims),
        &r.hidden_first_dims,
    );
    assert!(
        d_first <= TOLERANCE,
        "hidden states differ from transformers by {d_first}"
    );
    // The new pooler is not the checkpoint's, and depends on the seed only.
    assert!(!out.pooled.allclose(&orig.pooled, 1e-3, 1e-3, false));
    let (again, _) = encode(dir.path(), 7);
    assert!(again.pooled.equal(&out.pooled));
    let (other, _) = encode(dir.path(), 8);
    assert!(!other.pooled.equal(&out.pooled));
}

/// Texts of the stand-in tasks (real e-mails and verses) plus the reference inputs.
fn real_texts() -> Vec<(String, Option<String>)> {
    let mut out = examples(&reference());
    for (task, pair) in [("spam", false), ("kjv_next", true)] {
        let file = root().join(format!("data/standin/{task}/dev.tsv"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!("{}: {e}; run scripts/setup.sh", file.display());
        });
        for line in text.lines().skip(1).take(250) {
            let cols: Vec<&str> = line.split('\t').collect();
            if pair {
                out.push((cols[1].to_string(), Some(cols[2].to_string())));
            } else {
                out.push((cols[0].to_string(), None));
            }
        }
    }
    out.push(("Crème brûlée [MASK] naïve Ünïcödé 北京 — ok?!".into(), None));
    out.push((
        "[CLS] literal [SEP] tokens".into(),
        Some("  spaced\tout\n ".into()),
    ));
    out
}

#[test]
fn vocab_txt_tokenizer_equals_tokenizer_json_on_real_texts() {
    let with_json = BertTokenizer::from_dir(&minilm()).unwrap();
    let dir = rewrite(
        |n| Some(n.to_string()),
        &["vocab.txt", "tokenizer_config.json"],
    );
    assert!(!dir.path().join("tokenizer.json").exists());
    let built = BertTokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(built.pad_id(), with_json.pad_id());
    let texts = real_texts();
    assert!(texts.len() > 500);
    for (a, b) in &texts {
        for max_len in [512, 64] {
            assert_eq!(
                built.encode(a, b.as_deref(), max_len).unwrap(),
                with_json.encode(a, b.as_deref(), max_len).unwrap(),
                "{a:?} / {b:?} at max_len {max_len}"
            );
        }
    }
    // Only vocab.txt, no tokenizer_config.json: BertTokenizer's default (lower case) applies.
    std::fs::remove_file(dir.path().join("tokenizer_config.json")).unwrap();
    let default = BertTokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(
        default.encode("The Cat", None, 64).unwrap(),
        with_json.encode("The Cat", None, 64).unwrap()
    );
    // And the whole model from that directory gives the original outputs.
    let (orig, _) = encode(&minilm(), 0);
    let (out, _) = encode(dir.path(), 0);
    assert!(out.hidden.equal(&orig.hidden) && out.pooled.equal(&orig.pooled));
}

#[test]
fn pytorch_bin_only_says_how_to_convert() {
    let dir = tempfile::tempdir().unwrap();
    let src = minilm();
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    std::fs::copy(
        src.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"not read").unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let err = BertForSequenceClassification::load(
        &vs.root(),
        dir.path(),
        Head::Classification(2),
        None,
        None,
        &mut rng,
    )
    .expect_err("a pytorch_model.bin-only checkpoint cannot be loaded")
    .to_string();
    for needle in [
        "pytorch_model.bin",
        "from safetensors.torch import save_file",
        "torch.load(",
        "model.safetensors",
        "harness data model",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

#[test]
fn missing_checkpoint_names_the_download_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = dir.path().join("r.db");
    let spec = root().join("experiments/glue_variance.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            spec.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--set",
            &format!("data_dir={}", data.display()),
            "--set",
            &format!(
                "model.pretrained={}",
                data.join("models/bert-base-uncased").display()
            ),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "harness data model bert-base-uncased --data-dir {}",
            data.display()
        )),
        "{text}"
    );
    assert!(!db.exists(), "nothing may be written");
}

#[test]
fn a_pytorch_bin_checkpoint_stops_the_grid_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("old-bert");
    std::fs::create_dir_all(&ckpt).unwrap();
    let src = minilm();
    std::fs::copy(src.join("config.json"), ckpt.join("config.json")).unwrap();
    std::fs::copy(src.join("vocab.txt"), ckpt.join("vocab.txt")).unwrap();
    std::fs::write(ckpt.join("pytorch_model.bin"), b"not read").unwrap();
    let db = dir.path().join("r.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            root().join("experiments/ci_smoke.yaml").to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--set",
            &format!("model.pretrained={}", ckpt.display()),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("save_file") && text.contains("pytorch_model.bin"),
        "{text}"
    );
    assert!(!db.exists(), "nothing may be written");
}
