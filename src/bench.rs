//! `harness bench finetune`: fine-tuning throughput on fixed-shape synthetic batches, the same
//! shapes a reference implementation is given (bench/finetune_throughput.sh), so that the two
//! numbers compare the training step and nothing else.

use crate::model::bert::{self, BertForSequenceClassification, Head};
use crate::model::tokenizer::Batch;
use crate::seed::{self, Purpose};
use crate::train::optim::AdamW;
use anyhow::{Context, Result};
use rand::Rng;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub implementation: &'static str,
    pub device: String,
    pub threads: i32,
    pub batch_size: usize,
    pub seq_len: usize,
    pub warmup_steps: usize,
    pub steps: usize,
    pub seconds: f64,
    pub examples_per_s: f64,
    pub ms_per_step: f64,
}

/// Times `steps` optimizer steps (after `warmup` untimed ones) of BERT sequence classification
/// (2 labels) with AdamW, dropout on, on random token ids of exactly `seq_len` tokens.
pub fn finetune_throughput(
    model_dir: &Path,
    batch_size: usize,
    seq_len: usize,
    warmup: usize,
    steps: usize,
    device: Device,
) -> Result<Throughput> {
    tch::manual_seed(0);
    let vs = VarStore::new(device);
    let mut init = seed::stream(0, Purpose::HeadInit);
    let model = BertForSequenceClassification::load(
        &vs.root(),
        model_dir,
        Head::Classification(2),
        None,
        None,
        &mut init,
    )
    .with_context(|| format!("loading {}", model_dir.display()))?;
    let mut opt = AdamW::new(&vs, 0.01, bert::no_decay);
    let mut rng = seed::stream(0, Purpose::DataOrder);
    let vocab = 30000i64;
    let ids: Vec<i64> = (0..batch_size * seq_len)
        .map(|_| rng.random_range(1000..vocab))
        .collect();
    let input_ids = Tensor::from_slice(&ids).view([batch_size as i64, seq_len as i64]);
    let batch = Batch {
        input_ids,
        token_type_ids: Tensor::zeros(
            [batch_size as i64, seq_len as i64],
            (Kind::Int64, Device::Cpu),
        ),
        attention_mask: Tensor::ones(
            [batch_size as i64, seq_len as i64],
            (Kind::Int64, Device::Cpu),
        ),
    }
    .to_device(device);
    let labels: Vec<i64> = (0..batch_size).map(|i| (i % 2) as i64).collect();
    let labels = Tensor::from_slice(&labels).to_device(device);
    let mut one_step = || {
        opt.zero_grad();
        let logits = model.forward_t(&batch, true, None);
        let loss = bert::loss(&logits, &labels, model.head());
        loss.backward();
        opt.clip_grad_norm(1.0);
        opt.step(2e-5);
        if let Device::Cuda(_) = device {
            tch::Cuda::synchronize(0);
        }
    };
    for _ in 0..warmup {
        one_step();
    }
    let t0 = Instant::now();
    for _ in 0..steps {
        one_step();
    }
    let seconds = t0.elapsed().as_secs_f64();
    Ok(Throughput {
        implementation: "harness",
        device: crate::device::label(device),
        threads: tch::get_num_threads(),
        batch_size,
        seq_len,
        warmup_steps: warmup,
        steps,
        seconds,
        examples_per_s: (batch_size * steps) as f64 / seconds,
        ms_per_step: seconds * 1000.0 / steps as f64,
    })
}
