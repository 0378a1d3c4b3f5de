//! Adaptive input embeddings (Baevski & Auli, 2019) and adaptive softmax (Grave et al., 2017),
//! in the projected form of the Transformer-XL code: the vocabulary is cut into a head
//! (`0..cutoffs[0]`) and tail clusters `cutoffs[i-1]..cutoffs[i]`; cluster i has embedding size
//! `d_embed / div_val^i` and a projection to and from `d_proj` (= d_model).
//!
//! `log p(w) = log p_head(w)` for w in the head, and
//! `log p(w) = log p_head(cluster i) + log p_i(w)` for w in tail cluster i.
//! With no cutoffs both reduce to a plain embedding table and a plain softmax.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

/// Adaptive input/softmax settings of a word-level model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// Increasing word ids at which the vocabulary is cut (vocabulary sorted by frequency),
    /// each below `n_token`; empty = a single cluster.
    pub cutoffs: Vec<usize>,
    /// Embedding size divisor between consecutive clusters (1 = every cluster `d_embed` wide).
    #[serde(default = "one")]
    pub div_val: usize,
    /// Per cluster (head first, `cutoffs.len() + 1` entries): share the output projection with
    /// the input projection. Default, as in the original training script: `[false, true, …]`.
    #[serde(default)]
    pub tie_projs: Option<Vec<bool>>,
}

fn one() -> usize {
    1
}

impl AdaptiveConfig {
    /// `tie_projs` with its default filled in.
    pub fn tie_projs(&self) -> Vec<bool> {
        self.tie_projs.clone().unwrap_or_else(|| {
            std::iter::once(false)
                .chain(std::iter::repeat_n(true, self.cutoffs.len()))
                .collect()
        })
    }
}

/// `[0, cutoffs…, n_token]`.
pub fn cutoff_ends(cutoffs: &[i64], n_token: i64) -> Vec<i64> {
    std::iter::once(0)
        .chain(cutoffs.iter().copied())
        .chain([n_token])
        .collect()
}

/// Embedding size of cluster i: `d_embed / div_val^i`.
pub fn cluster_dim(d_embed: i64, div_val: i64, i: usize) -> i64 {
    d_embed / div_val.pow(i as u32)
}

fn normal(stdev: f64) -> nn::Init {
    nn::Init::Randn { mean: 0.0, stdev }
}

/// Adaptive input embedding: `[...]` word ids → `[..., d_proj]`, scaled by √d_proj.
#[derive(Debug)]
pub struct AdaptiveEmbedding {
    d_proj: i64,
    div_val: i64,
    ends: Vec<i64>,
    /// One table `[n_token, d_embed]` when `div_val = 1`, else one per cluster `[r−l, d_i]`.
    pub(crate) tables: Vec<Tensor>,
    /// Projections `[d_proj, d_i]` (absent when `div_val = 1` and `d_embed = d_proj`).
    pub(crate) projs: Vec<Option<Tensor>>,
    owned: i64,
}

impl AdaptiveEmbedding {
    /// Tables N(0, 0.02), projections N(0, 0.01), as the original initialisation.
    pub fn new(
        p: &nn::Path,
        n_token: i64,
        d_embed: i64,
        d_proj: i64,
        cutoffs: &[i64],
        div_val: i64,
    ) -> Self {
        let ends = cutoff_ends(cutoffs, n_token);
        let (mut tables, mut projs) = (Vec::new(), Vec::new());
        if div_val == 1 {
            tables.push((p / "emb_layers" / 0).var("weight", &[n_token, d_embed], normal(0.02)));
            projs.push(
                (d_proj != d_embed)
                    .then(|| (p / "emb_projs").var("0", &[d_proj, d_embed], normal(0.01))),
            );
        } else {
            for i in 0..ends.len() - 1 {
                let d_i = cluster_dim(d_embed, div_val, i);
                let n_i = ends[i + 1] - ends[i];
                tables.push((p / "emb_layers" / i).var("weight", &[n_i, d_i], normal(0.02)));
                projs.push(Some((p / "emb_projs").var(
                    &i.to_string(),
                    &[d_proj, d_i],
                    normal(0.01),
                )));
            }
        }
        let owned = tables
            .iter()
            .chain(projs.iter().flatten())
            .map(|t| t.numel() as i64)
            .sum();
        AdaptiveEmbedding {
            d_proj,
            div_val,
            ends,
            tables,
            projs,
            owned,
        }
    }

    /// Number of parameters this module holds.
    pub fn num_params(&self) -> i64 {
        self.owned
    }

    pub fn forward(&self, tokens: &Tensor) -> Tensor {
        let scale = (self.d_proj as f64).sqrt();
        let embed = |table: &Tensor, proj: &Option<Tensor>, ids: &Tensor| {
            let e = Tensor::embedding(table, ids, -1, false, false);
            match proj {
                Some(p) => e.matmul(&p.tr()),
                None => e,
            }
        };
        if self.div_val == 1 {
            return embed(&self.tables[0], &self.projs[0], tokens) * scale;
        }
        let mut shape = tokens.size();
        let flat = tokens.reshape([-1]);
        let table0 = &self.tables[0];
        let mut out = Tensor::zeros(
            [flat.size()[0], self.d_proj],
            (table0.kind(), table0.device()),
        );
        for i in 0..self.ends.len() - 1 {
            let (l, r) = (self.ends[i], self.ends[i + 1]);
            let idx = flat.ge(l).logical_and(&flat.lt(r)).nonzero().squeeze_dim(1);
            if idx.numel() == 0 {
                continue;
            }
            let ids = flat.index_select(0, &idx) - l;
            out = out.index_copy(0, &idx, &embed(&self.tables[i], &self.projs[i], &ids));
        }
        shape.push(self.d_proj);
        out.view(shape.as_slice()) * scale
    }
}

/// Projected adaptive log-softmax over `n_token` words.
#[derive(Debug)]
pub struct AdaptiveLogSoftmax {
    n_token: i64,
    div_val: i64,
    ends: Vec<i64>,
    /// One `[n_token, d_embed]` weight and `[n_token]` bias when `div_val = 1`, else one per
    /// cluster.
    pub(crate) weights: Vec<Tensor>,
    pub(crate) biases: Vec<Tensor>,
    /// Per cluster, `[d_proj, d_i]` (hidden → cluster space, `h·P`), or none.
    pub(crate) projs: Vec<Option<Tensor>>,
    /// Logits of the tail clusters in the head: `[n_clusters, d_embed]`, `[n_clusters]`.
    cluster_weight: Option<Tensor>,
    cluster_bias: Option<Tensor>,
    owned: i64,
}

/// Errors of [`AdaptiveLogSoftmax::nll`].
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("target word id {id} is outside the vocabulary 0..{n_token}: check that the model's `n_token` is the corpus vocabulary size")]
    OutOfVocabulary { id: i64, n_token: i64 },
}

impl AdaptiveLogSoftmax {
    /// `tie_weights`: output word weights are the input embedding tables (biases stay separate).
    /// `tie_projs[i]`: cluster i's projection is the input projection (the only one when
    /// `div_val = 1`). Untied weights N(0, 0.02), projections N(0, 0.01), biases 0.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &nn::Path,
        n_token: i64,
        d_embed: i64,
        d_proj: i64,
        cutoffs: &[i64],
        div_val: i64,
        emb: &AdaptiveEmbedding,
        tie_weights: bool,
        tie_projs: &[bool],
    ) -> Self {
        let ends = cutoff_ends(cutoffs, n_token);
        let n_clusters = cutoffs.len();
        assert_eq!(
            tie_projs.len(),
            n_clusters + 1,
            "tie_projs needs one entry per cluster"
        );
        let mut owned = 0i64;
        let mut own = |t: Tensor| {
            owned += t.numel() as i64;
            t
        };
        let (mut weights, mut biases, mut projs) = (Vec::new(), Vec::new(), Vec::new());
        let n_layers = if div_val == 1 { 1 } else { n_clusters + 1 };
        for i in 0..n_layers {
            let (d_i, n_i) = if div_val == 1 {
                (d_embed, n_token)
            } else {
                (cluster_dim(d_embed, div_val, i), ends[i + 1] - ends[i])
            };
            let lp = p / "out_layers" / i;
            weights.push(if tie_weights {
                emb.tables[i].shallow_clone()
            } else {
                own(lp.var("weight", &[n_i, d_i], normal(0.02)))
            });
            biases.push(own(lp.zeros("bias", &[n_i])));
        }
        for (i, &tie) in tie_projs.iter().enumerate() {
            let (src, d_i) = if div_val == 1 {
                (&emb.projs[0], d_embed)
            } else {
                (&emb.projs[i], cluster_dim(d_embed, div_val, i))
            };
            projs.push(if div_val == 1 && d_proj == d_embed {
                None
            } else if tie {
                src.as_ref().map(|t| t.shallow_clone())
            } else {
                Some(own((p / "out_projs").var(
                    &i.to_string(),
                    &[d_proj, d_i],
                    normal(0.01),
                )))
            });
        }
        let (cluster_weight, cluster_bias) = if n_clusters > 0 {
            (
                Some(own(p.var(
                    "cluster_weight",
                    &[n_clusters as i64, d_embed],
                    normal(0.02),
                ))),
                Some(own(p.zeros("cluster_bias", &[n_clusters as i64]))),
            )
        } else {
            (None, None)
        };
        AdaptiveLogSoftmax {
            n_token,
            div_val,
            ends,
            weights,
            biases,
            projs,
            cluster_weight,
            cluster_bias,
            owned,
        }
    }

    /// Number of parameters this module holds (tied tensors are counted by the embedding).
    pub fn num_params(&self) -> i64 {
        self.owned
    }

    fn n_clusters(&self) -> usize {
        self.ends.len() - 2
    }

    /// Weight `[r−l, d_i]` and bias of cluster i's words.
    fn cluster(&self, i: usize) -> (Tensor, Tensor) {
        let (l, r) = (self.ends[i], self.ends[i + 1]);
        if self.div_val == 1 {
            (
                self.weights[0].narrow(0, l, r - l),
                self.biases[0].narrow(0, l, r - l),
            )
        } else {
            (
                self.weights[i].shallow_clone(),
                self.biases[i].shallow_clone(),
            )
        }
    }

    fn logits(hidden: &Tensor, weight: &Tensor, bias: &Tensor, proj: &Option<Tensor>) -> Tensor {
        let h = match proj {
            Some(p) => hidden.matmul(p),
            None => hidden.shallow_clone(),
        };
        h.linear(weight, Some(bias))
    }

    /// Log-probabilities of the head: the head words then one entry per tail cluster.
    fn head_log_probs(&self, hidden: &Tensor) -> Tensor {
        let (w, b) = self.cluster(0);
        let (w, b) = match (&self.cluster_weight, &self.cluster_bias) {
            (Some(cw), Some(cb)) => (Tensor::cat(&[&w, cw], 0), Tensor::cat(&[&b, cb], 0)),
            _ => (w, b),
        };
        Self::logits(hidden, &w, &b, &self.projs[0]).log_softmax(-1, Kind::Float)
    }

    fn tail_log_probs(&self, hidden: &Tensor, i: usize) -> Tensor {
        let (w, b) = self.cluster(i);
        Self::logits(hidden, &w, &b, &self.projs[i]).log_softmax(-1, Kind::Float)
    }

    /// Full log-distribution over the vocabulary: `[N, d_proj]` → `[N, n_token]` (float32).
    pub fn log_probs(&self, hidden: &Tensor) -> Tensor {
        let head = self.head_log_probs(hidden);
        let shortlist = self.ends[1];
        let mut parts = vec![head.narrow(1, 0, shortlist)];
        for i in 1..=self.n_clusters() {
            let col = head.narrow(1, shortlist + i as i64 - 1, 1);
            parts.push(col + self.tail_log_probs(hidden, i));
        }
        Tensor::cat(&parts, 1)
    }

    /// Negative log-likelihood in nats of each target: hidden `[N, d_proj]`, target `[N]`
    /// → `[N]` (float32). Only the clusters that hold a target are evaluated.
    pub fn nll(&self, hidden: &Tensor, target: &Tensor) -> Result<Tensor, TargetError> {
        if target.numel() > 0 {
            for id in [target.min().int64_value(&[]), target.max().int64_value(&[])] {
                if id < 0 || id >= self.n_token {
                    return Err(TargetError::OutOfVocabulary {
                        id,
                        n_token: self.n_token,
                    });
                }
            }
        }
        let head = self.head_log_probs(hidden);
        if self.n_clusters() == 0 {
            return Ok(-head.gather(1, &target.unsqueeze(1), false).squeeze_dim(1));
        }
        let shortlist = self.ends[1];
        let mut nll = Tensor::zeros([target.size()[0]], (Kind::Float, hidden.device()));
        for i in 0..=self.n_clusters() {
            let (l, r) = (self.ends[i], self.ends[i + 1]);
            let idx = target
                .ge(l)
                .logical_and(&target.lt(r))
                .nonzero()
                .squeeze_dim(1);
            if idx.numel() == 0 {
                continue;
            }
            let tgt = (target.index_select(0, &idx) - l).unsqueeze(1);
            let head_i = head.index_select(0, &idx);
            let lp = if i == 0 {
                head_i.gather(1, &tgt, false).squeeze_dim(1)
            } else {
                let tail = self.tail_log_probs(&hidden.index_select(0, &idx), i);
                head_i.select(1, shortlist + i as i64 - 1)
                    + tail.gather(1, &tgt, false).squeeze_dim(1)
            };
            nll = nll.index_copy(0, &idx, &(-lp));
        }
        Ok(nll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rel_attention::tests::seeded;
    use tch::Device;

    fn build(
        n_token: i64,
        d_embed: i64,
        d_proj: i64,
        cutoffs: &[i64],
        div_val: i64,
        tie: bool,
    ) -> (nn::VarStore, AdaptiveEmbedding, AdaptiveLogSoftmax) {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let emb = AdaptiveEmbedding::new(
            &(&root / "word_emb"),
            n_token,
            d_embed,
            d_proj,
            cutoffs,
            div_val,
        );
        let tie_projs: Vec<bool> = std::iter::once(false)
            .chain(std::iter::repeat_n(true, cutoffs.len()))
            .collect();
        let crit = AdaptiveLogSoftmax::new(
            &(&root / "crit"),
            n_token,
            d_embed,
            d_proj,
            cutoffs,
            div_val,
            &emb,
            tie,
            &tie_projs,
        );
        // Deterministic values; non-zero biases so that they take part in the comparisons.
        crate::model::rel_attention::tests::reinit(&vs, 3, 0.5);
        (vs, emb, crit)
    }

    fn vs_count(vs: &nn::VarStore) -> i64 {
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }

    #[test]
    fn adaptive_softmax_is_a_log_distribution() {
        for &(div_val, tie, d_embed) in
            &[(1, false, 16), (1, true, 12), (2, true, 16), (4, false, 16)]
        {
            let (_vs, _emb, crit) = build(50, d_embed, 16, &[10, 25, 40], div_val, tie);
            let h = seeded(&[7, 16], 31) * 3.0;
            let lp = crit.log_probs(&h);
            assert_eq!(lp.size(), vec![7, 50]);
            let lse = lp.logsumexp([1], false);
            let err = lse.abs().max().double_value(&[]);
            assert!(err < 1e-5, "logsumexp off by {err} (div_val {div_val})");
            // nll agrees with the full distribution on every word, in every cluster.
            let target = Tensor::from_slice(&[0i64, 9, 10, 24, 25, 39, 49]);
            let nll = crit.nll(&h, &target).unwrap();
            let want = -lp.gather(1, &target.unsqueeze(1), false).squeeze_dim(1);
            let diff = (nll - want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "nll differs from log_probs by {diff}");
        }
    }

    #[test]
    fn single_cluster_is_the_full_softmax() {
        for &d_embed in &[16, 8] {
            let (_vs, _emb, crit) = build(30, d_embed, 16, &[], 1, false);
            let h = seeded(&[5, 16], 32);
            let hp = match &crit.projs[0] {
                Some(p) => h.matmul(p),
                None => h.shallow_clone(),
            };
            let full =
                (hp.matmul(&crit.weights[0].tr()) + &crit.biases[0]).log_softmax(-1, Kind::Float);
            let lp = crit.log_probs(&h);
            assert!((lp - &full).abs().max().double_value(&[]) < 1e-6);
            let target = Tensor::from_slice(&[0i64, 3, 29, 17, 8]);
            let nll = crit.nll(&h, &target).unwrap();
            let want = -full.gather(1, &target.unsqueeze(1), false).squeeze_dim(1);
            assert!((nll - want).abs().max().double_value(&[]) < 1e-6);
            assert!(crit
                .nll(&h, &Tensor::from_slice(&[0i64, 1, 2, 3, 30]))
                .is_err());
        }
    }

    #[test]
    fn adaptive_embedding_shapes_and_tying() {
        let (n_token, d_embed, d_proj) = (40i64, 16i64, 12i64);
        let cutoffs = [8i64, 20];
        let (vs, emb, crit) = build(n_token, d_embed, d_proj, &cutoffs, 2, true);
        let tokens = Tensor::from_slice(&[0i64, 7, 8, 19, 20, 39]).view([3, 2]);
        let e = emb.forward(&tokens);
        assert_eq!(e.size(), vec![3, 2, d_proj]);
        // Word 20 is in cluster 2 (dim 16/4 = 4): its embedding is table row 0 · Pᵀ · √d_proj.
        assert_eq!(emb.tables[2].size(), vec![20, 4]);
        let want = emb.tables[2]
            .get(0)
            .matmul(&emb.projs[2].as_ref().unwrap().tr())
            * (d_proj as f64).sqrt();
        assert!((e.get(2).get(0) - want).abs().max().double_value(&[]) < 1e-6);
        // Tied weights and tail projections share storage; the head projection is separate.
        for i in 0..3 {
            assert_eq!(crit.weights[i].data_ptr(), emb.tables[i].data_ptr());
        }
        assert_ne!(
            crit.projs[0].as_ref().unwrap().data_ptr(),
            emb.projs[0].as_ref().unwrap().data_ptr()
        );
        for i in 1..3 {
            assert_eq!(
                crit.projs[i].as_ref().unwrap().data_ptr(),
                emb.projs[i].as_ref().unwrap().data_ptr()
            );
        }
        assert_eq!(vs_count(&vs), emb.num_params() + crit.num_params());
        // Untied: every cluster has its own output weight.
        let (vs2, emb2, crit2) = build(n_token, d_embed, d_proj, &cutoffs, 2, false);
        assert_ne!(crit2.weights[1].data_ptr(), emb2.tables[1].data_ptr());
        assert_eq!(vs_count(&vs2), emb2.num_params() + crit2.num_params());
        assert!(vs_count(&vs2) > vs_count(&vs));
        // div_val = 1 with a projection: one table, one projection.
        let (_vs3, emb3, _) = build(n_token, d_embed, d_proj, &cutoffs, 1, true);
        assert_eq!(emb3.tables.len(), 1);
        assert_eq!(emb3.forward(&tokens).size(), vec![3, 2, d_proj]);
        let direct = emb3.tables[0]
            .get(39)
            .matmul(&emb3.projs[0].as_ref().unwrap().tr())
            * (d_proj as f64).sqrt();
        assert!(
            (emb3.forward(&tokens).get(2).get(1) - direct)
                .abs()
                .max()
                .double_value(&[])
                < 1e-6
        );
    }
}
