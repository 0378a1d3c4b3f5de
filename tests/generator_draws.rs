//! Computations that must draw from libtorch's process-wide CPU generator exactly as libtorch
//! would: harness's dropout, and the classifier's last layer computing the [CLS] position only.
//! The tests of this file take turns (they seed the one generator); no other test runs in this
//! process.

use harness::model::bert::{
    write_random_checkpoint, BertConfig, BertForSequenceClassification, Head,
};
use harness::model::cross_head::CrossHead;
use harness::model::tokenizer::Batch;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Tests that seed the process-wide generator take turns.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
const FLOAT: (Kind, Device) = (Kind::Float, Device::Cpu);

fn config() -> BertConfig {
    serde_json::from_value(serde_json::json!({
        "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 4,
        "intermediate_size": 32, "hidden_act": "gelu", "hidden_dropout_prob": 0.3,
        "attention_probs_dropout_prob": 0.3, "max_position_embeddings": 24, "type_vocab_size": 2,
        "layer_norm_eps": 1e-12
    }))
    .unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// The classifier's last layer computes the [CLS] position only (all its pooler reads). In
/// training, with dropout on and cross-head permutations drawn, the logits, the gradients of
/// every variable and every later draw of the generator are those of the full last layer.
#[test]
fn the_cls_position_alone_gives_the_full_last_layers_logits_gradients_and_draws() {
    let _one_at_a_time = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let c = config();
    write_random_checkpoint(dir.path(), &c, "", 1).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&c).unwrap(),
    )
    .unwrap();
    let vs = VarStore::new(Device::Cpu);
    let mut init = ChaCha20Rng::seed_from_u64(17);
    let model = BertForSequenceClassification::load(
        &vs.root(),
        dir.path(),
        Head::Classification(3),
        None,
        None,
        &mut init,
    )
    .unwrap();
    // Two examples, the first padded.
    let batch = Batch {
        input_ids: Tensor::from_slice(&[2i64, 7, 9, 11, 3, 0, 0, 2, 5, 6, 3, 8, 13, 3])
            .view([2, 7]),
        token_type_ids: Tensor::zeros([2, 7], (Kind::Int64, Device::Cpu)),
        attention_mask: Tensor::from_slice(&[1i64, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1])
            .view([2, 7]),
    };
    let mut sorted = vs.variables().into_iter().collect::<Vec<_>>();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let run = |seed: i64, every_position: bool| {
        tch::manual_seed(seed);
        let mut ch = CrossHead::new(1.0, ChaCha20Rng::seed_from_u64(3));
        for (_, v) in &sorted {
            v.grad().defined().then(|| v.grad().zero_());
        }
        let logits = if every_position {
            model.forward_every_position_t(&batch, true, Some(&mut ch))
        } else {
            model.forward_t(&batch, true, Some(&mut ch))
        };
        logits.sum(Kind::Float).backward();
        let grads: Vec<Tensor> = sorted.iter().map(|(_, v)| v.grad().copy()).collect();
        let next = Tensor::rand([8], (Kind::Float, Device::Cpu));
        (logits.detach(), grads, next)
    };
    let (full, full_grads, full_next) = run(42, true);
    let (first, first_grads, first_next) = run(42, false);
    assert!(max_abs_diff(&full, &first) < 1e-6, "{full} vs {first}");
    for ((name, _), (a, b)) in sorted.iter().zip(full_grads.iter().zip(&first_grads)) {
        assert!(max_abs_diff(a, b) < 1e-6, "gradient of {name} differs");
    }
    assert_eq!(
        max_abs_diff(&full_next, &first_next),
        0.0,
        "later draws differ"
    );
    // Dropout is really on: another seed gives other logits.
    let (other, _, _) = run(43, false);
    assert!(max_abs_diff(&other, &first) > 1e-3);
}

/// Bit for bit libtorch's dropout, and the generator left where libtorch leaves it, for
/// several sizes (below and across the Mersenne Twister's 624-word refills) and
/// probabilities.
#[test]
fn dropout_is_libtorchs_bit_for_bit() {
    let _one_at_a_time = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    for (shape, p) in [
        (vec![60], 0.1),
        (vec![3, 700], 0.5),
        (vec![2, 4, 33, 65], 0.9),
    ] {
        let x = Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu));
        tch::manual_seed(11);
        let theirs = x.dropout(p, true);
        let (their_u, their_n) = (Tensor::rand([5], FLOAT), Tensor::randn([5], FLOAT));
        tch::manual_seed(11);
        let ours = harness::native::dropout(&x, p, true);
        let (our_u, our_n) = (Tensor::rand([5], FLOAT), Tensor::randn([5], FLOAT));
        assert!(ours.equal(&theirs), "shape {shape:?}, p {p}");
        assert!(
            our_u.equal(&their_u) && our_n.equal(&their_n),
            "later draws differ"
        );
        let dropped = f64::try_from(ours.eq(0.0).to_kind(Kind::Float).mean(None)).unwrap();
        assert!(dropped > 0.0, "nothing dropped at p {p}");
    }
    // Evaluation, p = 0 and other kinds go through untouched or to libtorch.
    let x = Tensor::randn([4, 4], FLOAT);
    assert!(harness::native::dropout(&x, 0.5, false).equal(&x));
    assert!(harness::native::dropout(&x, 0.0, true).equal(&x));
    let t = x.tr();
    tch::manual_seed(3);
    let theirs = t.dropout(0.5, true);
    tch::manual_seed(3);
    assert!(harness::native::dropout(&t, 0.5, true).equal(&theirs));
}
