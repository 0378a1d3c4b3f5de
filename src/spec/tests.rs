//! Loading, validation, override, expansion and key tests.

use std::collections::HashSet;

use super::*;

const GOOD: &str = "\
name: quick
seeds: {count: 2, base: 1}
model: {kind: bert, pretrained: data/models/m}
tasks: [spam, kjv_next]
baseline: baseline
variants:
  baseline: {}
  cross_head: {cross_head: {prob: 0.1}}
";

const QUICKSTART: &str = include_str!("../../tests/fixtures/specs/variance_quickstart.yaml");

fn sets(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn spec_of(text: &str, args: &[&str]) -> Spec {
    match parse_str(text, "x.yaml", &sets(args)) {
        Ok(loaded) => loaded.spec,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn err_of(text: &str, args: &[&str]) -> SpecError {
    match parse_str(text, "x.yaml", &sets(args)) {
        Ok(_) => panic!("accepted:\n{text}\nwith {args:?}"),
        Err(e) => e,
    }
}

/// Asserts a file error's line, column, field and message.
#[track_caller]
fn assert_err(text: &str, line: usize, column: usize, field: &str, message: &str) {
    let e = err_of(text, &[]);
    assert_eq!(e.origin, "x.yaml", "{e}");
    assert_eq!(
        (e.line, e.column, e.field.as_str(), e.message.as_str()),
        (Some(line), Some(column), field, message),
        "{e}"
    );
}

/// Asserts an error blamed on a `--set` argument.
#[track_caller]
fn assert_set_err(text: &str, args: &[&str], origin: &str, field: &str, message: &str) {
    let e = err_of(text, args);
    assert_eq!(
        (
            e.origin.as_str(),
            e.line,
            e.column,
            e.field.as_str(),
            e.message.as_str()
        ),
        (origin, None, None, field, message),
        "{e}"
    );
}

fn with(extra: &str) -> String {
    format!("{GOOD}{extra}")
}

const TOP_FIELDS: &str =
    "name, description, seeds, device, threads, data_dir, model, tasks, train, baseline, variants, sweep, claims";
const TRAIN_ALLOWED: &str = "epochs, max_steps, batch_size, lr, warmup_ratio, weight_decay, max_len, eval_every, max_train_examples, max_eval_examples, grad_clip, lr_schedule, eval_batch_size, eval_max_tokens, checkpoint_every, init_from, precision";
const TASKS_ALLOWED: &str = "cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, spam, kjv_next, kjv_testament, enwik8, text8, wikitext2, wikitext103, ptb, wikisample_bytes, wikisample_text";
/// A BERT model's fields: an unknown field is told those of its kind.
const BERT_ALLOWED: &str = "kind, pretrained, layers, dropout";

// ---------------------------------------------------------------- good specs and defaults

#[test]
fn defaults_fill_optional_fields() {
    let spec = spec_of(GOOD, &[]);
    assert_eq!(spec.name, "quick");
    assert_eq!(spec.description, None);
    assert_eq!(spec.device, DeviceSpec::Auto);
    assert_eq!(spec.threads, None);
    assert_eq!(spec.data_dir, std::path::PathBuf::from("data"));
    assert_eq!(spec.train, TrainSpec::default());
    assert_eq!(spec.train.lr, 2.0e-5);
    assert_eq!(spec.train.eval_every, Some(50));
    assert_eq!(spec.train.grad_clip, Some(1.0));
    assert_eq!(spec.tasks, vec![Task::Spam, Task::KjvNext]);
    assert_eq!(spec.variant_order(), vec!["baseline", "cross_head"]);
    assert_eq!(
        spec.variants.get("cross_head").unwrap().cross_head,
        Some(CrossHeadSpec { prob: 0.1 })
    );
    assert!(spec.sweep.is_empty());
}

#[test]
fn quickstart_fixture_loads() {
    let loaded = parse_str(QUICKSTART, "variance_quickstart.yaml", &[]).unwrap();
    let spec = &loaded.spec;
    assert_eq!(spec.name, "variance_quickstart");
    assert_eq!(spec.seed_list(), vec![1, 2, 3, 4, 5]);
    assert_eq!(spec.threads, Some(2));
    assert_eq!(spec.model.kind(), ModelKind::Bert);
    assert_eq!(spec.model.as_bert().unwrap().layers, None);
    assert_eq!(spec.sweep["train.lr"].len(), 2);
    assert_eq!(expand(spec).len(), 2 * 2 * 2 * 5);
}

#[test]
fn explicit_values_override_defaults() {
    let text = with(
        "device: cuda:1\nthreads: 4\ndata_dir: /tmp/d\ntrain: {epochs: 1, eval_every: null, grad_clip: null, lr: 1}\n",
    );
    let spec = spec_of(&text, &[]);
    assert_eq!(spec.device, DeviceSpec::Cuda(Some(1)));
    assert_eq!(spec.device.to_string(), "cuda:1");
    assert_eq!(spec.threads, Some(4));
    assert_eq!(spec.train.epochs, 1);
    assert_eq!(spec.train.eval_every, None);
    assert_eq!(spec.train.grad_clip, None);
    assert_eq!(spec.train.lr, 1.0);
    assert_eq!(spec.train.batch_size, 32);
    for (text, device) in [
        ("auto", DeviceSpec::Auto),
        ("cpu", DeviceSpec::Cpu),
        ("cuda", DeviceSpec::Cuda(None)),
        ("cuda:0", DeviceSpec::Cuda(Some(0))),
    ] {
        assert_eq!(text.parse::<DeviceSpec>().unwrap(), device);
        assert_eq!(device.to_string(), text);
    }
    assert!("cuda:".parse::<DeviceSpec>().is_err());
    assert!("cuda:-1".parse::<DeviceSpec>().is_err());
}

#[test]
fn seeds_as_count_and_as_list() {
    assert_eq!(spec_of(GOOD, &[]).seed_list(), vec![1, 2]);
    let text = GOOD.replace("{count: 2, base: 1}", "{count: 3}");
    assert_eq!(spec_of(&text, &[]).seed_list(), vec![0, 1, 2]);
    let text = GOOD.replace("{count: 2, base: 1}", "[42, 1, 7]");
    assert_eq!(spec_of(&text, &[]).seed_list(), vec![42, 1, 7]);
    let text = GOOD.replace("{count: 2, base: 1}", "\n  - 3\n  - 0");
    assert_eq!(spec_of(&text, &[]).seed_list(), vec![3, 0]);
}

// ---------------------------------------------------------------- structural errors

#[test]
fn unknown_fields_at_every_level() {
    assert_err(
        &GOOD.replace("name: quick", "name: quick\nseed: 3"),
        2,
        1,
        "",
        &format!("unknown field `seed` at the top level; allowed: {TOP_FIELDS}"),
    );
    assert_err(
        &GOOD.replace("{count: 2, base: 1}", "{count: 2, bse: 1}"),
        2,
        19,
        "seeds",
        "unknown field `bse`; allowed: count, base",
    );
    assert_err(
        &GOOD.replace("kind: bert,", "kind: bert, layer: 2,"),
        3,
        21,
        "model",
        &format!("unknown field `layer`; allowed: {BERT_ALLOWED}"),
    );
    assert_err(
        &with("train:\n  epochs: 2\n  lrr: 1\n"),
        11,
        3,
        "train",
        &format!("unknown field `lrr`; allowed: {TRAIN_ALLOWED}"),
    );
    assert_err(
        &GOOD.replace("cross_head: {cross_head", "cross_head: {crosshead"),
        8,
        16,
        "variants.cross_head",
        "unknown field `crosshead`; allowed: cross_head, skip, phase1, phase1_steps, model, train",
    );
    assert_err(
        &GOOD.replace("{prob: 0.1}", "{prb: 0.1}"),
        8,
        29,
        "variants.cross_head.cross_head",
        "unknown field `prb`; allowed: prob",
    );
}

#[test]
fn missing_required_fields_point_at_the_enclosing_mapping() {
    assert_err(
        &GOOD.replace("name: quick\n", ""),
        1,
        1,
        "",
        "missing required field `name`",
    );
    assert_err(
        &GOOD.replace("{count: 2, base: 1}", "{base: 1}"),
        2,
        8,
        "seeds",
        "missing required field `count`",
    );
    assert_err(
        &GOOD.replace(
            "model: {kind: bert, pretrained: data/models/m}",
            "model:\n  pretrained: m",
        ),
        4,
        3,
        "model",
        "missing required field `kind`",
    );
    // Required by the kind: its type says so, same place.
    assert_err(
        &GOOD.replace("kind: bert, pretrained: data/models/m", "kind: bert"),
        3,
        8,
        "model",
        "missing required field `pretrained` for kind `bert`",
    );
}

#[test]
fn fields_of_the_other_model_kind_are_located_at_their_key() {
    let model = "{kind: bert, pretrained: data/models/m}";
    let bert_only = "not used by kind `bert`; allowed: kind, pretrained, layers, dropout";
    assert_err(
        &GOOD.replace(model, "{kind: bert, pretrained: data/models/m, n_layer: 2}"),
        3,
        48,
        "model.n_layer",
        bert_only,
    );
    // Before `kind` too, and a wrong value there at the value.
    assert_err(
        &GOOD.replace(model, "{n_layer: 2, kind: bert, pretrained: m}"),
        3,
        9,
        "model.n_layer",
        bert_only,
    );
    assert_err(
        &GOOD.replace(model, "{layers: x, kind: bert, pretrained: m}"),
        3,
        17,
        "model.layers",
        "expected a non-negative integer, got `x`",
    );
    // Blamed on the override that brings it.
    assert_set_err(
        GOOD,
        &["model.n_layer=2"],
        "--set model.n_layer=2",
        "model.n_layer",
        bert_only,
    );
}

#[test]
fn wrong_types_and_names() {
    assert_err(
        &GOOD.replace("tasks: [spam, kjv_next]", "tasks: [spam, sst-2]"),
        4,
        15,
        "tasks[1]",
        &format!("unknown task `sst-2`; allowed: {TASKS_ALLOWED}"),
    );
    assert_err(
        &GOOD.replace("kind: bert,", "kind: gpt,"),
        3,
        15,
        "model.kind",
        "unknown value `gpt`; allowed: bert, transformer_xl",
    );
    assert_err(
        &with("train:\n  lr: abc\n"),
        10,
        7,
        "train.lr",
        "expected a number, got `abc`",
    );
    assert_err(
        &with("train: [1]\n"),
        9,
        8,
        "train",
        "expected a mapping, got a list",
    );
    assert_err(
        &GOOD.replace("{count: 2, base: 1}", "[1, -2]"),
        2,
        12,
        "seeds[1]",
        "expected a non-negative integer, got `-2`",
    );
    assert_err(
        &GOOD.replace("{count: 2, base: 1}", "7"),
        2,
        8,
        "seeds",
        "expected a mapping {count, base} or a list of seeds, got `7`",
    );
    assert_err(
        &with("device: gpu\n"),
        9,
        9,
        "device",
        "unknown device `gpu`; allowed: auto, cpu, cuda, cuda:N",
    );
    assert_err(
        &GOOD.replace("  baseline: {}", "  baseline: {}\n  baseline: {}"),
        7,
        3,
        "variants",
        "duplicate key \"baseline\"; each key may appear only once",
    );
}

#[test]
fn syntax_errors_and_empty_files() {
    let e = err_of("name: [x\n", &[]);
    assert_eq!((e.line, e.column), (Some(2), Some(1)), "{e}");
    assert!(e.message.contains("while parsing a flow sequence"), "{e}");
    let e = err_of("", &[]);
    assert_eq!((e.line, e.column), (Some(1), Some(1)));
    assert!(e.message.starts_with("the spec is empty"), "{e}");
    assert_err("- 1\n", 1, 1, "", "expected a mapping, got a list");
}

// ---------------------------------------------------------------- validation errors

#[test]
fn range_errors_carry_the_value_position() {
    let cases: &[(&str, usize, usize, &str, &str)] = &[
        (
            "train:\n  lr: -1\n",
            10,
            7,
            "train.lr",
            "must be a positive number, got -1",
        ),
        (
            "train: {lr: .nan}\n",
            9,
            13,
            "train.lr",
            "must be a positive number, got NaN",
        ),
        (
            "train: {epochs: 0}\n",
            9,
            17,
            "train.epochs",
            "must be at least 1, got 0",
        ),
        (
            "train: {max_steps: 0}\n",
            9,
            20,
            "train.max_steps",
            "must be at least 1 (or null for no step limit), got 0",
        ),
        (
            "train: {batch_size: 0}\n",
            9,
            21,
            "train.batch_size",
            "must be at least 1, got 0",
        ),
        (
            "train: {warmup_ratio: 1.5}\n",
            9,
            23,
            "train.warmup_ratio",
            "must be in [0, 1], got 1.5",
        ),
        (
            "train: {weight_decay: -0.1}\n",
            9,
            23,
            "train.weight_decay",
            "must be a non-negative number, got -0.1",
        ),
        (
            "train: {max_len: 4}\n",
            9,
            18,
            "train.max_len",
            "must be in 8..=512 tokens, got 4",
        ),
        (
            "train: {max_len: 513}\n",
            9,
            18,
            "train.max_len",
            "must be in 8..=512 tokens, got 513",
        ),
        (
            "train: {eval_every: 0}\n",
            9,
            21,
            "train.eval_every",
            "must be at least 1 (or null to evaluate only at the end), got 0",
        ),
        (
            "train: {max_train_examples: 0}\n",
            9,
            29,
            "train.max_train_examples",
            "must be at least 1 (or null for all), got 0",
        ),
        (
            "train: {max_eval_examples: 0}\n",
            9,
            28,
            "train.max_eval_examples",
            "must be at least 1 (or null for all), got 0",
        ),
        (
            "train: {grad_clip: 0}\n",
            9,
            20,
            "train.grad_clip",
            "must be a positive number (or null for no clipping), got 0",
        ),
        (
            "threads: 0\n",
            9,
            10,
            "threads",
            "must be at least 1 (or null for all cores), got 0",
        ),
    ];
    for (extra, line, column, field, message) in cases {
        assert_err(&with(extra), *line, *column, field, message);
    }
    // Values at their bounds are accepted.
    spec_of(
        &with("train: {warmup_ratio: 1, weight_decay: 0, max_len: 8, grad_clip: 0.5}\n"),
        &[],
    );
    spec_of(&with("train: {warmup_ratio: 0, max_len: 512}\n"), &[]);
}

#[test]
fn model_and_variant_errors() {
    assert_err(
        &GOOD.replace("pretrained: data/models/m", "pretrained: m, layers: 0"),
        3,
        44,
        "model.layers",
        "must be at least 1 (or null for all layers), got 0",
    );
    assert_err(
        &GOOD.replace("pretrained: data/models/m", "pretrained: m, dropout: 1.0"),
        3,
        45,
        "model.dropout",
        "must be in [0, 1) (or null for the checkpoint's), got 1",
    );
    assert_err(
        &GOOD.replace("{prob: 0.1}", "{prob: 1.5}"),
        8,
        35,
        "variants.cross_head.cross_head.prob",
        "must be a probability in [0, 1], got 1.5",
    );
    assert_err(
        &GOOD.replace("  baseline: {}", "  baseline: {}\n  Bad-Name: {}"),
        8,
        3,
        "variants.Bad-Name",
        "variant names must be lowercase letters, digits and `_` ([a-z0-9_]+), got `Bad-Name`",
    );
    assert_err(
        &GOOD.replace("baseline: baseline", "baseline: base"),
        5,
        11,
        "baseline",
        "`base` is not one of the variants; variants: baseline, cross_head",
    );
    assert_err(
        &GOOD.replace(
            "variants:\n  baseline: {}\n  cross_head: {cross_head: {prob: 0.1}}\n",
            "variants: {}\n",
        ),
        6,
        11,
        "variants",
        "must define at least one variant",
    );
    assert_err(
        &GOOD.replace("name: quick", "name: Quick Start"),
        1,
        7,
        "name",
        "must be lowercase letters, digits, `_` and `-` ([a-z0-9_-]+), got `Quick Start`",
    );
    // `cross_head: {}` takes the default probability; a null variant is plain.
    let spec = spec_of(
        &GOOD.replace("{cross_head: {prob: 0.1}}", "{cross_head: {}}\n  plain:"),
        &[],
    );
    assert_eq!(
        spec.variants.get("cross_head").unwrap().cross_head,
        Some(CrossHeadSpec { prob: 0.1 })
    );
    assert_eq!(spec.variants.get("plain"), Some(&VariantSpec::default()));
}

#[test]
fn task_and_seed_lists_must_be_distinct_and_non_empty() {
    assert_err(
        &GOOD.replace("[spam, kjv_next]", "[spam, kjv_next, spam]"),
        4,
        25,
        "tasks[2]",
        "duplicate task `spam` (also tasks[0]); tasks must be distinct",
    );
    assert_err(
        &GOOD.replace("[spam, kjv_next]", "[]"),
        4,
        8,
        "tasks",
        "must list at least one task",
    );
    assert_err(
        &GOOD.replace("{count: 2, base: 1}", "[1, 2, 1]"),
        2,
        15,
        "seeds[2]",
        "duplicate seed 1 (also seeds[0]); seeds must be distinct",
    );
    assert_err(
        &GOOD.replace("{count: 2, base: 1}", "[]"),
        2,
        8,
        "seeds",
        "must list at least one seed",
    );
    assert_err(
        &GOOD.replace("{count: 2, base: 1}", "{count: 0}"),
        2,
        16,
        "seeds.count",
        "must be at least 1, got 0",
    );
}

#[test]
fn sweep_errors() {
    assert_err(
        &with("sweep: {train.lr: [1.0e-5, -2]}\n"),
        9,
        28,
        "sweep.train.lr[1]",
        "must be a positive number, got -2",
    );
    assert_err(
        &with("sweep:\n  train.lr:\n    - 1.0e-5\n    - abc\n"),
        12,
        7,
        "sweep.train.lr[1]",
        "expected a number, got `abc`",
    );
    let e = err_of(&with("sweep: {train.lrr: [1]}\n"), &[]);
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (Some(9), Some(9), "sweep.train.lrr")
    );
    assert!(
        e.message
            .starts_with("unknown sweep path `train.lrr`; allowed: train.epochs, "),
        "{e}"
    );
    assert!(e.message.ends_with("model.dropout, model.layers"), "{e}");
    let e = err_of(&with("sweep: {name: [a]}\n"), &[]);
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (Some(9), Some(9), "sweep.name")
    );
    assert_err(
        &with("sweep: {model.layers: []}\n"),
        9,
        23,
        "sweep.model.layers",
        "must list at least one value",
    );
    assert_err(
        &with("sweep: {model.dropout: [0.1, 1.0]}\n"),
        9,
        30,
        "sweep.model.dropout[1]",
        "must be in [0, 1) (or null for the checkpoint's), got 1",
    );
}

// ---------------------------------------------------------------- --set overrides

#[test]
fn set_overrides_nested_paths_lists_and_null() {
    let spec = spec_of(
        &with("train: {max_steps: 7}\n"),
        &[
            "seeds.count=3",
            "train.lr=5e-5",
            "tasks=[spam]",
            "train.max_steps=null",
            "variants.cross_head.cross_head.prob=0.25",
            "model.layers=2",
            "description=two words",
        ],
    );
    assert_eq!(spec.seed_list(), vec![1, 2, 3]);
    assert_eq!(spec.train.lr, 5e-5);
    assert_eq!(spec.tasks, vec![Task::Spam]);
    assert_eq!(spec.train.max_steps, None);
    assert_eq!(
        spec.variants.get("cross_head").unwrap().cross_head,
        Some(CrossHeadSpec { prob: 0.25 })
    );
    assert_eq!(spec.model.as_bert().unwrap().layers, Some(2));
    assert_eq!(spec.description.as_deref(), Some("two words"));

    let spec = spec_of(GOOD, &["train.max_steps=5", "tasks[1]=rte", "seeds=[9, 8]"]);
    assert_eq!(spec.train.max_steps, Some(5));
    assert_eq!(spec.tasks, vec![Task::Spam, Task::Rte]);
    assert_eq!(spec.seed_list(), vec![9, 8]);

    let spec = spec_of(GOOD, &["sweep.train.lr=[1e-5, 3e-5]"]);
    assert_eq!(spec.sweep["train.lr"].len(), 2);

    // Later overrides win; overrides can supply what the file lacks.
    let spec = spec_of(GOOD, &["train.lr=1", "train.lr=2"]);
    assert_eq!(spec.train.lr, 2.0);
    let spec = spec_of(&GOOD.replace("name: quick\n", ""), &["name=from_cli"]);
    assert_eq!(spec.name, "from_cli");
}

#[test]
fn errors_in_set_values_blame_the_set() {
    assert_set_err(
        GOOD,
        &["train.lr=abc"],
        "--set train.lr=abc",
        "train.lr",
        "expected a number, got `abc`",
    );
    assert_eq!(
        err_of(GOOD, &["train.lr=abc"]).to_string(),
        "--set train.lr=abc: train.lr: expected a number, got `abc`"
    );
    assert_set_err(
        GOOD,
        &["seeds.count=2", "train.lr=-1"],
        "--set train.lr=-1",
        "train.lr",
        "must be a positive number, got -1",
    );
    assert_set_err(
        GOOD,
        &["tasks=[spam, sst-2]"],
        "--set tasks=[spam, sst-2]",
        "tasks[1]",
        &format!("unknown task `sst-2`; allowed: {TASKS_ALLOWED}"),
    );
    assert_set_err(
        GOOD,
        &["baseline=nope"],
        "--set baseline=nope",
        "baseline",
        "`nope` is not one of the variants; variants: baseline, cross_head",
    );
    assert_set_err(
        GOOD,
        &["sweep.train.lr=[1e-5, 0]"],
        "--set sweep.train.lr=[1e-5, 0]",
        "sweep.train.lr[1]",
        "must be a positive number, got 0",
    );
    // A conflict an override creates with a field it did not touch is the override's, not
    // the file's (the file alone is valid).
    assert_set_err(
        GOOD,
        &["variants={cross_head: {cross_head: {prob: 0.1}}}"],
        "--set variants={cross_head: {cross_head: {prob: 0.1}}}",
        "baseline",
        "`baseline` is not one of the variants; variants: cross_head (the file alone is valid: \
         these overrides create the conflict)",
    );
    // A file error unrelated to the override is still located in the file.
    let e = err_of(&with("train: {lr: -1}\n"), &["seeds.count=3"]);
    assert_eq!(
        (e.origin.as_str(), e.line, e.column),
        ("x.yaml", Some(9), Some(13))
    );
    let e = err_of(&with("train: {lr: abc}\n"), &["seeds.count=3"]);
    assert_eq!(
        (e.origin.as_str(), e.line, e.column),
        ("x.yaml", Some(9), Some(13))
    );
    assert_eq!(e.field, "train.lr");
    let e = err_of(&GOOD.replace("name: quick\n", ""), &["train.lr=1"]);
    assert_eq!(
        (e.origin.as_str(), e.line, e.column),
        ("x.yaml", Some(1), Some(1))
    );
}

#[test]
fn bad_set_syntax_and_unknown_paths() {
    let usage = "expected `dotted.path=value`, e.g. `--set train.lr=1e-5` or `--set tasks=[spam]`";
    assert_set_err(
        GOOD,
        &["train.lr"],
        "--set train.lr",
        "",
        &format!("missing `=`; {usage}"),
    );
    assert_set_err(
        GOOD,
        &["=1"],
        "--set =1",
        "",
        &format!("missing path before `=`; {usage}"),
    );
    assert_set_err(
        GOOD,
        &["train..lr=1"],
        "--set train..lr=1",
        "",
        &format!("malformed path `train..lr`; {usage}"),
    );
    assert_set_err(
        GOOD,
        &["train.lrr=1"],
        "--set train.lrr=1",
        "train",
        &format!("unknown field `lrr`; allowed: {TRAIN_ALLOWED}"),
    );
    assert_set_err(
        GOOD,
        &["nosuch=1"],
        "--set nosuch=1",
        "",
        &format!("unknown field `nosuch` at the top level; allowed: {TOP_FIELDS}"),
    );
    assert_set_err(
        GOOD,
        &["tasks[4]=rte"],
        "--set tasks[4]=rte",
        "tasks[4]",
        "unknown path: `tasks` has 2 items, no index 4",
    );
    assert_set_err(
        GOOD,
        &["name.x=1"],
        "--set name.x=1",
        "name.x",
        "unknown path: `name` is a string, it has no field `x`",
    );
    let e = err_of(GOOD, &["tasks=[spam"]);
    assert_eq!(e.origin, "--set tasks=[spam");
    assert!(
        e.message
            .starts_with("cannot parse `[spam` as a YAML value"),
        "{e}"
    );
}

#[test]
fn hash_covers_text_and_overrides() {
    let a = parse_str(GOOD, "x.yaml", &[]).unwrap();
    let b = parse_str(GOOD, "y.yaml", &[]).unwrap();
    let c = parse_str(GOOD, "x.yaml", &sets(&["seeds.count=2"])).unwrap();
    let d = parse_str(&format!("{GOOD}# comment\n"), "x.yaml", &[]).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash.len(), 64);
    assert_ne!(a.hash, c.hash);
    assert_ne!(a.hash, d.hash);
    assert_eq!(c.overrides, vec!["seeds.count=2".to_string()]);
    assert_eq!(a.text, GOOD);
}

#[test]
fn load_reads_files_and_names_them_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.yaml");
    std::fs::write(&path, GOOD).unwrap();
    let loaded = load(&path, &[]).unwrap();
    assert_eq!(loaded.path, path);
    assert_eq!(loaded.spec.name, "quick");
    std::fs::write(&path, with("train: {lr: -1}\n")).unwrap();
    let e = load(&path, &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:9:13: train.lr: must be a positive number, got -1",
            path.display()
        )
    );
    let missing = dir.path().join("nope.yaml");
    let e = load(&missing, &[]).unwrap_err();
    assert!(e.message.starts_with("cannot read the spec"), "{e}");
}

// ---------------------------------------------------------------- expansion and keys

fn sweep_spec() -> Spec {
    spec_of(
        &with("sweep:\n  train.lr: [1.0e-5, 2.0e-5]\n  model.dropout: [0.0, 0.1, 0.2]\n"),
        &[],
    )
}

#[test]
fn expansion_counts_and_order() {
    let spec = sweep_spec();
    let plans = expand(&spec);
    assert_eq!(plans.len(), 2 * 6 * 2 * 2);
    // Task outermost, then sweep point (keys sorted: model.dropout before train.lr, the last
    // key fastest), then variant (baseline first), then seed.
    let first: Vec<_> = plans[..8]
        .iter()
        .map(|p| {
            (
                p.task.as_str(),
                p.sweep["model.dropout"].as_f64().unwrap(),
                p.sweep["train.lr"].as_f64().unwrap(),
                p.variant.as_str(),
                p.seed,
            )
        })
        .collect();
    assert_eq!(
        first,
        vec![
            ("spam", 0.0, 1e-5, "baseline", 1),
            ("spam", 0.0, 1e-5, "baseline", 2),
            ("spam", 0.0, 1e-5, "cross_head", 1),
            ("spam", 0.0, 1e-5, "cross_head", 2),
            ("spam", 0.0, 2e-5, "baseline", 1),
            ("spam", 0.0, 2e-5, "baseline", 2),
            ("spam", 0.0, 2e-5, "cross_head", 1),
            ("spam", 0.0, 2e-5, "cross_head", 2),
        ]
    );
    assert_eq!(plans[8].sweep["model.dropout"].as_f64(), Some(0.1));
    assert!(plans[..24].iter().all(|p| p.task == "spam"));
    assert!(plans[24..].iter().all(|p| p.task == "kjv_next"));
    // Sweep values are applied to the resolved config; variant settings resolved.
    for plan in &plans {
        assert_eq!(Some(plan.config.train.lr), plan.sweep["train.lr"].as_f64());
        assert_eq!(
            plan.config.model.as_bert().unwrap().dropout,
            plan.sweep["model.dropout"].as_f64()
        );
        assert_eq!(plan.config.seed, plan.seed);
        assert_eq!(plan.config.task.as_str(), plan.task);
        let prob = plan.config.variant_settings.cross_head_prob;
        assert_eq!(
            prob,
            if plan.variant == "cross_head" {
                0.1
            } else {
                0.0
            }
        );
    }
    let keys: HashSet<_> = plans.iter().map(|p| p.key.clone()).collect();
    assert_eq!(keys.len(), plans.len(), "keys must be unique");
}

#[test]
fn baseline_runs_first_whatever_its_place() {
    let text = GOOD.replace(
        "  baseline: {}\n  cross_head: {cross_head: {prob: 0.1}}\n",
        "  cross_head: {cross_head: {prob: 0.1}}\n  other: {}\n  baseline: {}\n",
    );
    let spec = spec_of(&text, &["seeds.count=1", "tasks=[spam]"]);
    let variants: Vec<_> = expand(&spec).into_iter().map(|p| p.variant).collect();
    assert_eq!(variants, vec!["baseline", "cross_head", "other"]);
}

#[test]
fn no_sweep_gives_one_point() {
    let plans = expand(&spec_of(GOOD, &[]));
    assert_eq!(plans.len(), 2 * 2 * 2);
    assert!(plans.iter().all(|p| p.sweep.is_empty()));
}

fn keys_by_run(spec: &Spec) -> std::collections::HashMap<(String, String, u64, String), String> {
    expand(spec)
        .into_iter()
        .map(|p| {
            let sweep = serde_json::to_string(&p.sweep).unwrap();
            ((p.task.to_string(), p.variant, p.seed, sweep), p.key)
        })
        .collect()
}

#[test]
fn keys_survive_added_seeds_tasks_variants_and_cosmetic_edits() {
    let base = keys_by_run(&spec_of(GOOD, &[]));
    let edits: &[&[&str]] = &[
        &["seeds.count=5"],
        &["seeds=[2, 1, 3]"],
        &["tasks=[rte, kjv_next, spam]"],
        &["variants.extra={cross_head: {prob: 0.5}}"],
        &["description=now with words"],
        &["name=renamed"],
        &["device=cpu"],
        &["data_dir=/elsewhere"],
    ];
    for edit in edits {
        let edited = keys_by_run(&spec_of(GOOD, edit));
        for (run, key) in &base {
            assert_eq!(
                edited.get(run),
                Some(key),
                "{edit:?} changed the key of {run:?}"
            );
        }
    }
}

#[test]
fn keys_change_with_what_determines_the_result() {
    let base = keys_by_run(&spec_of(GOOD, &[]));
    let changes: &[&[&str]] = &[
        &["train.lr=3e-5"],
        &["train.max_steps=10"],
        &["model.layers=2"],
        &["model.pretrained=other"],
        &["threads=1"],
    ];
    for change in changes {
        let changed = keys_by_run(&spec_of(GOOD, change));
        for (run, key) in &base {
            assert_ne!(
                changed.get(run),
                Some(key),
                "{change:?} kept the key of {run:?}"
            );
        }
    }
    // A variant's settings change only that variant's keys.
    let changed = keys_by_run(&spec_of(GOOD, &["variants.cross_head.cross_head.prob=0.2"]));
    for (run, key) in &base {
        let same = changed.get(run) == Some(key);
        assert_eq!(same, run.1 == "baseline", "{run:?}");
    }
    // The variant's name is part of the key even with equal settings.
    let renamed = GOOD.replace("cross_head: {cross_head", "ch: {cross_head");
    let changed = keys_by_run(&spec_of(&renamed, &[]));
    let ch_keys: HashSet<_> = changed
        .iter()
        .filter(|(run, _)| run.1 == "ch")
        .map(|(_, k)| k.clone())
        .collect();
    assert!(base.values().all(|k| !ch_keys.contains(k)));
}

#[test]
fn sweep_point_keys_equal_the_same_values_set_directly() {
    let swept = expand(&spec_of(
        &with("sweep: {train.lr: [1.0e-5, 3.0e-5]}\n"),
        &[],
    ));
    let direct = expand(&spec_of(GOOD, &["train.lr=3e-5"]));
    let swept_keys: HashSet<_> = swept.iter().map(|p| p.key.clone()).collect();
    assert!(direct.iter().all(|p| swept_keys.contains(&p.key)));
    assert!(direct
        .iter()
        .all(|p| p.key.len() == 16 && p.key.bytes().all(|b| b.is_ascii_hexdigit())));
}

#[test]
fn run_key_is_pinned() {
    // Computed once and written here; Python's
    // hashlib.sha256(b"harness/run/v1\n" + json).hexdigest()[:16] gives the same. A change of
    // the canonical form or of the spec types' serialization changes every stored run's key.
    let plans = expand(&spec_of(GOOD, &["seeds.count=1", "tasks=[spam]"]));
    let json = run_key::canonical_json(&run_key::identity(&plans[0].config));
    assert_eq!(
        json,
        concat!(
            r#"{"model":{"dropout":null,"kind":"bert","layers":null,"pretrained":"data/models/m"},"#,
            r#""seed":1,"task":"spam","threads":null,"#,
            r#""train":{"batch_size":32,"epochs":3,"eval_every":50,"grad_clip":1.0,"lr":2e-5,"#,
            r#""max_eval_examples":null,"max_len":128,"max_steps":null,"max_train_examples":null,"#,
            r#""warmup_ratio":0.1,"weight_decay":0.01},"#,
            r#""variant":"baseline","variant_settings":{"cross_head_prob":0.0}}"#
        )
    );
    assert_eq!(plans[0].key, PINNED_KEY);
}

const PINNED_KEY: &str = "6a672ab545074636";

/// A BERT model with every field set.
const PIN_BERT: &str = "\
name: pin_bert
seeds: [7]
model: {kind: bert, pretrained: data/models/m, layers: 2, dropout: 0.15}
tasks: [rte]
baseline: baseline
variants: {baseline: {}}
";

/// A Transformer-XL model with most fields set, `kind` not first.
const PIN_TXL: &str = "\
name: pin_txl
seeds: [3]
model:
  n_layer: 4
  kind: transformer_xl
  d_model: 32
  n_head: 2
  d_head: 16
  d_inner: 64
  d_embed: 32
  dropout: 0.1
  dropatt: 0.05
  emb_dropout: 0.0
  tgt_len: 16
  mem_len: 16
  clamp_len: 64
  same_length: true
  eval_tgt_len: 32
  eval_mem_len: 48
  adaptive: {cutoffs: [100, 1000], div_val: 2}
  tie_weights: false
tasks: [wikitext103]
train: {max_steps: 10, lr: 0.001}
baseline: baseline
variants: {baseline: {}, small: {model: {d_inner: 48}}}
";

#[test]
fn run_keys_of_both_model_kinds_are_pinned() {
    // Keys (and model JSON) stored by `harness enqueue` of the version with one flat model
    // mapping for every kind (542453f); the typed model spec serializes as that one did.
    /// (variant, key) of each run, in grid order.
    type Keys = &'static [(&'static str, &'static str)];
    let cases: [(&str, Keys, &str); 2] = [
        (
            PIN_BERT,
            &[("baseline", "f994a096a439598a")],
            r#"{"kind":"bert","pretrained":"data/models/m","layers":2,"dropout":0.15}"#,
        ),
        (
            PIN_TXL,
            &[
                ("baseline", "62b1cfe080976b53"),
                ("small", "fcb9294a2f9e72e8"),
            ],
            concat!(
                r#"{"kind":"transformer_xl","pretrained":null,"layers":null,"dropout":0.1,"#,
                r#""n_layer":4,"d_model":32,"n_head":2,"d_head":16,"d_inner":64,"d_embed":32,"#,
                r#""dropatt":0.05,"emb_dropout":0.0,"tgt_len":16,"mem_len":16,"clamp_len":64,"#,
                r#""same_length":true,"eval_tgt_len":32,"eval_mem_len":48,"#,
                r#""adaptive":{"cutoffs":[100,1000],"div_val":2,"tie_projs":null},"#,
                r#""tie_weights":false}"#
            ),
        ),
    ];
    for (text, keys, model_json) in cases {
        let plans = expand(&spec_of(text, &[]));
        assert_eq!(plans.len(), keys.len());
        for (plan, (variant, key)) in plans.iter().zip(keys) {
            assert_eq!((plan.variant.as_str(), plan.key.as_str()), (*variant, *key));
        }
        assert_eq!(
            serde_json::to_string(&plans[0].config.model).unwrap(),
            model_json
        );
        for plan in &plans {
            let json = serde_json::to_string(&plan.config).unwrap();
            let back: RunConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(back, plan.config);
        }
    }
}

#[test]
fn canonical_json_sorts_keys_at_every_level() {
    let a: serde_json::Value =
        serde_json::from_str(r#"{"b": {"y": 1, "x": [2.5, -3]}, "a": "q\""}"#).unwrap();
    assert_eq!(
        run_key::canonical_json(&a),
        r#"{"a":"q\"","b":{"x":[2.5,-3],"y":1}}"#
    );
}

#[test]
fn run_config_round_trips_through_json() {
    let plans = expand(&sweep_spec());
    let json = serde_json::to_string(&plans[5].config).unwrap();
    let back: RunConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plans[5].config);
    assert_eq!(run_key(&back), plans[5].key);
    assert!(json.contains(r#""device":"auto""#), "{json}");
}

#[test]
fn floats_format_like_python() {
    for (x, text) in [
        (1e-5, "1e-05"),
        (2.5e-5, "2.5e-05"),
        (1e-4, "0.0001"),
        (0.1, "0.1"),
        (2.0, "2.0"),
        (123456.5, "123456.5"),
        (1e16, "1e+16"),
        (-3e-7, "-3e-07"),
    ] {
        assert_eq!(grid::format_float(x), text);
    }
}

#[test]
fn dry_run_table_aligns_columns() {
    let spec = spec_of(
        &with("sweep: {train.lr: [1.0e-5, 2.0e-5], model.layers: [2]}\n"),
        &["seeds=[1, 10]", "tasks=[spam]"],
    );
    let plans = expand(&spec);
    let table = dry_run_table(&plans);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), plans.len() + 1);
    assert_eq!(
        lines[0],
        "key               task  variant     seed  params  sweep"
    );
    assert_eq!(
        lines[1],
        format!(
            "{}  spam  baseline       1       ?  model.layers=2 train.lr=1e-05",
            plans[0].key
        )
    );
    assert_eq!(
        lines[8],
        format!(
            "{}  spam  cross_head    10       ?  model.layers=2 train.lr=2e-05",
            plans[7].key
        )
    );
    let no_sweep = dry_run_table(&expand(&spec_of(GOOD, &["seeds.count=1", "tasks=[spam]"])));
    assert!(no_sweep.lines().all(|l| l == l.trim_end()));
    assert_eq!(
        no_sweep.lines().next(),
        Some("key               task  variant     seed  params  sweep")
    );
}

// ---------------------------------------------------------------- language modelling

const LM: &str = "\
name: lm
seeds: {count: 2, base: 1}
model: {kind: transformer_xl, n_layer: 4, d_model: 32, n_head: 2, d_head: 16, d_inner: 64, tgt_len: 16, mem_len: 16}
tasks: [ptb, wikisample_bytes]
train: {max_steps: 100, lr: 0.001, warmup_ratio: 0.0}
baseline: baseline
variants:
  baseline: {}
  two_phase: {skip: {schedule: functional}, phase1: 0.5}
  cross_head: {cross_head: {prob: 0.1}}
  skip_cross_head: {skip: {schedule: uniform, p: 0.2, exempt_first_last: true}, phase1_steps: 30, cross_head: {prob: 0.1}}
";

#[test]
fn the_four_language_model_variants_are_expressible() {
    use crate::model::skip::Schedule;
    let spec = spec_of(LM, &[]);
    assert_eq!(spec.model.kind(), ModelKind::TransformerXl);
    assert_eq!(spec.tasks, vec![Task::Ptb, Task::WikisampleBytes]);
    let plans = expand(&spec);
    assert_eq!(plans.len(), 2 * 4 * 2);
    let settings = |variant: &str| {
        plans
            .iter()
            .find(|p| p.variant == variant)
            .unwrap()
            .config
            .variant_settings
            .clone()
    };
    let base = settings("baseline");
    assert_eq!((base.skip.clone(), base.cross_head_prob), (None, 0.0));
    assert_eq!(base.phase1_steps(100), 0);
    let two = settings("two_phase");
    assert_eq!(two.skip, Some(Schedule::Functional));
    assert_eq!((two.cross_head_prob, two.phase1_steps(100)), (0.0, 50));
    assert_eq!(settings("cross_head").cross_head_prob, 0.1);
    let both = settings("skip_cross_head");
    assert_eq!(
        both.skip,
        Some(Schedule::Uniform {
            p: 0.2,
            exempt_first_last: true
        })
    );
    assert_eq!((both.cross_head_prob, both.phase1_steps(100)), (0.1, 30));
    let keys: HashSet<_> = plans.iter().map(|p| p.key.clone()).collect();
    assert_eq!(keys.len(), plans.len());
    let txl = plans[0].config.model.txl_config(10_000).unwrap();
    assert_eq!(
        (txl.n_token, txl.n_layer, txl.tgt_len, txl.dropout),
        (10_000, 4, 16, 0.0)
    );
    assert!(txl.tie_weights);
    // The Transformer-XL fields are part of the key; unset ones are absent from it.
    let json = run_key::canonical_json(&run_key::identity(&plans[0].config));
    assert!(
        json.contains(r#""n_layer":4"#) && !json.contains("eval_mem_len"),
        "{json}"
    );
    let changed = expand(&spec_of(LM, &["model.mem_len=32"]));
    assert_ne!(changed[0].key, plans[0].key);
}

#[test]
fn the_experiment_specs_load() {
    for file in [
        "lm_quickstart.yaml",
        "enwik8_two_phase.yaml",
        "wt103_two_phase.yaml",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments")
            .join(file);
        let loaded = load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let variants: Vec<_> = loaded.spec.variant_order();
        let mut want = vec!["baseline", "two_phase", "cross_head", "skip_cross_head"];
        if file == "wt103_two_phase.yaml" {
            want.insert(1, "baseline_15l");
        }
        assert_eq!(variants, want, "{file}");
        assert!(!expand(&loaded.spec).is_empty());
        if file != "lm_quickstart.yaml" {
            assert!(
                !loaded.spec.claims.is_empty(),
                "{file} states the paper's claims"
            );
        }
    }
    let glue = load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/glue_variance.yaml"),
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let c = &glue.spec.claims[0];
    assert_eq!(c.std_reduction, Some(0.30));
    assert_eq!(c.task_names(&glue.spec), ["rte", "mrpc", "cola", "stsb"]);
}

#[test]
fn language_model_mistakes_are_located() {
    let lm_err = |from: &str, to: &str| err_of(&LM.replace(from, to), &[]);
    let e = lm_err("tasks: [ptb, wikisample_bytes]", "tasks: [ptb, rte]");
    assert_eq!((e.line, e.field.as_str()), (Some(4), "tasks[1]"), "{e}");
    assert!(e.message.contains("needs model.kind `bert`"), "{e}");
    let e = err_of(
        &GOOD.replace("tasks: [spam, kjv_next]", "tasks: [enwik8]"),
        &[],
    );
    assert_eq!(e.field, "tasks[0]", "{e}");
    assert!(
        e.message.contains("needs model.kind `transformer_xl`"),
        "{e}"
    );
    let e = err_of(
        &with("  skipper: {skip: {schedule: functional}, phase1: 0.5}\n"),
        &[],
    );
    assert_eq!(e.field, "variants.skipper.skip", "{e}");
    assert!(e.message.contains("transformer_xl"), "{e}");

    let e = lm_err(
        "{schedule: uniform, p: 0.2, exempt_first_last: true}",
        "{schedule: uniform}",
    );
    assert_eq!(
        (e.line, e.field.as_str()),
        (Some(11), "variants.skip_cross_head.skip"),
        "{e}"
    );
    assert!(e.message.contains("needs `p`"), "{e}");
    let e = lm_err("p: 0.2,", "p: 1.5,");
    assert_eq!(e.field, "variants.skip_cross_head.skip.p", "{e}");
    let e = lm_err("{schedule: functional}", "{schedule: functional, p: 0.3}");
    assert_eq!(e.field, "variants.two_phase.skip.p", "{e}");
    let e = lm_err(
        "{schedule: functional}, phase1: 0.5",
        "{schedule: functional}",
    );
    assert_eq!(e.field, "variants.two_phase", "{e}");
    assert!(e.message.contains("phase1"), "{e}");
    let e = lm_err("phase1: 0.5", "phase1: 0.0");
    assert_eq!(e.field, "variants.two_phase.phase1", "{e}");
    assert!(e.message.contains("(0, 1]"), "{e}");
    let e = lm_err("phase1: 0.5", "phase1: 0.5, phase1_steps: 10");
    assert_eq!(e.field, "variants.two_phase.phase1_steps", "{e}");
    let e = lm_err("phase1_steps: 30", "phase1_steps: 300");
    assert!(e.message.contains("train.max_steps = 100"), "{e}");
    let e = lm_err(
        "cross_head: {cross_head: {prob: 0.1}}",
        "cross_head: {cross_head: {prob: 0.1}, phase1: 0.5}",
    );
    assert_eq!(e.field, "variants.cross_head.phase1", "{e}");
    assert!(e.message.contains("skip"), "{e}");

    let e = lm_err("d_inner: 64, ", "");
    assert_eq!((e.line, e.field.as_str()), (Some(3), "model"), "{e}");
    assert_eq!(
        e.message,
        "missing required field `d_inner` for kind `transformer_xl`"
    );
    let e = lm_err("d_model: 32", "d_model: 33");
    assert_eq!(e.field, "model.d_model", "{e}");
    let e = lm_err(
        "tgt_len: 16, mem_len",
        "tgt_len: 16, pretrained: x, mem_len",
    );
    assert_eq!(e.field, "model.pretrained", "{e}");
    let e = lm_err(
        "warmup_ratio: 0.0}",
        "warmup_ratio: 0.0, max_train_examples: 10}",
    );
    assert_eq!(e.field, "train.max_train_examples", "{e}");
    assert!(e.message.contains("eval_max_tokens"), "{e}");
    let e = err_of(&with("train: {checkpoint_every: 10}\n"), &[]);
    assert_eq!(e.field, "train.checkpoint_every", "{e}");
    let e = lm_err(
        "warmup_ratio: 0.0}",
        "warmup_ratio: 0.0, eval_max_tokens: 1}",
    );
    assert_eq!(e.field, "train.eval_max_tokens", "{e}");
    let e = lm_err(
        "warmup_ratio: 0.0}",
        "warmup_ratio: 0.0, lr_schedule: step}",
    );
    assert_eq!(e.field, "train.lr_schedule", "{e}");
    assert!(e.message.contains("linear, cosine"), "{e}");
}

// ---------------------------------------------------------------- per-variant models

const LM_TWO_MODELS: &str = "\
name: lm
seeds: {count: 2, base: 1}
model: {kind: transformer_xl, n_layer: 4, d_model: 32, n_head: 2, d_head: 16, d_inner: 64, tgt_len: 16, mem_len: 16}
tasks: [ptb]
train: {max_steps: 100, lr: 0.001, warmup_ratio: 0.0}
baseline: baseline
variants:
  baseline:
    model: {n_layer: 6, d_model: 40, n_head: 4, d_head: 10}
    train: {batch_size: 60}
  cross_head: {cross_head: {prob: 0.1}}
";

#[test]
fn a_variant_can_have_its_own_model_and_training_settings() {
    let spec = spec_of(LM_TWO_MODELS, &[]);
    let plans = expand(&spec);
    let of = |variant: &str| plans.iter().find(|p| p.variant == variant).unwrap();
    let base = &of("baseline").config;
    let txl = base.model.as_txl().unwrap();
    assert_eq!((txl.n_layer, txl.d_model, txl.d_inner), (6, 40, 64));
    assert_eq!(base.train.batch_size, 60);
    assert_eq!(base.train.lr, 0.001);
    let ch = &of("cross_head").config;
    assert_eq!(
        (ch.model.as_txl().unwrap().n_layer, ch.train.batch_size),
        (4, 32)
    );
    // The other variants' keys are those of a spec without the override; the overridden
    // variant's key follows its model.
    let plain = expand(&spec_of(
        &LM_TWO_MODELS.replace(
            "  baseline:\n    model: {n_layer: 6, d_model: 40, n_head: 4, d_head: 10}\n    train: {batch_size: 60}\n",
            "  baseline: {}\n",
        ),
        &[],
    ));
    let key = |plans: &[RunPlan], v: &str, seed: u64| {
        plans
            .iter()
            .find(|p| p.variant == v && p.seed == seed)
            .unwrap()
            .key
            .clone()
    };
    assert_eq!(key(&plans, "cross_head", 2), key(&plain, "cross_head", 2));
    assert_ne!(key(&plans, "baseline", 1), key(&plain, "baseline", 1));
    // Parameter counts per variant follow the variant's model.
    let p = |plan: &RunPlan| params::parameters(&plan.config).counts.unwrap();
    let (small, big) = (p(of("cross_head")), p(of("baseline")));
    let want = spec.variants.get("baseline").unwrap();
    let cfg = want
        .resolve_model(&spec.model)
        .unwrap()
        .txl_config(10_000)
        .unwrap();
    assert_eq!(big, cfg.parameter_counts());
    assert!(big.total > small.total);
}

#[test]
fn variant_model_mistakes_are_located_at_the_variant() {
    let bad = |from: &str, to: &str| err_of(&LM_TWO_MODELS.replace(from, to), &[]);
    let e = bad("n_layer: 6,", "n_layr: 6,");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (Some(9), Some(13), "variants.baseline.model.n_layr"),
        "{e}"
    );
    assert!(e.message.contains("unknown field `n_layr`"), "{e}");
    let e = bad("n_layer: 6,", "n_layer: 0,");
    assert_eq!(
        (e.line, e.column, e.field.as_str(), e.message.as_str()),
        (
            Some(9),
            Some(22),
            "variants.baseline.model.n_layer",
            "must be at least 1, got 0"
        ),
        "{e}"
    );
    let e = bad("n_layer: 6,", "n_layer: six,");
    assert_eq!(e.field, "variants.baseline.model.n_layer", "{e}");
    let e = bad("n_layer: 6,", "pretrained: m,");
    assert_eq!(e.field, "variants.baseline.model.pretrained", "{e}");
    assert!(
        e.message.contains("not used by kind `transformer_xl`"),
        "{e}"
    );
    let e = bad("n_layer: 6,", "kind: bert,");
    assert_eq!(e.field, "variants.baseline.model.kind", "{e}");
    assert!(e.message.contains("cannot change model.kind"), "{e}");
    let e = bad("batch_size: 60", "batch_size: 0");
    assert_eq!(
        (e.line, e.field.as_str(), e.message.as_str()),
        (
            Some(10),
            "variants.baseline.train.batch_size",
            "must be at least 1, got 0"
        ),
        "{e}"
    );
    let e = bad("batch_size: 60", "max_train_examples: 5");
    assert_eq!(e.field, "variants.baseline.train.max_train_examples", "{e}");
    let e = bad("d_head: 10}", "d_head: 10, emb_dropout: 1.5}");
    assert_eq!(e.field, "variants.baseline.model.emb_dropout", "{e}");
}

#[test]
fn extra_dropouts_are_transformer_xl_fields_outside_the_key_when_unset() {
    let spec = spec_of(
        &LM.replace(
            "mem_len: 16}",
            "mem_len: 16, emb_dropout: 0.0, pos_dropout: 0.0, out_dropout: 0.2}",
        ),
        &[],
    );
    let txl = spec.model.txl_config(100).unwrap();
    assert_eq!(
        (txl.emb_dropout, txl.pos_dropout, txl.out_dropout),
        (Some(0.0), Some(0.0), Some(0.2))
    );
    let plain = expand(&spec_of(LM, &[]));
    let json = run_key::canonical_json(&run_key::identity(&plain[0].config));
    assert!(!json.contains("emb_dropout"), "{json}");
    assert_ne!(expand(&spec)[0].key, plain[0].key);
    let e = err_of(
        &GOOD.replace(
            "pretrained: data/models/m}",
            "pretrained: m, pos_dropout: 0.1}",
        ),
        &[],
    );
    assert_eq!(e.field, "model.pos_dropout", "{e}");
}

/// The published model sizes, from the experiment specs through the dry-run formula: the
/// authors' WT103 Skip Cross-head Transformer-XL 122M (paper), Transformer-XL base 151M on
/// WT103 and 41M on enwik8 (Dai et al. 2019), each within 0.5%, pinned to the exact count.
#[test]
fn published_parameter_counts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let count = |file: &str, variant: &str| {
        let loaded = load(&dir.join(file), &[]).unwrap_or_else(|e| panic!("{e}"));
        let plans = expand(&loaded.spec);
        let plan = plans.iter().find(|p| p.variant == variant).unwrap();
        params::parameters(&plan.config).counts.unwrap()
    };
    for (file, variant, published, exact, non_embedding) in [
        (
            "wt103_two_phase.yaml",
            "skip_cross_head",
            122e6,
            122_215_992,
            76_013_808,
        ),
        (
            "wt103_two_phase.yaml",
            "baseline_15l",
            122e6,
            122_215_992,
            76_013_808,
        ),
        (
            "wt103_two_phase.yaml",
            "baseline",
            151e6,
            151_107_538,
            41_067_220,
        ),
        (
            "enwik8_two_phase.yaml",
            "baseline",
            41e6,
            41_055_436,
            40_950_784,
        ),
        (
            "enwik8_two_phase.yaml",
            "skip_cross_head",
            41e6,
            41_055_436,
            40_950_784,
        ),
    ] {
        let c = count(file, variant);
        let off = (c.total as f64 - published).abs() / published;
        assert!(
            off <= 0.005,
            "{file} {variant}: {} is {:.2}% off",
            c.total,
            off * 100.0
        );
        assert_eq!(
            (c.total, c.non_embedding),
            (exact, non_embedding),
            "{file} {variant}"
        );
    }
    // Tied adaptive embeddings (`--adapt_io_tied`) would give the authors' model about 99.6M.
    let tied = count("wt103_two_phase.yaml", "two_phase");
    let loaded = load(
        &dir.join("wt103_two_phase.yaml"),
        &sets(&[
            "model.tie_weights=true",
            "model.adaptive.tie_projs=[false, true, true, true]",
        ]),
    )
    .unwrap();
    let plans = expand(&loaded.spec);
    let plan = plans.iter().find(|p| p.variant == "two_phase").unwrap();
    let t = params::parameters(&plan.config).counts.unwrap();
    assert!(t.total < tied.total);
    assert!(
        (t.total as f64 - 99.6e6).abs() / 99.6e6 < 0.005,
        "{}",
        t.total
    );
}
