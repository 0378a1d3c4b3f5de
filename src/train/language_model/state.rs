//! The training state of a language-model run that is not the model, and the checkpoint files
//! that hold it with the weights and the optimizer's moments.

use std::collections::HashMap;
use std::path::Path;

use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Tensor};

use super::{segment_of, PhaseStats};
use crate::model::cross_head::CrossHead;
use crate::model::skip::SkipRetain;
use crate::model::transformer_xl::{Memory, MemoryMeta, TxlConfig};
use crate::train::checkpoint::{self, CheckpointError, CheckpointOwner};
use crate::train::optim::AdamW;

/// The JSON part of a language-model checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LmCheckpointMeta {
    pub format: u32,
    /// Optimizer steps taken.
    pub step: i64,
    /// Phase of the last step taken (0 before any).
    pub phase: i64,
    /// Data position of the next step: (epoch, first row of the segment).
    pub epoch: u64,
    pub row: u64,
    /// The model configuration (a checkpoint only loads into the same one).
    pub model: TxlConfig,
    pub optimizer_step: i64,
    /// Stream positions in 32-bit words (decimal: they are u128).
    pub skip_word_pos: String,
    pub skip_drawn: u64,
    pub skip_skipped: u64,
    pub cross_head_word_pos: String,
    pub cross_head_draws: u64,
    pub cross_head_permutations: u64,
    pub memory: MemoryMeta,
    pub stats: PhaseStats,
    /// Who wrote it (absent in checkpoints of older versions and of unowned runs).
    #[serde(default)]
    pub owner: Option<CheckpointOwner>,
    /// The periodic evaluation of `step` was cut short by an interrupt: the run that resumes
    /// from this checkpoint does it first.
    #[serde(default)]
    pub eval_pending: bool,
}

const FORMAT: u32 = 1;

/// Training state that is not the model: what a checkpoint must restore.
pub(super) struct State {
    pub(super) step: i64,
    pub(super) skip: Option<SkipRetain<ChaCha20Rng>>,
    pub(super) cross_head: Option<CrossHead>,
    pub(super) mem: Memory,
    pub(super) stats: PhaseStats,
    /// See [`LmCheckpointMeta::eval_pending`].
    pub(super) eval_pending: bool,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn save_checkpoint(
    path: &Path,
    vs: &VarStore,
    opt: &AdamW,
    st: &State,
    phase1_steps: i64,
    n_step: usize,
    cfg: &TxlConfig,
    owner: Option<&CheckpointOwner>,
) -> Result<(), CheckpointError> {
    let (memory, states) = st.mem.export();
    let (epoch, row, _) = segment_of(st.step as usize, n_step, cfg.tgt_len);
    let meta = LmCheckpointMeta {
        format: FORMAT,
        step: st.step,
        phase: match st.step {
            0 => 0,
            s if s <= phase1_steps => 1,
            _ => 2,
        },
        epoch: epoch as u64,
        row: row as u64,
        model: cfg.clone(),
        optimizer_step: opt.step_count(),
        skip_word_pos: st
            .skip
            .as_ref()
            .map_or(0, |s| s.rng.get_word_pos())
            .to_string(),
        skip_drawn: st.skip.as_ref().map_or(0, |s| s.drawn),
        skip_skipped: st.skip.as_ref().map_or(0, |s| s.skipped),
        cross_head_word_pos: st
            .cross_head
            .as_ref()
            .map_or(0, |c| c.word_pos())
            .to_string(),
        cross_head_draws: st.cross_head.as_ref().map_or(0, |c| c.draws()),
        cross_head_permutations: st.cross_head.as_ref().map_or(0, |c| c.permutations()),
        memory,
        stats: st.stats.clone(),
        owner: owner.cloned(),
        eval_pending: st.eval_pending,
    };
    let mut tensors: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("model.{name}"), t))
        .collect();
    for (name, m, v) in opt.moments() {
        tensors.push((format!("adam.m.{name}"), m.shallow_clone()));
        tensors.push((format!("adam.v.{name}"), v.shallow_clone()));
    }
    for (l, s) in states.into_iter().enumerate() {
        if let Some(s) = s {
            tensors.push((format!("memory.{l}"), s));
        }
    }
    checkpoint::save(path, &meta, &tensors)
}

pub(super) fn load_checkpoint(
    path: &Path,
    vs: &mut VarStore,
    opt: &mut AdamW,
    st: &mut State,
    cfg: &TxlConfig,
    device: Device,
    expect: Option<&CheckpointOwner>,
) -> Result<Option<LmCheckpointMeta>, CheckpointError> {
    let (meta, mut tensors): (LmCheckpointMeta, HashMap<String, Tensor>) =
        checkpoint::load(path, device)?;
    if let Some(why) = expect.and_then(|o| o.refuses(meta.owner.as_ref())) {
        eprintln!(
            "warning: ignoring the checkpoint {} ({why}); run {} trains from the start",
            path.display(),
            expect.map_or("", |o| o.run_key.as_str())
        );
        return Ok(None);
    }
    let mismatch = |message: String| CheckpointError::Mismatch {
        path: path.to_path_buf(),
        message,
    };
    if meta.format != FORMAT {
        return Err(mismatch(format!(
            "checkpoint format {} (this harness reads {FORMAT})",
            meta.format
        )));
    }
    if meta.model != *cfg {
        return Err(mismatch(format!(
            "written for another model ({:?}); this run's is {:?}",
            meta.model, cfg
        )));
    }
    tch::no_grad(|| -> Result<(), CheckpointError> {
        for (name, mut var) in vs.variables() {
            let saved = tensors
                .remove(&format!("model.{name}"))
                .ok_or_else(|| mismatch(format!("no weights for `{name}`")))?;
            if saved.size() != var.size() {
                return Err(mismatch(format!(
                    "`{name}` has shape {:?}, the model's is {:?}",
                    saved.size(),
                    var.size()
                )));
            }
            var.copy_(&saved);
        }
        Ok(())
    })?;
    opt.restore(meta.optimizer_step, |name| {
        Some((
            tensors.get(&format!("adam.m.{name}"))?.shallow_clone(),
            tensors.get(&format!("adam.v.{name}"))?.shallow_clone(),
        ))
    })
    .map_err(mismatch)?;
    let states = (0..meta.memory.layers.len())
        .map(|l| tensors.remove(&format!("memory.{l}")))
        .collect();
    st.mem = Memory::import(&meta.memory, states);
    let pos = |s: &str| {
        s.parse::<u128>()
            .map_err(|e| mismatch(format!("stream position `{s}`: {e}")))
    };
    if let Some(skip) = st.skip.as_mut() {
        skip.rng.set_word_pos(pos(&meta.skip_word_pos)?);
        skip.drawn = meta.skip_drawn;
        skip.skipped = meta.skip_skipped;
    }
    if let Some(ch) = st.cross_head.as_mut() {
        ch.restore(
            pos(&meta.cross_head_word_pos)?,
            meta.cross_head_draws,
            meta.cross_head_permutations,
        );
    }
    st.step = meta.step;
    st.stats = meta.stats.clone();
    st.eval_pending = meta.eval_pending;
    Ok(Some(meta))
}
