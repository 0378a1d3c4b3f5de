//! Semantic checks of a deserialized spec: ranges, names, cross-references, sweep paths.
//! Each problem names the path of the offending value so that it can be located in the file.

use std::collections::HashMap;

use super::grid::{apply_sweep_value, sweep_paths};
use super::locate::FieldPath;
use super::types::{ModelSpec, Seeds, Spec, TrainSpec};

/// One validation problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// The offending value (or key, when `at_key`).
    pub path: FieldPath,
    /// Whether the key itself is at fault (a bad name) rather than its value.
    pub at_key: bool,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Issue {
    fn value(path: FieldPath, message: impl Into<String>) -> Self {
        Issue {
            path,
            at_key: false,
            message: message.into(),
        }
    }

    fn key(path: FieldPath, message: impl Into<String>) -> Self {
        Issue {
            path,
            at_key: true,
            message: message.into(),
        }
    }
}

/// Formats a number as written back to the user (`-1`, `0.5`, `NaN`).
fn num(x: f64) -> String {
    format!("{x}")
}

fn name_ok(name: &str, allow_dash: bool) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || (allow_dash && b == b'-')
        })
}

/// Checks everything the types cannot; returns the first problem in spec order.
pub fn validate(spec: &Spec) -> Result<(), Issue> {
    let root = FieldPath::root();
    if !name_ok(&spec.name, true) {
        return Err(Issue::value(
            root.key("name"),
            format!(
                "must be lowercase letters, digits, `_` and `-` ([a-z0-9_-]+), got `{}`",
                spec.name
            ),
        ));
    }
    check_seeds(&spec.seeds)?;
    if spec.threads == Some(0) {
        return Err(Issue::value(
            root.key("threads"),
            "must be at least 1 (or null for all cores), got 0",
        ));
    }
    check_model(&spec.model)?;
    check_tasks(spec)?;
    check_train(&spec.train)?;
    check_variants(spec)?;
    check_sweep(spec)
}

fn check_seeds(seeds: &Seeds) -> Result<(), Issue> {
    let path = FieldPath::of(&["seeds"]);
    match seeds {
        Seeds::Range(r) => {
            if r.count == 0 {
                return Err(Issue::value(path.key("count"), "must be at least 1, got 0"));
            }
            if r.base.checked_add(r.count - 1).is_none() {
                return Err(Issue::value(
                    path.key("count"),
                    format!("base + count - 1 exceeds the largest seed {}", u64::MAX),
                ));
            }
        }
        Seeds::List(list) => {
            if list.is_empty() {
                return Err(Issue::value(path, "must list at least one seed"));
            }
            let mut first: HashMap<u64, usize> = HashMap::new();
            for (i, seed) in list.iter().enumerate() {
                if let Some(j) = first.insert(*seed, i) {
                    return Err(Issue::value(
                        path.index(i),
                        format!("duplicate seed {seed} (also seeds[{j}]); seeds must be distinct"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_model(model: &ModelSpec) -> Result<(), Issue> {
    let path = FieldPath::of(&["model"]);
    let kind = model.kind;
    let present = [
        ("pretrained", model.pretrained.is_some()),
        ("layers", model.layers.is_some()),
        ("dropout", model.dropout.is_some()),
    ];
    for (field, is_set) in present {
        if is_set && !kind.allowed_fields().contains(&field) {
            return Err(Issue::key(
                path.key(field),
                format!(
                    "not used by kind `{}`; allowed: kind, {}",
                    kind.as_str(),
                    kind.allowed_fields().join(", ")
                ),
            ));
        }
    }
    for field in kind.required_fields() {
        if !present.iter().any(|(f, is_set)| f == field && *is_set) {
            return Err(Issue::value(
                path.clone(),
                format!(
                    "missing required field `{field}` for kind `{}`",
                    kind.as_str()
                ),
            ));
        }
    }
    if let Some(pretrained) = &model.pretrained {
        if pretrained.as_os_str().is_empty() {
            return Err(Issue::value(
                path.key("pretrained"),
                "must be a folder with config.json, model.safetensors and tokenizer.json, got an empty path",
            ));
        }
    }
    if model.layers == Some(0) {
        return Err(Issue::value(
            path.key("layers"),
            "must be at least 1 (or null for all layers), got 0",
        ));
    }
    if let Some(p) = model.dropout {
        if !(0.0..1.0).contains(&p) {
            return Err(Issue::value(
                path.key("dropout"),
                format!(
                    "must be in [0, 1) (or null for the checkpoint's), got {}",
                    num(p)
                ),
            ));
        }
    }
    Ok(())
}

fn check_tasks(spec: &Spec) -> Result<(), Issue> {
    let path = FieldPath::of(&["tasks"]);
    if spec.tasks.is_empty() {
        return Err(Issue::value(path, "must list at least one task"));
    }
    for (i, task) in spec.tasks.iter().enumerate() {
        if let Some(j) = spec.tasks[..i].iter().position(|t| t == task) {
            return Err(Issue::value(
                path.index(i),
                format!("duplicate task `{task}` (also tasks[{j}]); tasks must be distinct"),
            ));
        }
    }
    Ok(())
}

fn at_least_one(path: FieldPath, value: Option<u64>, null_means: &str) -> Result<(), Issue> {
    if value == Some(0) {
        return Err(Issue::value(
            path,
            format!("must be at least 1 (or null {null_means}), got 0"),
        ));
    }
    Ok(())
}

/// Ranges of [`TrainSpec`] fields.
pub fn check_train(train: &TrainSpec) -> Result<(), Issue> {
    let path = FieldPath::of(&["train"]);
    if train.epochs == 0 {
        return Err(Issue::value(
            path.key("epochs"),
            "must be at least 1, got 0",
        ));
    }
    at_least_one(path.key("max_steps"), train.max_steps, "for no step limit")?;
    if train.batch_size == 0 {
        return Err(Issue::value(
            path.key("batch_size"),
            "must be at least 1, got 0",
        ));
    }
    if !(train.lr.is_finite() && train.lr > 0.0) {
        return Err(Issue::value(
            path.key("lr"),
            format!("must be a positive number, got {}", num(train.lr)),
        ));
    }
    if !(0.0..=1.0).contains(&train.warmup_ratio) {
        return Err(Issue::value(
            path.key("warmup_ratio"),
            format!("must be in [0, 1], got {}", num(train.warmup_ratio)),
        ));
    }
    if !(train.weight_decay.is_finite() && train.weight_decay >= 0.0) {
        return Err(Issue::value(
            path.key("weight_decay"),
            format!(
                "must be a non-negative number, got {}",
                num(train.weight_decay)
            ),
        ));
    }
    if !(8..=512).contains(&train.max_len) {
        return Err(Issue::value(
            path.key("max_len"),
            format!("must be in 8..=512 tokens, got {}", train.max_len),
        ));
    }
    at_least_one(
        path.key("eval_every"),
        train.eval_every,
        "to evaluate only at the end",
    )?;
    at_least_one(
        path.key("max_train_examples"),
        train.max_train_examples,
        "for all",
    )?;
    at_least_one(
        path.key("max_eval_examples"),
        train.max_eval_examples,
        "for all",
    )?;
    if let Some(clip) = train.grad_clip {
        if !(clip.is_finite() && clip > 0.0) {
            return Err(Issue::value(
                path.key("grad_clip"),
                format!(
                    "must be a positive number (or null for no clipping), got {}",
                    num(clip)
                ),
            ));
        }
    }
    Ok(())
}

fn check_variants(spec: &Spec) -> Result<(), Issue> {
    let path = FieldPath::of(&["variants"]);
    if spec.variants.0.is_empty() {
        return Err(Issue::value(path, "must define at least one variant"));
    }
    for (name, variant) in &spec.variants.0 {
        if !name_ok(name, false) {
            return Err(Issue::key(
                path.key(name),
                format!("variant names must be lowercase letters, digits and `_` ([a-z0-9_]+), got `{name}`"),
            ));
        }
        if let Some(ch) = &variant.cross_head {
            if !(0.0..=1.0).contains(&ch.prob) {
                return Err(Issue::value(
                    path.key(name).key("cross_head").key("prob"),
                    format!("must be a probability in [0, 1], got {}", num(ch.prob)),
                ));
            }
        }
    }
    if spec.variants.get(&spec.baseline).is_none() {
        let names: Vec<_> = spec.variants.names().collect();
        return Err(Issue::value(
            FieldPath::of(&["baseline"]),
            format!(
                "`{}` is not one of the variants; variants: {}",
                spec.baseline,
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

fn check_sweep(spec: &Spec) -> Result<(), Issue> {
    let path = FieldPath::of(&["sweep"]);
    let allowed = sweep_paths();
    for (key, values) in &spec.sweep {
        let key_path = path.key(key);
        if !allowed.iter().any(|a| a == key) {
            return Err(Issue::key(
                key_path,
                format!(
                    "unknown sweep path `{key}`; allowed: {}",
                    allowed.join(", ")
                ),
            ));
        }
        if values.is_empty() {
            return Err(Issue::value(key_path, "must list at least one value"));
        }
        // Each value must give a valid spec on its own; checks are per field, so every
        // combination is then valid too.
        for (i, value) in values.iter().enumerate() {
            let mut point = spec.clone();
            apply_sweep_value(&mut point, key, value)
                .map_err(|message| Issue::value(key_path.index(i), message))?;
            check_model(&point.model)
                .and_then(|()| check_train(&point.train))
                .map_err(|issue| Issue::value(key_path.index(i), issue.message))?;
        }
    }
    Ok(())
}
