//! Fine-tuning BERT for sequence classification (METHODS §6): AdamW, linear warmup and decay,
//! gradient clipping, dev evaluation every `eval_every` steps and at the end, optional
//! cross-head attention (METHODS §3) drawn from the run's own stream.

use super::optim::AdamW;
use super::schedule::linear_warmup_decay;
use super::Ending;
use crate::data::metrics::{self, Predictions};
use crate::data::{Label, TaskData, TaskKind};
use crate::model::bert::{self, BertForSequenceClassification, Head};
use crate::model::cross_head::CrossHead;
use crate::model::tokenizer::{BertTokenizer as Tokenizer, Encoded};
use crate::precision::Precision;
use crate::seed::{self, Purpose};
use crate::store::{ExampleValues, MetricRow, ResultRow, SplitPredictions};
use anyhow::{Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Examples of one split, tokenized once and reused by every run and epoch.
pub struct PreparedSplit {
    pub name: String,
    pub encodings: Vec<Encoded>,
    pub labels: Vec<Label>,
}

/// A task ready for training: tokenized splits plus the majority-class baseline of each dev split.
pub struct PreparedTask {
    pub name: String,
    pub kind: TaskKind,
    pub train: PreparedSplit,
    pub dev: Vec<PreparedSplit>,
    /// (split, metric, value) of always predicting the training majority class (or mean).
    pub majority: Vec<(String, String, f64)>,
}

/// Fixed seed of the subset taken by `max_train_examples` / `max_eval_examples`: the subset is
/// part of the task, the same for every run seed, so it adds no variance across seeds.
const SUBSET_SEED: u64 = 0x5eed_5b5e;

fn take_subset<T: Clone>(items: &[T], max: Option<usize>) -> Vec<T> {
    match max {
        Some(n) if n < items.len() => {
            let mut idx: Vec<usize> = (0..items.len()).collect();
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(SUBSET_SEED);
            idx.shuffle(&mut rng);
            let mut chosen: Vec<usize> = idx.into_iter().take(n).collect();
            chosen.sort_unstable();
            chosen.into_iter().map(|i| items[i].clone()).collect()
        }
        _ => items.to_vec(),
    }
}

impl PreparedTask {
    pub fn prepare(
        task: &TaskData,
        tokenizer: &Tokenizer,
        max_len: usize,
        max_train: Option<usize>,
        max_eval: Option<usize>,
    ) -> Result<PreparedTask> {
        let split = |name: &str,
                     examples: &[crate::data::Example],
                     max: Option<usize>|
         -> Result<PreparedSplit> {
            let examples: Vec<_> = take_subset(examples, max)
                .into_iter()
                .filter(|e| e.label.is_some())
                .collect();
            let texts: Vec<(String, Option<String>)> = examples
                .iter()
                .map(|e| (e.text_a.clone(), e.text_b.clone()))
                .collect();
            let encodings = tokenizer
                .encode_all(&texts, max_len)
                .with_context(|| format!("tokenizing {} {name}", task.name))?;
            let labels = examples.into_iter().filter_map(|e| e.label).collect();
            Ok(PreparedSplit {
                name: name.to_string(),
                encodings,
                labels,
            })
        };
        let train = split("train", &task.train.examples, max_train)?;
        anyhow::ensure!(
            !train.labels.is_empty(),
            "task {} has no labelled training examples",
            task.name
        );
        let dev = task
            .dev
            .iter()
            .map(|s| split(&s.name, &s.examples, max_eval))
            .collect::<Result<Vec<_>>>()?;
        let mut majority = Vec::new();
        for d in &dev {
            for (name, value) in
                metrics::majority_baseline(&task.name, &task.kind, &train.labels, &d.labels)
            {
                majority.push((d.name.clone(), name, value));
            }
        }
        Ok(PreparedTask {
            name: task.name.clone(),
            kind: task.kind,
            train,
            dev,
            majority,
        })
    }

    fn head(&self) -> Head {
        match self.kind {
            TaskKind::Classification { num_labels } => Head::Classification(num_labels),
            TaskKind::Regression => Head::Regression,
        }
    }
}

/// Everything about one fine-tuning run that is not the data.
#[derive(Debug, Clone)]
pub struct FinetuneSettings {
    pub seed: u64,
    pub pretrained: std::path::PathBuf,
    pub layers: Option<usize>,
    pub dropout: Option<f64>,
    pub epochs: usize,
    pub max_steps: Option<usize>,
    pub batch_size: usize,
    pub lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub eval_every: Option<usize>,
    pub grad_clip: Option<f64>,
    pub cross_head_prob: f64,
    /// `train.precision` as the spec asks it; resolved against the device when training starts.
    pub precision: Option<Precision>,
}

/// What the loop tells its caller while it runs.
pub trait Observer {
    /// After every optimizer step.
    fn on_step(&mut self, step: i64, total: i64, loss: f64);
    /// Per-step metric rows to store (train loss and lr every step, dev metrics at evaluations).
    fn on_metrics(&mut self, rows: Vec<MetricRow>, flush: bool) -> Result<()>;
    /// Checked before every step: true once the user asked to stop.
    fn interrupted(&self) -> bool;
}

pub struct Outcome {
    pub ending: Ending,
    pub steps: i64,
    pub results: Vec<ResultRow>,
    /// Per-example predictions of the final evaluation, one entry per dev split.
    pub predictions: Vec<SplitPredictions>,
    pub train_seconds: f64,
    pub examples_per_s: f64,
}

/// Total optimizer steps: `max_steps` when given (it overrides epochs), else epochs × ⌈n / batch⌉.
pub fn total_steps(n_train: usize, s: &FinetuneSettings) -> i64 {
    let per_epoch = n_train.div_ceil(s.batch_size.max(1));
    match s.max_steps {
        Some(m) => m as i64,
        None => (s.epochs * per_epoch) as i64,
    }
}

fn labels_tensor(labels: &[&Label], device: Device) -> Tensor {
    match labels.first() {
        Some(Label::Score(_)) => {
            let v: Vec<f32> = labels
                .iter()
                .map(|l| match l {
                    Label::Score(s) => *s,
                    Label::Class(c) => *c as f32,
                })
                .collect();
            Tensor::from_slice(&v).to_device(device)
        }
        _ => {
            let v: Vec<i64> = labels
                .iter()
                .map(|l| match l {
                    Label::Class(c) => *c as i64,
                    Label::Score(s) => *s as i64,
                })
                .collect();
            Tensor::from_slice(&v).to_device(device)
        }
    }
}

/// Evaluates on every dev split: metric rows named by split, plus the mean dev loss, and what
/// the model predicted for every example (in the split's order) with its gold label.
fn evaluate(
    model: &BertForSequenceClassification,
    tokenizer: &Tokenizer,
    task: &PreparedTask,
    batch_size: usize,
    device: Device,
    precision: Precision,
) -> (Vec<ResultRow>, Vec<SplitPredictions>) {
    let mut out = Vec::new();
    let mut per_example = Vec::new();
    for split in &task.dev {
        // Length-sorted batches waste little on padding; metrics do not depend on order.
        let mut order: Vec<usize> = (0..split.encodings.len()).collect();
        order.sort_by_key(|&i| split.encodings[i].ids.len());
        let mut class_preds = vec![0usize; order.len()];
        let mut score_preds = vec![0f32; order.len()];
        let mut loss_sum = 0.0;
        tch::no_grad(|| {
            for chunk in order.chunks(batch_size.max(1)) {
                let encs: Vec<&Encoded> = chunk.iter().map(|&i| &split.encodings[i]).collect();
                let batch = tokenizer.collate(&encs).to_device(device);
                let logits = precision
                    .autocast(device, || model.forward_t(&batch, false, None))
                    .to_kind(Kind::Float);
                let labels: Vec<&Label> = chunk.iter().map(|&i| &split.labels[i]).collect();
                let loss = bert::loss(&logits, &labels_tensor(&labels, device), model.head());
                loss_sum += f64::try_from(loss).unwrap_or(f64::NAN) * chunk.len() as f64;
                match task.kind {
                    TaskKind::Regression => {
                        let v = Vec::<f32>::try_from(
                            logits
                                .squeeze_dim(-1)
                                .to_kind(Kind::Float)
                                .to_device(Device::Cpu),
                        )
                        .unwrap_or_default();
                        for (j, &i) in chunk.iter().enumerate() {
                            score_preds[i] = v[j];
                        }
                    }
                    TaskKind::Classification { .. } => {
                        let v =
                            Vec::<i64>::try_from(logits.argmax(-1, false).to_device(Device::Cpu))
                                .unwrap_or_default();
                        for (j, &i) in chunk.iter().enumerate() {
                            class_preds[i] = v[j] as usize;
                        }
                    }
                }
            }
        });
        let preds = match task.kind {
            TaskKind::Regression => Predictions::Scores(score_preds),
            TaskKind::Classification { .. } => Predictions::Classes(class_preds),
        };
        per_example.push(SplitPredictions {
            split: split.name.clone(),
            values: example_values(&preds, &split.labels),
        });
        for (name, value) in metrics::evaluate(&task.name, &task.kind, &preds, &split.labels) {
            out.push(ResultRow {
                split: split.name.clone(),
                name,
                value,
            });
        }
        out.push(ResultRow {
            split: split.name.clone(),
            name: "loss".into(),
            value: loss_sum / split.encodings.len().max(1) as f64,
        });
    }
    (out, per_example)
}

/// The stored form of a split's predictions: class ids or scores, with the gold labels.
fn example_values(preds: &Predictions, gold: &[Label]) -> ExampleValues {
    match preds {
        Predictions::Classes(p) => ExampleValues::Classes {
            predicted: p.iter().map(|&c| c as u32).collect(),
            gold: gold
                .iter()
                .map(|l| match l {
                    Label::Class(c) => *c as u32,
                    Label::Score(s) => *s as u32,
                })
                .collect(),
        },
        Predictions::Scores(p) => ExampleValues::Scores {
            predicted: p.clone(),
            gold: gold
                .iter()
                .map(|l| match l {
                    Label::Score(s) => *s,
                    Label::Class(c) => *c as f32,
                })
                .collect(),
        },
    }
}

fn as_metric_rows(step: i64, rows: &[ResultRow]) -> Vec<MetricRow> {
    rows.iter()
        .map(|r| MetricRow {
            step,
            split: r.split.clone(),
            name: r.name.clone(),
            value: r.value,
            phase: None,
        })
        .collect()
}

/// Fine-tunes a fresh copy of the pretrained model on `task` and evaluates it.
pub fn finetune(
    s: &FinetuneSettings,
    task: &PreparedTask,
    tokenizer: &Tokenizer,
    device: Device,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    // Every source of randomness comes from the run seed, one stream per purpose (src/seed.rs).
    tch::manual_seed(seed::libtorch_seed(s.seed));
    let mut init_rng = seed::stream(s.seed, Purpose::HeadInit);
    let mut order_rng = seed::stream(s.seed, Purpose::DataOrder);
    let mut cross_head = (s.cross_head_prob > 0.0)
        .then(|| CrossHead::new(s.cross_head_prob, seed::stream(s.seed, Purpose::CrossHead)));

    let vs = VarStore::new(device);
    let model = BertForSequenceClassification::load(
        &vs.root(),
        &s.pretrained,
        task.head(),
        s.layers,
        s.dropout,
        &mut init_rng,
    )
    .with_context(|| {
        format!(
            "loading the pretrained model from {}",
            s.pretrained.display()
        )
    })?;
    let mut opt = AdamW::new(&vs, s.weight_decay, bert::no_decay);
    let precision = Precision::resolve(s.precision, device).0;
    precision.configure(device);

    let n = task.train.encodings.len();
    let total = total_steps(n, s);
    let mut step: i64 = 0;
    let mut order: Vec<usize> = Vec::new();
    let mut cursor = 0usize;
    let mut train_time = 0.0f64;
    let mut examples = 0usize;
    // Where a training step's time goes: `loop_time` is the whole loop without its evaluations,
    // `model_time` the part in forward, loss, backward, clipping and AdamW.
    let (mut loop_time, mut model_time) = (0.0f64, 0.0f64);
    let eval_bs = (s.batch_size * 2).max(1);

    while step < total {
        let loop_t0 = Instant::now();
        if observer.interrupted() {
            return Ok(Outcome {
                ending: Ending::Interrupted,
                steps: step,
                results: vec![],
                predictions: vec![],
                train_seconds: train_time,
                examples_per_s: 0.0,
            });
        }
        if cursor >= order.len() {
            // A new epoch: a fresh permutation from the data-order stream.
            order = (0..n).collect();
            order.shuffle(&mut order_rng);
            cursor = 0;
        }
        let end = (cursor + s.batch_size).min(order.len());
        let idx = &order[cursor..end];
        cursor = end;

        let t0 = Instant::now();
        let encs: Vec<&Encoded> = idx.iter().map(|&i| &task.train.encodings[i]).collect();
        let batch = tokenizer.collate(&encs).to_device(device);
        let labels: Vec<&Label> = idx.iter().map(|&i| &task.train.labels[i]).collect();
        let labels = labels_tensor(&labels, device);
        let lr = linear_warmup_decay(s.lr, step, total, s.warmup_ratio);

        let model_t0 = Instant::now();
        opt.zero_grad();
        let logits = precision
            .autocast(device, || {
                model.forward_t(&batch, true, cross_head.as_mut())
            })
            .to_kind(Kind::Float);
        let loss = bert::loss(&logits, &labels, model.head());
        let loss_value = f64::try_from(&loss).unwrap_or(f64::NAN);
        if !loss_value.is_finite() {
            observer.on_metrics(
                vec![MetricRow {
                    step: step + 1,
                    split: "train".into(),
                    name: "loss".into(),
                    value: loss_value,
                    phase: None,
                }],
                true,
            )?;
            return Ok(Outcome {
                ending: Ending::Diverged {
                    step: step + 1,
                    loss: loss_value,
                },
                steps: step + 1,
                results: vec![],
                predictions: vec![],
                train_seconds: train_time,
                examples_per_s: examples as f64 / train_time.max(1e-9),
            });
        }
        loss.backward();
        if let Some(max_norm) = s.grad_clip {
            opt.clip_grad_norm(max_norm);
        }
        opt.step(lr);
        model_time += model_t0.elapsed().as_secs_f64();
        train_time += t0.elapsed().as_secs_f64();
        examples += idx.len();
        step += 1;

        observer.on_step(step, total, loss_value);
        let mut rows = vec![
            MetricRow {
                step,
                split: "train".into(),
                name: "loss".into(),
                value: loss_value,
                phase: None,
            },
            MetricRow {
                step,
                split: "train".into(),
                name: "lr".into(),
                value: lr,
                phase: None,
            },
        ];
        let eval_now = s.eval_every.is_some_and(|e| step % e as i64 == 0) && step < total;
        let mut eval_time = 0.0;
        if eval_now {
            let eval_t0 = Instant::now();
            let (dev, _) = evaluate(&model, tokenizer, task, eval_bs, device, precision);
            rows.extend(as_metric_rows(step, &dev));
            eval_time = eval_t0.elapsed().as_secs_f64();
        }
        observer.on_metrics(rows, eval_now)?;
        loop_time += loop_t0.elapsed().as_secs_f64() - eval_time;
    }

    let (mut results, predictions) = evaluate(&model, tokenizer, task, eval_bs, device, precision);
    observer.on_metrics(as_metric_rows(step, &results), true)?;
    // The majority-class baseline of each dev split goes with the final results, so reports
    // can count degenerate runs (Mosbach et al. 2021) from the store alone.
    results.extend(task.majority.iter().map(|(split, name, value)| ResultRow {
        split: split.clone(),
        name: format!("majority_{name}"),
        value: *value,
    }));
    // The model's size, counted from the built model (the dry run computes the same numbers
    // from config.json: src/spec/params.rs).
    let (total, embedding) = vs
        .variables()
        .iter()
        .fold((0i64, 0i64), |(t, e), (name, v)| {
            let n = v.numel() as i64;
            let table = [
                "word_embeddings",
                "position_embeddings",
                "token_type_embeddings",
            ]
            .iter()
            .any(|t| name.contains(t));
            (t + n, e + if table { n } else { 0 })
        });
    // Measurements of this machine (never checked): a step's wall time in the training loop and
    // the part of it outside the model and the optimizer (batching, metric rows, the store
    // observer, progress).
    let per_step_ms = |seconds: f64| seconds * 1000.0 / step.max(1) as f64;
    results.extend([
        ResultRow {
            split: "train".into(),
            name: "ms_per_step".into(),
            value: per_step_ms(loop_time),
        },
        ResultRow {
            split: "train".into(),
            name: "ms_per_step_outside_model".into(),
            value: per_step_ms(loop_time - model_time),
        },
        ResultRow {
            split: "train".into(),
            name: "params_total".into(),
            value: total as f64,
        },
        ResultRow {
            split: "train".into(),
            name: "params_non_embedding".into(),
            value: (total - embedding) as f64,
        },
    ]);
    // How many examples each dev split has: a moved accuracy is that many predictions flipped.
    results.extend(task.dev.iter().map(|d| ResultRow {
        split: d.name.clone(),
        name: EXAMPLES.into(),
        value: d.labels.len() as f64,
    }));
    Ok(Outcome {
        ending: Ending::Completed,
        steps: step,
        results,
        predictions,
        train_seconds: train_time,
        examples_per_s: examples as f64 / train_time.max(1e-9),
    })
}

/// Name of the result that counts a dev split's evaluated examples (a fact of the run).
pub const EXAMPLES: &str = "examples";

/// Loads the tokenizer of a pretrained checkpoint directory.
pub fn load_tokenizer(dir: &Path) -> Result<Tokenizer> {
    Tokenizer::from_dir(dir).with_context(|| format!("loading the tokenizer of {}", dir.display()))
}
