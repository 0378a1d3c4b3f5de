//! Numerical parity with Hugging Face transformers: the Rust tokenizer wrapper and BERT body on
//! all-MiniLM-L6-v2 against tests/fixtures/bert_reference.json (written by
//! scripts/bert_reference.py; its `note` says with which versions).

use std::path::PathBuf;

use harness::model::{BertForSequenceClassification, BertTokenizer, Head};
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
struct Truncation {
    a: String,
    b: String,
    max_len: usize,
    input_ids: Vec<i64>,
    token_type_ids: Vec<i64>,
}

#[derive(Deserialize)]
struct Reference {
    max_len: usize,
    inputs: Vec<Input>,
    shape: [i64; 3],
    input_ids: Vec<Vec<i64>>,
    token_type_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
    hidden_dims: i64,
    hidden_first_dims: Vec<f32>,
    hidden_token_sums: Vec<f32>,
    pooler_output: Vec<f32>,
    truncation: Truncation,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_dir() -> PathBuf {
    let dir = root().join("data/models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file(),
        "{} is missing the MiniLM-L6 checkpoint: run scripts/setup.sh (it fetches and unpacks it)",
        dir.display()
    );
    dir
}

fn reference() -> Reference {
    let file = root().join("tests/fixtures/bert_reference.json");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate it with scripts/bert_reference.py",
            file.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn to_vec2(t: &Tensor) -> Vec<Vec<i64>> {
    Vec::<Vec<i64>>::try_from(t).unwrap()
}

fn max_abs_diff(got: &Tensor, want: &[f32]) -> f64 {
    let got = got.to_kind(Kind::Float).reshape([-1]);
    let got: Vec<f32> = Vec::try_from(&got).unwrap();
    assert_eq!(got.len(), want.len(), "compared tensors differ in size");
    got.iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - *w as f64).abs())
        .fold(0.0, f64::max)
}

#[test]
fn tokenizer_matches_transformers() {
    let reference = reference();
    let tok = BertTokenizer::from_dir(&model_dir()).unwrap();
    let examples: Vec<(String, Option<String>)> = reference
        .inputs
        .iter()
        .map(|i| (i.a.clone(), i.b.clone()))
        .collect();
    let batch = tok.encode_batch(&examples, reference.max_len).unwrap();
    assert_eq!(to_vec2(&batch.input_ids), reference.input_ids);
    assert_eq!(to_vec2(&batch.token_type_ids), reference.token_type_ids);
    assert_eq!(to_vec2(&batch.attention_mask), reference.attention_mask);

    let t = &reference.truncation;
    let e = tok.encode(&t.a, Some(&t.b), t.max_len).unwrap();
    assert_eq!(e.ids.len(), t.max_len);
    assert_eq!(
        e.ids.iter().map(|&i| i as i64).collect::<Vec<_>>(),
        t.input_ids
    );
    assert_eq!(
        e.type_ids.iter().map(|&i| i as i64).collect::<Vec<_>>(),
        t.token_type_ids
    );
}

#[test]
fn hidden_states_and_pooler_match_transformers() {
    let reference = reference();
    let dir = model_dir();
    let tok = BertTokenizer::from_dir(&dir).unwrap();
    let examples: Vec<(String, Option<String>)> = reference
        .inputs
        .iter()
        .map(|i| (i.a.clone(), i.b.clone()))
        .collect();
    let batch = tok.encode_batch(&examples, reference.max_len).unwrap();

    let vs = nn::VarStore::new(Device::Cpu);
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let model = BertForSequenceClassification::load(
        &vs.root(),
        &dir,
        Head::Classification(2),
        None,
        None,
        &mut rng,
    )
    .unwrap();
    let out = model.encode(&batch);
    assert_eq!(out.hidden.size(), reference.shape.to_vec());

    let first = out.hidden.narrow(2, 0, reference.hidden_dims);
    let sums = out
        .hidden
        .sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
    let d_first = max_abs_diff(&first, &reference.hidden_first_dims);
    let d_sums = max_abs_diff(&sums, &reference.hidden_token_sums);
    let d_pooled = max_abs_diff(&out.pooled, &reference.pooler_output);
    println!(
        "max |rust - transformers|: hidden[..{}] {d_first:.3e}, per-token sums {d_sums:.3e}, pooler {d_pooled:.3e}",
        reference.hidden_dims
    );
    assert!(d_first <= TOLERANCE, "hidden states differ by {d_first}");
    assert!(
        d_sums <= TOLERANCE,
        "per-token hidden sums differ by {d_sums}"
    );
    assert!(d_pooled <= TOLERANCE, "pooler outputs differ by {d_pooled}");
}

/// The same comparison with the weights on a GPU, plus a training step with cross-head
/// attention there. Needs a CUDA device and a CUDA libtorch on the library path:
/// `cargo test --release --test bert_parity -- --ignored`.
#[test]
#[ignore = "needs a CUDA device"]
fn cuda_matches_transformers_and_trains_with_cross_head() {
    if let Err(e) = harness::device::enable_cuda() {
        panic!("libtorch_cuda.so could not be loaded: {e}");
    }
    assert!(
        tch::Cuda::is_available(),
        "no CUDA device visible to libtorch"
    );
    let device = Device::Cuda(0);
    let reference = reference();
    let dir = model_dir();
    let tok = BertTokenizer::from_dir(&dir).unwrap();
    let examples: Vec<(String, Option<String>)> = reference
        .inputs
        .iter()
        .map(|i| (i.a.clone(), i.b.clone()))
        .collect();
    let batch = tok.encode_batch(&examples, reference.max_len).unwrap();

    let vs = nn::VarStore::new(device);
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let model = BertForSequenceClassification::load(
        &vs.root(),
        &dir,
        Head::Classification(2),
        None,
        None,
        &mut rng,
    )
    .unwrap();
    let out = model.encode(&batch);
    assert_eq!(out.hidden.device(), device);
    let d_first = max_abs_diff(
        &out.hidden
            .narrow(2, 0, reference.hidden_dims)
            .to_device(Device::Cpu),
        &reference.hidden_first_dims,
    );
    let d_pooled = max_abs_diff(&out.pooled.to_device(Device::Cpu), &reference.pooler_output);
    println!("cuda: max |rust - transformers|: hidden[..8] {d_first:.3e}, pooler {d_pooled:.3e}");
    assert!(d_first <= TOLERANCE && d_pooled <= TOLERANCE);

    let mut cross_head = harness::model::CrossHead::new(1.0, ChaCha20Rng::seed_from_u64(1));
    let logits = model.forward_t(&batch, true, Some(&mut cross_head));
    let loss = model.loss(&logits, &Tensor::from_slice(&[0i64, 1, 0]));
    loss.backward();
    assert_eq!(cross_head.permutations(), 6);
    assert!(loss.double_value(&[]).is_finite());
}
