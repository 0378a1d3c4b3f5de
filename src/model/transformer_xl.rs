//! Transformer-XL language model (Dai et al., 2019) with skip-retain and cross-head attention
//! (METHODS §1–§3).
//!
//! Layout: tokens and targets are time-major, `[T, B]` (as the original code); hidden states
//! are `[T, B, d_model]`. Per layer, the memory holds the detached *inputs* of that layer from
//! earlier segments together with their absolute token positions, so a memory retained while
//! its layer was skipped is attended with its true distance
//! `δ = (d − 1)·M + L + i − j` (age d segments of M tokens, L memory entries).
//!
//! One forward pass: adaptive input embedding (× √d_model) → dropout (`emb_dropout`) → N blocks
//! `x ↦ FF(Attn(x, [mem; x]))` (each sub-block `LN(x + Dropout(f(x)))`, post-LN; positional
//! embeddings with `pos_dropout`) → dropout (`out_dropout`) →
//! adaptive log-softmax, giving the negative log-likelihood of every target in nats.

use crate::model::adaptive::{AdaptiveConfig, AdaptiveEmbedding, AdaptiveLogSoftmax, TargetError};
use crate::model::rel_attention::{
    merge_runs, AttnInputs, HeadPermutations, PositionalEncoding, PositionwiseFf, RelMultiHeadAttn,
    Run,
};
use crate::model::skip::SkipDraws;
use crate::native;
use crate::precision::Precision;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

/// Model hyper-parameters, read from a spec's model section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxlConfig {
    /// Vocabulary size. 0 in a spec means "the corpus vocabulary": the caller sets it from the
    /// data before building the model.
    #[serde(default)]
    pub n_token: usize,
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    pub d_head: usize,
    pub d_inner: usize,
    /// Embedding size of the (head cluster of the) input/output embedding; default d_model.
    #[serde(default)]
    pub d_embed: Option<usize>,
    #[serde(default)]
    pub dropout: f64,
    /// Dropout on attention probabilities.
    #[serde(default)]
    pub dropatt: f64,
    /// Dropout on the (scaled) input embedding; none = `dropout`, as the original code. The
    /// authors' WikiText-103 runs use 0 (their `--emb_dropout 0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emb_dropout: Option<f64>,
    /// Dropout on the positional embeddings r(δ); none = `dropout`, as the original code (the
    /// authors' code has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_dropout: Option<f64>,
    /// Dropout on the last layer's output, before the softmax; none = `dropout`, as the
    /// original code (the authors' code applies its `emb_dropout` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dropout: Option<f64>,
    /// Training segment length M (number of predicted tokens per step).
    pub tgt_len: usize,
    /// Memory length L per layer in training.
    pub mem_len: usize,
    /// Extended context: tokens of the previous segment re-fed as input (not predicted, not
    /// put into memory). 0 in every published configuration.
    #[serde(default)]
    pub ext_len: usize,
    /// Cap on relative distances; none = uncapped.
    #[serde(default)]
    pub clamp_len: Option<usize>,
    /// Every query sees at most `mem_len` keys (distances 0..mem_len−1).
    #[serde(default)]
    pub same_length: bool,
    /// Output word weights are the input embedding tables.
    #[serde(default = "yes")]
    pub tie_weights: bool,
    /// Adaptive input and softmax; none = plain embedding and softmax (character level).
    #[serde(default)]
    pub adaptive: Option<AdaptiveConfig>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TxlConfigError {
    #[error("model.{field} = {value} must be at least {min}")]
    TooSmall {
        field: &'static str,
        value: usize,
        min: usize,
    },
    #[error("model.n_token is 0: set it to the corpus vocabulary size before building the model")]
    NoVocabulary,
    #[error("model.{field} = {value} is not a rate in [0, 1): use a value such as 0.1")]
    Rate { field: &'static str, value: f64 },
    #[error(
        "model.d_model = {0} must be even (sinusoidal position embeddings pair sines and cosines)"
    )]
    OddModel(usize),
    #[error("model.ext_len = {ext_len} must be below model.tgt_len = {tgt_len}")]
    ExtLen { ext_len: usize, tgt_len: usize },
    #[error("model.adaptive.cutoffs {cutoffs:?} must be strictly increasing, above 0 and below n_token = {n_token}")]
    Cutoffs { cutoffs: Vec<usize>, n_token: usize },
    #[error("model.adaptive.div_val = {div_val} gives cluster {cluster} an embedding size of 0 (d_embed = {d_embed}): lower div_val or use fewer cutoffs")]
    DivVal {
        div_val: usize,
        cluster: usize,
        d_embed: usize,
    },
    #[error("model.adaptive.tie_projs has {got} entries; it needs {want} (the head cluster and one per cutoff)")]
    TieProjs { got: usize, want: usize },
}

impl TxlConfig {
    pub fn d_embed(&self) -> usize {
        self.d_embed.unwrap_or(self.d_model)
    }

    pub fn validate(&self) -> Result<(), TxlConfigError> {
        if self.n_token == 0 {
            return Err(TxlConfigError::NoVocabulary);
        }
        for (field, value) in [
            ("n_layer", self.n_layer),
            ("d_model", self.d_model),
            ("n_head", self.n_head),
            ("d_head", self.d_head),
            ("d_inner", self.d_inner),
            ("d_embed", self.d_embed()),
            ("tgt_len", self.tgt_len),
            ("clamp_len", self.clamp_len.unwrap_or(1)),
        ] {
            if value < 1 {
                return Err(TxlConfigError::TooSmall {
                    field,
                    value,
                    min: 1,
                });
            }
        }
        if self.d_model % 2 == 1 {
            return Err(TxlConfigError::OddModel(self.d_model));
        }
        for (field, value) in [
            ("dropout", self.dropout),
            ("dropatt", self.dropatt),
            ("emb_dropout", self.emb_dropout.unwrap_or(0.0)),
            ("pos_dropout", self.pos_dropout.unwrap_or(0.0)),
            ("out_dropout", self.out_dropout.unwrap_or(0.0)),
        ] {
            if !(0.0..1.0).contains(&value) {
                return Err(TxlConfigError::Rate { field, value });
            }
        }
        if self.ext_len >= self.tgt_len {
            return Err(TxlConfigError::ExtLen {
                ext_len: self.ext_len,
                tgt_len: self.tgt_len,
            });
        }
        if let Some(a) = &self.adaptive {
            let ok = a.cutoffs.windows(2).all(|w| w[0] < w[1])
                && a.cutoffs.first().is_none_or(|&c| c > 0)
                && a.cutoffs.last().is_none_or(|&c| c < self.n_token);
            if !ok {
                return Err(TxlConfigError::Cutoffs {
                    cutoffs: a.cutoffs.clone(),
                    n_token: self.n_token,
                });
            }
            if a.div_val < 1 {
                return Err(TxlConfigError::TooSmall {
                    field: "adaptive.div_val",
                    value: a.div_val,
                    min: 1,
                });
            }
            let last = a.cutoffs.len();
            if a.div_val > 1 && self.d_embed() / a.div_val.pow(last as u32) == 0 {
                return Err(TxlConfigError::DivVal {
                    div_val: a.div_val,
                    cluster: last,
                    d_embed: self.d_embed(),
                });
            }
            let got = a.tie_projs().len();
            if got != last + 1 {
                return Err(TxlConfigError::TieProjs {
                    got,
                    want: last + 1,
                });
            }
        }
        Ok(())
    }
}

/// Parameter counts of a model: all trainable parameters (tied tensors once) and those outside
/// the input embedding and the output softmax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    pub total: i64,
    pub non_embedding: i64,
}

impl TxlConfig {
    /// The parameter counts of the model this configuration builds, from the configuration
    /// alone (no tensors): the same numbers as [`TransformerXl::param_counts`] (tested against
    /// the var store). Per layer: q, k, v, output and positional projections (no biases), two
    /// LayerNorms, the feed-forward block with biases; u and v once; embedding: the adaptive
    /// input tables and projections, and the softmax's untied word weights and projections,
    /// its biases and cluster logits.
    pub fn parameter_counts(&self) -> ParamCounts {
        let (n, d, de) = (
            self.n_token as i64,
            self.d_model as i64,
            self.d_embed() as i64,
        );
        let (di, hdh) = (self.d_inner as i64, (self.n_head * self.d_head) as i64);
        let (cutoffs, div_val, tie_projs) = match &self.adaptive {
            Some(a) => (
                a.cutoffs.iter().map(|&c| c as i64).collect::<Vec<_>>(),
                a.div_val as i64,
                a.tie_projs(),
            ),
            None => (Vec::new(), 1, vec![false]),
        };
        let ends = crate::model::adaptive::cutoff_ends(&cutoffs, n);
        let n_clusters = cutoffs.len() as i64;
        let mut emb = 0i64;
        if div_val == 1 {
            let proj = if d != de { d * de } else { 0 };
            emb += n * de + proj; // input table and projection
            emb += if self.tie_weights { 0 } else { n * de } + n; // softmax weight, bias
            for &tie in &tie_projs {
                emb += if d == de || tie { 0 } else { d * de };
            }
        } else {
            for i in 0..ends.len() - 1 {
                let d_i = crate::model::adaptive::cluster_dim(de, div_val, i);
                let n_i = ends[i + 1] - ends[i];
                emb += n_i * d_i + d * d_i; // input table and projection
                emb += if self.tie_weights { 0 } else { n_i * d_i } + n_i;
                emb += if tie_projs[i] { 0 } else { d * d_i };
            }
        }
        if n_clusters > 0 {
            emb += n_clusters * de + n_clusters;
        }
        let per_layer = 5 * hdh * d + 2 * 2 * d + (d * di + di) + (di * d + d);
        let non_embedding = per_layer * self.n_layer as i64 + 2 * hdh;
        ParamCounts {
            total: emb + non_embedding,
            non_embedding,
        }
    }
}

/// Errors of a forward pass (inputs inconsistent with the model or the memory).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("tokens have shape {tokens:?} and targets {targets:?}: both must be [T, B] with the same B and no more targets than tokens")]
    Shape { tokens: Vec<i64>, targets: Vec<i64> },
    #[error("memory holds {memory} layers, the model has {model}: create it with `TransformerXl::new_memory`")]
    MemoryLayers { memory: usize, model: usize },
    #[error("memory holds a batch of {memory}, the segment has {segment}: use one memory per batch size")]
    MemoryBatch { memory: i64, segment: i64 },
    #[error("skip draws returned {got} decisions for {want} layers")]
    SkipLength { got: usize, want: usize },
    #[error("cross-head draw {perm:?} is not a permutation of 0..{n_head}")]
    Permutation { perm: Vec<i64>, n_head: usize },
}

/// Per-step random decisions of a training forward pass. Evaluation (`train = false`) never
/// calls either source.
#[derive(Default)]
pub struct Draws<'a> {
    /// Skip-retain decisions (phase 1); none = no layer skips.
    pub skip: Option<&'a mut dyn SkipDraws>,
    /// Cross-head permutations; none = plain attention.
    pub cross_head: Option<&'a mut dyn HeadPermutations>,
}

#[derive(Debug, Default)]
struct LayerMemory {
    /// `[L, B, d_model]`, detached, oldest first.
    states: Option<Tensor>,
    /// Absolute positions of the entries of `states`.
    runs: Vec<Run>,
    /// Index of the forward pass that last wrote this memory.
    written: Option<u64>,
}

/// Recurrent memory of every layer, with positions. One per token stream (batch layout and
/// `mem_len`): training, validation and test each use their own.
#[derive(Debug)]
pub struct Memory {
    mem_len: i64,
    ext_len: i64,
    next_pos: i64,
    segments: u64,
    layers: Vec<LayerMemory>,
}

impl Memory {
    /// Empty memory of `n_layer` layers keeping the last `mem_len` inputs of each; `ext_len`
    /// as in [`TxlConfig::ext_len`].
    pub fn new(n_layer: usize, mem_len: usize, ext_len: usize) -> Self {
        Memory {
            mem_len: mem_len as i64,
            ext_len: ext_len as i64,
            next_pos: 0,
            segments: 0,
            layers: (0..n_layer).map(|_| LayerMemory::default()).collect(),
        }
    }

    pub fn mem_len(&self) -> usize {
        self.mem_len as usize
    }

    pub fn n_layer(&self) -> usize {
        self.layers.len()
    }

    /// Absolute position (in tokens of the stream) of the next segment's first token.
    pub fn next_position(&self) -> i64 {
        self.next_pos
    }

    /// Forward passes seen so far.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// Memory of layer l, `[L, B, d_model]`, if any was written.
    pub fn layer(&self, l: usize) -> Option<&Tensor> {
        self.layers[l].states.as_ref()
    }

    /// Absolute positions of layer l's memory entries.
    pub fn layer_runs(&self, l: usize) -> &[Run] {
        &self.layers[l].runs
    }

    /// Age d of layer l's memory in segments: 1 when the previous forward pass wrote it.
    pub fn layer_age(&self, l: usize) -> Option<u64> {
        self.layers[l].written.map(|w| self.segments - w)
    }

    /// Forgets everything (e.g. at a discontinuity of the token stream).
    pub fn reset(&mut self) {
        *self = Memory::new(
            self.layers.len(),
            self.mem_len as usize,
            self.ext_len as usize,
        );
    }

    /// After a forward pass over `q_len` tokens: every layer that ran appends its input
    /// (without the last `ext_len` tokens) and keeps the last `mem_len` entries; a skipped
    /// layer (`None`) keeps its memory and its positions.
    fn update(&mut self, inputs: &[Option<Tensor>], q_len: i64) {
        let fresh = (q_len - self.ext_len).max(0);
        for (lm, input) in self.layers.iter_mut().zip(inputs) {
            let Some(x) = input else { continue };
            lm.written = Some(self.segments);
            if self.mem_len == 0 {
                lm.states = None;
                lm.runs.clear();
                continue;
            }
            let cur = x.narrow(0, 0, fresh).detach();
            let cat = match &lm.states {
                Some(m) => Tensor::cat(&[m, &cur], 0),
                None => cur,
            };
            let total = cat.size()[0];
            let keep = total.min(self.mem_len);
            lm.states = Some(cat.narrow(0, total - keep, keep));
            let runs = merge_runs(lm.runs.iter().copied().chain([Run {
                start: self.next_pos,
                len: fresh,
            }]));
            lm.runs = last_positions(&runs, keep);
        }
        self.next_pos += fresh;
        self.segments += 1;
    }
}

/// Everything of a [`Memory`] except its tensors, for checkpoints: with the per-layer tensors
/// of [`Memory::export`] it restores the memory exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryMeta {
    pub mem_len: i64,
    pub ext_len: i64,
    pub next_pos: i64,
    pub segments: u64,
    pub layers: Vec<LayerMemoryMeta>,
}

/// One layer of a [`MemoryMeta`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMemoryMeta {
    /// Position runs `(start, len)`, oldest first.
    pub runs: Vec<(i64, i64)>,
    /// The forward pass that last wrote the memory.
    pub written: Option<u64>,
}

impl Memory {
    /// The memory's bookkeeping and its per-layer states (`[L, B, d_model]`, none where
    /// nothing was written).
    pub fn export(&self) -> (MemoryMeta, Vec<Option<Tensor>>) {
        let meta = MemoryMeta {
            mem_len: self.mem_len,
            ext_len: self.ext_len,
            next_pos: self.next_pos,
            segments: self.segments,
            layers: self
                .layers
                .iter()
                .map(|l| LayerMemoryMeta {
                    runs: l.runs.iter().map(|r| (r.start, r.len)).collect(),
                    written: l.written,
                })
                .collect(),
        };
        let states = self
            .layers
            .iter()
            .map(|l| l.states.as_ref().map(|t| t.shallow_clone()))
            .collect();
        (meta, states)
    }

    /// The memory that [`Memory::export`] gave `meta` and `states` for.
    pub fn import(meta: &MemoryMeta, states: Vec<Option<Tensor>>) -> Memory {
        Memory {
            mem_len: meta.mem_len,
            ext_len: meta.ext_len,
            next_pos: meta.next_pos,
            segments: meta.segments,
            layers: meta
                .layers
                .iter()
                .zip(states)
                .map(|(meta, states)| LayerMemory {
                    states,
                    runs: meta
                        .runs
                        .iter()
                        .map(|&(start, len)| Run { start, len })
                        .collect(),
                    written: meta.written,
                })
                .collect(),
        }
    }
}

/// The last `n` positions of `runs`.
fn last_positions(runs: &[Run], mut n: i64) -> Vec<Run> {
    let mut out = Vec::new();
    for r in runs.iter().rev() {
        if n == 0 {
            break;
        }
        let take = r.len.min(n);
        out.push(Run {
            start: r.end() - take,
            len: take,
        });
        n -= take;
    }
    out.reverse();
    out
}

/// One block: relative attention then feed-forward, both post-LN.
#[derive(Debug)]
pub struct DecoderLayer {
    pub(crate) attn: RelMultiHeadAttn,
    pub(crate) ff: PositionwiseFf,
}

impl DecoderLayer {
    fn new(p: &nn::Path, cfg: &TxlConfig) -> Self {
        let (d, h, dh) = (cfg.d_model as i64, cfg.n_head as i64, cfg.d_head as i64);
        DecoderLayer {
            attn: RelMultiHeadAttn::new(&(p / "dec_attn"), d, h, dh, cfg.dropout, cfg.dropatt),
            ff: PositionwiseFf::new(&(p / "pos_ff"), d, cfg.d_inner as i64, cfg.dropout),
        }
    }

    pub fn forward_t(
        &self,
        x: &Tensor,
        inp: &AttnInputs,
        perm: Option<&[i64]>,
        train: bool,
    ) -> Tensor {
        self.ff
            .forward_t(&self.attn.forward_t(x, inp, perm, train), train)
    }
}

/// Transformer-XL language model.
#[derive(Debug)]
pub struct TransformerXl {
    cfg: TxlConfig,
    pub(crate) word_emb: AdaptiveEmbedding,
    pub(crate) crit: AdaptiveLogSoftmax,
    pub(crate) layers: Vec<DecoderLayer>,
    /// u and v of Dai et al. (2019) eq. (3), `[n_head, d_head]`, shared by all layers.
    pub(crate) r_w_bias: Tensor,
    pub(crate) r_r_bias: Tensor,
    clamp_len: Option<i64>,
    same_length: bool,
    precision: Precision,
    device: Device,
    n_params: i64,
    n_embedding_params: i64,
}

impl TransformerXl {
    /// Builds the model under `p`; parameter names are those of the original code
    /// (`layers.0.dec_attn.qkv_net.weight`, `word_emb.emb_layers.0.weight`, `crit.cluster_weight`, …).
    pub fn new(p: &nn::Path, cfg: &TxlConfig) -> Result<Self, TxlConfigError> {
        cfg.validate()?;
        let (n_token, d_model, d_embed) =
            (cfg.n_token as i64, cfg.d_model as i64, cfg.d_embed() as i64);
        let (cutoffs, div_val, tie_projs) = match &cfg.adaptive {
            Some(a) => (
                a.cutoffs.iter().map(|&c| c as i64).collect::<Vec<_>>(),
                a.div_val as i64,
                a.tie_projs(),
            ),
            None => (Vec::new(), 1, vec![false]),
        };
        let word_emb = AdaptiveEmbedding::new(
            &(p / "word_emb"),
            n_token,
            d_embed,
            d_model,
            &cutoffs,
            div_val,
        );
        let crit = AdaptiveLogSoftmax::new(
            &(p / "crit"),
            n_token,
            d_embed,
            d_model,
            &cutoffs,
            div_val,
            &word_emb,
            cfg.tie_weights,
            &tie_projs,
        );
        let layers: Vec<DecoderLayer> = (0..cfg.n_layer)
            .map(|l| DecoderLayer::new(&(p / "layers" / l), cfg))
            .collect();
        let bias_init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let hd = [cfg.n_head as i64, cfg.d_head as i64];
        let r_w_bias = p.var("r_w_bias", &hd, bias_init);
        let r_r_bias = p.var("r_r_bias", &hd, bias_init);
        let (d, di, hdh) = (
            d_model,
            cfg.d_inner as i64,
            (cfg.n_head * cfg.d_head) as i64,
        );
        // qkv, o, r without bias; two LayerNorms; FF with biases.
        let per_layer = 3 * hdh * d + hdh * d + d * hdh + 2 * 2 * d + (d * di + di) + (di * d + d);
        let n_embedding_params = word_emb.num_params() + crit.num_params();
        let n_params = n_embedding_params + per_layer * cfg.n_layer as i64 + 2 * hdh;
        Ok(TransformerXl {
            cfg: cfg.clone(),
            word_emb,
            crit,
            layers,
            r_w_bias,
            r_r_bias,
            clamp_len: cfg.clamp_len.map(|c| c as i64),
            same_length: cfg.same_length,
            precision: Precision::Fp32,
            device: p.device(),
            n_params,
            n_embedding_params,
        })
    }

    pub fn config(&self) -> &TxlConfig {
        &self.cfg
    }

    /// (total, non-embedding) parameter counts; embedding = input embedding, output softmax
    /// (weights, biases, projections, cluster logits). Tied tensors are counted once.
    pub fn param_counts(&self) -> (i64, i64) {
        (self.n_params, self.n_params - self.n_embedding_params)
    }

    /// Empty training memory (`mem_len`, `ext_len` of the config).
    pub fn new_memory(&self) -> Memory {
        Memory::new(self.cfg.n_layer, self.cfg.mem_len, self.cfg.ext_len)
    }

    /// Evaluation settings of the original code: a different distance cap and `same_length`
    /// (an evaluation memory may also be longer: `Memory::new(n_layer, eval_mem_len, 0)`).
    pub fn set_clamp_len(&mut self, clamp_len: Option<usize>) {
        self.clamp_len = clamp_len.map(|c| c as i64);
    }

    pub fn set_same_length(&mut self, same_length: bool) {
        self.same_length = same_length;
    }

    /// `train.precision`: with `bf16` the layers run under autocast to bfloat16, and the
    /// adaptive softmax (the loss) in float32 (src/precision.rs).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// Negative log-likelihood in nats of `targets` `[T, B]` given `tokens` `[Q, B]` (Q ≥ T;
    /// the last T positions are predicted): `[T, B]` float32. Updates `mem` in place.
    /// `train` switches dropout on and is the only case in which `draws` are consulted.
    pub fn forward(
        &self,
        tokens: &Tensor,
        targets: &Tensor,
        mem: &mut Memory,
        train: bool,
        draws: &mut Draws,
    ) -> Result<Tensor, ForwardError> {
        let (ts, ys) = (tokens.size(), targets.size());
        if ts.len() != 2 || ys.len() != 2 || ts[1] != ys[1] || ys[0] > ts[0] {
            return Err(ForwardError::Shape {
                tokens: ts,
                targets: ys,
            });
        }
        let hidden = self
            .precision
            .autocast(self.device, || self.hidden(tokens, mem, train, draws))?;
        let (t_len, b) = (ys[0], ys[1]);
        let pred = hidden
            .to_kind(Kind::Float)
            .narrow(0, ts[0] - t_len, t_len)
            .reshape([-1, self.cfg.d_model as i64]);
        let nll = self
            .crit
            .nll(&pred, &targets.reshape([-1]).to_device(self.device))?;
        Ok(nll.view([t_len, b]))
    }

    /// Final hidden states `[Q, B, d_model]` (after the output dropout) of `tokens` `[Q, B]`;
    /// updates `mem` in place. In training, one skip decision per layer is drawn first, then
    /// one cross-head draw per layer that runs, in layer order; a skipped layer draws nothing.
    pub fn hidden(
        &self,
        tokens: &Tensor,
        mem: &mut Memory,
        train: bool,
        draws: &mut Draws,
    ) -> Result<Tensor, ForwardError> {
        let n = self.layers.len();
        if mem.n_layer() != n {
            return Err(ForwardError::MemoryLayers {
                memory: mem.n_layer(),
                model: n,
            });
        }
        let (q_len, b) = tokens.size2().map_err(|_| ForwardError::Shape {
            tokens: tokens.size(),
            targets: vec![],
        })?;
        if let Some(m) = mem.layers.iter().find_map(|l| l.states.as_ref()) {
            if m.size()[1] != b {
                return Err(ForwardError::MemoryBatch {
                    memory: m.size()[1],
                    segment: b,
                });
            }
        }
        let skip = match (train, draws.skip.as_mut()) {
            (true, Some(s)) => s.draw(n),
            _ => vec![false; n],
        };
        if skip.len() != n {
            return Err(ForwardError::SkipLength {
                got: skip.len(),
                want: n,
            });
        }
        let p = self.cfg.dropout;
        let embedded = self.word_emb.forward(&tokens.to_device(self.device));
        let mut h = native::dropout(&embedded, self.cfg.emb_dropout.unwrap_or(p), train);
        let pos = PositionalEncoding::new(
            self.cfg.d_model as i64,
            self.clamp_len,
            self.cfg.pos_dropout.unwrap_or(p),
            train,
            h.kind(),
            self.device,
        );
        let window = (self.same_length && mem.mem_len > 0).then_some(mem.mem_len);
        let query_start = mem.next_pos;
        let mut inputs = Vec::with_capacity(n);
        for (l, layer) in self.layers.iter().enumerate() {
            if skip[l] {
                inputs.push(None);
                continue;
            }
            let perm = match (train, draws.cross_head.as_mut()) {
                (true, Some(c)) => c.draw(self.cfg.n_head),
                _ => None,
            };
            if let Some(pm) = &perm {
                let mut sorted = pm.clone();
                sorted.sort_unstable();
                if sorted != (0..self.cfg.n_head as i64).collect::<Vec<_>>() {
                    return Err(ForwardError::Permutation {
                        perm: pm.clone(),
                        n_head: self.cfg.n_head,
                    });
                }
            }
            let lm = &mem.layers[l];
            let inp = AttnInputs {
                mem: lm.states.as_ref(),
                mem_runs: &lm.runs,
                query_start,
                u: &self.r_w_bias,
                v: &self.r_r_bias,
                pos: &pos,
                window,
            };
            let out = layer.forward_t(&h, &inp, perm.as_deref(), train);
            inputs.push(Some(h));
            h = out;
        }
        mem.update(&inputs, q_len);
        Ok(native::dropout(
            &h,
            self.cfg.out_dropout.unwrap_or(p),
            train,
        ))
    }

    /// Full log-distribution over the vocabulary for hidden states `[N, d_model]`.
    pub fn log_probs(&self, hidden: &Tensor) -> Tensor {
        self.crit.log_probs(hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rel_attention::tests::{assert_close, naive_attention, reinit};
    use crate::model::skip::{Schedule, SkipRetain};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use std::cell::Cell;
    use tch::Kind;

    fn tiny(n_layer: usize, tgt_len: usize, mem_len: usize) -> TxlConfig {
        TxlConfig {
            n_token: 20,
            n_layer,
            d_model: 16,
            n_head: 2,
            d_head: 8,
            d_inner: 32,
            d_embed: None,
            dropout: 0.0,
            dropatt: 0.0,
            emb_dropout: None,
            pos_dropout: None,
            out_dropout: None,
            tgt_len,
            mem_len,
            ext_len: 0,
            clamp_len: None,
            same_length: false,
            tie_weights: true,
            adaptive: None,
        }
    }

    /// Builds the model and widens its weights (except LayerNorm) so that positional terms
    /// visibly change outputs.
    fn build(cfg: &TxlConfig, seed: u64) -> (nn::VarStore, TransformerXl) {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = TransformerXl::new(&vs.root(), cfg).unwrap();
        reinit(&vs, seed, 0.3);
        (vs, model)
    }

    fn tokens(seed: u64, t: i64, b: i64, n_token: i64) -> Tensor {
        use rand::Rng;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let v: Vec<i64> = (0..t * b).map(|_| rng.random_range(0..n_token)).collect();
        Tensor::from_slice(&v).view([t, b])
    }

    /// Reference forward: explicit distance matrices, per-head loops. `mem_dist[l]` gives
    /// δ(i, j) for layer l's memory keys as a function of (i, j).
    fn naive_hidden(
        model: &TransformerXl,
        toks: &Tensor,
        mem: &[Option<Tensor>],
        mem_dist: &dyn Fn(usize, i64, i64) -> i64,
        skip: &[bool],
        perms: &[Option<Vec<i64>>],
    ) -> Tensor {
        let q = toks.size()[0];
        let pos = PositionalEncoding::new(
            model.cfg.d_model as i64,
            model.clamp_len,
            0.0,
            false,
            Kind::Float,
            Device::Cpu,
        );
        let mut h = model.word_emb.forward(toks);
        for (l, layer) in model.layers.iter().enumerate() {
            if skip[l] {
                continue;
            }
            let m_len = mem[l].as_ref().map_or(0, |m| m.size()[0]);
            let mut d = Vec::new();
            for i in 0..q {
                for j in 0..m_len + q {
                    d.push(if j < m_len {
                        mem_dist(l, i, j)
                    } else {
                        i - (j - m_len)
                    });
                }
            }
            let dist = Tensor::from_slice(&d).view([q, m_len + q]);
            let a = naive_attention(
                &layer.attn,
                &h,
                mem[l].as_ref(),
                &dist,
                &model.r_w_bias,
                &model.r_r_bias,
                &pos,
                None,
                perms[l].as_deref(),
            );
            h = layer.ff.forward_t(&a, false);
        }
        h
    }

    fn snapshot(mem: &Memory) -> Vec<Option<Tensor>> {
        (0..mem.n_layer())
            .map(|l| mem.layer(l).map(|t| t.copy()))
            .collect()
    }

    fn forced(pattern: Vec<bool>) -> impl FnMut(usize) -> Vec<bool> {
        move |n| {
            assert_eq!(n, pattern.len());
            pattern.clone()
        }
    }

    /// Forced pattern: layer 1 runs at step 0, is skipped at steps 1 and 2, runs at step 3.
    #[test]
    fn skip_retain_keeps_memory_and_uses_true_age() {
        for &(m, l) in &[(4usize, 4usize), (5, 3)] {
            let cfg = tiny(3, m, l);
            let (_vs, model) = build(&cfg, 10);
            let mut mem = model.new_memory();
            let b = 2;
            let patterns = [
                vec![false, false, false],
                vec![false, true, false],
                vec![false, true, false],
                vec![false, false, false],
            ];
            let mut written_at_0 = None;
            for (step, pat) in patterns.iter().enumerate() {
                let toks = tokens(100 + step as u64, m as i64, b, 20);
                let before = snapshot(&mem);
                let ages: Vec<Option<u64>> = (0..3).map(|k| mem.layer_age(k)).collect();
                let mut f = forced(pat.clone());
                let mut draws = Draws {
                    skip: Some(&mut f),
                    cross_head: None,
                };
                let h = model.hidden(&toks, &mut mem, true, &mut draws).unwrap();
                if step == 0 {
                    written_at_0 = Some(mem.layer(1).unwrap().copy());
                }
                if step == 1 || step == 2 {
                    // Retained exactly as written at step 0.
                    assert!(mem.layer(1).unwrap().equal(written_at_0.as_ref().unwrap()));
                    // Age as seen by the next segment.
                    assert_eq!(mem.layer_age(1), Some(step as u64 + 1));
                }
                // The reference uses ages known from the pattern, not from the memory.
                let age_of = |k: usize| -> i64 {
                    if k == 1 && step == 3 {
                        3
                    } else {
                        1
                    }
                };
                if step == 3 {
                    assert_eq!(ages[1], Some(3));
                    assert_eq!(ages[0], Some(1));
                }
                let (mm, ll) = (m as i64, l as i64);
                let dist = |k: usize, i: i64, j: i64| (age_of(k) - 1) * mm + ll + i - j;
                let naive = naive_hidden(&model, &toks, &before, &dist, pat, &[None, None, None]);
                assert_close(&h, &naive, 1e-4);
                if step == 3 {
                    // With the ordinary (d = 1) distances layer 1 would give something else.
                    let ordinary = |_: usize, i: i64, j: i64| ll + i - j;
                    let wrong =
                        naive_hidden(&model, &toks, &before, &ordinary, pat, &[None, None, None]);
                    assert!((&h - wrong).abs().max().double_value(&[]) > 1e-3);
                }
            }
            // After layer 1 ran again its memory is fresh.
            assert_eq!(mem.layer_age(1), Some(1));
        }
    }

    /// Memory longer than the segment: retained memory followed by new entries forms two
    /// position runs; distances are query position minus key position.
    #[test]
    fn memory_longer_than_segment_keeps_exact_positions() {
        let (m, l) = (3i64, 5i64);
        let cfg = tiny(2, m as usize, l as usize);
        let (_vs, model) = build(&cfg, 11);
        let mut mem = model.new_memory();
        let patterns = [
            vec![false; 2],
            vec![false; 2],
            vec![true, false],
            vec![false; 2],
            vec![false; 2],
        ];
        for (step, pat) in patterns.iter().enumerate() {
            let toks = tokens(200 + step as u64, m, 2, 20);
            let before = snapshot(&mem);
            let key_pos: Vec<Vec<i64>> = (0..2)
                .map(|k| {
                    mem.layer_runs(k)
                        .iter()
                        .flat_map(|r| r.start..r.end())
                        .collect()
                })
                .collect();
            // Positions written by hand from the pattern: layer 0 skipped at step 2.
            let expect_layer0: Vec<i64> = match step {
                0 => vec![],
                1 => vec![0, 1, 2],
                2 | 3 => vec![1, 2, 3, 4, 5],
                _ => vec![4, 5, 9, 10, 11],
            };
            assert_eq!(key_pos[0], expect_layer0, "step {step}");
            let q0 = step as i64 * m;
            let dist = |k: usize, i: i64, j: i64| q0 + i - key_pos[k][j as usize];
            let mut f = forced(pat.clone());
            let mut draws = Draws {
                skip: Some(&mut f),
                cross_head: None,
            };
            let h = model.hidden(&toks, &mut mem, true, &mut draws).unwrap();
            let naive = naive_hidden(&model, &toks, &before, &dist, pat, &[None, None]);
            assert_close(&h, &naive, 1e-4);
        }
        assert_eq!(mem.layer_runs(0).len(), 1);
    }

    #[test]
    fn skipped_layer_is_the_identity() {
        let cfg = tiny(1, 4, 4);
        let (_vs, model) = build(&cfg, 12);
        let mut mem = model.new_memory();
        let toks = tokens(1, 4, 3, 20);
        let mut f = forced(vec![true]);
        let mut draws = Draws {
            skip: Some(&mut f),
            cross_head: None,
        };
        let h = model.hidden(&toks, &mut mem, true, &mut draws).unwrap();
        assert!(h.equal(&model.word_emb.forward(&toks)));
        assert!(mem.layer(0).is_none());
        assert_eq!(mem.next_position(), 4);
    }

    struct Counting {
        calls: Cell<usize>,
    }

    #[test]
    fn evaluation_never_skips_or_permutes_and_draws_nothing() {
        let mut cfg = tiny(3, 4, 4);
        cfg.dropout = 0.3;
        cfg.dropatt = 0.2;
        let (_vs, model) = build(&cfg, 13);
        let (mut m1, mut m2) = (model.new_memory(), model.new_memory());
        let counter = Counting {
            calls: Cell::new(0),
        };
        let mut skip_all = |n: usize| {
            counter.calls.set(counter.calls.get() + 1);
            vec![true; n]
        };
        let mut reverse = |h: usize| {
            counter.calls.set(counter.calls.get() + 1);
            Some((0..h as i64).rev().collect::<Vec<_>>())
        };
        for s in 0..3 {
            let toks = tokens(300 + s, 4, 2, 20);
            let targets = tokens(400 + s, 4, 2, 20);
            let mut asked = Draws {
                skip: Some(&mut skip_all),
                cross_head: Some(&mut reverse),
            };
            let a = model
                .forward(&toks, &targets, &mut m1, false, &mut asked)
                .unwrap();
            let b = model
                .forward(&toks, &targets, &mut m2, false, &mut Draws::default())
                .unwrap();
            assert!(a.equal(&b));
        }
        assert_eq!(counter.calls.get(), 0);
        for l in 0..3 {
            assert_eq!(m1.layer_age(l), Some(1));
        }
    }

    #[test]
    fn skip_draws_come_from_the_stream() {
        let cfg = tiny(4, 4, 4);
        let (_vs, model) = build(&cfg, 14);
        let sched = Schedule::Uniform {
            p: 0.5,
            exempt_first_last: false,
        };
        let run = |seed: u64| {
            let mut skip = SkipRetain::new(sched.clone(), ChaCha20Rng::seed_from_u64(seed));
            let mut mem = model.new_memory();
            let mut outs = Vec::new();
            let mut ages = Vec::new();
            for s in 0..6 {
                let toks = tokens(500 + s, 4, 2, 20);
                let mut draws = Draws {
                    skip: Some(&mut skip),
                    cross_head: None,
                };
                outs.push(model.hidden(&toks, &mut mem, true, &mut draws).unwrap());
                ages.push((0..4).map(|l| mem.layer_age(l)).collect::<Vec<_>>());
            }
            // The patterns the model used are the stream's: replay it.
            let mut replay = ChaCha20Rng::seed_from_u64(seed);
            let expected: u64 = (0..6)
                .map(|_| sched.draw(&mut replay, 4).iter().filter(|&&x| x).count() as u64)
                .sum();
            assert_eq!(skip.drawn, 24);
            assert_eq!(skip.skipped, expected);
            (outs, ages)
        };
        let (a, ages_a) = run(5);
        let (b, ages_b) = run(5);
        assert_eq!(ages_a, ages_b);
        for (x, y) in a.iter().zip(&b) {
            assert!(x.equal(y));
        }
        let (_, ages_c) = run(6);
        let (_, ages_d) = run(7);
        assert!(ages_a != ages_c || ages_a != ages_d);
    }

    #[test]
    fn cross_head_in_the_model() {
        let mut cfg = tiny(2, 4, 3);
        cfg.n_head = 4;
        cfg.d_head = 4;
        let (_vs, model) = build(&cfg, 15);
        let toks0 = tokens(600, 4, 2, 20);
        let toks1 = tokens(601, 4, 2, 20);
        // p = 0: a source that never permutes equals plain attention.
        let (mut m1, mut m2) = (model.new_memory(), model.new_memory());
        let mut never = |_: usize| None;
        for t in [&toks0, &toks1] {
            let mut d = Draws {
                skip: None,
                cross_head: Some(&mut never),
            };
            let a = model.hidden(t, &mut m1, true, &mut d).unwrap();
            let b = model
                .hidden(t, &mut m2, true, &mut Draws::default())
                .unwrap();
            assert!(a.equal(&b));
        }
        // A forced permutation per layer equals the hand-permuted reference.
        let mut mem = model.new_memory();
        let _ = model
            .hidden(&toks0, &mut mem, false, &mut Draws::default())
            .unwrap();
        let before = snapshot(&mem);
        let perms = vec![Some(vec![1i64, 3, 0, 2]), Some(vec![3i64, 2, 1, 0])];
        let mut queue = perms.clone().into_iter();
        let mut forced_perm = move |h: usize| {
            assert_eq!(h, 4);
            queue.next().unwrap()
        };
        let mut d = Draws {
            skip: None,
            cross_head: Some(&mut forced_perm),
        };
        let h = model.hidden(&toks1, &mut mem, true, &mut d).unwrap();
        let dist = |_: usize, i: i64, j: i64| 3 + i - j;
        let naive = naive_hidden(&model, &toks1, &before, &dist, &[false, false], &perms);
        assert_close(&h, &naive, 1e-4);
        let plain = naive_hidden(
            &model,
            &toks1,
            &before,
            &dist,
            &[false, false],
            &[None, None],
        );
        assert!((&h - plain).abs().max().double_value(&[]) > 1e-3);
        // Not a permutation: rejected.
        let mut bad = |_: usize| Some(vec![0i64, 0, 1, 2]);
        let mut d = Draws {
            skip: None,
            cross_head: Some(&mut bad),
        };
        assert!(matches!(
            model.hidden(&toks1, &mut mem, true, &mut d),
            Err(ForwardError::Permutation { .. })
        ));
    }

    #[test]
    fn same_length_and_clamp_len_reach_the_attention() {
        let mut cfg = tiny(2, 4, 6);
        cfg.clamp_len = Some(3);
        cfg.same_length = true;
        let (_vs, model) = build(&cfg, 16);
        let mut mem = model.new_memory();
        let t0 = tokens(700, 4, 2, 20);
        let t1 = tokens(701, 4, 2, 20);
        let _ = model
            .hidden(&t0, &mut mem, false, &mut Draws::default())
            .unwrap();
        let before = snapshot(&mem);
        let h = model
            .hidden(&t1, &mut mem, false, &mut Draws::default())
            .unwrap();
        // Reference with explicit distances: memory has 4 entries (positions 0..4).
        let pos = PositionalEncoding::new(16, Some(3), 0.0, false, Kind::Float, Device::Cpu);
        let mut x = model.word_emb.forward(&t1);
        let d: Vec<i64> = (0..4)
            .flat_map(|i| (0..8).map(move |j| 4 + i - j))
            .collect();
        let dist = Tensor::from_slice(&d).view([4, 8]);
        for (l, layer) in model.layers.iter().enumerate() {
            let a = naive_attention(
                &layer.attn,
                &x,
                before[l].as_ref(),
                &dist,
                &model.r_w_bias,
                &model.r_r_bias,
                &pos,
                Some(6),
                None,
            );
            x = layer.ff.forward_t(&a, false);
        }
        assert_close(&h, &x, 1e-4);
    }

    #[test]
    fn embedding_positional_and_output_dropout_are_separate_knobs() {
        // With dropout 0 everywhere, training equals evaluation; each of the three knobs alone
        // makes training differ; and with dropout 0.3 but all three at 0 only the blocks drop.
        let t = tokens(5, 6, 2, 20);
        let hidden = |cfg: &TxlConfig, train: bool| {
            let (_vs, model) = build(cfg, 9);
            tch::manual_seed(1);
            model
                .hidden(&t, &mut model.new_memory(), train, &mut Draws::default())
                .unwrap()
        };
        let base = tiny(2, 6, 6);
        assert!(hidden(&base, true).equal(&hidden(&base, false)));
        for knob in 0..3 {
            let mut c = base.clone();
            let p = Some(0.5);
            match knob {
                0 => c.emb_dropout = p,
                1 => c.pos_dropout = p,
                _ => c.out_dropout = p,
            }
            assert!(
                !hidden(&c, true).equal(&hidden(&c, false)),
                "knob {knob} has no effect"
            );
            assert!(hidden(&c, false).equal(&hidden(&base, false)));
        }
        let mut blocks_only = base.clone();
        blocks_only.dropout = 0.3;
        blocks_only.emb_dropout = Some(0.0);
        blocks_only.pos_dropout = Some(0.0);
        blocks_only.out_dropout = Some(0.0);
        let mut all = blocks_only.clone();
        all.emb_dropout = None;
        all.pos_dropout = None;
        all.out_dropout = None;
        assert!(!hidden(&blocks_only, true).equal(&hidden(&all, true)));
        let mut bad = base.clone();
        bad.out_dropout = Some(1.0);
        assert!(matches!(
            bad.validate(),
            Err(TxlConfigError::Rate {
                field: "out_dropout",
                ..
            })
        ));
    }

    #[test]
    fn parameter_counts_match_the_var_store() {
        let mut cfgs = vec![tiny(2, 4, 4)];
        let mut untied = tiny(3, 4, 4);
        untied.tie_weights = false;
        untied.d_embed = Some(8);
        cfgs.push(untied);
        for (div_val, tie, tie_projs, d_embed) in [
            (1usize, true, None, None),
            (2, true, None, None),
            (2, false, None, None),
            (2, false, Some(vec![false, false, false]), None),
            (2, true, Some(vec![true, false, true]), Some(12)),
            (1, false, Some(vec![false, true, false]), Some(12)),
            (1, true, None, Some(12)),
        ] {
            let mut c = tiny(2, 4, 4);
            c.n_token = 50;
            c.tie_weights = tie;
            c.d_embed = d_embed;
            c.adaptive = Some(AdaptiveConfig {
                cutoffs: vec![10, 30],
                div_val,
                tie_projs,
            });
            cfgs.push(c);
        }
        // The WT103 layout (4 clusters, div_val 4, untied) at a tiny width.
        let mut c = tiny(2, 4, 4);
        c.n_token = 300;
        c.d_model = 128;
        c.n_head = 4;
        c.d_head = 32;
        c.tie_weights = false;
        c.adaptive = Some(AdaptiveConfig {
            cutoffs: vec![20, 40, 200],
            div_val: 4,
            tie_projs: Some(vec![false; 4]),
        });
        cfgs.push(c);
        for cfg in &cfgs {
            let vs = nn::VarStore::new(Device::Cpu);
            let model = TransformerXl::new(&vs.root(), cfg).unwrap();
            let in_vs: i64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as i64)
                .sum();
            let (total, non_emb) = model.param_counts();
            assert_eq!(total, in_vs, "{cfg:?}");
            assert_eq!(
                cfg.parameter_counts(),
                ParamCounts {
                    total,
                    non_embedding: non_emb
                },
                "formula vs model: {cfg:?}"
            );
            let layers: i64 = vs
                .variables()
                .iter()
                .filter(|(n, _)| !n.starts_with("word_emb") && !n.starts_with("crit"))
                .map(|(_, t)| t.numel() as i64)
                .sum();
            assert_eq!(non_emb, layers);
        }
    }

    #[test]
    fn config_reads_from_yaml_and_validates() {
        let yaml =
            "n_layer: 2\nd_model: 16\nn_head: 2\nd_head: 8\nd_inner: 32\ntgt_len: 8\nmem_len: 8\n\
                    dropout: 0.1\nadaptive: {cutoffs: [10, 20], div_val: 2}\n";
        let mut cfg: TxlConfig = serde_yaml::from_str(yaml).unwrap();
        assert!(cfg.tie_weights);
        assert_eq!(cfg.validate(), Err(TxlConfigError::NoVocabulary));
        cfg.n_token = 30;
        assert_eq!(cfg.validate(), Ok(()));
        cfg.n_token = 20;
        assert!(matches!(
            cfg.validate(),
            Err(TxlConfigError::Cutoffs { .. })
        ));
        cfg.n_token = 30;
        cfg.d_model = 15;
        assert_eq!(cfg.validate(), Err(TxlConfigError::OddModel(15)));
        assert!(serde_yaml::from_str::<TxlConfig>(&format!("{yaml}bogus: 1\n")).is_err());
    }

    #[test]
    fn rejects_inconsistent_inputs() {
        let cfg = tiny(2, 4, 4);
        let (_vs, model) = build(&cfg, 17);
        let mut mem = model.new_memory();
        let t = tokens(1, 4, 2, 20);
        let _ = model
            .hidden(&t, &mut mem, false, &mut Draws::default())
            .unwrap();
        let t3 = tokens(2, 4, 3, 20);
        assert!(matches!(
            model.forward(&t3, &t3, &mut mem, false, &mut Draws::default()),
            Err(ForwardError::MemoryBatch { .. })
        ));
        let bad_target = Tensor::full([4, 2], 20, (Kind::Int64, Device::Cpu));
        assert!(matches!(
            model.forward(
                &t,
                &bad_target,
                &mut model.new_memory(),
                false,
                &mut Draws::default()
            ),
            Err(ForwardError::Target(_))
        ));
        let mut short = |_: usize| vec![false];
        let mut d = Draws {
            skip: Some(&mut short),
            cross_head: None,
        };
        assert!(matches!(
            model.hidden(&t, &mut model.new_memory(), true, &mut d),
            Err(ForwardError::SkipLength { .. })
        ));
    }

    /// On a machine with CUDA, the same weights give the same outputs on the GPU (catches
    /// tensors created on the wrong device). Without CUDA there is nothing to compare.
    #[test]
    fn cuda_matches_cpu_when_available() {
        let _ = crate::device::enable_cuda();
        if !tch::Cuda::is_available() {
            return;
        }
        let mut cfg = tiny(3, 4, 6);
        cfg.n_token = 30;
        cfg.clamp_len = Some(5);
        cfg.adaptive = Some(AdaptiveConfig {
            cutoffs: vec![8, 16],
            div_val: 2,
            tie_projs: None,
        });
        let (vs_cpu, cpu) = build(&cfg, 30);
        let mut vs_gpu = nn::VarStore::new(Device::Cuda(0));
        let gpu = TransformerXl::new(&vs_gpu.root(), &cfg).unwrap();
        vs_gpu.copy(&vs_cpu).unwrap();
        let (mut m_cpu, mut m_gpu) = (cpu.new_memory(), gpu.new_memory());
        let patterns = [vec![false; 3], vec![false, true, false], vec![false; 3]];
        for (s, pat) in patterns.iter().enumerate() {
            let x = tokens(800 + s as u64, 4, 2, 30);
            let y = tokens(900 + s as u64, 4, 2, 30);
            let run = |model: &TransformerXl, mem: &mut Memory| {
                let mut f = forced(pat.clone());
                let mut perm = |_: usize| Some(vec![1i64, 0]);
                let mut d = Draws {
                    skip: Some(&mut f),
                    cross_head: Some(&mut perm),
                };
                model
                    .forward(&x, &y, mem, true, &mut d)
                    .unwrap()
                    .to_device(Device::Cpu)
            };
            let a = run(&cpu, &mut m_cpu);
            let b = run(&gpu, &mut m_gpu);
            assert_close(&a, &b, 1e-3);
        }
    }

    /// A tiny adaptive model with memory, skip-retain and cross-head learns a repeated
    /// sequence: gradients reach every part.
    #[test]
    fn tiny_model_overfits_a_repeated_sequence() {
        let mut cfg = tiny(2, 8, 8);
        cfg.n_token = 24;
        cfg.adaptive = Some(AdaptiveConfig {
            cutoffs: vec![6, 14],
            div_val: 2,
            tie_projs: None,
        });
        let vs = nn::VarStore::new(Device::Cpu);
        let model = TransformerXl::new(&vs.root(), &cfg).unwrap();
        reinit(&vs, 20, 0.02);
        let mut opt = nn::OptimizerConfig::build(nn::Adam::default(), &vs, 1e-2).unwrap();
        // Period-7 sequence touching all three clusters; two streams offset by 3.
        let period = [0i64, 20, 7, 3, 15, 9, 22];
        let stream = |off: usize, from: usize, len: usize| -> Vec<i64> {
            (from..from + len)
                .map(|k| period[(k + off) % period.len()])
                .collect()
        };
        let batch = |from: usize, len: usize| {
            let a = stream(0, from, len);
            let b = stream(3, from, len);
            let v: Vec<i64> = a.iter().zip(&b).flat_map(|(x, y)| [*x, *y]).collect();
            Tensor::from_slice(&v).view([len as i64, 2])
        };
        let mut mem = model.new_memory();
        let mut skip = SkipRetain::new(Schedule::Functional, ChaCha20Rng::seed_from_u64(1));
        let mut ch_rng = ChaCha20Rng::seed_from_u64(2);
        let mut cross = move |h: usize| {
            use rand::Rng;
            (ch_rng.random::<f64>() < 0.1).then(|| {
                let mut p: Vec<i64> = (0..h as i64).collect();
                for i in (1..h).rev() {
                    p.swap(i, ch_rng.random_range(0..=i));
                }
                p
            })
        };
        let mut losses = Vec::new();
        for step in 0..50 {
            let from = step * 8;
            let x = batch(from, 8);
            let y = batch(from + 1, 8);
            let mut draws = Draws {
                skip: Some(&mut skip),
                cross_head: Some(&mut cross),
            };
            let loss = model
                .forward(&x, &y, &mut mem, true, &mut draws)
                .unwrap()
                .mean(Kind::Float);
            opt.zero_grad();
            loss.backward();
            if step == 0 {
                for (name, t) in vs.variables() {
                    let g = t.grad();
                    let norm = if g.defined() {
                        g.abs().sum(Kind::Float).double_value(&[])
                    } else {
                        0.0
                    };
                    assert!(norm > 0.0, "no gradient reaches {name}");
                }
            }
            opt.step();
            losses.push(loss.double_value(&[]));
        }
        let first = losses[..5].iter().sum::<f64>() / 5.0;
        let last = losses[45..].iter().sum::<f64>() / 5.0;
        assert!(last < 0.2 * first, "loss {first:.3} → {last:.3}");
        // Evaluation of the learned sequence with a fresh memory.
        let mut eval_mem = model.new_memory();
        let mut nll = Vec::new();
        for s in 0..3 {
            let out = model
                .forward(
                    &batch(s * 8, 8),
                    &batch(s * 8 + 1, 8),
                    &mut eval_mem,
                    false,
                    &mut Draws::default(),
                )
                .unwrap();
            nll.push(out.mean(Kind::Float).double_value(&[]));
        }
        assert!(nll[2] < 0.5, "eval nll {nll:?}");
    }
}
