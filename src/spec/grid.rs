//! Expansion of a spec into its runs: task × sweep point × variant × seed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{humanize, split_path};
use super::run_key::run_key;
use super::types::{DeviceSpec, ModelSpec, Spec, Task, TrainSpec, VariantSpec, TRAIN_FIELDS};
use crate::model::skip::Schedule;

/// The resolved settings of a variant. A setting added later must be skipped when unset, so
/// that existing run keys do not change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSettings {
    /// Cross-head permutation probability per layer and step; 0 = off.
    pub cross_head_prob: f64,
    /// Skip-retain schedule of phase 1; none = no skipping (and no phase 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<Schedule>,
    /// Phase 1 as a fraction of the training steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase1: Option<f64>,
    /// Phase 1 as a number of steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase1_steps: Option<u64>,
}

impl VariantSettings {
    /// The resolved settings of a variant as written in the spec.
    pub fn of(variant: &VariantSpec) -> Self {
        VariantSettings {
            cross_head_prob: variant.cross_head.as_ref().map_or(0.0, |c| c.prob),
            skip: variant.skip.as_ref().map(|s| s.schedule()),
            phase1: variant.phase1,
            phase1_steps: variant.phase1_steps,
        }
    }

    /// Number of phase-1 (skip-retain) steps of a run of `total` steps: `phase1_steps`, or
    /// `round(phase1 · total)`, at most `total`; 0 without skip-retain.
    pub fn phase1_steps(&self, total: u64) -> u64 {
        if self.skip.is_none() {
            return 0;
        }
        let n = match (self.phase1_steps, self.phase1) {
            (Some(n), _) => n,
            (None, Some(f)) => (f * total as f64).round() as u64,
            (None, None) => total,
        };
        n.min(total)
    }
}

/// Everything one run needs, fully resolved (sweep values applied).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The task.
    pub task: Task,
    /// Variant name.
    pub variant: String,
    /// Variant settings.
    pub variant_settings: VariantSettings,
    /// The run's seed (see `crate::seed` for the per-purpose streams).
    pub seed: u64,
    /// Requested device (the device actually used is recorded per run).
    pub device: DeviceSpec,
    /// CPU intra-op threads; `None` = all cores.
    pub threads: Option<usize>,
    /// Folder holding the task data.
    pub data_dir: PathBuf,
    /// The model.
    pub model: ModelSpec,
    /// Training hyper-parameters.
    pub train: TrainSpec,
}

/// One planned run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    /// Stable key: 16 hex characters (see `run_key`).
    pub key: String,
    /// The task (serialized as its name).
    pub task: Task,
    /// Variant name.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// This run's sweep values, by dotted path.
    pub sweep: BTreeMap<String, serde_json::Value>,
    /// The resolved configuration.
    pub config: RunConfig,
}

/// The dotted paths a sweep may vary.
pub fn sweep_paths() -> Vec<String> {
    TRAIN_FIELDS
        .iter()
        .map(|f| format!("train.{f}"))
        .chain(["model.dropout".to_string(), "model.layers".to_string()])
        .collect()
}

/// Sets `path` (one of [`sweep_paths`]) to `value` in `spec`. Fails with a message when the
/// path is not sweepable or the value has the wrong type; ranges are checked by validation.
pub fn apply_sweep_value(
    spec: &mut Spec,
    path: &str,
    value: &serde_json::Value,
) -> Result<(), String> {
    fn set<T: Serialize + serde::de::DeserializeOwned>(
        target: &mut T,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<(), String> {
        let mut json = serde_json::to_value(&*target).map_err(|e| e.to_string())?;
        let obj = json
            .as_object_mut()
            .ok_or_else(|| "sweep target is not a mapping".to_string())?;
        obj.insert(field.to_string(), value.clone());
        *target = serde_json::from_value(json).map_err(|e| {
            // `layers: not used by kind …` is about the swept field, which the caller names.
            let (_, message) = split_path(&e.to_string());
            humanize(&message, false)
        })?;
        Ok(())
    }
    match path.split_once('.') {
        Some(("train", field)) if TRAIN_FIELDS.contains(&field) => {
            set(&mut spec.train, field, value)
        }
        Some(("model", field @ ("dropout" | "layers"))) => set(&mut spec.model, field, value),
        _ => Err(format!(
            "unknown sweep path `{path}`; allowed: {}",
            sweep_paths().join(", ")
        )),
    }
}

/// All sweep points: the cartesian product over the sweep's keys in sorted order (the last key
/// varies fastest). One empty point when there is no sweep.
pub fn sweep_points(spec: &Spec) -> Vec<BTreeMap<String, serde_json::Value>> {
    let mut points = vec![BTreeMap::new()];
    for (key, values) in &spec.sweep {
        points = points
            .into_iter()
            .flat_map(|point| {
                values.iter().map(move |v| {
                    let mut p = point.clone();
                    p.insert(key.clone(), v.clone());
                    p
                })
            })
            .collect();
    }
    points
}

/// Every run of a validated spec, in order task (spec order) × sweep point (cartesian, keys
/// sorted) × variant (baseline first, then spec order) × seed (spec order).
pub fn expand(spec: &Spec) -> Vec<RunPlan> {
    let points = sweep_points(spec);
    let seeds = spec.seed_list();
    let mut plans = Vec::new();
    for task in &spec.tasks {
        for point in &points {
            let mut resolved = spec.clone();
            for (path, value) in point {
                apply_sweep_value(&mut resolved, path, value)
                    .expect("sweep values are checked by validation");
            }
            for variant in spec.variant_order() {
                let settings = spec.variants.get(variant).cloned().unwrap_or_default();
                let variant_settings = VariantSettings::of(&settings);
                let model = settings
                    .resolve_model(&resolved.model)
                    .expect("variant models are checked by validation");
                let train = settings
                    .resolve_train(&resolved.train)
                    .expect("variant training settings are checked by validation");
                for &seed in &seeds {
                    let config = RunConfig {
                        task: *task,
                        variant: variant.to_string(),
                        variant_settings: variant_settings.clone(),
                        seed,
                        device: spec.device,
                        threads: spec.threads,
                        data_dir: spec.data_dir.clone(),
                        model: model.clone(),
                        train: train.clone(),
                    };
                    plans.push(RunPlan {
                        key: run_key(&config),
                        task: *task,
                        variant: variant.to_string(),
                        seed,
                        sweep: point.clone(),
                        config,
                    });
                }
            }
        }
    }
    plans
}

/// A float the way Python's `repr` writes it (`1e-05`, `0.0001`, `2.0`), as users know it from
/// other tools' run names.
pub fn format_float(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes an integer exponent");
    if (-4..16).contains(&exp) {
        let plain = format!("{x}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// A sweep value as shown in tables: floats as [`format_float`], strings bare.
pub fn format_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => format_float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `--dry-run` listing: a header and one line per plan, columns aligned, the model's total
/// parameter count (`?` when unknown, see [`super::params`]), sweep values as
/// `train.lr=1e-05`.
pub fn dry_run_table(plans: &[RunPlan]) -> String {
    let mut t = crate::output::Table::new(
        &["key", "task", "variant", "seed", "params", "sweep"],
        &[false, false, false, true, true, false],
    );
    for plan in plans {
        let sweep: Vec<String> = plan
            .sweep
            .iter()
            .map(|(k, v)| format!("{k}={}", format_value(v)))
            .collect();
        let params = super::params::parameters(&plan.config)
            .counts
            .map_or_else(|| "?".to_string(), |c| super::params::format_count(c.total));
        t.push(vec![
            plan.key.clone(),
            plan.task.to_string(),
            plan.variant.clone(),
            plan.seed.to_string(),
            params,
            sweep.join(" "),
        ]);
    }
    t.text()
}
