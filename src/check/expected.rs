//! The expected-results file: its types (read and written by serde), parsing with
//! `FILE:LINE:COLUMN` errors and validation (the format is described in README.md, "Regression
//! checks").

use super::recorded::RecordedOn;
use super::tolerance::{Tolerance, ToleranceError};
use crate::analysis::{is_discrete, sweep_of, sweep_text};
use crate::spec::error::yaml_error;
use crate::spec::locate::{FieldPath, Locator};
use crate::store::RunRow;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Sweep values of a run (`{train.lr: 2e-5}`); empty without a sweep.
pub type Sweep = BTreeMap<String, serde_json::Value>;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFile {
    /// The experiment these results were recorded from (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Where the expectations were recorded (CPU, kernels, libtorch, threads, device): shown
    /// next to a failure when the runs checked ran elsewhere. Rewritten by `--update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_on: Option<RecordedOn>,
    /// Expectations per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<RunSection>,
    /// Expectations per (task, variant, sweep point), across seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupSection>,
    /// The comment lines the file starts with, kept by `--update`.
    #[serde(skip)]
    pub header: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Tolerance of every float result below (losses, bpc, correlations) that has none of its
    /// own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Tolerance>,
    /// Tolerance of every discrete result below (accuracy, F1, MCC, counts) that has none of
    /// its own; without one they are exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete_tolerance: Option<Tolerance>,
    #[serde(default)]
    pub entries: Vec<RunEntry>,
}

/// One run, identified by task, variant, seed and sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    pub task: String,
    pub variant: String,
    pub seed: i64,
    #[serde(default, skip_serializing_if = "Sweep::is_empty")]
    pub sweep: Sweep,
    /// The run key when the expectations were recorded (a different key means the run's
    /// settings changed; it is reported, not failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Final metrics by label: `acc` (dev split) or `split/name` (`dev_matched/acc`).
    pub metrics: BTreeMap<String, RunMetric>,
}

/// `acc: 0.8125` or `acc: {value: 0.8125, tolerance: {abs: 0.01}}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunMetric {
    pub value: f64,
    pub tolerance: Option<Tolerance>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSection {
    /// Tolerance of every group mean below that has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Tolerance>,
    /// Tolerance of every group standard deviation below that has none of its own; without
    /// one, standard deviations are recorded but not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_tolerance: Option<Tolerance>,
    #[serde(default)]
    pub entries: Vec<GroupEntry>,
}

/// The seeds of one task and variant at one sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    pub task: String,
    pub variant: String,
    #[serde(default, skip_serializing_if = "Sweep::is_empty")]
    pub sweep: Sweep,
    pub metrics: BTreeMap<String, GroupMetric>,
}

/// Mean and standard deviation (ddof = 1) of a metric over the group's `n` done runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMetric {
    pub mean: f64,
    /// Absent when n = 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    pub n: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Tolerance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_tolerance: Option<Tolerance>,
}

impl<'de> Deserialize<'de> for RunMetric {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            value: f64,
            #[serde(default)]
            tolerance: Option<Tolerance>,
        }
        struct MetricVisitor;
        impl<'de> Visitor<'de> for MetricVisitor {
            type Value = RunMetric;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a mapping {value, tolerance}")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<RunMetric, E> {
                let tolerance = None;
                Ok(RunMetric { value, tolerance })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RunMetric, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RunMetric, E> {
                self.visit_f64(v as f64)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RunMetric, A::Error> {
                let Full { value, tolerance } =
                    Full::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RunMetric { value, tolerance })
            }
        }
        deserializer.deserialize_any(MetricVisitor)
    }
}

impl Serialize for RunMetric {
    /// The bare value, or `{value, tolerance}` when the metric has its own tolerance.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(t) = &self.tolerance else {
            return serializer.serialize_f64(self.value);
        };
        let mut map = serializer.serialize_struct("RunMetric", 2)?;
        map.serialize_field("value", &self.value)?;
        map.serialize_field("tolerance", t)?;
        map.end()
    }
}

/// A problem with the expected file: `results/expected/x.yaml:12:9: runs.entries[1].seed: ...`,
/// located and displayed as a spec's problems are.
pub use crate::spec::SpecError as FileError;

/// A metric label split into (split, name): `acc` → (`dev`, `acc`), `test/bpc` → (`test`, `bpc`).
pub fn split_label(label: &str) -> Option<(&str, &str)> {
    let (split, name) = label.split_once('/').unwrap_or(("dev", label));
    let ok = |s: &str| !s.is_empty() && !s.contains(['/', ' ']);
    (ok(split) && ok(name)).then_some((split, name))
}

/// Whether a label names a discrete result (accuracy, F1, MCC, counts).
pub fn is_discrete_label(label: &str) -> bool {
    split_label(label).is_some_and(|(_, name)| is_discrete(name))
}

/// Whether two sweep points are the same (numbers compared by value, so `1` equals `1.0`).
pub fn sweep_eq(a: &Sweep, b: &Sweep) -> bool {
    let same = |x: &serde_json::Value, y: &serde_json::Value| match (x.as_f64(), y.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => x == y,
    };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

/// ` [lr=0.0001, max_steps=10]`, or nothing without a sweep.
fn sweep_suffix(sweep: &Sweep) -> String {
    match sweep.is_empty() {
        true => String::new(),
        false => format!(" [{}]", sweep_text(sweep)),
    }
}

/// What entries of both sections are: the identity of a stored run, or of a group of them.
pub trait Identity: Sized {
    /// The entry of a stored run, without metrics.
    fn of(run: &RunRow) -> Self;
    /// `spam/baseline seed 1` or `spam/baseline`, with the sweep point when there is one.
    fn label(&self) -> String;
    /// Whether both stand for the same run (task, variant, seed and sweep point) or the same
    /// group (task, variant and sweep point).
    fn same(&self, other: &Self) -> bool;
}

impl Identity for RunEntry {
    fn of(run: &RunRow) -> RunEntry {
        RunEntry {
            task: run.task.clone(),
            variant: run.variant.clone(),
            seed: run.seed,
            sweep: sweep_of(&run.sweep),
            key: None,
            metrics: BTreeMap::new(),
        }
    }

    fn label(&self) -> String {
        let (task, variant, seed) = (&self.task, &self.variant, self.seed);
        format!("{task}/{variant} seed {seed}{}", sweep_suffix(&self.sweep))
    }

    fn same(&self, o: &RunEntry) -> bool {
        (self.task == o.task && self.variant == o.variant && self.seed == o.seed)
            && sweep_eq(&self.sweep, &o.sweep)
    }
}

impl Identity for GroupEntry {
    fn of(run: &RunRow) -> GroupEntry {
        let RunEntry {
            task,
            variant,
            sweep,
            ..
        } = RunEntry::of(run);
        let metrics = BTreeMap::new();
        GroupEntry {
            task,
            variant,
            sweep,
            metrics,
        }
    }

    fn label(&self) -> String {
        let (task, variant) = (&self.task, &self.variant);
        format!("{task}/{variant}{}", sweep_suffix(&self.sweep))
    }

    fn same(&self, o: &GroupEntry) -> bool {
        self.task == o.task && self.variant == o.variant && sweep_eq(&self.sweep, &o.sweep)
    }
}

/// Parses and validates an expected file; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<ExpectedFile, FileError> {
    let mut file: ExpectedFile =
        serde_yaml::from_str(text).map_err(|e| yaml_error(&e, origin, text))?;
    file.header = (text.lines())
        .take_while(|l| l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect();
    let locator = Locator::new(text);
    Validator {
        origin,
        locator: &locator,
    }
    .file(&file)?;
    Ok(file)
}

struct Validator<'a> {
    origin: &'a str,
    locator: &'a Locator,
}

impl Validator<'_> {
    /// `Err` at `path` with `message` unless `ok`.
    fn ensure(
        &self,
        ok: bool,
        path: &FieldPath,
        message: impl fmt::Display,
    ) -> Result<(), FileError> {
        if ok {
            return Ok(());
        }
        let pos = self.locator.value_pos(path);
        Err(FileError {
            origin: self.origin.to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            field: path.to_string(),
            message: message.to_string(),
        })
    }

    fn tolerance(
        &self,
        t: &Tolerance,
        path: &FieldPath,
        std_errors: bool,
    ) -> Result<(), FileError> {
        let Err(e) = t.validate(std_errors) else {
            return Ok(());
        };
        let at = match e {
            ToleranceError::Negative(part, _) => path.key(part),
            ToleranceError::StdErrorsNotAllowed => path.key("std_errors"),
            _ => path.clone(),
        };
        self.ensure(false, &at, e)
    }

    /// Checks what every entry of a section needs (no `earlier` entry of the same run or group,
    /// at least one metric) and returns where its metrics are.
    fn entry<M>(
        &self,
        section: &str,
        i: usize,
        earlier: Option<usize>,
        label: &str,
        metrics: &BTreeMap<String, M>,
    ) -> Result<FieldPath, FileError> {
        let at = FieldPath::of(&[section]).key("entries").index(i);
        let again = format!(
            "{label} is already expected at {section}.entries[{}]",
            earlier.unwrap_or(0)
        );
        self.ensure(earlier.is_none(), &at, again)?;
        self.ensure(
            !metrics.is_empty(),
            &at.key("metrics"),
            "give at least one metric",
        )?;
        Ok(at.key("metrics"))
    }

    /// Where metric `label` is under `metrics`, once it is known to be a metric label.
    fn metric(&self, metrics: &FieldPath, label: &str) -> Result<FieldPath, FileError> {
        let path = metrics.key(label);
        let message = format!(
            "`{label}` is not a metric label; write `name` for the dev split or `split/name`"
        );
        self.ensure(split_label(label).is_some(), &path, message)?;
        Ok(path)
    }

    fn file(&self, file: &ExpectedFile) -> Result<(), FileError> {
        let root = FieldPath::root();
        let named = file.experiment.as_ref().is_none_or(|name| !name.is_empty());
        self.ensure(named, &root.key("experiment"), "must not be empty")?;
        let n_runs = file.runs.as_ref().map_or(0, |s| s.entries.len());
        let n_groups = file.groups.as_ref().map_or(0, |s| s.entries.len());
        self.ensure(
            n_runs + n_groups > 0,
            &root,
            "nothing to check: give `runs: {entries: [...]}` or `groups: {entries: [...]}` \
             (`harness check EXPERIMENT --expected FILE --update` writes them from the results)",
        )?;
        file.runs.as_ref().map_or(Ok(()), |s| self.runs(s))?;
        file.groups.as_ref().map_or(Ok(()), |s| self.groups(s))
    }

    fn runs(&self, section: &RunSection) -> Result<(), FileError> {
        let base = FieldPath::of(&["runs"]);
        for (t, name) in [
            (&section.tolerance, "tolerance"),
            (&section.discrete_tolerance, "discrete_tolerance"),
        ] {
            t.as_ref()
                .map_or(Ok(()), |t| self.tolerance(t, &base.key(name), false))?;
        }
        for (i, entry) in section.entries.iter().enumerate() {
            let earlier = section.entries[..i].iter().position(|e| e.same(entry));
            let at = self.entry("runs", i, earlier, &entry.label(), &entry.metrics)?;
            for (label, metric) in &entry.metrics {
                let mp = self.metric(&at, label)?;
                let v = metric.value;
                self.ensure(
                    v.is_finite(),
                    &mp,
                    format!("the expected value must be a finite number, got {v}"),
                )?;
                match &metric.tolerance {
                    Some(t) => self.tolerance(t, &mp.key("tolerance"), false)?,
                    None => self.ensure(
                        section.tolerance.is_some() || is_discrete_label(label),
                        &mp,
                        format!("no tolerance for `{label}`: write `{label}: {{value: ..., tolerance: {{rel: ...}}}}` or a default `runs.tolerance`"),
                    )?,
                }
            }
        }
        Ok(())
    }

    fn groups(&self, section: &GroupSection) -> Result<(), FileError> {
        let base = FieldPath::of(&["groups"]);
        for (t, name, se) in [
            (&section.tolerance, "tolerance", true),
            (&section.std_tolerance, "std_tolerance", false),
        ] {
            t.as_ref()
                .map_or(Ok(()), |t| self.tolerance(t, &base.key(name), se))?;
        }
        for (i, entry) in section.entries.iter().enumerate() {
            let earlier = section.entries[..i].iter().position(|e| e.same(entry));
            let at = self.entry("groups", i, earlier, &entry.label(), &entry.metrics)?;
            for (label, m) in &entry.metrics {
                let mp = self.metric(&at, label)?;
                let mean = m.mean;
                self.ensure(
                    mean.is_finite(),
                    &mp.key("mean"),
                    format!("`mean` must be a finite number, got {mean}"),
                )?;
                if let Some(s) = m.std {
                    let ok = s.is_finite() && s >= 0.0;
                    self.ensure(
                        ok,
                        &mp.key("std"),
                        format!("`std` must be a finite number >= 0, got {s}"),
                    )?;
                }
                self.ensure(
                    m.n > 0,
                    &mp.key("n"),
                    "`n` (the number of done runs) must be at least 1",
                )?;
                let (tolerance, tp) = match (&m.tolerance, &section.tolerance) {
                    (Some(t), _) => (t, mp.key("tolerance")),
                    (None, Some(t)) => (t, mp.clone()),
                    (None, None) => {
                        let message = format!("no tolerance for `{label}`: give it `tolerance: {{std_errors: 3}}` (or abs, rel) or a default `groups.tolerance`");
                        return self.ensure(false, &mp, message);
                    }
                };
                self.tolerance(tolerance, &tp, true)?;
                let only_se = tolerance.abs.is_none() && tolerance.rel.is_none();
                let has_se = m.std.is_some() && m.n >= 2;
                let needs_se = tolerance.std_errors.is_some() && only_se;
                self.ensure(!needs_se || has_se, &tp, ToleranceError::NoStandardError)?;
                if let Some(t) = &m.std_tolerance {
                    let at = mp.key("std_tolerance");
                    self.tolerance(t, &at, false)?;
                    self.ensure(
                        m.std.is_some(),
                        &at,
                        "`std_tolerance` needs the expected `std`",
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// The header `--update` writes into a new file.
pub fn default_header(experiment: &str) -> Vec<String> {
    vec![
        format!("# Expected final results of experiment `{experiment}`, checked by `harness check`."),
        format!("# Rewrite from the current results: harness check {experiment} --expected FILE --update"),
    ]
}

impl ExpectedFile {
    /// The text `--update` writes: the header comment lines, then the file as YAML, which
    /// [`parse`] reads back equal (floats in their shortest round-trip form).
    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).expect("YAML of plain data");
        let mut out: String = self.header.iter().map(|line| format!("{line}\n")).collect();
        out.push_str(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# Expected results of a test.
experiment: demo
runs:
  tolerance: {abs: 1e-9}
  entries:
    - task: spam
      variant: baseline
      seed: 1
      key: \"0123456789abcdef\"
      metrics:
        acc: 0.8125
        f1: 1
        loss: {value: 0.6931471805599453, tolerance: {rel: 0.001}}
    - task: spam
      variant: baseline
      seed: 2
      sweep: {train.lr: 2.0e-5}
      metrics:
        dev_matched/acc: 0.5
groups:
  tolerance: {std_errors: 3}
  std_tolerance: {rel: 0.5}
  entries:
    - task: spam
      variant: cross_head
      metrics:
        acc: {mean: 0.8, std: 0.01, n: 5}
        loss: {mean: 0.7, n: 1, tolerance: {abs: 0.1}}
";

    #[test]
    fn parses_every_form() {
        let f = parse(GOOD, "e.yaml").unwrap();
        assert_eq!(f.experiment.as_deref(), Some("demo"));
        assert_eq!(f.header, vec!["# Expected results of a test.".to_string()]);
        let runs = f.runs.as_ref().unwrap();
        assert_eq!(runs.tolerance, Some(Tolerance::absolute(1e-9)));
        let e = &runs.entries[0];
        assert_eq!(e.key.as_deref(), Some("0123456789abcdef"));
        assert_eq!(
            e.metrics["acc"],
            RunMetric {
                value: 0.8125,
                tolerance: None
            }
        );
        assert_eq!(e.metrics["f1"].value, 1.0);
        assert_eq!(
            e.metrics["loss"].tolerance,
            Some(Tolerance::relative(0.001))
        );
        assert_eq!(e.label(), "spam/baseline seed 1");
        let e2 = &runs.entries[1];
        assert_eq!(e2.sweep["train.lr"], serde_json::json!(2.0e-5));
        assert_eq!(e2.label(), "spam/baseline seed 2 [train.lr=0.00002]");
        assert_eq!(split_label("dev_matched/acc"), Some(("dev_matched", "acc")));
        assert_eq!(split_label("acc"), Some(("dev", "acc")));
        assert_eq!(split_label("a/b/c"), None);
        let g = f.groups.as_ref().unwrap();
        assert_eq!(g.std_tolerance, Some(Tolerance::relative(0.5)));
        let acc = g.entries[0].metrics["acc"];
        assert_eq!((acc.mean, acc.std, acc.n), (0.8, Some(0.01), 5));
        assert_eq!(g.entries[0].metrics["loss"].std, None);
    }

    #[test]
    fn canonical_text_reads_back_equal() {
        let f = parse(GOOD, "e.yaml").unwrap();
        let text = f.to_yaml();
        let back = parse(&text, "back.yaml").unwrap();
        assert_eq!(back, f, "{text}");
        assert_eq!(back.to_yaml(), text);
        // Values survive bit for bit, whatever their magnitude.
        let mut f2 = f.clone();
        for v in [0.1 + 0.2, 1e-300, 123456789.123, -0.0, 2.5e-7] {
            f2.runs.as_mut().unwrap().entries[0]
                .metrics
                .get_mut("acc")
                .unwrap()
                .value = v;
            let back = parse(&f2.to_yaml(), "v.yaml").unwrap();
            let got = back.runs.unwrap().entries[0].metrics["acc"].value;
            assert_eq!(got.to_bits(), v.to_bits(), "{v} → {got}");
        }
    }

    #[test]
    fn written_text_keeps_the_header_and_every_value() {
        let mut f = parse(GOOD, "e.yaml").unwrap();
        f.header = vec!["# one".into(), "#two: not a field".into()];
        f.recorded_on = Some(RecordedOn {
            cpu: Some("AMD EPYC 7B13".into()),
            cpu_capability: Some("AVX512".into()),
            threads: Some("1".into()),
            kernel_env: Some("MKL_CBWR=AVX2, ATEN_CPU_CAPABILITY=default".into()),
            ..RecordedOn::default()
        });
        let runs = f.runs.as_mut().unwrap();
        runs.discrete_tolerance = Some(Tolerance::absolute(0.0));
        // Strings that would read as numbers, booleans or null unless quoted.
        let e = &mut runs.entries[0];
        e.key = Some("1234567890123456".into());
        e.variant = "true".into();
        e.sweep = [
            ("model.kind".to_string(), serde_json::json!("1e-5")),
            ("train.lr".to_string(), serde_json::json!(3e-5)),
            ("train.max_steps".to_string(), serde_json::json!(10)),
            ("x".to_string(), serde_json::json!(null)),
        ]
        .into();
        let text = f.to_yaml();
        assert!(
            text.starts_with("# one\n#two: not a field\nexperiment: demo\n"),
            "{text}"
        );
        let back = parse(&text, "back.yaml").unwrap();
        assert_eq!(back, f, "{text}");
        assert_eq!(back.to_yaml(), text);
        // The metric with its own tolerance stays a mapping, the others bare numbers.
        assert!(text.contains("      acc: 0.8125\n"), "{text}");
        assert!(
            text.contains("      loss:\n        value: 0.6931471805599453\n"),
            "{text}"
        );
    }

    fn err(text: &str) -> FileError {
        parse(text, "e.yaml").expect_err("must be rejected")
    }

    #[test]
    fn structural_errors_have_lines() {
        // An unknown field, at its key.
        let e = err(&GOOD.replace("      seed: 2\n", "      seed: 2\n      sed: 3\n"));
        assert_eq!((e.line, e.column), (Some(17), Some(7)), "{e}");
        assert!(
            e.to_string()
                .starts_with("e.yaml:17:7: runs.entries[1]: unknown field `sed`"),
            "{e}"
        );
        // An unknown tolerance kind.
        let e = err(&GOOD.replace("{abs: 1e-9}", "{absolute: 1e-9}"));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(
            e.message.contains("`absolute`") && e.message.contains("abs, rel, std_errors"),
            "{e}"
        );
        // A wrong type.
        let e = err(&GOOD.replace("seed: 1", "seed: one"));
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("integer"), "{e}");
        // A missing field, at its mapping.
        let e = err(&GOOD.replace("      variant: cross_head\n", ""));
        assert!(
            e.message.contains("missing required field `variant`"),
            "{e}"
        );
        assert_eq!(e.line, Some(24), "{e}");
        // A metric that is neither a number nor a mapping.
        let e = err(&GOOD.replace("acc: 0.8125", "acc: high"));
        assert_eq!(e.line, Some(11), "{e}");
        // Not YAML at all.
        let e = err("runs: [\n");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn semantic_errors_have_lines() {
        let e = err(&GOOD.replace("{rel: 0.001}", "{rel: -0.001}"));
        assert_eq!(e.line, Some(13), "{e}");
        assert!(
            e.message.contains("`rel` must be a finite number >= 0"),
            "{e}"
        );
        let e = err(&GOOD.replace("{rel: 0.001}", "{std_errors: 2}"));
        assert!(e.message.contains("only to the mean of a group"), "{e}");
        assert_eq!(e.line, Some(13), "{e}");
        let e = err(&GOOD.replace("tolerance: {abs: 1e-9}", "tolerance: {}"));
        assert!(e.message.contains("at least one of"), "{e}");
        // Without a section default, every float result needs its own tolerance; discrete
        // results (acc, f1) are exact without one.
        let no_default = GOOD.replace("  tolerance: {abs: 1e-9}\n", "");
        assert!(parse(&no_default, "e.yaml").is_ok());
        let e = err(&no_default.replace("acc: 0.8125", "acc: 0.8125\n        ppl: 3.5"));
        assert_eq!(e.line, Some(11), "{e}");
        assert!(e.message.contains("no tolerance for `ppl`"), "{e}");
        // std_errors on a group needs std and n >= 2.
        let e = err(&GOOD.replace("{mean: 0.8, std: 0.01, n: 5}", "{mean: 0.8, n: 5}"));
        assert!(
            e.message.contains("`std_errors` needs the expected `std`"),
            "{e}"
        );
        assert_eq!(e.line, Some(27), "{e}");
        let e = err(&GOOD.replace("dev_matched/acc", "dev matched/acc"));
        assert!(e.message.contains("not a metric label"), "{e}");
        let e = err(&GOOD.replace("acc: 0.8125", "acc: .nan"));
        assert!(e.message.contains("finite"), "{e}");
        let e = err(&GOOD
            .replace("seed: 2", "seed: 1")
            .replace("      sweep: {train.lr: 2.0e-5}\n", ""));
        assert!(
            e.message.contains("already expected at runs.entries[0]"),
            "{e}"
        );
        assert_eq!(e.line, Some(14), "{e}");
        let e = err("experiment: x\n");
        assert!(e.message.contains("nothing to check"), "{e}");
    }

    #[test]
    fn sweeps_compare_numbers_by_value() {
        let a: Sweep = [("train.max_steps".to_string(), serde_json::json!(10))].into();
        let b: Sweep = [("train.max_steps".to_string(), serde_json::json!(10.0))].into();
        assert!(sweep_eq(&a, &b));
        assert!(!sweep_eq(&a, &Sweep::new()));
        assert_eq!(
            crate::analysis::sweep_of(r#"{"train.lr": 2e-5}"#)["train.lr"],
            serde_json::json!(2e-5)
        );
        assert!(crate::analysis::sweep_of("{}").is_empty());
    }
}
