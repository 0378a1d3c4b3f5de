//! Random BERT checkpoints in the Hugging Face layout, for tests that need no download.

use std::path::Path;

use rand_chacha::ChaCha20Rng;
use tch::Tensor;

use super::{normal_values, BertConfig};
use crate::model::ModelError;

/// Writes a randomly initialised checkpoint in Hugging Face layout (`config.json`,
/// `model.safetensors` with `prefix` before every name, e.g. "" or "bert.") for tests and smoke
/// runs that need no download. Values come from a ChaCha stream seeded with `seed`.
pub fn write_random_checkpoint(
    dir: &Path,
    config: &BertConfig,
    prefix: &str,
    seed: u64,
) -> Result<(), ModelError> {
    use rand_chacha::rand_core::SeedableRng;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let c = config;
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let mut shapes: Vec<(String, Vec<i64>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![c.vocab_size, h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![c.max_position_embeddings, h],
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![c.type_vocab_size, h],
        ),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for i in 0..c.num_hidden_layers {
        let l = format!("encoder.layer.{i}");
        for (name, shape) in [
            ("attention.self.query.weight", vec![h, h]),
            ("attention.self.query.bias", vec![h]),
            ("attention.self.key.weight", vec![h, h]),
            ("attention.self.key.bias", vec![h]),
            ("attention.self.value.weight", vec![h, h]),
            ("attention.self.value.bias", vec![h]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("intermediate.dense.weight", vec![f, h]),
            ("intermediate.dense.bias", vec![f]),
            ("output.dense.weight", vec![h, f]),
            ("output.dense.bias", vec![h]),
            ("output.LayerNorm.weight", vec![h]),
            ("output.LayerNorm.bias", vec![h]),
        ] {
            shapes.push((format!("{l}.{name}"), shape));
        }
    }
    shapes.push(("pooler.dense.weight".into(), vec![h, h]));
    shapes.push(("pooler.dense.bias".into(), vec![h]));
    let tensors: Vec<(String, Tensor)> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let n = shape.iter().product::<i64>() as usize;
            let mut t = Tensor::from_slice(&normal_values(&mut rng, n, 0.2)).view(shape.as_slice());
            if name.ends_with("LayerNorm.weight") {
                t += 1.0;
            }
            (format!("{prefix}{name}"), t)
        })
        .collect();
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    let config_file = dir.join("config.json");
    let json = serde_json::to_string_pretty(config).expect("BertConfig serialises");
    std::fs::write(&config_file, json).map_err(|source| ModelError::Io {
        file: config_file,
        source,
    })?;
    Tensor::write_safetensors(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}
