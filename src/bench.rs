//! `harness bench finetune`: fine-tuning throughput on fixed-shape synthetic batches, the same
//! shapes a reference implementation is given (bench/finetune_throughput.sh), so that the two
//! numbers compare the training step and nothing else.

use crate::model::bert::{self, BertForSequenceClassification, Head};
use crate::model::tokenizer::Batch;
use crate::precision::Precision;
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
    pub precision: Precision,
    pub threads: i32,
    pub batch_size: usize,
    pub seq_len: usize,
    pub warmup_steps: usize,
    pub steps: usize,
    pub seconds: f64,
    pub examples_per_s: f64,
    pub ms_per_step: f64,
    /// Where a timed step's time goes, in ms per step (their sum is `ms_per_step`).
    pub phases_ms: Phases,
    /// Peak memory: on CUDA the allocator's max allocated bytes over the timed and untimed
    /// steps; on the CPU the process's peak RSS.
    pub peak_memory_bytes: Option<i64>,
}

/// One step, split: zeroing the gradients and the forward pass with the loss, the backward
/// pass, and the optimizer (clipping the gradients, the AdamW update). On CUDA each phase ends with a
/// synchronisation, so that the split is real.
#[derive(Debug, Default, Serialize)]
pub struct Phases {
    pub forward: f64,
    pub backward: f64,
    pub optimizer: f64,
}

/// The fixed shape of a throughput measurement.
#[derive(Debug, Clone)]
pub struct Shape {
    pub batch_size: usize,
    pub seq_len: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
}

/// Times `shape.steps` optimizer steps (after `shape.warmup` untimed ones) of BERT sequence
/// classification (2 labels) with AdamW, dropout on, on random token ids of exactly
/// `shape.seq_len` tokens, in `precision` (as `train.precision`; `None` = the device's default).
pub fn finetune_throughput(
    model_dir: &Path,
    shape: &Shape,
    device: Device,
    precision: Option<Precision>,
) -> Result<Throughput> {
    let (batch_size, seq_len) = (shape.batch_size, shape.seq_len);
    let (precision, note) = Precision::resolve(precision, device);
    if let Some(note) = note {
        eprintln!("{note}");
    }
    precision.configure(device);
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
    let sync = || {
        if let Device::Cuda(n) = device {
            tch::Cuda::synchronize(n as i64);
        }
    };
    let mut one_step = |phases: &mut Phases| {
        let t0 = Instant::now();
        opt.zero_grad();
        let logits = precision
            .autocast(device, || model.forward_t(&batch, true, None))
            .to_kind(Kind::Float);
        let loss = bert::loss(&logits, &labels, model.head());
        sync();
        let t1 = Instant::now();
        loss.backward();
        sync();
        let t2 = Instant::now();
        opt.clip_grad_norm(1.0);
        opt.step(2e-5);
        sync();
        let t3 = Instant::now();
        phases.forward += (t1 - t0).as_secs_f64();
        phases.backward += (t2 - t1).as_secs_f64();
        phases.optimizer += (t3 - t2).as_secs_f64();
    };
    crate::environment::reset_peak_rss();
    crate::native::reset_peak_allocated(device);
    let mut untimed = Phases::default();
    for _ in 0..shape.warmup {
        one_step(&mut untimed);
    }
    let mut phases = Phases::default();
    let t0 = Instant::now();
    for _ in 0..shape.steps {
        one_step(&mut phases);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let per_step_ms = |s: f64| s * 1000.0 / shape.steps as f64;
    Ok(Throughput {
        implementation: "harness",
        device: crate::device::label(device),
        precision,
        threads: tch::get_num_threads(),
        batch_size,
        seq_len,
        warmup_steps: shape.warmup,
        steps: shape.steps,
        seconds,
        examples_per_s: (batch_size * shape.steps) as f64 / seconds,
        ms_per_step: per_step_ms(seconds),
        phases_ms: Phases {
            forward: per_step_ms(phases.forward),
            backward: per_step_ms(phases.backward),
            optimizer: per_step_ms(phases.optimizer),
        },
        peak_memory_bytes: if device.is_cuda() {
            crate::native::peak_allocated(device)
        } else {
            crate::environment::peak_rss_bytes()
        },
    })
}
