//! `harness report`: assembles the statistics (`analysis`) and figures (`plot`) of one experiment
//! into `report.md` and a self-contained `report.html`, with every figure as PNG and SVG beside
//! them. This module only assembles; it computes no statistics and draws nothing itself.

pub mod claims;
pub mod document;
pub mod examples;
pub mod format;
pub mod html;
pub mod markdown;

use crate::analysis::load::{self, Depth};
use crate::analysis::{
    analyse, result_kind, Analysis, ExperimentData, MetricAnalysis, Options, ResultKind,
    PHASE_SPEED_RATIO,
};
use crate::plot::{self, CurveFigure, SeedsFigure, SpreadFigure};
use crate::store::RunStatus;
use anyhow::Context;
use document::{Document, FigureRef, Table};
use format::{p_value, percent, quantity_spread, sig, value, NA};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Arguments of `harness report` (for the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Experiment name (as in the spec's `name`)
    pub experiment: String,
    /// Results database: a SQLite file path or a postgres://user@host:port/db URL
    #[arg(long, env = crate::store::DB_ENV, default_value = crate::store::DEFAULT_DB)]
    pub db: PathBuf,
    /// Output directory [default: reports/<experiment>]
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Default output directory of a report.
pub fn default_out_dir(experiment: &str) -> PathBuf {
    Path::new("reports").join(experiment)
}

/// What `write_report` wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub dir: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub figures: Vec<plot::Figure>,
}

/// `harness report EXPERIMENT [--db PATH] [--out DIR]`: reads the experiment from `db` and writes
/// the report into `out` (default `reports/<experiment>`). Returns the path of `report.html`.
pub fn report_command(db: &Path, experiment: &str, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let data = load::experiment(db, experiment, Depth::Curves)?;
    let dir = out.map_or_else(|| default_out_dir(experiment), Path::to_path_buf);
    let analysis = analyse(&data, &Options::default());
    let files = write_report(&analysis, &data, &dir, db)?;
    Ok(files.html)
}

/// Draws every figure and writes `report.md` and `report.html` into `dir`.
pub fn write_report(
    analysis: &Analysis,
    data: &ExperimentData,
    dir: &Path,
    db: &Path,
) -> anyhow::Result<ReportFiles> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the report directory {}", dir.display()))?;
    let figures = Figures::draw(analysis, dir)?;
    let doc = build_document(analysis, data, &FiguresRefs::from(&figures), db);
    let markdown = dir.join("report.md");
    crate::atomic_file::write(&markdown, markdown::render(&doc).as_bytes())
        .with_context(|| format!("could not write {}", markdown.display()))?;
    let html = dir.join("report.html");
    crate::atomic_file::write(&html, html::render(&doc)?.as_bytes())
        .with_context(|| format!("could not write {}", html.display()))?;
    Ok(ReportFiles {
        dir: dir.to_path_buf(),
        markdown,
        html,
        figures: figures.all(),
    })
}

/// The figures of a report, keyed by what they show.
struct Figures {
    seeds: Vec<(usize, plot::Figure)>,
    curves: Vec<plot::Figure>,
    spread: Vec<plot::Figure>,
}

impl Figures {
    fn draw(a: &Analysis, dir: &Path) -> Result<Figures, plot::PlotError> {
        let mut seeds = Vec::new();
        for (i, m) in a.metrics.iter().enumerate() {
            seeds.push((i, plot::render(&SeedsFigure::new(m, &a.variants), dir)?));
        }
        let mut curves = Vec::new();
        for c in &a.curves {
            curves.push(plot::render(&CurveFigure::new(c, &a.variants), dir)?);
        }
        let mut spread = Vec::new();
        let labels: BTreeSet<String> = a.metrics.iter().map(|m| m.metric.label()).collect();
        for label in labels {
            let per_setting: Vec<&MetricAnalysis> = a
                .metrics
                .iter()
                .filter(|m| m.metric.label() == label)
                .collect();
            spread.push(plot::render(
                &SpreadFigure::new(&label, &per_setting, &a.variants),
                dir,
            )?);
        }
        Ok(Figures {
            seeds,
            curves,
            spread,
        })
    }

    fn all(&self) -> Vec<plot::Figure> {
        self.seeds
            .iter()
            .map(|(_, f)| f.clone())
            .chain(self.curves.iter().cloned())
            .chain(self.spread.iter().cloned())
            .collect()
    }
}

fn figure_ref(f: &plot::Figure) -> FigureRef {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    FigureRef {
        title: f.title.clone(),
        png: name(&f.png),
        svg: name(&f.svg),
        png_path: f.png.clone(),
    }
}

fn metric_heading(m: &MetricAnalysis) -> String {
    let dir = m
        .direction
        .map_or("direction unknown".to_string(), |d| d.phrase().to_string());
    let primary = if m.primary { ", primary metric" } else { "" };
    format!("{} ({dir}{primary})", m.metric.label())
}

/// The report's content.
pub fn build_document(
    a: &Analysis,
    data: &ExperimentData,
    figures: &FiguresRefs,
    db: &Path,
) -> Document {
    let mut doc = Document {
        title: format!("Report: {}", a.experiment),
        blocks: Vec::new(),
    };
    if let Some(d) = &a.description {
        doc.para(d.trim().to_string());
    }
    doc.para(format!(
        "Baseline variant: `{}`. Tasks: {}. Variants: {}. Results database: `{}`.",
        a.baseline,
        a.settings
            .iter()
            .map(|s| s.label())
            .collect::<Vec<_>>()
            .join(", "),
        a.variants.join(", "),
        db.display()
    ));
    claims::claims_section(a, data, &mut doc);
    runs_section(a, &mut doc);
    variance_section(a, &mut doc);
    summary_section(a, &mut doc);
    examples::examples_section(a, data, &mut doc);
    measurements_section(a, &mut doc);
    figures_section(a, figures, &mut doc);
    per_run_section(data, &mut doc);
    doc
}

/// References to drawn figures: seeds figures by index into `Analysis::metrics`, curves, spread.
#[derive(Debug, Clone, Default)]
pub struct FiguresRefs {
    pub seeds: HashMap<usize, FigureRef>,
    pub curves: Vec<FigureRef>,
    pub spread: Vec<FigureRef>,
}

impl From<&Figures> for FiguresRefs {
    fn from(f: &Figures) -> Self {
        FiguresRefs {
            seeds: f
                .seeds
                .iter()
                .map(|(i, fig)| (*i, figure_ref(fig)))
                .collect(),
            curves: f.curves.iter().map(figure_ref).collect(),
            spread: f.spread.iter().map(figure_ref).collect(),
        }
    }
}

fn runs_section(a: &Analysis, doc: &mut Document) {
    doc.heading(2, "Runs");
    let mut t = Table::new(
        &[
            "task", "variant", "done", "diverged", "failed", "running", "queued", "total",
        ],
        &[false, false, true, true, true, true, true, true],
    );
    let (mut total, mut done) = (0, 0);
    for (s, v, p) in &a.progress {
        total += p.total;
        done += p.done;
        t.push(vec![
            s.label(),
            v.clone(),
            p.done.to_string(),
            p.diverged.to_string(),
            p.failed.to_string(),
            p.running.to_string(),
            p.queued.to_string(),
            p.total.to_string(),
        ]);
    }
    doc.table(t);
    if done == total {
        doc.para(format!("All {total} runs are done."));
    } else {
        let missing: Vec<String> = a
            .progress
            .iter()
            .filter(|(_, _, p)| p.missing() > 0)
            .map(|(s, v, p)| {
                let mut parts = Vec::new();
                for (n, what) in [
                    (p.diverged, "diverged"),
                    (p.failed, "failed"),
                    (p.running, "running"),
                    (p.queued, "queued"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {what}"));
                    }
                }
                format!(
                    "{s} / {v}: {} of {} runs missing ({})",
                    p.missing(),
                    p.total,
                    parts.join(", ")
                )
            })
            .collect();
        doc.para(format!(
            "The experiment is incomplete: {done} of {total} runs are done. The statistics below use the done runs only; diverged and failed runs are listed here, never dropped silently."
        ));
        doc.list(missing);
    }
    if !a.problem_runs.is_empty() {
        doc.heading(3, "Diverged and failed runs");
        let mut t = Table::new(
            &["run", "task", "variant", "seed", "status", "steps", "error"],
            &[false, false, false, true, false, true, false],
        );
        for r in &a.problem_runs {
            t.push(vec![
                r.run_key.clone(),
                r.task.clone(),
                r.variant.clone(),
                r.seed.to_string(),
                r.status.clone(),
                r.steps.map_or(NA.to_string(), |s| s.to_string()),
                r.error.clone().unwrap_or_default(),
            ]);
        }
        doc.table(t);
    }
    if !a.non_finite.is_empty() {
        doc.para(format!(
            "{} final values of done runs are not finite and are left out of the statistics:",
            a.non_finite.len()
        ));
        doc.list(
            a.non_finite
                .iter()
                .map(|(k, m)| format!("`{k}`: {}", m.label()))
                .collect(),
        );
    }
}

/// Std ratio the power note quotes the number of seeds for: the paper's ~30% reduction.
const PAPER_RATIO: f64 = 0.7;

fn power_note(a: &Analysis) -> String {
    let mut pairs: BTreeMap<(usize, usize), Option<f64>> = BTreeMap::new();
    for m in &a.metrics {
        for v in &m.variants {
            if let Some(c) = v.vs_baseline.as_ref().filter(|c| c.interpretable()) {
                pairs.insert((c.n_reference, c.n), c.min_detectable_reduction);
            }
        }
    }
    let p = &a.power;
    let parts: Vec<String> = pairs
        .iter()
        .map(|((nb, nv), mdr)| match mdr {
            Some(d) => format!(
                "with {nb} baseline and {nv} variant seeds it detects only std reductions of at least {:.0}%",
                100.0 * d
            ),
            None => format!(
                "with {nb} baseline and {nv} variant seeds it cannot detect any std reduction (even σ_v → 0 is detected less than {:.0}% of the time)",
                100.0 * p.target_power
            ),
        })
        .collect();
    let needed = match crate::stats::power::seeds_needed(PAPER_RATIO, p, 400) {
        Some(n) => format!("about {n} seeds per arm"),
        None => "more than 400 seeds per arm".to_string(),
    };
    format!(
        "Power of the Brown–Forsythe test ({:.0}% power at α = {}): {}. \
         Detecting a {:.0}% reduction (the size the paper reports) takes {needed}. \
         (Simulation with normal scores, {} replications per point, stats/power.rs; heavier-tailed scores need more seeds.) \
         A smaller observed reduction, or a p-value above α, is therefore not evidence that the variant leaves the spread unchanged, \
         and a large observed reduction with few seeds is not yet evidence that it reduces it.",
        100.0 * p.target_power,
        p.alpha,
        if parts.is_empty() {
            "no comparison has two or more seeds per arm yet".to_string()
        } else {
            parts.join("; ")
        },
        100.0 * (1.0 - PAPER_RATIO),
        p.replications
    )
}

fn variance_section(a: &Analysis, doc: &mut Document) {
    doc.heading(2, format!("Variance reduction against `{}`", a.baseline));
    doc.para(format!(
        "Std reduction = (σ_base − σ_v)/σ_base (positive: the variant's scores are less spread across seeds). \
         Variance ratio = σ_v²/σ_base². Brown–Forsythe: Levene's test centred on medians. \
         Interval: seeded percentile bootstrap ({} resamples) of σ_v/σ_base at {:.0}%. \
         Δ mean and its p-value: Welch's t-test. Standard deviations use ddof = 1 over done runs. \
         A comparison where an arm has not learned the task (most of its runs at or below the majority class) is not interpretable: \
         its std measures collapse, not seed variance, so it gets no std reduction and stays out of the power note and the claims' pooled ratio.",
        a.bootstrap.resamples,
        100.0 * a.bootstrap.level
    ));
    let mut t = Table::new(
        &[
            "task",
            "metric",
            "variant",
            "n base/v",
            "σ base",
            "σ v",
            "std reduction",
            "variance ratio",
            "B–F p",
            "95% CI σ_v/σ_base",
            "Δ mean",
            "Welch p",
            "min. detectable reduction",
        ],
        &[
            false, false, false, true, true, true, true, true, true, true, true, true, true,
        ],
    );
    for m in &a.metrics {
        let base_std = m
            .variant(&a.baseline)
            .and_then(|b| b.summary)
            .map_or(f64::NAN, |s| s.std);
        for v in &m.variants {
            let Some(c) = &v.vs_baseline else { continue };
            let head = vec![
                m.setting.label(),
                format!(
                    "{}{}",
                    m.metric.label(),
                    m.direction.map_or("", |d| d.arrow())
                ),
                v.sample.variant.clone(),
                format!("{}/{}", c.n_reference, c.n),
                sig(base_std),
                sig(v.summary.map_or(f64::NAN, |s| s.std)),
            ];
            let mut row = head;
            if let Some(text) = crate::analysis::not_interpretable(&c.not_learned, m.direction) {
                // No first-class std reduction for a task an arm has not learned.
                row.push(text);
                row.extend(std::iter::repeat_n(String::new(), 6));
                t.push(row);
                continue;
            }
            row.extend([
                percent(c.std_reduction),
                sig(c.variance_ratio),
                c.brown_forsythe.map_or(NA.into(), |b| p_value(b.p_value)),
                c.std_ratio_interval.map_or(NA.into(), |i| {
                    format!("[{}, {}]", sig(i.lower), sig(i.upper))
                }),
                c.welch
                    .map_or(NA.into(), |w| format!("{:+.4}", w.difference)),
                c.welch.map_or(NA.into(), |w| p_value(w.p_value)),
                c.min_detectable_reduction
                    .map_or("none".into(), |d| format!("≥ {:.0}%", 100.0 * d)),
            ]);
            t.push(row);
        }
    }
    if t.rows.is_empty() {
        doc.para(format!(
            "No comparison yet: the baseline `{}` and another variant both need done runs of the same task.",
            a.baseline
        ));
    } else {
        doc.table(t);
    }
    doc.para(power_note(a));
}

fn summary_section(a: &Analysis, doc: &mut Document) {
    doc.heading(2, "Summary statistics");
    doc.para(
        "Per task, metric and variant over done runs: n, mean, std (ddof = 1), standard error, min, median, max. \
         Degenerate: done runs at or below the majority-class score on the same split (at or above it for lower-is-better metrics).",
    );
    for s in &a.settings {
        let ms: Vec<&MetricAnalysis> = a.metrics.iter().filter(|m| &m.setting == s).collect();
        if ms.is_empty() {
            continue;
        }
        doc.heading(3, s.label());
        let majority: Vec<String> = ms
            .iter()
            .map(|m| match m.majority {
                Some(v) => format!("{} {}", m.metric.label(), value(v)),
                None => format!("{} not available", m.metric.label()),
            })
            .collect();
        doc.para(format!("Majority-class baseline: {}.", majority.join("; ")));
        let mut t = Table::new(
            &[
                "metric",
                "variant",
                "n",
                "mean",
                "std",
                "se",
                "min",
                "median",
                "max",
                "degenerate",
            ],
            &[false, false, true, true, true, true, true, true, true, true],
        );
        for m in ms {
            for v in &m.variants {
                let Some(sm) = v.summary else { continue };
                t.push(vec![
                    metric_heading(m),
                    v.sample.variant.clone(),
                    sm.n.to_string(),
                    value(sm.mean),
                    sig(sm.std),
                    sig(sm.se),
                    value(sm.min),
                    value(sm.median),
                    value(sm.max),
                    v.degenerate
                        .map_or(NA.into(), |d| format!("{d} of {}", sm.n)),
                ]);
            }
        }
        doc.table(t);
    }
}

fn figures_section(a: &Analysis, f: &FiguresRefs, doc: &mut Document) {
    doc.heading(2, "Figures");
    doc.heading(3, "Per-seed final values");
    doc.para("Each dot is one seed's final value; the bar beside them is the mean ± 1 std.");
    for (i, _) in a.metrics.iter().enumerate() {
        if let Some(fig) = f.seeds.get(&i) {
            doc.figure(fig.clone());
        }
    }
    doc.heading(3, "Learning curves");
    if f.curves.is_empty() {
        doc.para("No evaluation metrics were recorded during training of the done runs.");
    } else {
        let mut text = String::from(
            "Each metric against the optimizer step: mean across done runs, band ± 1 std. \
             Evaluations during training may read only the first `train.eval_max_tokens` tokens of the validation split; \
             the final results in the tables above read the full splits.",
        );
        if let Some(bin) = a
            .curves
            .iter()
            .find(|c| c.metric.split == "train")
            .map(|c| c.bin)
        {
            if bin > 1 {
                text.push_str(&format!(
                    " The training loss is each run's mean over bins of {bin} steps, drawn at the bin's last step."
                ));
            } else {
                text.push_str(" The training loss is drawn at every step.");
            }
        }
        let boundaries: BTreeSet<(i64, String)> = a
            .curves
            .iter()
            .flat_map(|c| {
                c.phase_boundaries()
                    .into_iter()
                    .map(|(step, vs)| (step, vs.join(", ")))
            })
            .collect();
        if !boundaries.is_empty() {
            let list: Vec<String> = boundaries
                .iter()
                .map(|(step, vs)| format!("step {step} for {vs}"))
                .collect();
            text.push_str(&format!(
                " The dashed vertical line marks the first step of phase 2 of two-phase training (METHODS §4: \
                 layers are skipped in phase 1 only): {}.",
                list.join("; ")
            ));
        }
        doc.para(text);
        for fig in &f.curves {
            doc.figure(fig.clone());
        }
    }
    doc.heading(3, "Spread across tasks");
    doc.para("Std across seeds of each variant (bar) with its bootstrap 95% interval (whisker).");
    for fig in &f.spread {
        doc.figure(fig.clone());
    }
}

fn per_run_section(data: &ExperimentData, doc: &mut Document) {
    doc.heading(2, "Per-run results");
    let mut metrics: Vec<(String, String)> = Vec::new();
    for rows in data.results.values() {
        for r in rows {
            if r.name.starts_with(crate::analysis::MAJORITY_PREFIX)
                || result_kind(&r.name) != ResultKind::Metric
            {
                continue;
            }
            let k = (r.split.clone(), r.name.clone());
            if !metrics.contains(&k) {
                metrics.push(k);
            }
        }
    }
    metrics.sort();
    let mut header: Vec<String> = [
        "run", "task", "variant", "seed", "status", "device", "duration", "steps",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(
        metrics
            .iter()
            .map(|(s, n)| crate::analysis::MetricKey::new(s, n).label()),
    );
    let mut numeric = vec![false, false, false, true, false, false, true, true];
    numeric.extend(std::iter::repeat_n(true, metrics.len()));
    let mut t = Table {
        header,
        rows: Vec::new(),
        numeric,
    };
    for r in &data.runs {
        let by: HashMap<(&str, &str), f64> = data
            .results
            .get(&r.run_key)
            .into_iter()
            .flatten()
            .map(|x| ((x.split.as_str(), x.name.as_str()), x.value))
            .collect();
        let mut row = vec![
            r.run_key.clone(),
            crate::analysis::Setting::of(r).label(),
            r.variant.clone(),
            r.seed.to_string(),
            r.status.clone(),
            r.device.clone().unwrap_or_else(|| NA.into()),
            r.duration_s.map_or(NA.into(), |d| format!("{d:.1} s")),
            r.steps.map_or(NA.into(), |s| s.to_string()),
        ];
        let done = r.status == RunStatus::Done.as_str();
        for (s, n) in &metrics {
            row.push(match by.get(&(s.as_str(), n.as_str())) {
                Some(v) if done => value(*v),
                _ => String::new(),
            });
        }
        t.push(row);
    }
    doc.table(t);
}

fn measurements_section(a: &Analysis, doc: &mut Document) {
    if a.measurements.is_empty() {
        return;
    }
    doc.heading(2, "Speed, memory and run facts");
    doc.para(
        "Measurements (speed, memory, wall time) describe the machine each run ran on, differ from run to run, \
         and are benchmarks: they are not compared statistically, and `harness check` never checks them. \
         Facts (parameter counts, skipped-layer fractions, evaluated tokens) are deterministic. \
         Each cell: mean ± std over done runs; in brackets, the variant's mean over the baseline's. \
         On CPU, peak memory is the process's peak resident set size during the run; on CUDA, the device memory in use.",
    );
    let ratios: Vec<String> = a
        .measurements
        .iter()
        .filter(|m| m.key.name == PHASE_SPEED_RATIO)
        .flat_map(|m| {
            m.variants.iter().map(move |v| {
                format!(
                    "{} / {}: {} (n = {})",
                    m.setting,
                    v.variant,
                    quantity_spread(&m.key.name, v.summary.mean, v.summary.std),
                    v.summary.n
                )
            })
        })
        .collect();
    if !ratios.is_empty() {
        doc.para(
            "Phase-1 over phase-2 milliseconds per step, per run (METHODS §5: about 1 − the skipped fraction of layer compute \
             when the layers dominate the step; embeddings and the softmax are never skipped):",
        );
        doc.list(ratios);
    }
    for s in &a.settings {
        let ms: Vec<_> = a.measurements.iter().filter(|m| &m.setting == s).collect();
        if ms.is_empty() {
            continue;
        }
        doc.heading(3, s.label());
        let mut header = vec!["quantity", "kind"];
        header.extend(a.variants.iter().map(String::as_str));
        let mut numeric = vec![false, false];
        numeric.extend(std::iter::repeat_n(true, a.variants.len()));
        let mut t = Table::new(&header, &numeric);
        for m in ms {
            let mut row = vec![
                m.key.label(),
                match m.kind {
                    ResultKind::Fact => "fact",
                    _ => "measurement",
                }
                .to_string(),
            ];
            for v in &a.variants {
                row.push(match m.variants.iter().find(|x| &x.variant == v) {
                    Some(x) => {
                        let cell = quantity_spread(&m.key.name, x.summary.mean, x.summary.std);
                        match x.vs_baseline {
                            Some(r) => format!("{cell} (×{r:.3})"),
                            None => cell,
                        }
                    }
                    None => String::new(),
                });
            }
            t.push(row);
        }
        doc.table(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::{load, small_runs};
    use crate::synthetic::{generated_grid, SyntheticRun};

    fn write(
        runs: &[SyntheticRun],
    ) -> (
        ReportFiles,
        String,
        String,
        tempfile::TempDir,
        tempfile::TempDir,
    ) {
        let (data, db) = load(runs, true);
        let a = analyse(&data, &Options::default());
        let out = tempfile::tempdir().unwrap();
        let files = write_report(&a, &data, out.path(), Path::new("results/harness.db")).unwrap();
        let md = std::fs::read_to_string(&files.markdown).unwrap();
        let html = std::fs::read_to_string(&files.html).unwrap();
        (files, md, html, out, db)
    }

    fn has(md: &str, line: &str) {
        assert!(md.contains(line), "report.md lacks {line:?}:\n{md}");
    }

    #[test]
    fn report_of_a_small_incomplete_experiment() {
        let (files, md, html, _out, _db) = write(&small_runs());
        has(&md, "# Report: small\n\na small experiment\n");
        has(&md, "| rte | baseline | 5 | 0 | 0 | 0 | 0 | 5 |\n| rte | cross_head | 4 | 1 | 0 | 0 | 0 | 5 |\n| rte | skip | 0 | 0 | 1 | 0 | 1 | 2 |\n");
        has(&md, "The experiment is incomplete: 9 of 12 runs are done. The statistics below use the done runs only");
        has(&md, "- rte / cross_head: 1 of 5 runs missing (1 diverged)\n- rte / skip: 2 of 2 runs missing (1 failed, 1 queued)\n");
        has(&md, "| 0009-rte-cross_head-s5 | rte | cross_head | 5 | diverged | 100 | loss is NaN at step 40 |");
        has(
            &md,
            "| 0011-rte-skip-s2 | rte | skip | 2 | failed | 100 | out of memory |",
        );
        // σ and p-values: see analysis::tests (scipy); the interval comes from the seeded bootstrap.
        has(
            &md,
            "| rte | acc↑ | cross_head | 5/4 | 0.07694 | 0.02160 | +71.9% | 0.07883 | 0.131 | [",
        );
        has(&md, "] | +0.0280 | 0.474 | none |");
        has(
            &md,
            "| rte | loss↓ | cross_head | 5/4 | 0.07694 | 0.02160 | +71.9% | 0.07883 | 0.131 | [",
        );
        has(
            &md,
            "with 5 baseline and 4 variant seeds it cannot detect any std reduction",
        );
        has(
            &md,
            "Majority-class baseline: acc 0.5270; loss not available.",
        );
        has(&md, "| acc (higher is better, primary metric) | baseline | 5 | 0.6120 | 0.07694 | 0.03441 | 0.5000 | 0.6200 | 0.7000 | 1 of 5 |");
        has(&md, "| acc (higher is better, primary metric) | cross_head | 4 | 0.6400 | 0.02160 | 0.01080 | 0.6100 | 0.6450 | 0.6600 | 0 of 4 |");
        has(&md, "| loss (lower is better) | baseline | 5 | 0.3880 | 0.07694 | 0.03441 | 0.3000 | 0.3800 | 0.5000 | n/a |");
        has(&md, "| 0009-rte-cross_head-s5 | rte | cross_head | 5 | diverged | cpu | 15.0 s | 100 |  |  |");
        has(
            &md,
            "| 0010-rte-skip-s1 | rte | skip | 1 | queued | n/a | n/a | n/a |  |  |",
        );
        has(&md, "| 0000-rte-baseline-s1 | rte | baseline | 1 | done | cpu | 11.0 s | 100 | 0.6200 | 0.3800 |");
        has(
            &md,
            "![rte acc: per-seed values, mean ± 1 std](seeds-rte-acc.png)",
        );
        has(
            &md,
            "No evaluation metrics were recorded during training of the done runs.",
        );
        // Four figures (seeds: acc, loss; spread: acc, loss), each as PNG and SVG, each embedded.
        assert_eq!(files.figures.len(), 4);
        for f in &files.figures {
            assert!(f.png.exists() && f.svg.exists());
        }
        assert_eq!(html.matches("<img alt=").count(), 4);
        assert_eq!(
            html.matches("src=\"data:image/png;base64,iVBORw0KGgo")
                .count(),
            4
        );
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("<script")
        );
        assert!(html.contains("<td>cross_head</td><td class=\"num\">4</td>"));
    }

    #[test]
    fn report_of_a_complete_experiment_with_curves() {
        let runs = generated_grid(
            &["spam", "kjv_next"],
            &[("baseline", 1.0), ("cross_head", 0.5)],
            4,
            30,
            3,
        );
        let (files, md, _html, _out, _db) = write(&runs);
        has(&md, "All 16 runs are done.");
        has(
            &md,
            "Tasks: spam, kjv_next. Variants: baseline, cross_head.",
        );
        has(
            &md,
            "![spam acc: learning curve, mean ± 1 std across seeds](curve-spam-acc.png)",
        );
        has(
            &md,
            "![std of f1 across seeds, with bootstrap 95% intervals](spread-f1.png)",
        );
        has(
            &md,
            "Majority-class baseline: acc not available; f1 not available; loss not available.",
        );
        // seeds: 2 tasks × 3 metrics; curves: 2 tasks × (2 dev metrics + train loss);
        // spread: 3 metrics.
        assert_eq!(files.figures.len(), 6 + 6 + 3);
        has(&md, "(curve-spam-train-loss.png)");
        assert!(!md.contains("incomplete"));
    }

    #[test]
    fn language_model_metrics_are_lower_is_better() {
        let mut runs = Vec::new();
        for (variant, bpcs) in [
            ("baseline", [1.10, 1.06, 1.08]),
            ("skip_cross_head", [1.04, 1.03, 1.05]),
        ] {
            for (i, bpc) in bpcs.iter().enumerate() {
                let mut r = SyntheticRun::done("enwik8", variant, i as u64 + 1, &[]);
                r.results = vec![
                    ("valid".into(), "bpc".into(), *bpc),
                    ("test".into(), "bpc".into(), bpc + 0.01),
                ];
                runs.push(r);
            }
        }
        let (_files, md, _html, _out, _db) = write(&runs);
        has(
            &md,
            "| valid/bpc (lower is better, primary metric) | baseline | 3 | 1.0800 |",
        );
        has(&md, "| enwik8 | valid/bpc↓ | skip_cross_head | 3/3 |");
        has(&md, "| enwik8 | test/bpc↓ | skip_cross_head | 3/3 |");
    }

    /// A two-phase language-model grid: baseline (phase 2 throughout) and two_phase (phase 1 for
    /// steps 1–10 of 20), train loss every step, valid bpc every 5 steps, speed and memory.
    fn two_phase_runs() -> Vec<SyntheticRun> {
        let mut runs = Vec::new();
        for (variant, phase1) in [("baseline", 0), ("two_phase", 10)] {
            for seed in 1..=3u64 {
                let mut r = SyntheticRun::done("wikisample_bytes", variant, seed, &[]);
                let x = seed as f64;
                r.results = vec![
                    ("valid".into(), "bpc".into(), 2.0 + 0.01 * x),
                    ("valid".into(), "tokens".into(), 5000.0),
                    ("train".into(), "params_total".into(), 12345.0),
                    (
                        "train".into(),
                        "peak_memory_bytes".into(),
                        100.0 * 1048576.0,
                    ),
                    ("train".into(), "ms_per_step_phase2".into(), 50.0 + x),
                    ("train".into(), "tokens_per_s".into(), 1000.0),
                ];
                if phase1 > 0 {
                    r.results
                        .push(("train".into(), "ms_per_step_phase1".into(), 40.0 + x));
                }
                for step in 1..=20i64 {
                    let phase = Some(if step <= phase1 { 1 } else { 2 });
                    let loss = 5.0 - 0.1 * step as f64 + 0.01 * x;
                    r.curve.push(crate::store::MetricRow {
                        step,
                        split: "train".into(),
                        name: "loss".into(),
                        value: loss,
                        phase,
                    });
                    if step % 5 == 0 {
                        r.curve.push(crate::store::MetricRow {
                            step,
                            split: "valid".into(),
                            name: "bpc".into(),
                            value: loss / 2.0,
                            phase,
                        });
                    }
                }
                runs.push(r);
            }
        }
        runs
    }

    #[test]
    fn two_phase_report_marks_the_phase_boundary_and_keeps_measurements_apart() {
        let (files, md, _html, _out, _db) = write(&two_phase_runs());
        // Only bpc is compared; speed, memory and counts are in their own section.
        has(&md, "| wikisample_bytes | valid/bpc↓ | two_phase | 3/3 |");
        for label in ["ms_per_step", "peak_memory", "params_total", "tokens_per_s"] {
            assert!(
                !md.contains(&format!("| wikisample_bytes | train/{label}")),
                "{label} is compared as a metric"
            );
        }
        has(&md, "## Speed, memory and run facts");
        has(
            &md,
            "| train/params_total | fact | 12345 | 12345 (×1.000) |",
        );
        has(
            &md,
            "| train/peak_memory_bytes | measurement | 100.0 MiB | 100.0 MiB (×1.000) |",
        );
        has(&md, "| train/ms_per_step_phase2 | measurement | 52.00 ms ± 1.00 ms | 52.00 ms ± 1.00 ms (×1.000) |");
        // Per-run ratios 41/51, 42/52, 43/53: statistics.mean 0.80765, statistics.stdev 0.0036996.
        has(
            &md,
            "- wikisample_bytes / two_phase: 0.8076 ± 0.003700 (n = 3)",
        );
        // Learning curves: valid bpc and the training loss, each with the phase boundary.
        has(
            &md,
            "The dashed vertical line marks the first step of phase 2 of two-phase training",
        );
        has(&md, "step 11 for two_phase.");
        has(&md, "The training loss is drawn at every step.");
        has(&md, "(curve-wikisample_bytes-valid-bpc.png)");
        has(&md, "(curve-wikisample_bytes-train-loss.png)");
        let svg = files
            .figures
            .iter()
            .find(|f| f.svg.ends_with("curve-wikisample_bytes-train-loss.svg"))
            .map(|f| std::fs::read_to_string(&f.svg).unwrap())
            .unwrap();
        assert!(svg.contains("phase 2 from step 11 (two_phase)"));
        // The per-run table holds metrics only.
        let per_run = &md[md.find("## Per-run results").unwrap()..];
        assert!(per_run.contains("valid/bpc") && !per_run.contains("ms_per_step"));
    }
}
