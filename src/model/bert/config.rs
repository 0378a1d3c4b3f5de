//! `config.json` of a BERT checkpoint: the Hugging Face fields harness reads, their defaults,
//! their checks, and the parameter counts they imply.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::ModelError;

fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_position_embeddings() -> i64 {
    512
}
fn default_type_vocab_size() -> i64 {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_initializer_range() -> f64 {
    0.02
}
fn default_position_embedding_type() -> String {
    "absolute".into()
}

/// A checkpoint's `config.json` (unknown fields ignored; absent ones take Hugging Face's
/// `BertConfig` defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: usize,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: i64,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: i64,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    #[serde(default)]
    pub pad_token_id: i64,
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
}

impl BertConfig {
    /// Reads and checks a `config.json`.
    pub fn from_file(file: &Path) -> Result<Self, ModelError> {
        if !file.is_file() {
            return Err(ModelError::Missing {
                file: file.to_path_buf(),
                what: "config.json of the checkpoint",
            });
        }
        let text = std::fs::read_to_string(file).map_err(|source| ModelError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ModelError::Config {
            file: file.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks what this implementation supports.
    pub fn validate(&self) -> Result<(), String> {
        if self.num_attention_heads <= 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        self.activation()?;
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type \"{}\" is not supported (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        for (field, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
            ("classifier_dropout", self.classifier_dropout.unwrap_or(0.0)),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{field} = {p} is outside [0, 1)"));
            }
        }
        Ok(())
    }

    /// The `approximate` argument of `gelu` for `hidden_act`.
    pub(super) fn activation(&self) -> Result<&'static str, String> {
        match self.hidden_act.as_str() {
            "gelu" => Ok("none"),
            "gelu_new" | "gelu_pytorch_tanh" => Ok("tanh"),
            other => Err(format!(
                "hidden_act \"{other}\" is not supported (gelu, gelu_new, gelu_pytorch_tanh)"
            )),
        }
    }

    pub(super) fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads
    }

    /// Parameters of `BertForSequenceClassification` with this configuration and a classifier
    /// of `num_outputs` (the pooler included, present in the checkpoint or not); the
    /// non-embedding count leaves out the word, position and segment embedding tables.
    pub fn parameter_counts(
        &self,
        num_outputs: usize,
    ) -> crate::model::transformer_xl::ParamCounts {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let tables = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * h;
        let per_layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
        let non_embedding = 2 * h // embedding LayerNorm
            + per_layer * self.num_hidden_layers as i64
            + (h * h + h) // pooler
            + (num_outputs as i64) * (h + 1);
        crate::model::transformer_xl::ParamCounts {
            total: tables + non_embedding,
            non_embedding,
        }
    }
}
