//! Cross-head attention (METHODS.md §3): during training, in every self-attention layer at every
//! step, with probability `p` a uniformly random permutation π of the heads is drawn and keys and
//! values are permuted across heads, so that query head h attends with head π(h)'s keys and
//! values. Queries are not permuted; heads are concatenated in slot order before the output
//! projection. The identity permutation is allowed. One permutation serves the whole batch.
//!
//! Draw order (part of a run's reproducibility): for every forward pass in training mode, layers
//! are visited in order 0, 1, …, L−1 and each layer makes exactly one call to [`CrossHead::draw`]:
//! 1. u = (next_u64 >> 11) · 2⁻⁵³ ∈ [0, 1), one 64-bit word, even when p = 0;
//! 2. only if u < p: Fisher–Yates over 0..n, for i = n−1 down to 1 draw j uniform in 0..=i
//!    ([`uniform_below`], rejection sampling on 64-bit words) and swap slots i and j.
//!
//! Evaluation never calls `draw`, so it consumes nothing from the stream.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Per-layer, per-step head permutation sampler for cross-head attention.
#[derive(Debug, Clone)]
pub struct CrossHead {
    prob: f64,
    rng: ChaCha20Rng,
    /// Applied at every layer and step instead of drawing (tests and ablations).
    forced: Option<Vec<i64>>,
    draws: u64,
    permutations: u64,
}

impl CrossHead {
    /// A sampler that permutes with probability `prob` (clamped to [0, 1]), drawing from `rng`.
    pub fn new(prob: f64, rng: ChaCha20Rng) -> Self {
        CrossHead {
            prob: prob.clamp(0.0, 1.0),
            rng,
            forced: None,
            draws: 0,
            permutations: 0,
        }
    }

    /// A sampler that applies `perm` at every layer and step and draws nothing. `perm[h]` is
    /// the head whose keys and values query head `h` uses. Panics on [`draw`](Self::draw) when
    /// `perm` is not a permutation of `0..num_heads`.
    pub fn forced(perm: Vec<i64>) -> Self {
        CrossHead {
            prob: 1.0,
            rng: ChaCha20Rng::seed_from_u64(0),
            forced: Some(perm),
            draws: 0,
            permutations: 0,
        }
    }

    /// The permutation probability (1 for a forced sampler).
    pub fn prob(&self) -> f64 {
        self.prob
    }

    /// Number of calls to `draw` so far (one per attention layer per training step).
    pub fn draws(&self) -> u64 {
        self.draws
    }

    /// Number of draws that returned a permutation.
    pub fn permutations(&self) -> u64 {
        self.permutations
    }

    /// Position of the stream in 32-bit words (for checkpoints).
    pub fn word_pos(&self) -> u128 {
        self.rng.get_word_pos()
    }

    /// Moves the stream to `pos` (a value of [`CrossHead::word_pos`]) and sets the counters,
    /// so that a resumed run draws exactly what an uninterrupted one would.
    pub fn restore(&mut self, pos: u128, draws: u64, permutations: u64) {
        self.rng.set_word_pos(pos);
        self.draws = draws;
        self.permutations = permutations;
    }

    /// Draws the decision for one attention layer at one training step: `Some(π)` with
    /// probability p (π uniform over all `num_heads!` permutations, identity included), else
    /// `None`. See the module documentation for the exact order of draws.
    pub fn draw(&mut self, num_heads: usize) -> Option<Vec<i64>> {
        self.draws += 1;
        let perm = if let Some(perm) = &self.forced {
            assert!(
                is_permutation(perm, num_heads),
                "forced cross-head permutation {perm:?} is not a permutation of 0..{num_heads}"
            );
            Some(perm.clone())
        } else if unit_f64(&mut self.rng) < self.prob {
            Some(fisher_yates(&mut self.rng, num_heads))
        } else {
            None
        };
        if perm.is_some() {
            self.permutations += 1;
        }
        perm
    }
}

/// u ∈ [0, 1) from the top 53 bits of one 64-bit word.
fn unit_f64(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform integer in `0..n` (n ≥ 1) by rejection: words below 2⁶⁴ mod n are redrawn, so the
/// remaining 2⁶⁴ − (2⁶⁴ mod n) values map onto `0..n` exactly evenly.
pub fn uniform_below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    assert!(n > 0, "uniform_below needs n ≥ 1");
    let reject_below = n.wrapping_neg() % n; // (2⁶⁴ − n) mod n = 2⁶⁴ mod n
    loop {
        let x = rng.next_u64();
        if x >= reject_below {
            return x % n;
        }
    }
}

/// Uniform random permutation of `0..n` (Durstenfeld's Fisher–Yates, from the last slot down).
fn fisher_yates(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    let mut perm: Vec<i64> = (0..n as i64).collect();
    for i in (1..n).rev() {
        let j = uniform_below(rng, i as u64 + 1) as usize;
        perm.swap(i, j);
    }
    perm
}

fn is_permutation(perm: &[i64], n: usize) -> bool {
    if perm.len() != n {
        return false;
    }
    let mut seen = vec![false; n];
    perm.iter().all(|&h| {
        let ok = h >= 0 && (h as usize) < n && !seen[h as usize];
        if ok {
            seen[h as usize] = true;
        }
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sampler(prob: f64, seed: u64) -> CrossHead {
        CrossHead::new(prob, ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn same_seed_same_sequence_different_seed_differs() {
        let (mut a, mut b, mut c) = (sampler(0.5, 7), sampler(0.5, 7), sampler(0.5, 8));
        let sa: Vec<_> = (0..200).map(|_| a.draw(12)).collect();
        let sb: Vec<_> = (0..200).map(|_| b.draw(12)).collect();
        let sc: Vec<_> = (0..200).map(|_| c.draw(12)).collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
    }

    #[test]
    fn permuting_frequency_is_close_to_p() {
        for &p in &[0.0, 0.1, 0.5, 1.0] {
            let mut ch = sampler(p, 2023);
            let n = 20_000;
            let hits = (0..n).filter(|_| ch.draw(8).is_some()).count();
            let freq = hits as f64 / n as f64;
            // 5 binomial standard deviations at p = 0.5 is 0.018.
            assert!((freq - p).abs() < 0.02, "p = {p}: frequency {freq}");
            assert_eq!(ch.draws(), n as u64);
            assert_eq!(ch.permutations(), hits as u64);
        }
    }

    #[test]
    fn draws_are_permutations_and_uniform_over_all_orders() {
        let mut ch = sampler(1.0, 99);
        let mut counts: HashMap<Vec<i64>, usize> = HashMap::new();
        let n = 12_000;
        for _ in 0..n {
            let perm = ch.draw(3).expect("p = 1 always permutes");
            assert!(is_permutation(&perm, 3), "{perm:?}");
            *counts.entry(perm).or_default() += 1;
        }
        // All 3! = 6 orders, identity included, each near n/6 = 2000 (σ ≈ 41).
        assert_eq!(counts.len(), 6);
        assert!(counts.contains_key(&vec![0, 1, 2]));
        for (perm, c) in &counts {
            assert!((*c as f64 - 2000.0).abs() < 250.0, "{perm:?}: {c}");
        }
    }

    #[test]
    fn one_word_per_draw_when_not_permuting() {
        // p = 0 consumes exactly one 64-bit word per draw: the stream after k draws equals a
        // fresh stream advanced by k words.
        let mut ch = sampler(0.0, 5);
        for _ in 0..10 {
            assert!(ch.draw(4).is_none());
        }
        let mut reference = ChaCha20Rng::seed_from_u64(5);
        for _ in 0..10 {
            reference.next_u64();
        }
        assert_eq!(ch.rng.next_u64(), reference.next_u64());
    }

    #[test]
    fn forced_returns_its_permutation() {
        let mut ch = CrossHead::forced(vec![1, 0, 3, 2]);
        assert_eq!(ch.draw(4), Some(vec![1, 0, 3, 2]));
        assert_eq!(ch.draws(), 1);
    }

    #[test]
    #[should_panic(expected = "not a permutation")]
    fn forced_rejects_a_non_permutation() {
        CrossHead::forced(vec![0, 0, 1, 2]).draw(4);
    }

    #[test]
    fn uniform_below_stays_in_range_and_covers_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut seen = [0usize; 7];
        for _ in 0..7_000 {
            seen[uniform_below(&mut rng, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (700..1300).contains(&c)), "{seen:?}");
        assert_eq!(uniform_below(&mut rng, 1), 0);
    }
}
