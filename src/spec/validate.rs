//! Semantic checks of a deserialized spec: ranges, names, cross-references, sweep paths.
//! Each problem names the path of the offending value so that it can be located in the file.

use std::collections::HashMap;

use super::grid::{apply_sweep_value, sweep_paths};
use super::limits::{MAX_SEED, MAX_THREADS};
use super::locate::FieldPath;
use super::types::{
    BertSpec, DeviceSpec, ModelKind, ModelSpec, Precision, Seeds, SkipScheduleName, Spec, TrainSpec,
};
use crate::model::transformer_xl::TxlConfigError;

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
    pub(crate) fn value(path: FieldPath, message: impl Into<String>) -> Self {
        Issue {
            path,
            at_key: false,
            message: message.into(),
        }
    }

    pub(crate) fn key(path: FieldPath, message: impl Into<String>) -> Self {
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

/// Longest experiment name: it is a folder name under reports/ and the checkpoint dir, and file
/// systems allow 255 bytes per name.
pub const MAX_NAME: usize = 100;

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
    if spec.name.len() > MAX_NAME {
        return Err(Issue::value(
            root.key("name"),
            format!(
                "must be at most {MAX_NAME} characters (it names folders: reports/<name>/, \
                 checkpoints/<name>/), got {}",
                spec.name.len()
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
    if let Some(t) = spec.threads.filter(|t| *t > MAX_THREADS) {
        return Err(Issue::value(
            root.key("threads"),
            format!("must be at most {MAX_THREADS}, got {t} (null uses every core)"),
        ));
    }
    check_model(&spec.model)?;
    check_tasks(spec)?;
    check_train(&spec.train)?;
    check_train_for_kind(spec.model.kind(), &spec.train)?;
    if spec.device == DeviceSpec::Cpu && spec.train.precision == Some(Precision::Tf32) {
        return Err(Issue::value(
            FieldPath::of(&["train"]).key("precision"),
            "tf32 is a CUDA matmul mode and this spec runs on the CPU (device: cpu); use fp32 \
             or bf16, or run on CUDA (device: cuda or auto)",
        ));
    }
    check_variants(spec)?;
    check_sweep(spec)?;
    super::claims::check_claims(spec)
}

/// How many runs the grid of `spec` expands into (seeds × tasks × variants × sweep points),
/// without expanding it; `None` when the product overflows.
pub fn grid_size(spec: &Spec) -> Option<u64> {
    let seeds = match &spec.seeds {
        Seeds::Range(r) => r.count,
        Seeds::List(l) => l.len() as u64,
    };
    let sweep = spec
        .sweep
        .values()
        .try_fold(1u64, |n, values| n.checked_mul(values.len() as u64))?;
    seeds
        .checked_mul(spec.tasks.len() as u64)?
        .checked_mul(spec.variants.0.len() as u64)?
        .checked_mul(sweep)
}

fn check_seeds(seeds: &Seeds) -> Result<(), Issue> {
    let path = FieldPath::of(&["seeds"]);
    match seeds {
        Seeds::Range(r) => {
            if r.count == 0 {
                return Err(Issue::value(path.key("count"), "must be at least 1, got 0"));
            }
            if r.base
                .checked_add(r.count - 1)
                .is_none_or(|last| last > MAX_SEED)
            {
                return Err(Issue::value(
                    path.key("count"),
                    format!(
                        "base + count - 1 exceeds the largest seed {MAX_SEED} (2^63 - 1: the store keeps seeds as signed 64-bit integers)"
                    ),
                ));
            }
        }
        Seeds::List(list) => {
            if list.is_empty() {
                return Err(Issue::value(path, "must list at least one seed"));
            }
            let mut first: HashMap<u64, usize> = HashMap::new();
            for (i, seed) in list.iter().enumerate() {
                if *seed > MAX_SEED {
                    return Err(Issue::value(
                        path.index(i),
                        format!(
                            "{seed} exceeds the largest seed {MAX_SEED} (2^63 - 1: the store keeps seeds as signed 64-bit integers)"
                        ),
                    ));
                }
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

/// Ranges of the model's fields; which fields a kind takes is checked by its type (see
/// `model_spec`).
fn check_model(model: &ModelSpec) -> Result<(), Issue> {
    let path = FieldPath::of(&["model"]);
    match model {
        ModelSpec::Bert(bert) => check_bert(&path, bert),
        // The one check of the Transformer-XL ranges, reported at the field's location.
        ModelSpec::TransformerXl(txl) => txl.validate().map_err(|e| txl_issue(&path, e)),
    }
}

fn check_bert(path: &FieldPath, bert: &BertSpec) -> Result<(), Issue> {
    if bert.pretrained.as_os_str().is_empty() {
        return Err(Issue::value(
            path.key("pretrained"),
            "must be a folder with config.json, model.safetensors and tokenizer.json, got an empty path",
        ));
    }
    if bert.layers == Some(0) {
        return Err(Issue::value(
            path.key("layers"),
            "must be at least 1 (or null for all layers), got 0",
        ));
    }
    if let Some(p) = bert.dropout {
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

/// A Transformer-XL configuration error as an issue at the field it names.
fn txl_issue(model: &FieldPath, e: TxlConfigError) -> Issue {
    let adaptive = model.key("adaptive");
    match e {
        TxlConfigError::TooSmall { field, value, min } => {
            let at = match field.strip_prefix("adaptive.") {
                Some(sub) => adaptive.key(sub),
                None => model.key(field),
            };
            Issue::value(at, format!("must be at least {min}, got {value}"))
        }
        TxlConfigError::OddModel(d) => Issue::value(
            model.key("d_model"),
            format!("must be even (sinusoidal position embeddings pair sines and cosines), got {d}"),
        ),
        TxlConfigError::Rate { field, value } => Issue::value(
            model.key(field),
            format!("must be in [0, 1), got {}", num(value)),
        ),
        TxlConfigError::Cutoffs { cutoffs, .. } => Issue::value(
            adaptive.key("cutoffs"),
            format!(
                "must be strictly increasing word ids above 0 (below the vocabulary size), got {cutoffs:?}"
            ),
        ),
        TxlConfigError::DivVal {
            div_val,
            cluster,
            d_embed,
        } => Issue::value(
            adaptive.key("div_val"),
            format!(
                "{div_val} gives cluster {cluster} an embedding size of 0 (d_embed = {d_embed}); \
                 lower div_val or use fewer cutoffs"
            ),
        ),
        TxlConfigError::TieProjs { got, want } => Issue::value(
            adaptive.key("tie_projs"),
            format!("has {got} entries; it needs {want} (the head cluster and one per cutoff)"),
        ),
        // Neither can come from a spec: the vocabulary size is given above and `ext_len` is 0.
        e @ (TxlConfigError::NoVocabulary | TxlConfigError::ExtLen { .. }) => {
            Issue::value(model.clone(), e.to_string())
        }
    }
}

fn check_tasks(spec: &Spec) -> Result<(), Issue> {
    let path = FieldPath::of(&["tasks"]);
    if spec.tasks.is_empty() {
        return Err(Issue::value(path, "must list at least one task"));
    }
    for (i, task) in spec.tasks.iter().enumerate() {
        let needs = task.model_kind();
        if needs != spec.model.kind() {
            let what = if task.is_language_modelling() {
                "a language-modelling corpus"
            } else {
                "a sequence-classification task"
            };
            return Err(Issue::value(
                path.index(i),
                format!(
                    "`{task}` is {what}: it needs model.kind `{}`, but model.kind is `{}`; use a separate spec per model kind",
                    needs.as_str(),
                    spec.model.kind().as_str()
                ),
            ));
        }
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
    at_least_one(
        path.key("eval_batch_size"),
        train.eval_batch_size,
        "for batch_size",
    )?;
    at_least_one(
        path.key("checkpoint_every"),
        train.checkpoint_every,
        "for no checkpoints",
    )?;
    if let Some(n) = train.eval_max_tokens {
        if n < 2 {
            return Err(Issue::value(
                path.key("eval_max_tokens"),
                format!("must be at least 2 tokens (or null for the whole split), got {n}"),
            ));
        }
    }
    if train
        .init_from
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(Issue::value(
            path.key("init_from"),
            "must be the path of a checkpoint file, got an empty path",
        ));
    }
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

/// Train fields that only one model kind uses.
fn check_train_for_kind(kind: ModelKind, train: &TrainSpec) -> Result<(), Issue> {
    let path = FieldPath::of(&["train"]);
    let (fields, other): (&[(&str, bool)], &str) = match kind {
        ModelKind::Bert => (
            &[
                ("eval_batch_size", train.eval_batch_size.is_some()),
                ("eval_max_tokens", train.eval_max_tokens.is_some()),
                ("checkpoint_every", train.checkpoint_every.is_some()),
                ("init_from", train.init_from.is_some()),
            ],
            "transformer_xl",
        ),
        ModelKind::TransformerXl => (
            &[
                ("max_train_examples", train.max_train_examples.is_some()),
                ("max_eval_examples", train.max_eval_examples.is_some()),
            ],
            "bert",
        ),
    };
    for (field, is_set) in fields {
        if *is_set {
            return Err(Issue::key(
                path.key(field),
                format!(
                    "only used by model.kind `{other}`, not `{}`; remove it{}",
                    kind.as_str(),
                    if kind == ModelKind::TransformerXl {
                        " (language modelling trains on the whole corpus; cap evaluations with eval_max_tokens)"
                    } else {
                        ""
                    }
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
        let train = check_variant_overrides(spec, &path.key(name), variant)?;
        check_phases(spec, &path.key(name), variant, &train)?;
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

/// A variant's own `model:` and `train:` fields, merged over the experiment's and validated
/// like them; problems are placed at the variant's field. Returns the variant's training
/// settings.
fn check_variant_overrides(
    spec: &Spec,
    path: &FieldPath,
    variant: &super::types::VariantSpec,
) -> Result<TrainSpec, Issue> {
    fn at(section: &FieldPath, field: String, message: String) -> Issue {
        if field.is_empty() {
            Issue::value(section.clone(), message)
        } else if message.starts_with("unknown field")
            || message.starts_with(super::model_spec::NOT_USED)
            || field == "kind"
        {
            Issue::key(section.key(&field), message)
        } else {
            Issue::value(section.key(&field), message)
        }
    }
    /// An issue of the merged section (path `model.…` / `train.…`) moved into the variant.
    fn moved(
        issue: Issue,
        top: &str,
        section: &FieldPath,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Issue {
        let rest: Vec<_> = issue.path.0.iter().skip(1).cloned().collect();
        let inside = issue.path.0.first() == Some(&super::locate::Seg::Key(top.to_string()))
            && matches!(rest.first(), Some(super::locate::Seg::Key(k)) if patch.contains_key(k));
        if inside {
            let mut p = section.clone();
            p.0.extend(rest);
            Issue { path: p, ..issue }
        } else {
            Issue::value(section.clone(), issue.message)
        }
    }
    if let Some(patch) = &variant.model {
        let section = path.key("model");
        let model = variant
            .resolve_model(&spec.model)
            .map_err(|(field, message)| at(&section, field, message))?;
        check_model(&model).map_err(|i| moved(i, "model", &section, patch))?;
    }
    let train = variant
        .resolve_train(&spec.train)
        .map_err(|(field, message)| at(&path.key("train"), field, message))?;
    if let Some(patch) = &variant.train {
        let section = path.key("train");
        check_train(&train)
            .and_then(|()| check_train_for_kind(spec.model.kind(), &train))
            .map_err(|i| moved(i, "train", &section, patch))?;
    }
    Ok(train)
}

/// Skip-retain and the two phases (METHODS §2, §4).
fn check_phases(
    spec: &Spec,
    path: &FieldPath,
    variant: &super::types::VariantSpec,
    train: &TrainSpec,
) -> Result<(), Issue> {
    if let Some(skip) = &variant.skip {
        let spath = path.key("skip");
        if spec.model.kind() != ModelKind::TransformerXl {
            return Err(Issue::key(
                spath,
                format!(
                    "skip-retain needs model.kind `transformer_xl`, but model.kind is `{}`",
                    spec.model.kind().as_str()
                ),
            ));
        }
        match skip.schedule {
            SkipScheduleName::Functional => {
                for (field, is_set) in [
                    ("p", skip.p.is_some()),
                    ("exempt_first_last", skip.exempt_first_last.is_some()),
                ] {
                    if is_set {
                        return Err(Issue::key(
                            spath.key(field),
                            "only used by `schedule: uniform`; the functional schedule is p_l = 0.5·l/N with the first and last layers exempt",
                        ));
                    }
                }
            }
            SkipScheduleName::Uniform => match skip.p {
                None => {
                    return Err(Issue::value(
                        spath,
                        "`schedule: uniform` needs `p`, the skip probability of every layer (e.g. p: 0.2)",
                    ))
                }
                Some(p) if !(0.0..=1.0).contains(&p) => {
                    return Err(Issue::value(
                        spath.key("p"),
                        format!("must be a probability in [0, 1], got {}", num(p)),
                    ))
                }
                Some(_) => {}
            },
        }
        if variant.phase1.is_none() && variant.phase1_steps.is_none() {
            return Err(Issue::value(
                path.clone(),
                "skip-retain runs in phase 1: set `phase1` (a fraction of the steps, e.g. 0.5) or `phase1_steps`",
            ));
        }
    } else {
        for (field, is_set) in [
            ("phase1", variant.phase1.is_some()),
            ("phase1_steps", variant.phase1_steps.is_some()),
        ] {
            if is_set {
                return Err(Issue::key(
                    path.key(field),
                    "phase 1 is skip-retain training: add `skip: {schedule: functional}` to this variant, or remove the field",
                ));
            }
        }
    }
    if variant.phase1.is_some() && variant.phase1_steps.is_some() {
        return Err(Issue::key(
            path.key("phase1_steps"),
            "give phase 1 either as a fraction (`phase1`) or as a step count (`phase1_steps`), not both",
        ));
    }
    if let Some(f) = variant.phase1 {
        if !(f > 0.0 && f <= 1.0) {
            return Err(Issue::value(
                path.key("phase1"),
                format!("must be a fraction of the steps in (0, 1], got {}", num(f)),
            ));
        }
    }
    if let Some(n) = variant.phase1_steps {
        if n == 0 {
            return Err(Issue::value(
                path.key("phase1_steps"),
                "must be at least 1, got 0",
            ));
        }
        if let Some(max) = train.max_steps {
            if n > max {
                return Err(Issue::value(
                    path.key("phase1_steps"),
                    format!("must be at most train.max_steps = {max}, got {n}"),
                ));
            }
        }
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
                .and_then(|()| check_train_for_kind(point.model.kind(), &point.train))
                .map_err(|issue| Issue::value(key_path.index(i), issue.message))?;
        }
    }
    Ok(())
}
