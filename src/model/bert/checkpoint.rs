//! Reading a Hugging Face BERT checkpoint: `config.json` and `model.safetensors` checked before
//! a run, tensors looked up under every accepted spelling of their names and copied into the
//! VarStore.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{nn, Tensor};

use super::{no_decay, BertConfig, DECAY_GROUP, NO_DECAY_GROUP};
use crate::model::ModelError;

/// Tensors of a `model.safetensors` file, read once. Hugging Face BERT checkpoints exist with
/// and without the `bert.` prefix and with either LayerNorm naming (`weight`/`bias`, or the
/// original TensorFlow port's `gamma`/`beta`); every combination is accepted.
pub(super) struct Checkpoint {
    pub(super) file: PathBuf,
    tensors: HashMap<String, Tensor>,
    prefix: &'static str,
}

/// The other name a LayerNorm parameter may have: `….LayerNorm.weight` ↔ `….LayerNorm.gamma`,
/// `….LayerNorm.bias` ↔ `….LayerNorm.beta`.
fn legacy_layer_norm_name(name: &str) -> Option<String> {
    let (stem, leaf) = name.rsplit_once('.')?;
    if stem.rsplit('.').next() != Some("LayerNorm") {
        return None;
    }
    let other = match leaf {
        "weight" => "gamma",
        "bias" => "beta",
        "gamma" => "weight",
        "beta" => "bias",
        _ => return None,
    };
    Some(format!("{stem}.{other}"))
}

/// Checks what loading `dir` with `layers` would need, without reading a tensor: `config.json`
/// parses and is supported, `layers` is within the checkpoint's, and `model.safetensors` is
/// whole ([`crate::model::safetensors::check_file`]).
pub fn verify_checkpoint(dir: &Path, layers: Option<usize>) -> Result<(), ModelError> {
    let config_file = dir.join("config.json");
    let config = BertConfig::from_file(&config_file)?;
    if let Some(n) = layers.filter(|&n| n == 0 || n > config.num_hidden_layers) {
        return Err(ModelError::Layers {
            file: config_file,
            requested: n,
            available: config.num_hidden_layers,
        });
    }
    let weights = dir.join("model.safetensors");
    if !weights.is_file() {
        if dir.join("pytorch_model.bin").is_file() {
            return Err(ModelError::PytorchOnly(pytorch_only_message(dir)));
        }
        return Err(ModelError::Missing {
            file: weights,
            what: "model.safetensors of the checkpoint",
        });
    }
    crate::model::safetensors::check_file(&weights).map(|_| ())
}

/// The message for a checkpoint directory that holds only `pytorch_model.bin`.
pub fn pytorch_only_message(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "{d} holds pytorch_model.bin but no model.safetensors; harness reads only safetensors (a pickle \
         cannot be read safely). Convert it once with Python (torch and safetensors installed):\n\
         python3 -c \"import torch; from safetensors.torch import save_file\n\
         sd = torch.load('{d}/pytorch_model.bin', map_location='cpu', weights_only=True)\n\
         save_file({{k: v.clone().contiguous() for k, v in sd.items()}}, '{d}/model.safetensors')\"\n\
         or download the safetensors form with `harness data model NAME` where the hub has one"
    )
}

impl Checkpoint {
    pub(super) fn read(file: &Path) -> Result<Self, ModelError> {
        if !file.is_file() {
            if let Some(dir) = file.parent() {
                if dir.join("pytorch_model.bin").is_file() {
                    return Err(ModelError::PytorchOnly(pytorch_only_message(dir)));
                }
            }
            return Err(ModelError::Missing {
                file: file.to_path_buf(),
                what: "model.safetensors of the checkpoint",
            });
        }
        let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(file)
            .map_err(|e| ModelError::Safetensors {
                file: file.to_path_buf(),
                message: e.to_string(),
            })?
            .into_iter()
            .collect();
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        Ok(Checkpoint {
            file: file.to_path_buf(),
            tensors,
            prefix,
        })
    }

    /// The stored name of the body tensor `name`, if the checkpoint has it under any accepted
    /// spelling.
    pub(super) fn key_of(&self, name: &str) -> Option<String> {
        let key = format!("{}{name}", self.prefix);
        if self.tensors.contains_key(&key) {
            return Some(key);
        }
        legacy_layer_norm_name(&key).filter(|k| self.tensors.contains_key(k))
    }

    /// Whether the checkpoint holds the pooler (`pooler.dense.{weight,bias}`).
    pub(super) fn has_pooler(&self) -> bool {
        self.key_of("pooler.dense.weight").is_some() && self.key_of("pooler.dense.bias").is_some()
    }

    /// The tensor `name` (of the BERT body), checked against `shape`.
    pub(super) fn get(&self, name: &str, shape: &[i64]) -> Result<&Tensor, ModelError> {
        let key = self.key_of(name).ok_or_else(|| ModelError::MissingTensor {
            file: self.file.clone(),
            name: name.to_string(),
            tried: match legacy_layer_norm_name(name) {
                Some(old) => format!("`{name}`, `bert.{name}`, `{old}` and `bert.{old}`"),
                None => format!("`{name}` and `bert.{name}`"),
            },
        })?;
        let t = &self.tensors[&key];
        if t.size() != shape {
            return Err(ModelError::Shape {
                file: self.file.clone(),
                name: key,
                expected: shape.to_vec(),
                got: t.size(),
            });
        }
        Ok(t)
    }
}

/// Copies checkpoint tensors into VarStore variables of the same name (a path in both).
pub(super) struct Weights<'a> {
    pub(super) ckpt: &'a Checkpoint,
    pub(super) vs: nn::Path<'a>,
    pub(super) name: String,
}

impl<'a> Weights<'a> {
    pub(super) fn sub(&self, s: &str) -> Weights<'a> {
        Weights {
            ckpt: self.ckpt,
            vs: self.vs.sub(s),
            name: join(&self.name, s),
        }
    }

    pub(super) fn var(&self, leaf: &str, shape: &[i64]) -> Result<Tensor, ModelError> {
        let name = join(&self.name, leaf);
        let src = self.ckpt.get(&name, shape)?;
        let group = if no_decay(&name) {
            NO_DECAY_GROUP
        } else {
            DECAY_GROUP
        };
        Ok(self.vs.set_group(group).f_var_copy(leaf, src)?)
    }
}

pub(super) fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}
