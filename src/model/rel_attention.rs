//! Relative positional multi-head attention of Transformer-XL (Dai et al., 2019, §3.3), with
//! the rel-shift, memory keys carrying their true age, and cross-head attention (METHODS §1–§3).
//!
//! Score of query i and key j, per head:
//! `A(i, j) = (q_i + u)·k_j + (q_i + v)·W_R r(δ(i, j))`, scaled by 1/√d_head, where
//! δ(i, j) = pos(query i) − pos(key j) is the distance in tokens between the two absolute
//! positions and r is the sinusoidal embedding of that distance (capped at `clamp_len`).
//! Keys come as contiguous *runs* of positions: for ordinary Transformer-XL memory plus the
//! current segment is one run, and a layer whose memory was retained while it was skipped has
//! two (the memory, then a gap, then the current segment). Each run's positional term is one
//! matmul followed by the rel-shift.

use crate::native;
use std::cell::RefCell;
use std::collections::HashMap;
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// Keys at absolute positions `start .. start + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: i64,
    pub len: i64,
}

impl Run {
    pub fn end(&self) -> i64 {
        self.start + self.len
    }
}

/// Concatenates runs in order, merging a run into the previous one when it starts where the
/// previous ends, and dropping empty runs.
pub fn merge_runs(runs: impl IntoIterator<Item = Run>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for r in runs.into_iter().filter(|r| r.len > 0) {
        match out.last_mut() {
            Some(last) if last.end() == r.start => last.len += r.len,
            _ => out.push(r),
        }
    }
    out
}

/// Absolute positions of every key, in order: `[K]` (i64).
pub fn key_positions(runs: &[Run], device: Device) -> Tensor {
    let parts: Vec<Tensor> = runs
        .iter()
        .map(|r| Tensor::arange_start(r.start, r.end(), (Kind::Int64, device)))
        .collect();
    if parts.is_empty() {
        Tensor::zeros([0], (Kind::Int64, device))
    } else {
        Tensor::cat(&parts, 0)
    }
}

/// Source of cross-head permutations (METHODS §3): called once per attention layer that runs
/// in a training step, with the number of heads; `None` = no permutation this time, `Some(π)`
/// = head h of the queries uses head π(h)'s keys, values and positional vectors.
pub trait HeadPermutations {
    fn draw(&mut self, num_heads: usize) -> Option<Vec<i64>>;
}

impl<F: FnMut(usize) -> Option<Vec<i64>>> HeadPermutations for F {
    fn draw(&mut self, num_heads: usize) -> Option<Vec<i64>> {
        self(num_heads)
    }
}

/// Sinusoidal embeddings of distances, r(δ) = [sin(δ·ω_k); cos(δ·ω_k)], ω_k = 10000^(−2k/d)
/// (Vaswani et al., 2017; Dai et al., 2019 §3.3), with δ capped at `clamp_len` and dropout.
/// One instance serves all layers of one forward pass: a distance range asked for twice gets
/// the same tensor (and the same dropout mask), as the original computes `pos_emb` once.
pub struct PositionalEncoding {
    inv_freq: Tensor,
    clamp_len: Option<i64>,
    dropout: f64,
    train: bool,
    kind: Kind,
    cache: RefCell<HashMap<(i64, i64), Tensor>>,
}

impl PositionalEncoding {
    /// `d_model` must be even.
    pub fn new(
        d_model: i64,
        clamp_len: Option<i64>,
        dropout: f64,
        train: bool,
        kind: Kind,
        device: Device,
    ) -> Self {
        let k = Tensor::arange_start_step(0, d_model, 2, (Kind::Float, device));
        let inv_freq = (k * (-(10000f64.ln()) / d_model as f64)).exp();
        PositionalEncoding {
            inv_freq,
            clamp_len,
            dropout,
            train,
            kind,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// r(δ) for an i64 tensor of distances of any shape: `[..., d_model]`, no dropout.
    /// Distances are capped at `clamp_len` and floored at 0 (negative distances only occur
    /// at masked positions).
    pub fn embed(&self, dist: &Tensor) -> Tensor {
        let mut d = dist.clamp_min(0);
        if let Some(c) = self.clamp_len {
            d = d.clamp_max(c);
        }
        let x = d.to_kind(Kind::Float).unsqueeze(-1) * &self.inv_freq;
        Tensor::cat(&[x.sin(), x.cos()], -1).to_kind(self.kind)
    }

    /// r(hi), r(hi − 1), …, r(hi − count + 1): `[count, d_model]`, with dropout in training.
    pub fn descending(&self, hi: i64, count: i64) -> Tensor {
        if let Some(t) = self.cache.borrow().get(&(hi, count)) {
            return t.shallow_clone();
        }
        let dist =
            Tensor::arange_start_step(hi, hi - count, -1, (Kind::Int64, self.inv_freq.device()));
        let r = native::dropout(&self.embed(&dist), self.dropout, self.train);
        self.cache
            .borrow_mut()
            .insert((hi, count), r.shallow_clone());
        r
    }
}

/// Shifts row i of `x[..., Q, R]` left by Q − 1 − i (Dai et al., 2019, appendix B): if column
/// k of row i holds the term for distance c + Q − 1 − k, column j of the result holds the term
/// for distance c + i − j, valid wherever j ≤ i + R − Q (other entries are garbage and must be
/// masked). Implemented as zero-pad, reshape, drop the first row, reshape.
pub fn rel_shift(x: &Tensor) -> Tensor {
    let size = x.size();
    let n = size.len();
    let (q, r) = (size[n - 2], size[n - 1]);
    let mut pad_size = size.clone();
    pad_size[n - 1] = 1;
    let padded = Tensor::cat(
        &[
            Tensor::zeros(&pad_size, (x.kind(), x.device())),
            x.shallow_clone(),
        ],
        -1,
    );
    let mut view = size[..n - 2].to_vec();
    view.extend([r + 1, q]);
    padded
        .view(view.as_slice())
        .narrow(n as i64 - 2, 1, r)
        .reshape(size.as_slice())
}

/// Everything one attention layer needs besides its input.
pub struct AttnInputs<'a> {
    /// Memory of this layer `[L, B, d_model]`, detached, oldest first.
    pub mem: Option<&'a Tensor>,
    /// Absolute positions of the memory entries (total length L).
    pub mem_runs: &'a [Run],
    /// Absolute position of the first query.
    pub query_start: i64,
    /// Content bias u and position bias v, `[n_head, d_head]`, shared by all layers.
    pub u: &'a Tensor,
    pub v: &'a Tensor,
    pub pos: &'a PositionalEncoding,
    /// `same_length`: a query sees only keys at distance < this window.
    pub window: Option<i64>,
}

/// Relative multi-head attention sub-block with its post-LayerNorm:
/// `LN(x + Dropout(W_o · Attn(x, [mem; x])))`.
#[derive(Debug)]
pub struct RelMultiHeadAttn {
    pub(crate) n_head: i64,
    pub(crate) d_head: i64,
    pub(crate) qkv: nn::Linear,
    pub(crate) o: nn::Linear,
    pub(crate) r: nn::Linear,
    pub(crate) ln: nn::LayerNorm,
    dropout: f64,
    dropatt: f64,
}

pub(crate) fn normal_linear(p: nn::Path, d_in: i64, d_out: i64, bias: bool) -> nn::Linear {
    nn::linear(
        p,
        d_in,
        d_out,
        nn::LinearConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            bs_init: Some(nn::Init::Const(0.0)),
            bias,
        },
    )
}

impl RelMultiHeadAttn {
    /// Weights as in the original: `qkv_net`, `o_net`, `r_net` without bias, N(0, 0.02).
    pub fn new(
        p: &nn::Path,
        d_model: i64,
        n_head: i64,
        d_head: i64,
        dropout: f64,
        dropatt: f64,
    ) -> Self {
        RelMultiHeadAttn {
            n_head,
            d_head,
            qkv: normal_linear(p / "qkv_net", d_model, 3 * n_head * d_head, false),
            o: normal_linear(p / "o_net", n_head * d_head, d_model, false),
            r: normal_linear(p / "r_net", d_model, n_head * d_head, false),
            ln: nn::layer_norm(p / "layer_norm", vec![d_model], Default::default()),
            dropout,
            dropatt,
        }
    }

    /// `x`: `[Q, B, d_model]` → `[Q, B, d_model]`. `perm`: cross-head permutation of the
    /// heads' keys, values and projected positional vectors (queries, u, v stay in place).
    pub fn forward_t(
        &self,
        x: &Tensor,
        inp: &AttnInputs,
        perm: Option<&[i64]>,
        train: bool,
    ) -> Tensor {
        let (q_len, b, _) = x.size3().unwrap();
        let (h, dh) = (self.n_head, self.d_head);
        let device = x.device();
        let cat = match inp.mem {
            Some(m) => Tensor::cat(&[m, x], 0),
            None => x.shallow_clone(),
        };
        let k_len = cat.size()[0];
        // [K, B, 3·H·D] → [3, B, H, K, D]
        let heads = cat
            .apply(&self.qkv)
            .view([k_len, b, 3, h, dh])
            .permute([2, 1, 3, 0, 4]);
        let q = heads.get(0).narrow(2, k_len - q_len, q_len);
        let (mut k, mut v) = (heads.get(1), heads.get(2));
        let perm_t = perm.map(|p| {
            assert_eq!(
                p.len() as i64,
                h,
                "cross-head permutation has {} entries for {h} heads",
                p.len()
            );
            Tensor::from_slice(p).to_device(device)
        });
        if let Some(pt) = &perm_t {
            k = k.index_select(1, pt);
            v = v.index_select(1, pt);
        }
        let qu = &q + inp.u.view([1, h, 1, dh]);
        let qv = &q + inp.v.view([1, h, 1, dh]);
        let ac = qu.matmul(&k.transpose(-1, -2)); // [B, H, Q, K]

        let runs = merge_runs(inp.mem_runs.iter().copied().chain([Run {
            start: inp.query_start,
            len: q_len,
        }]));
        let total: i64 = runs.iter().map(|r| r.len).sum();
        assert_eq!(
            total,
            k_len,
            "memory positions cover {} keys, memory holds {}",
            total - q_len,
            k_len - q_len
        );
        let bd_parts: Vec<Tensor> = runs
            .iter()
            .map(|run| {
                // δ(i, j) = c + i − j within this run.
                let c = inp.query_start - run.start;
                let kk = run.len;
                let r_len = kk.max(q_len + (kk - 1).min(c).max(0));
                let r = inp.pos.descending(c + q_len - 1, r_len);
                let mut r_head = r.apply(&self.r).view([r_len, h, dh]).permute([1, 0, 2]);
                if let Some(pt) = &perm_t {
                    r_head = r_head.index_select(0, pt);
                }
                let bd = qv.matmul(&r_head.transpose(-1, -2).unsqueeze(0)); // [B, H, Q, R]
                rel_shift(&bd).narrow(3, 0, kk)
            })
            .collect();
        let bd = if bd_parts.len() == 1 {
            bd_parts.into_iter().next().unwrap()
        } else {
            Tensor::cat(&bd_parts, 3)
        };
        let score = (ac + bd) * (1.0 / (dh as f64).sqrt());

        let q_pos = Tensor::arange_start(
            inp.query_start,
            inp.query_start + q_len,
            (Kind::Int64, device),
        );
        let dist = q_pos.unsqueeze(1) - key_positions(&runs, device).unsqueeze(0);
        let score = score.masked_fill(&invisible(&dist, inp.window), f64::NEG_INFINITY);
        let prob = native::dropout(&score.softmax(-1, score.kind()), self.dropatt, train);
        let vec = prob
            .matmul(&v)
            .permute([2, 0, 1, 3])
            .reshape([q_len, b, h * dh]);
        let out = native::dropout(&vec.apply(&self.o), self.dropout, train);
        (x + out).apply(&self.ln)
    }
}

/// Keys a query may not see: the future (δ < 0) and, with `same_length`, δ ≥ window.
pub fn invisible(dist: &Tensor, window: Option<i64>) -> Tensor {
    let future = dist.lt(0);
    match window {
        Some(w) => future.logical_or(&dist.ge(w)),
        None => future,
    }
}

/// Position-wise feed-forward sub-block with its post-LayerNorm:
/// `LN(x + Dropout(W_2 · Dropout(ReLU(W_1 x + b_1)) + b_2))`.
#[derive(Debug)]
pub struct PositionwiseFf {
    l1: nn::Linear,
    l2: nn::Linear,
    ln: nn::LayerNorm,
    dropout: f64,
}

impl PositionwiseFf {
    pub fn new(p: &nn::Path, d_model: i64, d_inner: i64, dropout: f64) -> Self {
        PositionwiseFf {
            l1: normal_linear(p / "CoreNet" / 0, d_model, d_inner, true),
            l2: normal_linear(p / "CoreNet" / 3, d_inner, d_model, true),
            ln: nn::layer_norm(p / "layer_norm", vec![d_model], Default::default()),
            dropout,
        }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let inner = native::dropout(&x.apply(&self.l1).relu(), self.dropout, train);
        let core = native::dropout(&inner.apply(&self.l2), self.dropout, train);
        self.ln.forward(&(x + core))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// Deterministic test values, independent of libtorch's global generator (tests run in
    /// parallel): uniform on [−√3, √3] (unit variance).
    pub(crate) fn seeded(shape: &[i64], seed: u64) -> Tensor {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n: i64 = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * 3f32.sqrt())
            .collect();
        Tensor::from_slice(&v).view(shape)
    }

    /// Overwrites every variable except LayerNorm parameters with `scale · seeded(…)`.
    pub(crate) fn reinit(vs: &nn::VarStore, seed: u64, scale: f64) {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        tch::no_grad(|| {
            for (k, (name, mut t)) in vars.into_iter().enumerate() {
                if !name.contains("layer_norm") {
                    t.copy_(&(seeded(&t.size(), seed * 1000 + k as u64) * scale));
                }
            }
        });
    }

    /// Reference attention: builds the explicit query–key distance matrix `dist` `[Q, K]`,
    /// embeds every entry, and loops over heads, head h reading keys, values and positional
    /// vectors of head `perm[h]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn naive_attention(
        attn: &RelMultiHeadAttn,
        x: &Tensor,
        mem: Option<&Tensor>,
        dist: &Tensor,
        u: &Tensor,
        v: &Tensor,
        pos: &PositionalEncoding,
        window: Option<i64>,
        perm: Option<&[i64]>,
    ) -> Tensor {
        let (q_len, b, _) = x.size3().unwrap();
        let (h, dh) = (attn.n_head, attn.d_head);
        let cat = match mem {
            Some(m) => Tensor::cat(&[m, x], 0),
            None => x.shallow_clone(),
        };
        let k_len = cat.size()[0];
        let w = &attn.qkv.ws; // [3HD, d]
        let proj = |i: i64| {
            cat.matmul(&w.narrow(0, i * h * dh, h * dh).tr())
                .view([k_len, b, h, dh])
        };
        let q_all = proj(0);
        let q = q_all.narrow(0, k_len - q_len, q_len);
        let (k, val) = (proj(1), proj(2));
        let r = pos
            .embed(dist)
            .matmul(&attn.r.ws.tr())
            .view([q_len, k_len, h, dh]);
        let mask = invisible(dist, window);
        let mut outs = Vec::new();
        for hh in 0..h {
            let s = perm.map_or(hh, |p| p[hh as usize]);
            let qh = q.select(2, hh); // [Q, B, D]
            let kh = k.select(2, s);
            let vh = val.select(2, s);
            let rh = r.select(2, s); // [Q, K, D]
            let ac = Tensor::einsum("ibd,jbd->bij", &[&qh + u.get(hh), kh], None::<i64>);
            let bd = Tensor::einsum("ibd,ijd->bij", &[&qh + v.get(hh), rh], None::<i64>);
            let score = ((ac + bd) / (dh as f64).sqrt()).masked_fill(&mask, f64::NEG_INFINITY);
            let prob = score.softmax(-1, Kind::Float);
            outs.push(Tensor::einsum("bij,jbd->ibd", &[prob, vh], None::<i64>));
        }
        let vec = Tensor::stack(&outs, 2).reshape([q_len, b, h * dh]);
        (x + vec.matmul(&attn.o.ws.tr())).apply(&attn.ln)
    }

    pub(crate) fn assert_close(a: &Tensor, b: &Tensor, tol: f64) {
        assert_eq!(a.size(), b.size());
        let diff = (a - b).abs().max().double_value(&[]);
        assert!(diff < tol, "max abs difference {diff} ≥ {tol}");
    }

    struct Setup {
        _vs: nn::VarStore,
        attn: RelMultiHeadAttn,
        u: Tensor,
        v: Tensor,
    }

    fn setup(seed: u64, d_model: i64, n_head: i64, d_head: i64) -> Setup {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let attn = RelMultiHeadAttn::new(&(&root / "attn"), d_model, n_head, d_head, 0.0, 0.0);
        let u = root.zeros("u", &[n_head, d_head]);
        let v = root.zeros("v", &[n_head, d_head]);
        // Larger than the 0.02 init so the positional term matters in the comparison.
        reinit(&vs, seed, 0.3);
        Setup {
            _vs: vs,
            attn,
            u,
            v,
        }
    }

    fn dist_matrix(query_start: i64, q_len: i64, key_pos: &[i64]) -> Tensor {
        let q = Tensor::arange_start(query_start, query_start + q_len, (Kind::Int64, Device::Cpu));
        q.unsqueeze(1) - Tensor::from_slice(key_pos).unsqueeze(0)
    }

    #[test]
    fn rel_shift_moves_rows_as_documented() {
        // x[i, k] = 10·i + k; result[i, j] must be x[i, Q − 1 − i + j] where valid.
        let (q, r) = (3i64, 5i64);
        let vals: Vec<f32> = (0..q)
            .flat_map(|i| (0..r).map(move |k| (10 * i + k) as f32))
            .collect();
        let x = Tensor::from_slice(&vals).view([q, r]);
        let y = rel_shift(&x);
        for i in 0..q {
            for j in 0..r {
                if j <= i + r - q {
                    let want = 10 * i + (q - 1 - i + j);
                    assert_eq!(y.double_value(&[i, j]) as i64, want, "({i},{j})");
                }
            }
        }
    }

    #[test]
    fn merge_runs_joins_contiguous_positions() {
        let m = merge_runs([
            Run { start: 0, len: 3 },
            Run { start: 3, len: 2 },
            Run { start: 9, len: 0 },
            Run { start: 10, len: 4 },
        ]);
        assert_eq!(m, vec![Run { start: 0, len: 5 }, Run { start: 10, len: 4 }]);
    }

    /// Fast rel-shift attention = explicit distance matrix, for memory shorter than, longer
    /// than, equal to and absent from the segment, with clamp_len and same_length.
    #[test]
    fn rel_shift_attention_equals_explicit_distances() {
        let (d_model, n_head, d_head, b) = (16, 2, 8, 2);
        let s = setup(1, d_model, n_head, d_head);
        let cases: &[(i64, i64, Option<i64>, Option<i64>)] = &[
            // (tgt_len, mem_len, clamp_len, same_length window)
            (5, 0, None, None),
            (5, 3, None, None),
            (3, 7, None, None),
            (4, 4, None, None),
            (6, 5, Some(4), None),
            (4, 6, None, Some(6)),
            (5, 3, None, Some(3)),
            (6, 9, Some(5), Some(9)),
        ];
        for &(q_len, m_len, clamp, window) in cases {
            let x = seeded(&[q_len, b, d_model], 901);
            let mem = (m_len > 0).then(|| seeded(&[m_len, b, d_model], 902));
            let start = 100;
            let mem_runs = [Run {
                start: start - m_len,
                len: m_len,
            }];
            let pos = PositionalEncoding::new(d_model, clamp, 0.0, false, Kind::Float, Device::Cpu);
            let inp = AttnInputs {
                mem: mem.as_ref(),
                mem_runs: &mem_runs,
                query_start: start,
                u: &s.u,
                v: &s.v,
                pos: &pos,
                window,
            };
            let fast = s.attn.forward_t(&x, &inp, None, false);
            // Keys at positions start − m_len .. start + q_len; δ = m_len + i − j.
            let keys: Vec<i64> = (start - m_len..start + q_len).collect();
            let dist = dist_matrix(start, q_len, &keys);
            let naive = naive_attention(
                &s.attn,
                &x,
                mem.as_ref(),
                &dist,
                &s.u,
                &s.v,
                &pos,
                window,
                None,
            );
            assert_close(&fast, &naive, 1e-5);
            // The positional term matters: wrong distances give a different result.
            let wrong = naive_attention(
                &s.attn,
                &x,
                mem.as_ref(),
                &(dist.clamp_max(1)),
                &s.u,
                &s.v,
                &pos,
                window,
                None,
            );
            if m_len + q_len > 2 {
                let diff = (&fast - wrong).abs().max().double_value(&[]);
                assert!(
                    diff > 1e-3,
                    "positional term has no effect ({q_len}, {m_len})"
                );
            }
        }
    }

    /// Memory retained for d segments: δ = (d − 1)·M + L + i − j on memory keys.
    #[test]
    fn retained_memory_uses_true_age() {
        let (d_model, n_head, d_head, b) = (16, 4, 4, 2);
        let s = setup(2, d_model, n_head, d_head);
        for &(m, l, age) in &[(4i64, 4i64, 3i64), (5, 3, 2), (3, 3, 1), (4, 2, 5)] {
            let x = seeded(&[m, b, d_model], 903);
            let mem = seeded(&[l, b, d_model], 904);
            let start = 50;
            let mem_runs = [Run {
                start: start - (age - 1) * m - l,
                len: l,
            }];
            let pos = PositionalEncoding::new(d_model, None, 0.0, false, Kind::Float, Device::Cpu);
            let inp = AttnInputs {
                mem: Some(&mem),
                mem_runs: &mem_runs,
                query_start: start,
                u: &s.u,
                v: &s.v,
                pos: &pos,
                window: None,
            };
            let fast = s.attn.forward_t(&x, &inp, None, false);
            let mut d = vec![0i64; (m * (l + m)) as usize];
            for i in 0..m {
                for j in 0..l + m {
                    d[(i * (l + m) + j) as usize] = if j < l {
                        (age - 1) * m + l + i - j
                    } else {
                        i - (j - l)
                    };
                }
            }
            let dist = Tensor::from_slice(&d).view([m, l + m]);
            let naive =
                naive_attention(&s.attn, &x, Some(&mem), &dist, &s.u, &s.v, &pos, None, None);
            assert_close(&fast, &naive, 1e-5);
        }
    }

    #[test]
    fn cross_head_permutes_keys_values_and_positions() {
        let (d_model, n_head, d_head, b) = (16, 4, 4, 2);
        let s = setup(3, d_model, n_head, d_head);
        let (q_len, m_len) = (4, 5);
        let x = seeded(&[q_len, b, d_model], 905);
        let mem = seeded(&[m_len, b, d_model], 906);
        let mem_runs = [Run {
            start: 0,
            len: m_len,
        }];
        let pos = PositionalEncoding::new(d_model, None, 0.0, false, Kind::Float, Device::Cpu);
        let inp = AttnInputs {
            mem: Some(&mem),
            mem_runs: &mem_runs,
            query_start: m_len,
            u: &s.u,
            v: &s.v,
            pos: &pos,
            window: None,
        };
        let keys: Vec<i64> = (0..m_len + q_len).collect();
        let dist = dist_matrix(m_len, q_len, &keys);
        let plain = s.attn.forward_t(&x, &inp, None, false);
        let identity = s.attn.forward_t(&x, &inp, Some(&[0, 1, 2, 3]), false);
        assert_close(&plain, &identity, 1e-6);
        for perm in [[2i64, 0, 3, 1], [3, 2, 1, 0]] {
            let fast = s.attn.forward_t(&x, &inp, Some(&perm), false);
            let naive = naive_attention(
                &s.attn,
                &x,
                Some(&mem),
                &dist,
                &s.u,
                &s.v,
                &pos,
                None,
                Some(&perm),
            );
            assert_close(&fast, &naive, 1e-5);
            let diff = (&fast - &plain).abs().max().double_value(&[]);
            assert!(diff > 1e-3, "permutation had no effect");
        }
    }
}
