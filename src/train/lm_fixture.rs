//! A tiny corpus, model settings and a recording observer for tests of the language-model loop:
//! the unit tests of `language_model` and tests/lm_train.rs (which needs a process of its own,
//! since libtorch's dropout generator is process-global) share them from here.

use super::language_model::{EvalSettings, LmObserver, LmSettings};
use crate::data::lm::{Corpus, Level, Vocab};
use crate::model::skip::Schedule;
use crate::model::transformer_xl::TxlConfig;
use crate::spec::{LrSchedule, VariantSettings};
use crate::store::MetricRow;
use anyhow::{bail, Result};

/// 3,000 symbols of a pangram pair (train 2,400, valid 301, test the rest) at `level`.
pub fn corpus(level: Level) -> Corpus {
    let text =
        "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ";
    let mut symbols: Vec<char> = text.chars().collect();
    symbols.sort_unstable();
    symbols.dedup();
    let ids: Vec<u32> = text
        .chars()
        .cycle()
        .take(3000)
        .map(|c| symbols.iter().position(|&s| s == c).unwrap() as u32)
        .collect();
    Corpus {
        name: "tiny".into(),
        level,
        vocab: Vocab {
            symbols: symbols.iter().map(|c| c.to_string()).collect(),
        },
        train: ids[..2400].to_vec(),
        valid: ids[2400..2701].to_vec(),
        test: ids[2701..].to_vec(),
    }
}

/// A 4-layer model of width 16 (segments of 8, memory 8), dropout on, evaluation every 3 steps
/// on the first 100 validation tokens; `n_token` is set from the corpus by the loop.
pub fn settings(variant: VariantSettings, max_steps: usize) -> LmSettings {
    LmSettings {
        seed: 3,
        model: TxlConfig {
            n_token: 0,
            n_layer: 4,
            d_model: 16,
            n_head: 2,
            d_head: 8,
            d_inner: 32,
            d_embed: None,
            dropout: 0.1,
            dropatt: 0.1,
            emb_dropout: None,
            pos_dropout: None,
            out_dropout: None,
            tgt_len: 8,
            mem_len: 8,
            ext_len: 0,
            clamp_len: None,
            same_length: false,
            tie_weights: true,
            adaptive: None,
        },
        eval: EvalSettings {
            tgt_len: 16,
            mem_len: 16,
            clamp_len: None,
            same_length: false,
            batch_size: 5,
        },
        batch_size: 4,
        lr: 3e-3,
        weight_decay: 0.0,
        warmup_ratio: 0.0,
        schedule: LrSchedule::Cosine,
        grad_clip: Some(0.25),
        epochs: 1,
        max_steps: Some(max_steps),
        eval_every: Some(3),
        eval_max_tokens: Some(100),
        variant,
        checkpoints: None,
        init_from: None,
        precision: None,
    }
}

/// Skip-retain (uniform, p = 0.5) for the first `phase1_steps` steps and cross-head attention
/// (p = 0.5): every random stream of the loop draws.
pub fn skip_cross_head(phase1_steps: u64) -> VariantSettings {
    VariantSettings {
        cross_head_prob: 0.5,
        skip: Some(Schedule::Uniform {
            p: 0.5,
            exempt_first_last: false,
        }),
        phase1: None,
        phase1_steps: Some(phase1_steps),
    }
}

/// Collects rows as the store would (rows after the resume step are replaced); `stop_at` asks
/// to stop (Ctrl-C) once that step is done; `kill_at` fails the loop there, as a killed process:
/// nothing after it is written.
#[derive(Debug, Default)]
pub struct Recorder {
    pub rows: Vec<MetricRow>,
    pub started_at: Option<i64>,
    pub step: i64,
    pub stop_at: Option<i64>,
    pub kill_at: Option<i64>,
}

impl LmObserver for Recorder {
    fn on_start(&mut self, step: i64, _total: i64) -> Result<()> {
        self.started_at = Some(step);
        self.rows.retain(|r| r.step <= step);
        Ok(())
    }
    fn on_step(&mut self, step: i64, _: i64, _: f64, _: i64) {
        self.step = step;
    }
    fn on_metrics(&mut self, rows: Vec<MetricRow>, _flush: bool) -> Result<()> {
        self.rows.extend(rows);
        if self.kill_at == Some(self.step) {
            bail!("killed");
        }
        Ok(())
    }
    fn interrupted(&self) -> bool {
        self.stop_at.is_some_and(|s| self.step >= s)
    }
}
