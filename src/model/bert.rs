//! BERT (Devlin et al., 2019) for sequence classification, loading Hugging Face checkpoints,
//! with cross-head attention in every self-attention layer during training (METHODS.md §3, §6).
//!
//! Weights live in a `tch::nn::VarStore` under the names of Hugging Face's
//! `BertForSequenceClassification` (`bert.embeddings.word_embeddings.weight`, …,
//! `classifier.weight`), relative to the `nn::Path` given to [`BertForSequenceClassification::load`].
//! Biases and LayerNorm parameters are created in optimizer group [`NO_DECAY_GROUP`], every other
//! weight in [`DECAY_GROUP`] (weight decay "not on biases/LayerNorm", METHODS.md §6).

use std::path::Path;

use crate::native;
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use tch::{nn, Device, Kind, Tensor};

mod checkpoint;
mod config;
#[cfg(any(test, feature = "test-support"))]
mod random_checkpoint;

pub use checkpoint::{pytorch_only_message, verify_checkpoint};
pub use config::BertConfig;
#[cfg(any(test, feature = "test-support"))]
pub use random_checkpoint::write_random_checkpoint;

use checkpoint::{Checkpoint, Weights};

use super::cross_head::CrossHead;
use super::tokenizer::Batch;
use super::ModelError;

/// Optimizer group of the weights that take weight decay.
pub const DECAY_GROUP: usize = 0;
/// Optimizer group of biases and LayerNorm parameters (no weight decay).
pub const NO_DECAY_GROUP: usize = 1;

/// True for a variable that takes no weight decay: any bias and any LayerNorm parameter
/// (Devlin et al.'s `["bias", "LayerNorm.weight"]` rule).
pub fn no_decay(name: &str) -> bool {
    let mut parts = name.split('.');
    name.rsplit('.').next() == Some("bias") || parts.any(|p| p == "LayerNorm")
}

/// The task head on top of the pooled [CLS] vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// `num_labels` logits, trained with cross-entropy.
    Classification(usize),
    /// One output, trained with mean squared error (STS-B).
    Regression,
}

impl Head {
    /// Width of the classifier's output.
    pub fn num_outputs(self) -> usize {
        match self {
            Head::Classification(n) => n,
            Head::Regression => 1,
        }
    }
}

/// Cross-entropy over logits `[B, C]` with Int64 labels `[B]`, or for [`Head::Regression`] the
/// mean squared error between logits `[B, 1]` and Float labels `[B]` (METHODS.md §6).
pub fn loss(logits: &Tensor, labels: &Tensor, head: Head) -> Tensor {
    let labels = labels.to_device(logits.device());
    match head {
        Head::Classification(_) => logits.cross_entropy_for_logits(&labels.to_kind(Kind::Int64)),
        Head::Regression => logits
            .squeeze_dim(-1)
            .mse_loss(&labels.to_kind(logits.kind()), tch::Reduction::Mean),
    }
}

/// y = x Wᵀ + b.
#[derive(Debug)]
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn load(w: &Weights, in_dim: i64, out_dim: i64) -> Result<Self, ModelError> {
        Ok(Linear {
            weight: w.var("weight", &[out_dim, in_dim])?,
            bias: w.var("bias", &[out_dim])?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// LayerNorm over the last dimension (Ba et al., 2016).
#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn load(w: &Weights, dim: i64, eps: f64) -> Result<Self, ModelError> {
        Ok(LayerNorm {
            weight: w.var("weight", &[dim])?,
            bias: w.var("bias", &[dim])?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let dim = *x
            .size()
            .last()
            .expect("LayerNorm input has a last dimension");
        x.layer_norm([dim], Some(&self.weight), Some(&self.bias), self.eps, true)
    }
}

/// Token + position + segment embeddings, LayerNorm, dropout.
#[derive(Debug)]
pub struct Embeddings {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    layer_norm: LayerNorm,
    pad_token_id: i64,
    dropout: f64,
}

impl Embeddings {
    fn load(w: &Weights, c: &BertConfig) -> Result<Self, ModelError> {
        Ok(Embeddings {
            word_embeddings: w
                .sub("word_embeddings")
                .var("weight", &[c.vocab_size, c.hidden_size])?,
            position_embeddings: w
                .sub("position_embeddings")
                .var("weight", &[c.max_position_embeddings, c.hidden_size])?,
            token_type_embeddings: w
                .sub("token_type_embeddings")
                .var("weight", &[c.type_vocab_size, c.hidden_size])?,
            layer_norm: LayerNorm::load(&w.sub("LayerNorm"), c.hidden_size, c.layer_norm_eps)?,
            pad_token_id: c.pad_token_id,
            dropout: c.hidden_dropout_prob,
        })
    }

    fn forward_t(&self, input_ids: &Tensor, token_type_ids: &Tensor, train: bool) -> Tensor {
        let seq_len = input_ids.size()[1];
        let max_len = self.position_embeddings.size()[0];
        assert!(
            seq_len <= max_len,
            "sequence of {seq_len} tokens exceeds max_position_embeddings {max_len}"
        );
        let positions = Tensor::arange(seq_len, (Kind::Int64, input_ids.device())).unsqueeze(0);
        let words = Tensor::embedding(
            &self.word_embeddings,
            input_ids,
            self.pad_token_id,
            false,
            false,
        );
        let positions = Tensor::embedding(&self.position_embeddings, &positions, -1, false, false);
        let segments = Tensor::embedding(
            &self.token_type_embeddings,
            token_type_ids,
            -1,
            false,
            false,
        );
        let h = self.layer_norm.forward(&(words + positions + segments));
        native::dropout(&h, self.dropout, train)
    }
}

/// Multi-head scaled dot-product self-attention (Vaswani et al., 2017, eq. 1), with keys and
/// values optionally permuted across heads (cross-head attention, METHODS.md §3).
#[derive(Debug)]
pub struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    num_heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl SelfAttention {
    fn load(w: &Weights, c: &BertConfig) -> Result<Self, ModelError> {
        let h = c.hidden_size;
        Ok(SelfAttention {
            query: Linear::load(&w.sub("query"), h, h)?,
            key: Linear::load(&w.sub("key"), h, h)?,
            value: Linear::load(&w.sub("value"), h, h)?,
            num_heads: c.num_attention_heads,
            head_dim: c.head_dim(),
            dropout: c.attention_probs_dropout_prob,
        })
    }

    /// `[B, T, H]` → `[B, heads, T, d_head]`.
    fn split_heads(&self, x: &Tensor) -> Tensor {
        let (b, t, _) = x.size3().expect("attention input is [batch, seq, hidden]");
        x.view([b, t, self.num_heads, self.head_dim])
            .transpose(1, 2)
    }

    /// `x`: `[B, T, H]`; `mask`: additive `[B, 1, 1, T]`; `perm`: Int64 `[heads]` on x's
    /// device, query head h then uses the keys and values of head `perm[h]`.
    /// Returns the heads' outputs concatenated in slot order, `[B, T, H]`.
    /// With [`Rows::First`], only the first query's output, `[B, 1, H]` (keys and values are
    /// still every position's).
    fn forward_t(
        &self,
        x: &Tensor,
        mask: &Tensor,
        train: bool,
        perm: Option<&Tensor>,
        rows: Rows,
    ) -> Tensor {
        let (b, _, h) = x.size3().expect("attention input is [batch, seq, hidden]");
        let mut k = self.split_heads(&self.key.forward(x));
        let mut v = self.split_heads(&self.value.forward(x));
        if let Some(perm) = perm {
            k = k.index_select(1, perm);
            v = v.index_select(1, perm);
        }
        // softmax(q·kᵀ / √d_head + mask) · v, with dropout on the attention probabilities in
        // training.
        let scale = (self.head_dim as f64).powf(-0.5);
        let queries = match rows {
            Rows::All => x.shallow_clone(),
            Rows::First { .. } => x.narrow(1, 0, 1),
        };
        let q = self.split_heads(&self.query.forward(&queries));
        let dropout = if train { self.dropout } else { 0.0 };
        let context = if dropout > 0.0 && x.device() == Device::Cpu {
            // On the CPU, the operations of libtorch's unfused attention, which its fused one
            // runs when there is dropout (√scale on both sides, the mask added, softmax,
            // dropout), with the attention probabilities' dropout drawn by `native::dropout`.
            let root = scale.sqrt();
            let scores = (q * root).matmul(&(k.transpose(-2, -1) * root)) + mask;
            let probs = scores.softmax(-1, scores.kind());
            let probs = match rows {
                Rows::All => native::dropout(&probs, self.dropout, true),
                Rows::First { seq } => {
                    first_row_dropout(&probs, self.dropout, &[b, self.num_heads, seq, seq], 2)
                }
            };
            probs.matmul(&v)
        } else {
            // Evaluation, and CUDA: libtorch's fused attention (its own dropout on CUDA).
            Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                Some(mask),
                dropout,
                false,
                scale,
                false,
            )
        };
        let rows_out = context.size()[2];
        context.transpose(1, 2).contiguous().view([b, rows_out, h])
    }
}

/// A projection back to the hidden size, dropout, residual, LayerNorm: the output of the
/// attention (`attention.output`, from the hidden size) and of the FFN (`output`, from the
/// intermediate size).
#[derive(Debug)]
pub struct AddNorm {
    dense: Linear,
    layer_norm: LayerNorm,
    dropout: f64,
}

impl AddNorm {
    fn load(w: &Weights, c: &BertConfig, in_features: i64) -> Result<Self, ModelError> {
        Ok(AddNorm {
            dense: Linear::load(&w.sub("dense"), in_features, c.hidden_size)?,
            layer_norm: LayerNorm::load(&w.sub("LayerNorm"), c.hidden_size, c.layer_norm_eps)?,
            dropout: c.hidden_dropout_prob,
        })
    }

    fn forward_t(&self, hidden: &Tensor, residual: &Tensor, train: bool, rows: Rows) -> Tensor {
        let h = rows.dropout(&self.dense.forward(hidden), self.dropout, train);
        self.layer_norm.forward(&(h + residual))
    }
}

/// First FFN projection and GELU.
#[derive(Debug)]
pub struct Intermediate {
    dense: Linear,
    approximate: &'static str,
}

impl Intermediate {
    fn load(w: &Weights, c: &BertConfig) -> Result<Self, ModelError> {
        Ok(Intermediate {
            dense: Linear::load(&w.sub("dense"), c.hidden_size, c.intermediate_size)?,
            approximate: c.activation().map_err(|message| ModelError::Config {
                file: w.ckpt.file.clone(),
                message,
            })?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.dense.forward(x).gelu(self.approximate)
    }
}

/// One post-LayerNorm transformer block.
#[derive(Debug)]
pub struct Layer {
    attention: SelfAttention,
    attention_output: AddNorm,
    intermediate: Intermediate,
    output: AddNorm,
}

impl Layer {
    fn load(w: &Weights, c: &BertConfig) -> Result<Self, ModelError> {
        let attention = w.sub("attention");
        Ok(Layer {
            attention: SelfAttention::load(&attention.sub("self"), c)?,
            attention_output: AddNorm::load(&attention.sub("output"), c, c.hidden_size)?,
            intermediate: Intermediate::load(&w.sub("intermediate"), c)?,
            output: AddNorm::load(&w.sub("output"), c, c.intermediate_size)?,
        })
    }

    /// `[B, T, H]` → `[B, T, H]`, or `[B, 1, H]` (the first position) with [`Rows::First`].
    fn forward_t(
        &self,
        x: &Tensor,
        mask: &Tensor,
        train: bool,
        perm: Option<&Tensor>,
        rows: Rows,
    ) -> Tensor {
        let context = self.attention.forward_t(x, mask, train, perm, rows);
        let residual = match rows {
            Rows::All => x.shallow_clone(),
            Rows::First { .. } => x.narrow(1, 0, 1),
        };
        let x = self
            .attention_output
            .forward_t(&context, &residual, train, rows);
        let h = self.intermediate.forward(&x);
        self.output.forward_t(&h, &x, train, rows)
    }
}

/// Which positions a block computes outputs for: all, or only the first ([CLS]) of `seq`
/// (the last block of a classifier, whose other outputs nothing reads: its keys and values
/// still come from every position, so the [CLS] output is the same, and its dropout masks are
/// drawn whole, so every later draw of the generator is the same too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    All,
    First { seq: i64 },
}

impl Rows {
    /// Dropout on a block's `[B, rows, H]` output.
    fn dropout(self, x: &Tensor, p: f64, train: bool) -> Tensor {
        match self {
            Rows::All => native::dropout(x, p, train),
            Rows::First { seq } => {
                let (b, _, h) = x.size3().expect("block output is [batch, rows, hidden]");
                first_row_dropout(x, if train { p } else { 0.0 }, &[b, seq, h], 1)
            }
        }
    }
}

/// Dropout with probability `p` on the first row along `dim` of a CPU tensor of shape `full`,
/// given that row `x`: draws the mask of the whole tensor as dropout on it would (the same
/// draws of the generator) and applies its first row.
fn first_row_dropout(x: &Tensor, p: f64, full: &[i64], dim: i64) -> Tensor {
    if p == 0.0 {
        return x.shallow_clone();
    }
    x * native::dropout_mask(full, p, x.kind()).narrow(dim, 0, 1)
}

impl Layer {
    /// The number of attention heads.
    fn num_heads(&self) -> i64 {
        self.attention.num_heads
    }
}

/// The stack of blocks. In training, each layer in order asks `cross_head` for a permutation.
#[derive(Debug)]
pub struct Encoder {
    layers: Vec<Layer>,
}

impl Encoder {
    fn load(w: &Weights, c: &BertConfig) -> Result<Self, ModelError> {
        let layer = w.sub("layer");
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(&layer.sub(&i.to_string()), c))
            .collect::<Result<_, _>>()?;
        Ok(Encoder { layers })
    }

    /// `first_only`: the last layer computes the first position only (`[B, 1, H]`).
    fn forward_t(
        &self,
        x: &Tensor,
        mask: &Tensor,
        train: bool,
        mut cross_head: Option<&mut CrossHead>,
        first_only: bool,
    ) -> Tensor {
        let mut h = x.shallow_clone();
        let seq = x.size()[1];
        for (i, layer) in self.layers.iter().enumerate() {
            let perm = match (train, cross_head.as_deref_mut()) {
                (true, Some(ch)) => ch
                    .draw(layer.num_heads() as usize)
                    .map(|p| Tensor::from_slice(&p).to_device(h.device())),
                _ => None,
            };
            let rows = if first_only && i + 1 == self.layers.len() {
                Rows::First { seq }
            } else {
                Rows::All
            };
            h = layer.forward_t(&h, mask, train, perm.as_ref(), rows);
        }
        h
    }
}

/// Dense + tanh on the first ([CLS]) token.
#[derive(Debug)]
pub struct Pooler {
    dense: Linear,
}

impl Pooler {
    /// From the checkpoint, or (a checkpoint without pooler) zeros for
    /// [`BertForSequenceClassification::load`] to initialise.
    fn load(w: &Weights, c: &BertConfig) -> Result<Self, ModelError> {
        let h = c.hidden_size;
        if w.ckpt.has_pooler() {
            return Ok(Pooler {
                dense: Linear::load(&w.sub("dense"), h, h)?,
            });
        }
        let p = w.vs.sub("dense");
        Ok(Pooler {
            dense: Linear {
                weight: p.set_group(DECAY_GROUP).f_zeros("weight", &[h, h])?,
                bias: p.set_group(NO_DECAY_GROUP).f_zeros("bias", &[h])?,
            },
        })
    }

    fn forward(&self, hidden: &Tensor) -> Tensor {
        self.dense.forward(&hidden.select(1, 0)).tanh()
    }
}

/// Outputs of the BERT body.
#[derive(Debug)]
pub struct BertOutput {
    /// Last hidden state, `[B, T, H]`.
    pub hidden: Tensor,
    /// Pooler output, `[B, H]`.
    pub pooled: Tensor,
}

/// The BERT body: embeddings, encoder, pooler.
#[derive(Debug)]
pub struct BertModel {
    embeddings: Embeddings,
    encoder: Encoder,
    pooler: Pooler,
}

impl BertModel {
    fn load(w: &Weights, c: &BertConfig) -> Result<Self, ModelError> {
        Ok(BertModel {
            embeddings: Embeddings::load(&w.sub("embeddings"), c)?,
            encoder: Encoder::load(&w.sub("encoder"), c)?,
            pooler: Pooler::load(&w.sub("pooler"), c)?,
        })
    }

    /// `batch` must already be on the model's device. `first_only`: the last layer computes
    /// the [CLS] position only, which is all the pooler reads (`hidden` is then `[B, 1, H]`).
    fn forward_t(
        &self,
        batch: &Batch,
        train: bool,
        cross_head: Option<&mut CrossHead>,
        first_only: bool,
    ) -> BertOutput {
        let x = self
            .embeddings
            .forward_t(&batch.input_ids, &batch.token_type_ids, train);
        let mask = additive_mask(&batch.attention_mask, x.kind());
        let hidden = self
            .encoder
            .forward_t(&x, &mask, train, cross_head, first_only);
        let pooled = self.pooler.forward(&hidden);
        BertOutput { hidden, pooled }
    }
}

/// 1/0 key mask `[B, T]` → additive `[B, 1, 1, T]`: 0 where attended, the most negative finite
/// float where padded, so padded keys get zero attention weight.
fn additive_mask(attention_mask: &Tensor, kind: Kind) -> Tensor {
    let (b, t) = attention_mask
        .size2()
        .expect("attention_mask is [batch, seq]");
    let keep = attention_mask.to_kind(kind).view([b, 1, 1, t]);
    (keep.ones_like() - keep) * f64::from(f32::MIN)
}

/// `BertForSequenceClassification`: [CLS] → pooler (dense + tanh) → dropout → linear.
#[derive(Debug)]
pub struct BertForSequenceClassification {
    bert: BertModel,
    classifier: Linear,
    dropout: f64,
    head: Head,
    config: BertConfig,
    device: Device,
    pooler_initialised: bool,
}

impl BertForSequenceClassification {
    /// Loads `dir/config.json` and `dir/model.safetensors` (tensor names with or without the
    /// `bert.` prefix; unused tensors such as `cls.*`, `classifier.*` or `position_ids` are
    /// ignored) into variables under `vs` on `vs.device()`.
    ///
    /// `layers`: keep only the first N encoder layers. `dropout`: replaces the checkpoint's
    /// hidden, attention and classifier dropout. The classifier is new: weight ~ N(0,
    /// initializer_range²) drawn from `init_rng` by Box–Muller (row-major order), bias 0.
    pub fn load(
        vs: &nn::Path,
        dir: &Path,
        head: Head,
        layers: Option<usize>,
        dropout: Option<f64>,
        init_rng: &mut ChaCha20Rng,
    ) -> Result<Self, ModelError> {
        let config_file = dir.join("config.json");
        let mut config = BertConfig::from_file(&config_file)?;
        if let Some(p) = dropout {
            if !(0.0..1.0).contains(&p) {
                return Err(ModelError::Config {
                    file: config_file,
                    message: format!("dropout override {p} is outside [0, 1)"),
                });
            }
            config.hidden_dropout_prob = p;
            config.attention_probs_dropout_prob = p;
            config.classifier_dropout = Some(p);
        }
        if let Some(n) = layers {
            if n == 0 || n > config.num_hidden_layers {
                return Err(ModelError::Layers {
                    file: config_file,
                    requested: n,
                    available: config.num_hidden_layers,
                });
            }
            config.num_hidden_layers = n;
        }
        let num_outputs = head.num_outputs();
        if matches!(head, Head::Classification(n) if n < 2) {
            return Err(ModelError::Head(format!(
                "classification needs at least 2 labels, got {num_outputs}"
            )));
        }
        let ckpt = Checkpoint::read(&dir.join("model.safetensors"))?;
        let mut bert = BertModel::load(
            &Weights {
                ckpt: &ckpt,
                vs: vs.sub("bert"),
                name: String::new(),
            },
            &config,
        )?;
        let h = config.hidden_size;
        let init = normal_values(init_rng, num_outputs * h as usize, config.initializer_range);
        let init = Tensor::from_slice(&init).view([num_outputs as i64, h]);
        let cls = vs.sub("classifier");
        let classifier = Linear {
            weight: cls.set_group(DECAY_GROUP).f_var_copy("weight", &init)?,
            bias: cls
                .set_group(NO_DECAY_GROUP)
                .f_zeros("bias", &[num_outputs as i64])?,
        };
        // A checkpoint without pooler (e.g. a sentence-transformers export): the pooler is
        // new, initialised as transformers does (N(0, initializer_range²), bias 0), with values
        // drawn after the classifier's from the same head-init stream.
        let pooler_initialised = !ckpt.has_pooler();
        if pooler_initialised {
            let values = normal_values(init_rng, (h * h) as usize, config.initializer_range);
            let values = Tensor::from_slice(&values)
                .view([h, h])
                .to_device(vs.device());
            tch::no_grad(|| bert.pooler.dense.weight.copy_(&values));
            eprintln!(
                "note: {} has no pooler (pooler.dense.*); it is initialised N(0, {}²) from the \
                 run's head-init stream and trained with the classifier",
                dir.display(),
                config.initializer_range
            );
        }
        Ok(BertForSequenceClassification {
            bert,
            classifier,
            dropout: config
                .classifier_dropout
                .unwrap_or(config.hidden_dropout_prob),
            head,
            config,
            device: vs.device(),
            pooler_initialised,
        })
    }

    /// True when the checkpoint had no pooler and [`load`](Self::load) initialised it from the
    /// head-init stream.
    pub fn pooler_initialised(&self) -> bool {
        self.pooler_initialised
    }

    /// Logits `[B, num_labels]` (`[B, 1]` for regression). `train` turns dropout on and lets
    /// `cross_head` permute heads; in evaluation `cross_head` is not consulted and consumes
    /// no draws. Dropout uses libtorch's global generator (seed it with `tch::manual_seed`).
    pub fn forward_t(
        &self,
        batch: &Batch,
        train: bool,
        cross_head: Option<&mut CrossHead>,
    ) -> Tensor {
        let batch = batch.to_device(self.device);
        // On the CPU the last layer computes [CLS] only (see [`Rows`]).
        let first_only = self.device == Device::Cpu;
        self.logits(&batch, train, cross_head, first_only)
    }

    /// [`forward_t`](Self::forward_t) with the last layer computing every position, as a
    /// classifier without the [CLS]-only shortcut would (tests compare the two).
    #[cfg(any(test, feature = "test-support"))]
    pub fn forward_every_position_t(
        &self,
        batch: &Batch,
        train: bool,
        cross_head: Option<&mut CrossHead>,
    ) -> Tensor {
        self.logits(&batch.to_device(self.device), train, cross_head, false)
    }

    fn logits(
        &self,
        batch: &Batch,
        train: bool,
        cross_head: Option<&mut CrossHead>,
        first_only: bool,
    ) -> Tensor {
        let out = self.bert.forward_t(batch, train, cross_head, first_only);
        self.classifier
            .forward(&native::dropout(&out.pooled, self.dropout, train))
    }

    /// Last hidden state and pooler output in evaluation mode, without gradients.
    pub fn encode(&self, batch: &Batch) -> BertOutput {
        let batch = batch.to_device(self.device);
        tch::no_grad(|| self.bert.forward_t(&batch, false, None, false))
    }

    /// The loss of `logits` against `labels` for this model's head.
    pub fn loss(&self, logits: &Tensor, labels: &Tensor) -> Tensor {
        loss(logits, labels, self.head)
    }

    /// The configuration after the `layers`/`dropout` overrides.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The task head.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The device of the weights.
    pub fn device(&self) -> Device {
        self.device
    }
}

/// `n` draws from N(0, std²) by the Box–Muller transform: each pair of 64-bit words gives
/// u₁ ∈ (0, 1], u₂ ∈ [0, 1) and the two values r·cos(2πu₂), r·sin(2πu₂), r = √(−2 ln u₁).
pub fn normal_values(rng: &mut ChaCha20Rng, n: usize, std: f64) -> Vec<f32> {
    let unit = |rng: &mut ChaCha20Rng| (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = 1.0 - unit(rng);
        let u2 = unit(rng);
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        out.push((std * r * theta.cos()) as f32);
        out.push((std * r * theta.sin()) as f32);
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn tiny_config() -> BertConfig {
        BertConfig {
            vocab_size: 50,
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 32,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 24,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            initializer_range: 0.02,
            classifier_dropout: None,
            pad_token_id: 0,
            position_embedding_type: "absolute".into(),
        }
    }

    /// Two examples, the first padded: `[CLS] … [SEP] pad pad`.
    fn tiny_batch() -> Batch {
        let ids = Tensor::from_slice(&[2i64, 7, 9, 11, 3, 0, 0, 2, 5, 6, 3, 8, 13, 3]).view([2, 7]);
        let types = Tensor::from_slice(&[0i64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]).view([2, 7]);
        let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1]).view([2, 7]);
        Batch {
            input_ids: ids,
            token_type_ids: types,
            attention_mask: mask,
        }
    }

    fn load_tiny(
        dir: &Path,
        vs: &nn::VarStore,
        head: Head,
        dropout: Option<f64>,
    ) -> BertForSequenceClassification {
        let mut rng = ChaCha20Rng::seed_from_u64(17);
        BertForSequenceClassification::load(&vs.root(), dir, head, None, dropout, &mut rng).unwrap()
    }

    fn tiny_model(
        dropout: Option<f64>,
    ) -> (
        tempfile::TempDir,
        nn::VarStore,
        BertForSequenceClassification,
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_random_checkpoint(dir.path(), &tiny_config(), "", 1).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let model = load_tiny(dir.path(), &vs, Head::Classification(3), dropout);
        (dir, vs, model)
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn config_reads_hf_fields_and_ignores_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(
            &file,
            r#"{"architectures": ["BertModel"], "vocab_size": 30522, "hidden_size": 384,
                "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
                "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
                "type_vocab_size": 2, "layer_norm_eps": 1e-12, "use_cache": true}"#,
        )
        .unwrap();
        let c = BertConfig::from_file(&file).unwrap();
        assert_eq!(
            (c.hidden_size, c.num_hidden_layers, c.head_dim()),
            (384, 6, 32)
        );
        std::fs::write(&file, r#"{"vocab_size": 10, "hidden_size": 10, "num_hidden_layers": 1, "num_attention_heads": 3, "intermediate_size": 4}"#).unwrap();
        let err = BertConfig::from_file(&file).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("multiple of"),
            "{err}"
        );
    }

    #[test]
    fn loads_both_prefixes_and_ignores_extra_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config();
        write_random_checkpoint(dir.path(), &config, "bert.", 1).unwrap();
        // A pre-training head and an old classifier in the file are ignored.
        let mut tensors = Tensor::read_safetensors(dir.path().join("model.safetensors")).unwrap();
        tensors.push((
            "cls.predictions.bias".into(),
            Tensor::zeros([50], (Kind::Float, Device::Cpu)),
        ));
        tensors.push((
            "classifier.weight".into(),
            Tensor::zeros([7, 16], (Kind::Float, Device::Cpu)),
        ));
        Tensor::write_safetensors(&tensors, dir.path().join("model.safetensors")).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let with_prefix = load_tiny(dir.path(), &vs, Head::Regression, Some(0.0));

        let plain = tempfile::tempdir().unwrap();
        write_random_checkpoint(plain.path(), &config, "", 1).unwrap();
        let vs2 = nn::VarStore::new(Device::Cpu);
        let without = load_tiny(plain.path(), &vs2, Head::Regression, Some(0.0));

        let batch = tiny_batch();
        let a = with_prefix.encode(&batch);
        let b = without.encode(&batch);
        assert_eq!(max_abs_diff(&a.hidden, &b.hidden), 0.0);
        let logits = with_prefix.forward_t(&batch, false, None);
        assert_eq!(logits.size(), vec![2, 1]);
        // Variables carry Hugging Face's BertForSequenceClassification names.
        let names = vs.variables();
        assert!(names.contains_key("bert.encoder.layer.1.attention.self.key.weight"));
        assert!(names.contains_key("classifier.bias"));
        assert_eq!(names.len(), 5 + 2 * 16 + 2 + 2);
    }

    #[test]
    fn missing_or_misshaped_tensors_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config();
        write_random_checkpoint(dir.path(), &config, "", 1).unwrap();
        let file = dir.path().join("model.safetensors");
        let tensors = Tensor::read_safetensors(&file).unwrap();
        let dropped: Vec<_> = tensors
            .iter()
            .filter(|(n, _)| n != "encoder.layer.1.output.dense.bias")
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        Tensor::write_safetensors(&dropped, &file).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let err = BertForSequenceClassification::load(
            &vs.root(),
            dir.path(),
            Head::Regression,
            None,
            None,
            &mut rng,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("encoder.layer.1.output.dense.bias") && err.contains("model.safetensors"),
            "{err}"
        );
        // Only the first layer is needed when layers = 1.
        let vs = nn::VarStore::new(Device::Cpu);
        let one = BertForSequenceClassification::load(
            &vs.root(),
            dir.path(),
            Head::Regression,
            Some(1),
            None,
            &mut rng,
        )
        .unwrap();
        assert_eq!(one.config().num_hidden_layers, 1);
        assert!(!vs
            .variables()
            .contains_key("bert.encoder.layer.1.output.dense.weight"));

        let reshaped: Vec<_> = tensors
            .iter()
            .map(|(n, t)| {
                if n == "embeddings.position_embeddings.weight" {
                    (
                        n.clone(),
                        Tensor::zeros([10, 16], (Kind::Float, Device::Cpu)),
                    )
                } else {
                    (n.clone(), t.shallow_clone())
                }
            })
            .collect();
        Tensor::write_safetensors(&reshaped, &file).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let err = BertForSequenceClassification::load(
            &vs.root(),
            dir.path(),
            Head::Regression,
            None,
            None,
            &mut rng,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("embeddings.position_embeddings.weight")
                && err.contains("[10, 16]")
                && err.contains("[24, 16]"),
            "{err}"
        );

        let err = BertForSequenceClassification::load(
            &vs.root(),
            dir.path(),
            Head::Regression,
            Some(3),
            None,
            &mut rng,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot keep 3 encoder layers"), "{err}");
        let err = BertForSequenceClassification::load(
            &vs.root(),
            Path::new("/nonexistent"),
            Head::Regression,
            None,
            None,
            &mut rng,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/nonexistent/config.json") && err.contains("scripts/setup.sh"),
            "{err}"
        );
    }

    #[test]
    fn decay_groups_follow_no_decay() {
        assert!(no_decay(
            "bert.encoder.layer.0.attention.output.LayerNorm.weight"
        ));
        assert!(no_decay("bert.embeddings.LayerNorm.bias"));
        assert!(no_decay("classifier.bias"));
        assert!(!no_decay(
            "bert.encoder.layer.0.attention.self.query.weight"
        ));
        assert!(!no_decay("bert.embeddings.word_embeddings.weight"));
        let (_dir, vs, _model) = tiny_model(None);
        let vars = vs.variables_.lock().unwrap();
        let mut groups = [0usize; 2];
        for var in &vars.trainable_variables {
            let name = vars
                .named_variables
                .iter()
                .find(|(_, t)| t.data_ptr() == var.tensor.data_ptr())
                .map(|(n, _)| n.clone())
                .unwrap();
            let want = if no_decay(&name) {
                NO_DECAY_GROUP
            } else {
                DECAY_GROUP
            };
            assert_eq!(var.group, want, "{name}");
            groups[var.group] += 1;
        }
        // Per layer 6 weights + 10 biases/LayerNorm; embeddings 3 + 2; pooler 1 + 1; head 1 + 1.
        assert_eq!(groups, [2 * 6 + 3 + 1 + 1, 2 * 10 + 2 + 1 + 1]);
    }

    #[test]
    fn parameter_counts_match_the_var_store() {
        for (layers, head) in [(None, Head::Regression), (Some(1), Head::Classification(3))] {
            let dir = tempfile::tempdir().unwrap();
            write_random_checkpoint(dir.path(), &tiny_config(), "", 1).unwrap();
            let vs = nn::VarStore::new(Device::Cpu);
            let mut rng = ChaCha20Rng::seed_from_u64(0);
            let model = BertForSequenceClassification::load(
                &vs.root(),
                dir.path(),
                head,
                layers,
                None,
                &mut rng,
            )
            .unwrap();
            let in_vs: i64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as i64)
                .sum();
            let tables: i64 = vs
                .variables()
                .iter()
                .filter(|(n, _)| {
                    n.ends_with("word_embeddings.weight")
                        || n.ends_with("position_embeddings.weight")
                        || n.ends_with("token_type_embeddings.weight")
                })
                .map(|(_, t)| t.numel() as i64)
                .sum();
            let counts = model.config().parameter_counts(model.head().num_outputs());
            assert_eq!(counts.total, in_vs, "layers {layers:?}");
            assert_eq!(counts.non_embedding, in_vs - tables);
        }
    }

    #[test]
    fn classifier_init_comes_from_the_seed_stream() {
        let dir = tempfile::tempdir().unwrap();
        write_random_checkpoint(dir.path(), &tiny_config(), "", 1).unwrap();
        let weight = |seed: u64| {
            let vs = nn::VarStore::new(Device::Cpu);
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            BertForSequenceClassification::load(
                &vs.root(),
                dir.path(),
                Head::Classification(2),
                None,
                None,
                &mut rng,
            )
            .unwrap();
            let v = vs.variables();
            assert_eq!(
                v["classifier.bias"]
                    .abs()
                    .sum(Kind::Float)
                    .double_value(&[]),
                0.0
            );
            v["classifier.weight"].copy()
        };
        assert!(weight(3).equal(&weight(3)));
        assert!(!weight(3).equal(&weight(4)));
        let values = normal_values(&mut ChaCha20Rng::seed_from_u64(0), 20_001, 0.02);
        assert_eq!(values.len(), 20_001);
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / values.len() as f64;
        assert!(mean.abs() < 0.0005, "mean {mean}");
        assert!((var.sqrt() - 0.02).abs() < 0.0005, "std {}", var.sqrt());
    }

    #[test]
    fn padding_does_not_change_the_unpadded_tokens() {
        let (_dir, _vs, model) = tiny_model(None);
        let batch = tiny_batch();
        let full = model.encode(&batch);
        let first = Batch {
            input_ids: batch.input_ids.narrow(0, 0, 1).narrow(1, 0, 5),
            token_type_ids: batch.token_type_ids.narrow(0, 0, 1).narrow(1, 0, 5),
            attention_mask: batch.attention_mask.narrow(0, 0, 1).narrow(1, 0, 5),
        };
        let alone = model.encode(&first);
        let padded = full.hidden.narrow(0, 0, 1).narrow(1, 0, 5);
        assert!(max_abs_diff(&padded, &alone.hidden) < 1e-5);
        assert!(max_abs_diff(&full.pooled.narrow(0, 0, 1), &alone.pooled) < 1e-5);
    }

    #[test]
    fn cross_head_with_p_zero_changes_nothing_in_training() {
        let (_dir, _vs, model) = tiny_model(Some(0.0));
        let batch = tiny_batch();
        let plain = model.forward_t(&batch, true, None);
        let mut ch = CrossHead::new(0.0, ChaCha20Rng::seed_from_u64(5));
        let with = model.forward_t(&batch, true, Some(&mut ch));
        assert_eq!(max_abs_diff(&plain, &with), 0.0);
        assert_eq!(ch.draws(), 2, "one draw per layer");
        assert_eq!(ch.permutations(), 0);
    }

    #[test]
    fn forced_permutation_changes_training_logits_identity_does_not() {
        let (_dir, _vs, model) = tiny_model(Some(0.0));
        let batch = tiny_batch();
        let plain = model.forward_t(&batch, true, None);
        let mut identity = CrossHead::forced(vec![0, 1, 2, 3]);
        assert_eq!(
            max_abs_diff(&plain, &model.forward_t(&batch, true, Some(&mut identity))),
            0.0
        );
        let mut swap = CrossHead::forced(vec![1, 0, 3, 2]);
        let permuted = model.forward_t(&batch, true, Some(&mut swap));
        assert!(max_abs_diff(&plain, &permuted) > 1e-4);
        // A stream with p = 1 permutes every layer; these seeds draw a non-identity one.
        let mut random = CrossHead::new(1.0, ChaCha20Rng::seed_from_u64(11));
        let drawn = model.forward_t(&batch, true, Some(&mut random));
        assert_eq!(random.permutations(), 2);
        assert!(max_abs_diff(&plain, &drawn) > 1e-4);
    }

    #[test]
    fn evaluation_never_permutes_nor_draws() {
        let (_dir, _vs, model) = tiny_model(None);
        let batch = tiny_batch();
        let plain = model.forward_t(&batch, false, None);
        let mut ch = CrossHead::new(1.0, ChaCha20Rng::seed_from_u64(9));
        let with = model.forward_t(&batch, false, Some(&mut ch));
        assert_eq!(max_abs_diff(&plain, &with), 0.0);
        assert_eq!(ch.draws(), 0);
        // The stream is untouched: its next draw is a fresh stream's first.
        let mut fresh = CrossHead::new(1.0, ChaCha20Rng::seed_from_u64(9));
        assert_eq!(ch.draw(4), fresh.draw(4));
        let mut forced = CrossHead::forced(vec![3, 2, 1, 0]);
        assert_eq!(
            max_abs_diff(&plain, &model.forward_t(&batch, false, Some(&mut forced))),
            0.0
        );
    }

    /// Attention computed head by head with the keys and values of head π(h), by slicing the
    /// projection matrices: the definition in METHODS.md §3, independent of `index_select`.
    #[test]
    fn forced_permutation_equals_hand_permuted_attention() {
        let (_dir, _vs, model) = tiny_model(None);
        let att = &model.bert.encoder.layers[0].attention;
        let (nh, dh) = (att.num_heads, att.head_dim);
        let batch = tiny_batch();
        let x = model
            .bert
            .embeddings
            .forward_t(&batch.input_ids, &batch.token_type_ids, false);
        let mask = additive_mask(&batch.attention_mask, Kind::Float);
        let perm = [2i64, 0, 3, 1];
        let got = att.forward_t(
            &x,
            &mask,
            false,
            Some(&Tensor::from_slice(&perm)),
            Rows::All,
        );

        let project = |lin: &Linear, head: i64| {
            let w = lin.weight.narrow(0, head * dh, dh);
            let b = lin.bias.narrow(0, head * dh, dh);
            x.linear(&w, Some(&b)) // [B, T, dh]
        };
        let heads: Vec<Tensor> = (0..nh)
            .map(|h| {
                let src = perm[h as usize];
                let q = project(&att.query, h);
                let k = project(&att.key, src);
                let v = project(&att.value, src);
                let scores =
                    q.matmul(&k.transpose(1, 2)) / (dh as f64).sqrt() + mask.squeeze_dim(1);
                scores.softmax(-1, Kind::Float).matmul(&v)
            })
            .collect();
        let want = Tensor::cat(&heads, 2);
        assert!(
            max_abs_diff(&got, &want) < 1e-5,
            "{}",
            max_abs_diff(&got, &want)
        );
        // And it differs from the unpermuted attention.
        let unpermuted = att.forward_t(&x, &mask, false, None, Rows::All);
        assert!(max_abs_diff(&got, &unpermuted) > 1e-3);
    }

    #[test]
    fn losses_match_their_definitions() {
        let logits = Tensor::from_slice(&[2.0f32, 0.0, -1.0, 0.5, 0.5, 0.5]).view([2, 3]);
        let labels = Tensor::from_slice(&[0i64, 2]);
        // −log softmax: row 1 log(1 + e⁻² + e⁻³) ; row 2 log 3.
        let want = ((1.0 + (-2f64).exp() + (-3f64).exp()).ln() + 3f64.ln()) / 2.0;
        let got = loss(&logits, &labels, Head::Classification(3)).double_value(&[]);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let pred = Tensor::from_slice(&[1.0f32, 3.0]).view([2, 1]);
        let target = Tensor::from_slice(&[0.5f32, 4.0]);
        let got = loss(&pred, &target, Head::Regression).double_value(&[]);
        assert!((got - (0.25 + 1.0) / 2.0).abs() < 1e-6);
    }

    #[test]
    fn gradients_reach_every_trainable_variable() {
        let (_dir, vs, model) = tiny_model(None);
        let batch = tiny_batch();
        let mut ch = CrossHead::new(0.5, ChaCha20Rng::seed_from_u64(1));
        let logits = model.forward_t(&batch, true, Some(&mut ch));
        model
            .loss(&logits, &Tensor::from_slice(&[1i64, 2]))
            .backward();
        for (name, t) in vs.variables() {
            let g = t.grad();
            assert!(g.defined(), "{name} has no gradient");
            // Only the word embeddings as a whole may be zero (the pad row gets none by design).
            if !name.contains("word_embeddings") {
                assert!(
                    g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                    "{name} gradient is zero"
                );
            }
        }
    }
}
