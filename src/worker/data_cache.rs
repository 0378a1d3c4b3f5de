//! What a run needs before it trains: the fine-tuning settings of its config, and the task
//! data, corpora, tokenizers and tokenized tasks loaded once per process ([`DataCache`]).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::data::lm::Corpus;
use crate::data::{self, TaskData};
use crate::spec::{ModelKind, RunConfig};
use crate::train::finetune::{self, FinetuneSettings, PreparedTask};

/// Settings of the fine-tuning loop from a resolved run config.
pub fn finetune_settings(c: &RunConfig) -> FinetuneSettings {
    FinetuneSettings {
        seed: c.seed,
        pretrained: pretrained(c),
        layers: c.model.as_bert().and_then(|b| b.layers),
        dropout: c.model.as_bert().and_then(|b| b.dropout),
        epochs: c.train.epochs as usize,
        max_steps: c.train.max_steps.map(|n| n as usize),
        batch_size: c.train.batch_size as usize,
        lr: c.train.lr,
        warmup_ratio: c.train.warmup_ratio,
        weight_decay: c.train.weight_decay,
        eval_every: c.train.eval_every.map(|n| n as usize),
        grad_clip: c.train.grad_clip,
        cross_head_prob: c.variant_settings.cross_head_prob,
        precision: c.train.precision,
    }
}

/// The checkpoint directory of a BERT run (empty for other kinds).
pub fn pretrained(c: &RunConfig) -> PathBuf {
    c.model
        .as_bert()
        .map(|b| b.pretrained.clone())
        .unwrap_or_default()
}

/// A tokenized task is reused by every run with the same (task, max_len, subsets, checkpoint).
pub(super) type PreparedKey = (String, usize, Option<usize>, Option<usize>, PathBuf);

/// Data loaded once per process, on first use.
#[derive(Default)]
pub struct DataCache {
    pub tasks: HashMap<(PathBuf, String), TaskData>,
    pub corpora: HashMap<(PathBuf, String), Corpus>,
    pub(super) prepared: HashMap<PreparedKey, PreparedTask>,
    pub(super) tokenizers: HashMap<PathBuf, crate::model::tokenizer::BertTokenizer>,
    verified: std::collections::HashSet<(PathBuf, Option<usize>)>,
}

impl DataCache {
    /// Loads what `c` needs (and checks the pretrained model is there).
    pub fn load_for(&mut self, c: &RunConfig) -> Result<()> {
        let key = (c.data_dir.clone(), c.task.as_str().to_string());
        if c.model.kind() == ModelKind::TransformerXl {
            if let Some(init) = c.train.init_from.as_ref().filter(|p| !p.is_file()) {
                bail!(
                    "{}: checkpoint not found (train.init_from); point it at a `{}` another run \
                     kept, or drop it to train from scratch",
                    init.display(),
                    crate::train::checkpoint::PHASE1
                );
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = self.corpora.entry(key) {
                let corpus = data::lm::load_corpus(&c.data_dir, c.task.as_str())
                    .with_context(|| format!("loading corpus `{}`", c.task.as_str()))?;
                slot.insert(corpus);
            }
            return Ok(());
        }
        let config_json = pretrained(c).join("config.json");
        if !config_json.is_file() {
            bail!(
                "pretrained model not found: {} does not exist. {}",
                config_json.display(),
                crate::data::models::how_to_get(&c.data_dir, &pretrained(c))
            );
        }
        let dir = pretrained(c);
        // Everything a run reads from the checkpoint, checked once before any run starts: a
        // corrupt file or an impossible `model.layers` is one message, not a failed run per
        // grid point.
        let layers = c.model.as_bert().and_then(|b| b.layers);
        if self.verified.insert((dir.clone(), layers)) {
            crate::model::bert::verify_checkpoint(&dir, layers)?;
        }
        if !self.tokenizers.contains_key(&dir) {
            let tok = finetune::load_tokenizer(&dir)?;
            self.tokenizers.insert(dir.clone(), tok);
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.tasks.entry(key) {
            let data = data::load_task(&c.data_dir, c.task.as_str())
                .with_context(|| format!("loading task `{}`", c.task.as_str()))?;
            slot.insert(data);
        }
        Ok(())
    }
}
