//! The experiment spec as written in YAML: one struct per mapping, unknown fields rejected.
//!
//! Key stability: a run's key hashes the serialized `model`, `train` and variant settings (see
//! `run_key`). A field added later must serialize to nothing when unset
//! (`#[serde(default, skip_serializing_if = "Option::is_none")]`), so that the keys of existing
//! runs do not change.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A whole experiment: what to train, on which tasks, with which variants and seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Experiment name (`[a-z0-9_-]+`), the experiment's name in the store.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The seeds every (task, sweep point, variant) is run with.
    pub seeds: Seeds,
    /// Where to run.
    #[serde(default)]
    pub device: DeviceSpec,
    /// CPU intra-op threads; `None` = all cores.
    #[serde(default)]
    pub threads: Option<usize>,
    /// Folder holding `glue/<TASK>/` and `standin/<task>/`, relative to the current directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The model to fine-tune.
    pub model: ModelSpec,
    /// Tasks, in run order.
    pub tasks: Vec<Task>,
    /// Training hyper-parameters.
    #[serde(default)]
    pub train: TrainSpec,
    /// The variant the others are compared against.
    pub baseline: String,
    /// The variants, in spec order.
    pub variants: Variants,
    /// Cartesian sweep over dotted paths (`train.*`, `model.dropout`, `model.layers`).
    #[serde(default)]
    pub sweep: BTreeMap<String, Vec<serde_json::Value>>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// Field names of [`Spec`], in declaration order (for error messages).
pub const SPEC_FIELDS: &[&str] = &[
    "name",
    "description",
    "seeds",
    "device",
    "threads",
    "data_dir",
    "model",
    "tasks",
    "train",
    "baseline",
    "variants",
    "sweep",
];

impl Spec {
    /// The seeds in spec order.
    pub fn seed_list(&self) -> Vec<u64> {
        self.seeds.list()
    }

    /// Variant names, baseline first, then the others in spec order.
    pub fn variant_order(&self) -> Vec<&str> {
        let mut names = vec![self.baseline.as_str()];
        names.extend(
            self.variants
                .0
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|name| *name != self.baseline),
        );
        names
    }
}

/// `seeds: {count: 5, base: 1}` (seeds base..base+count-1) or `seeds: [1, 7, 42]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Seeds {
    /// `count` consecutive seeds starting at `base`.
    Range(SeedRange),
    /// An explicit list of distinct seeds.
    List(Vec<u64>),
}

/// `{count, base}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRange {
    /// Number of seeds (>= 1).
    pub count: u64,
    /// First seed.
    #[serde(default)]
    pub base: u64,
}

impl Seeds {
    /// The seeds in spec order.
    pub fn list(&self) -> Vec<u64> {
        match self {
            Seeds::Range(r) => (0..r.count).map(|i| r.base.saturating_add(i)).collect(),
            Seeds::List(l) => l.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Seeds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeedsVisitor;
        impl<'de> Visitor<'de> for SeedsVisitor {
            type Value = Seeds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping {count, base} or a list of seeds")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Seeds, A::Error> {
                SeedRange::deserialize(de::value::MapAccessDeserializer::new(map)).map(Seeds::Range)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seeds, A::Error> {
                let mut seeds = Vec::new();
                while let Some(seed) = seq.next_element::<u64>()? {
                    seeds.push(seed);
                }
                Ok(Seeds::List(seeds))
            }
        }
        deserializer.deserialize_any(SeedsVisitor)
    }
}

/// `auto | cpu | cuda | cuda:N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// CUDA device 0 when available, else CPU.
    #[default]
    Auto,
    /// CPU.
    Cpu,
    /// A CUDA device: `cuda` (= `cuda:0` when run) or `cuda:N`.
    Cuda(Option<usize>),
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(None) => f.write_str("cuda"),
            DeviceSpec::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(None)),
            _ => s
                .strip_prefix("cuda:")
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse().ok())
                .map(|n| DeviceSpec::Cuda(Some(n)))
                .ok_or_else(|| format!("unknown device `{s}`; allowed: auto, cpu, cuda, cuda:N")),
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::<DeviceSpec>::new("a device name"))
    }
}

/// Visitor for types written as one string and parsed with `FromStr<Err = String>`.
struct FromStrVisitor<T> {
    what: &'static str,
    marker: std::marker::PhantomData<T>,
}

impl<T> FromStrVisitor<T> {
    fn new(what: &'static str) -> Self {
        FromStrVisitor {
            what,
            marker: std::marker::PhantomData,
        }
    }
}

impl<'de, T: FromStr<Err = String>> Visitor<'de> for FromStrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// A fine-tuning or language-modelling task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// GLUE CoLA.
    Cola,
    /// GLUE SST-2.
    Sst2,
    /// GLUE MRPC.
    Mrpc,
    /// GLUE STS-B.
    Stsb,
    /// GLUE QQP.
    Qqp,
    /// GLUE MNLI.
    Mnli,
    /// GLUE QNLI.
    Qnli,
    /// GLUE RTE.
    Rte,
    /// GLUE WNLI.
    Wnli,
    /// Stand-in: SpamAssassin spam/ham (single text).
    Spam,
    /// Stand-in: King James Bible next-verse (sentence pair).
    KjvNext,
}

impl Task {
    /// Every task, GLUE first.
    pub const ALL: [Task; 11] = [
        Task::Cola,
        Task::Sst2,
        Task::Mrpc,
        Task::Stsb,
        Task::Qqp,
        Task::Mnli,
        Task::Qnli,
        Task::Rte,
        Task::Wnli,
        Task::Spam,
        Task::KjvNext,
    ];

    /// The name used in specs and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Cola => "cola",
            Task::Sst2 => "sst2",
            Task::Mrpc => "mrpc",
            Task::Stsb => "stsb",
            Task::Qqp => "qqp",
            Task::Mnli => "mnli",
            Task::Qnli => "qnli",
            Task::Rte => "rte",
            Task::Wnli => "wnli",
            Task::Spam => "spam",
            Task::KjvNext => "kjv_next",
        }
    }

    /// Whether this is one of the nine GLUE tasks (as opposed to a stand-in).
    pub fn is_glue(self) -> bool {
        !matches!(self, Task::Spam | Task::KjvNext)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Task::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let allowed: Vec<_> = Task::ALL.iter().map(|t| t.as_str()).collect();
                format!("unknown task `{s}`; allowed: {}", allowed.join(", "))
            })
    }
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::<Task>::new("a task name"))
    }
}

/// Kinds of model. Each kind's required and allowed fields of [`ModelSpec`] are checked by
/// validation (`ModelKind::allowed_fields`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A pretrained BERT encoder with a sequence-classification head.
    Bert,
}

impl ModelKind {
    /// The name used in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Bert => "bert",
        }
    }

    /// Fields of [`ModelSpec`] (besides `kind`) this kind requires.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            ModelKind::Bert => &["pretrained"],
        }
    }

    /// Fields of [`ModelSpec`] (besides `kind`) this kind accepts.
    pub fn allowed_fields(self) -> &'static [&'static str] {
        match self {
            ModelKind::Bert => &["pretrained", "layers", "dropout"],
        }
    }
}

/// `model:`. One flat mapping for every kind (so that every field keeps its location in error
/// messages); which fields a kind takes is checked by validation. A field added for a new kind
/// must be skipped when unset (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Which model.
    pub kind: ModelKind,
    /// Folder with `config.json`, `model.safetensors`, `tokenizer.json` (BERT).
    #[serde(default)]
    pub pretrained: Option<PathBuf>,
    /// Keep only the first N encoder layers (>= 1).
    #[serde(default)]
    pub layers: Option<usize>,
    /// Override of the hidden and attention dropout, in [0, 1).
    #[serde(default)]
    pub dropout: Option<f64>,
}

/// `train:`; every field optional, defaults from Devlin et al. (2019).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// Passes over the training set (>= 1).
    pub epochs: u64,
    /// Stop after this many optimizer steps (>= 1), whatever `epochs` says.
    pub max_steps: Option<u64>,
    /// Examples per step (>= 1).
    pub batch_size: u64,
    /// Peak AdamW learning rate (> 0).
    pub lr: f64,
    /// Fraction of the steps spent in linear warmup, in [0, 1].
    pub warmup_ratio: f64,
    /// AdamW decoupled weight decay (>= 0), not on biases and LayerNorm.
    pub weight_decay: f64,
    /// Maximum tokens per example, in 8..=512.
    pub max_len: u64,
    /// Evaluate every N steps (>= 1); `None` = only at the end.
    pub eval_every: Option<u64>,
    /// Use only the first N training examples (>= 1).
    pub max_train_examples: Option<u64>,
    /// Use only the first N evaluation examples (>= 1).
    pub max_eval_examples: Option<u64>,
    /// Clip the global gradient norm to this (> 0); `None` = no clipping.
    pub grad_clip: Option<f64>,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            epochs: 3,
            max_steps: None,
            batch_size: 32,
            lr: 2.0e-5,
            warmup_ratio: 0.1,
            weight_decay: 0.01,
            max_len: 128,
            eval_every: Some(50),
            max_train_examples: None,
            max_eval_examples: None,
            grad_clip: Some(1.0),
        }
    }
}

/// Field names of [`TrainSpec`] (the paths `train.<field>` a sweep may vary).
pub const TRAIN_FIELDS: &[&str] = &[
    "epochs",
    "max_steps",
    "batch_size",
    "lr",
    "warmup_ratio",
    "weight_decay",
    "max_len",
    "eval_every",
    "max_train_examples",
    "max_eval_examples",
    "grad_clip",
];

/// One variant's settings: what it adds to plain fine-tuning. An empty mapping is the plain
/// baseline. Later settings (skip schedules, two phases) become further optional fields, skipped
/// when unset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Cross-head attention during training (METHODS.md §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_head: Option<CrossHeadSpec>,
}

/// `cross_head: {prob: 0.1}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossHeadSpec {
    /// Probability, per layer and step, of permuting keys and values across heads, in [0, 1].
    #[serde(default = "default_cross_head_prob")]
    pub prob: f64,
}

fn default_cross_head_prob() -> f64 {
    0.1
}

/// The `variants:` mapping, in spec order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Variants(pub Vec<(String, VariantSpec)>);

impl Variants {
    /// The settings of the variant called `name`.
    pub fn get(&self, name: &str) -> Option<&VariantSpec> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Variant names in spec order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }
}

impl Serialize for Variants {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, variant) in &self.0 {
            map.serialize_entry(name, variant)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Variants {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VariantsVisitor;
        impl<'de> Visitor<'de> for VariantsVisitor {
            type Value = Variants;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping from variant names to variant settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Variants, A::Error> {
                let mut variants: Vec<(String, VariantSpec)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if variants.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format_args!(
                            "duplicate variant `{name}`"
                        )));
                    }
                    // `name: ~` (or an empty value) is the plain variant.
                    let variant = map.next_value::<Option<VariantSpec>>()?.unwrap_or_default();
                    variants.push((name, variant));
                }
                Ok(Variants(variants))
            }
        }
        deserializer.deserialize_map(VariantsVisitor)
    }
}
