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

pub use super::model_spec::{BertSpec, ModelKind, ModelSpec, TxlSpec};
use crate::model::skip::Schedule;
pub use crate::precision::Precision;
pub use crate::task::Task;

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
    /// Claims the experiment tests (how results are read; never part of a run's key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<super::claims::ClaimSpec>,
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
    "claims",
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
    /// Learning-rate schedule after warmup; default `linear` for BERT, `cosine` for
    /// Transformer-XL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_schedule: Option<LrSchedule>,
    /// Language modelling: evaluation streams (batch) of the validation and test splits;
    /// default `batch_size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_batch_size: Option<u64>,
    /// Language modelling: the evaluations every `eval_every` steps read only the first N
    /// tokens of the validation split (>= 2). The final evaluation always reads the full
    /// validation and test splits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_max_tokens: Option<u64>,
    /// Language modelling: write a resumable checkpoint every N steps (>= 1); none = never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<u64>,
    /// Language modelling: start from this checkpoint (weights, optimizer, step, memory, data
    /// position), e.g. phase 2 from a saved phase-1 checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Numerics of training: `fp32`, `tf32` (CUDA matmuls in TF32) or `bf16` (autocast of the
    /// forward pass to bfloat16; weights and optimizer state stay fp32). Default: fp32 on the
    /// CPU, tf32 on CUDA. Set, it is part of the run key; the precision a run really used is
    /// recorded with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
}

/// `train.lr_schedule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Linear warmup, then linear decay to 0 (Devlin et al. 2019).
    Linear,
    /// Linear warmup, then cosine annealing to 0 over all steps (Dai et al. 2019).
    Cosine,
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
            lr_schedule: None,
            eval_batch_size: None,
            eval_max_tokens: None,
            checkpoint_every: None,
            init_from: None,
            precision: None,
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
    "lr_schedule",
    "eval_batch_size",
    "eval_max_tokens",
    "checkpoint_every",
    "init_from",
    "precision",
];

/// One variant's settings: what it adds to plain training. An empty mapping is the plain
/// baseline. The four language-modelling variants of METHODS §5:
/// `baseline: {}`, `two_phase: {skip: {schedule: functional}, phase1: 0.5}`,
/// `cross_head: {cross_head: {prob: 0.1}}`, and `skip_cross_head` with both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Cross-head attention during training (METHODS.md §3), in both phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_head: Option<CrossHeadSpec>,
    /// Skip-retain in phase 1 (METHODS.md §2; Transformer-XL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<SkipSpec>,
    /// Phase 1 as a fraction of the training steps, in (0, 1] (METHODS.md §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase1: Option<f64>,
    /// Phase 1 as a number of steps (>= 1); exclusive with `phase1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase1_steps: Option<u64>,
    /// A different model for this variant: these `model:` fields replace the experiment's
    /// (a nested mapping such as `adaptive` is replaced whole), and the result is validated
    /// like the experiment's model. `kind` cannot change. E.g. the WikiText-103 comparison of
    /// the paper: Transformer-XL base (16 layers, d_model 410) against the authors' 15-layer
    /// model. Part of the run key through the run's resolved model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<serde_json::Map<String, serde_json::Value>>,
    /// Likewise for `train:` fields (e.g. another batch size or number of steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<serde_json::Map<String, serde_json::Value>>,
}

impl VariantSpec {
    /// This variant's model: the experiment's `model` with the variant's `model:` fields
    /// merged over it. Errors name the field (relative to `model`) and what is wrong.
    pub fn resolve_model(&self, base: &ModelSpec) -> Result<ModelSpec, (String, String)> {
        match &self.model {
            None => Ok(base.clone()),
            Some(patch) => {
                if patch.contains_key("kind") {
                    return Err((
                        "kind".into(),
                        "a variant cannot change model.kind; use a separate spec per model kind"
                            .into(),
                    ));
                }
                merge_over(base, patch)
            }
        }
    }

    /// This variant's training settings (see [`resolve_model`](Self::resolve_model)).
    pub fn resolve_train(&self, base: &TrainSpec) -> Result<TrainSpec, (String, String)> {
        match &self.train {
            None => Ok(base.clone()),
            Some(patch) => merge_over(base, patch),
        }
    }
}

/// `base` with the top-level fields of `patch` replaced; (field, message) on a bad result,
/// the field being the first of `patch` that does not fit on its own.
fn merge_over<T: Serialize + serde::de::DeserializeOwned>(
    base: &T,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, (String, String)> {
    let base = serde_json::to_value(base).map_err(|e| (String::new(), e.to_string()))?;
    let with = |fields: &mut dyn Iterator<Item = (&String, &serde_json::Value)>| {
        let mut json = base.clone();
        let obj = json
            .as_object_mut()
            .expect("model and train serialize as mappings");
        for (k, v) in fields {
            obj.insert(k.clone(), v.clone());
        }
        serde_json::from_value::<T>(json).map_err(|e| {
            // A message that names its field (`n_layer: not used by kind …`) is about that
            // field, which the caller names.
            let (_, message) = super::error::split_path(&e.to_string());
            super::error::humanize(&message, false)
        })
    };
    for (k, v) in patch {
        with(&mut std::iter::once((k, v))).map_err(|message| (k.clone(), message))?;
    }
    with(&mut patch.iter()).map_err(|message| (String::new(), message))
}

/// `skip: {schedule: functional}` or `skip: {schedule: uniform, p: 0.2, exempt_first_last: true}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipSpec {
    /// Which per-layer skip probabilities.
    pub schedule: SkipScheduleName,
    /// `uniform`: the skip probability of every layer, in [0, 1].
    #[serde(default)]
    pub p: Option<f64>,
    /// `uniform`: never skip the first and the last layer (default false, as the authors' code).
    #[serde(default)]
    pub exempt_first_last: Option<bool>,
}

/// `skip.schedule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipScheduleName {
    /// p_l = 0.5 · l / N, first and last layer exempt (the authors' default).
    Functional,
    /// p_l = p for every layer.
    Uniform,
}

impl SkipSpec {
    /// The model's schedule of a validated spec.
    pub fn schedule(&self) -> Schedule {
        match self.schedule {
            SkipScheduleName::Functional => Schedule::Functional,
            SkipScheduleName::Uniform => Schedule::Uniform {
                p: self.p.unwrap_or(0.0),
                exempt_first_last: self.exempt_first_last.unwrap_or(false),
            },
        }
    }
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
