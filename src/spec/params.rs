//! Parameter counts of a run's model, before anything runs (`harness run SPEC --dry-run`).
//!
//! Transformer-XL: [`TxlConfig::parameter_counts`] of the run's model with the corpus
//! vocabulary size of [`corpus_vocab_size`] (the sizes `harness` builds from the official files;
//! no data is read). BERT: [`BertConfig::parameter_counts`] of the checkpoint's `config.json`
//! (after `model.layers`) with the task's classifier; when the checkpoint is not there the count
//! is unknown and the reason says why. The language-model loop stores the same numbers as run
//! facts (`params_total`, `params_non_embedding`), computed from the built model, which a test
//! checks against this formula.

use serde::Serialize;
use serde_json::{json, Value};

use super::grid::{RunConfig, RunPlan};
use super::types::{ModelSpec, Task};
use crate::model::transformer_xl::ParamCounts;
use crate::model::BertConfig;

/// Vocabulary size of a language-modelling corpus as `harness` builds it (the task
/// registry's, see `crate::task`); `None` for classification tasks.
pub fn corpus_vocab_size(task: Task) -> Option<usize> {
    task.vocab_size()
}

/// The parameter counts of one run, or why they cannot be known before it runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunParameters {
    /// `{total, non_embedding}`; `None` when unknown.
    pub counts: Option<ParamCounts>,
    /// Why `counts` is `None`.
    pub reason: Option<String>,
    /// The vocabulary size the count assumes (Transformer-XL).
    pub n_token: Option<usize>,
}

/// The parameter counts of a run's model (see the module documentation).
pub fn parameters(config: &RunConfig) -> RunParameters {
    let unknown = |reason: String| RunParameters {
        counts: None,
        reason: Some(reason),
        n_token: None,
    };
    match &config.model {
        ModelSpec::TransformerXl(txl) => {
            let Some(n_token) = corpus_vocab_size(config.task) else {
                return unknown(format!(
                    "`{}` is not a language-modelling corpus",
                    config.task
                ));
            };
            RunParameters {
                counts: Some(txl.config(n_token).parameter_counts()),
                reason: None,
                n_token: Some(n_token),
            }
        }
        ModelSpec::Bert(bert) => {
            let file = bert.pretrained.join("config.json");
            if !file.is_file() {
                return unknown(format!(
                    "{} is not there (the checkpoint's config.json gives the size)",
                    file.display()
                ));
            }
            let mut checkpoint = match BertConfig::from_file(&file) {
                Ok(c) => c,
                Err(e) => return unknown(e.to_string()),
            };
            if let Some(n) = bert.layers {
                checkpoint.num_hidden_layers = checkpoint.num_hidden_layers.min(n);
            }
            let outputs = match crate::data::glue::task_kind(config.task.as_str()) {
                Ok(crate::data::TaskKind::Classification { num_labels }) => num_labels,
                Ok(crate::data::TaskKind::Regression) => 1,
                Err(e) => return unknown(e.to_string()),
            };
            RunParameters {
                counts: Some(checkpoint.parameter_counts(outputs)),
                reason: None,
                n_token: None,
            }
        }
    }
}

/// A count as shown in tables: `122.2M`, `41.1k`, `812`.
pub fn format_count(n: i64) -> String {
    let x = n as f64;
    if n.abs() >= 1_000_000 {
        format!("{:.1}M", x / 1e6)
    } else if n.abs() >= 1_000 {
        format!("{:.1}k", x / 1e3)
    } else {
        n.to_string()
    }
}

/// The `--dry-run --format json` document: the experiment's name and, per run of the grid in
/// order, its task, variant, seed, sweep values, run key and
/// `parameters: {total, non_embedding}` (null, with `parameters_reason`, when unknown).
pub fn dry_run_json(experiment: &str, plans: &[RunPlan]) -> Value {
    let runs: Vec<Value> = plans
        .iter()
        .map(|plan| {
            let p = parameters(&plan.config);
            let mut run = json!({
                "key": plan.key,
                "task": plan.task,
                "variant": plan.variant,
                "seed": plan.seed,
                "sweep": plan.sweep,
                "parameters": p.counts,
            });
            if let Some(reason) = &p.reason {
                run["parameters_reason"] = json!(reason);
            }
            if let Some(n) = p.n_token {
                run["n_token"] = json!(n);
            }
            run
        })
        .collect();
    json!({"experiment": experiment, "runs": runs})
}
