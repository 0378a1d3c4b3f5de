//! Models: BERT for sequence classification and Transformer-XL (relative attention, adaptive
//! input/softmax, skip-retain), both with cross-head attention; the BERT tokenizer.

pub mod adaptive;
pub mod bert;
pub mod cross_head;
pub mod rel_attention;
pub mod safetensors;
pub mod skip;
pub mod tokenizer;
pub mod transformer_xl;

use std::path::PathBuf;

pub use bert::{
    loss, no_decay, BertConfig, BertForSequenceClassification, BertOutput, Head, DECAY_GROUP,
    NO_DECAY_GROUP,
};
pub use cross_head::CrossHead;
pub use tokenizer::{collate, Batch, BertTokenizer, Encoded};

/// Errors from reading a checkpoint or tokenizing.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{} not found ({what}): run scripts/setup.sh or `harness data model NAME` (Hugging Face hub name, e.g. google-bert/bert-base-uncased), or point to a Hugging Face BERT checkpoint directory holding config.json, model.safetensors and tokenizer.json (or vocab.txt)", file.display())]
    Missing { file: PathBuf, what: &'static str },
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid BERT config: {message}", file.display())]
    Config { file: PathBuf, message: String },
    #[error("{}: cannot read safetensors: {message}", file.display())]
    Safetensors { file: PathBuf, message: String },
    #[error("{}: tensor `{name}` is missing (looked for {tried}); is this a BERT checkpoint?", file.display())]
    MissingTensor {
        file: PathBuf,
        name: String,
        tried: String,
    },
    #[error("{}: tensor `{name}` has shape {got:?}, but config.json implies {expected:?}", file.display())]
    Shape {
        file: PathBuf,
        name: String,
        expected: Vec<i64>,
        got: Vec<i64>,
    },
    #[error("{}: cannot keep {requested} encoder layers, the checkpoint has {available} (choose 1..={available})", file.display())]
    Layers {
        file: PathBuf,
        requested: usize,
        available: usize,
    },
    #[error("invalid head: {0}")]
    Head(String),
    #[error("{}: tokenizer error: {message}", file.display())]
    Tokenizer { file: PathBuf, message: String },
    #[error("max_len {max_len} leaves no room for text after {added} special tokens; use a max_len above {added}")]
    MaxLen { max_len: usize, added: usize },
    #[error("{0}")]
    PytorchOnly(String),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}
