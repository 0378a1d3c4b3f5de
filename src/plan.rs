//! `harness plan EXPERIMENT`: how many seeds per arm a full experiment needs, from a pilot's done
//! runs. Per task, metric (each task's primary metric unless `--metric` names one) and variant
//! against the baseline: the done runs per arm, the observed σ ratio σ_v/σ_base, the seeds per
//! arm with which the Brown–Forsythe test detects the stated reduction at the stated power
//! (`stats::power::seeds_needed`, normal scores), and the seeds per arm that would decide a claim
//! of that reduction if the observed ratio were the truth (`stats::power::seeds_to_decide_ratio`).
//! A task an arm has not learned is flagged (its σ ratio is not interpretable) and gets no count.
//! Without `--reduction`, the reduction is that of the stored spec's first std-reduction claim
//! (`claims:`), else 0.3.
//!
//! JSON: `{"experiment", "reduction", "power", "alpha", "max_seeds", "seeds_for_reduction",
//! "rows": [{"task", "sweep", "metric", "variant", "reference", "n_reference", "n",
//! "observed_ratio", "seeds_to_decide", "note"}]}`; seed counts are numbers, or `null` when
//! more than `max_seeds` would be needed (or, for a row, when it has a note).

use crate::analysis::claims::MAX_SEEDS;
use crate::analysis::load::{self, Depth};
use crate::analysis::{analyse, not_interpretable, Analysis, ExperimentData, Options, Setting};
use crate::cli::Format;
use crate::output::Table;
use crate::report::format::sig;
use crate::stats::power::{seeds_needed, seeds_to_decide_ratio};
use crate::stats::PowerSettings;
use serde::Serialize;
use std::path::PathBuf;

/// The reduction planned for without `--reduction` or a claim: the paper's ~30%.
pub const DEFAULT_REDUCTION: f64 = 0.3;

/// The reduction of the first std-reduction claim of the experiment's stored spec.
pub fn claimed_reduction(data: &ExperimentData) -> Option<f64> {
    let spec = crate::analysis::claims::stored_spec(data).ok()?;
    spec.claims.iter().find_map(|c| c.std_reduction)
}

fn fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number; give a fraction in (0, 1) such as 0.3"))?;
    if x > 0.0 && x < 1.0 {
        Ok(x)
    } else {
        Err(format!("must lie in (0, 1) (0.3 for 30%), got {s}"))
    }
}

/// Arguments of `harness plan` (for the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Experiment name (the pilot)
    pub experiment: String,
    /// Std reduction to detect, as a fraction (0.3 = σ_v 30% below σ_base) [default: the stored
    /// spec's first std-reduction claim, else 0.3]
    #[arg(long, value_parser = fraction)]
    pub reduction: Option<f64>,
    /// Power to detect it with
    #[arg(long, default_value = "0.8", value_parser = fraction)]
    pub power: f64,
    /// Only this metric (`acc`, or `split/name`) [default: each task's primary metric]
    #[arg(long)]
    pub metric: Option<String>,
    /// Results database: a SQLite file path or a postgres://user@host:port/db URL
    #[arg(long, env = crate::store::DB_ENV, default_value = crate::store::DEFAULT_DB)]
    pub db: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// One task, metric and variant.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    pub task: String,
    pub sweep: String,
    pub metric: String,
    pub variant: String,
    pub reference: String,
    pub n_reference: usize,
    pub n: usize,
    pub observed_ratio: Option<f64>,
    pub seeds_to_decide: Option<usize>,
    /// Why the row has no count (too few runs, task not learned).
    pub note: Option<String>,
}

/// The answer of `harness plan`.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub experiment: String,
    pub reduction: f64,
    pub power: f64,
    pub alpha: f64,
    pub max_seeds: usize,
    pub seeds_for_reduction: Option<usize>,
    pub rows: Vec<PlanRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("too few done runs in `{experiment}` to plan from: a pilot needs at least 2 done runs in the baseline and in another variant of a task ({have})")]
    TooFew { experiment: String, have: String },
}

/// The plan from the statistics of a pilot (pure).
pub fn plan(
    a: &Analysis,
    reduction: f64,
    power: &PowerSettings,
    metric: Option<&str>,
) -> Result<Plan, PlanError> {
    let ratio = 1.0 - reduction;
    let mut rows = Vec::new();
    let empty = Vec::new();
    for m in &a.metrics {
        let chosen = match metric {
            Some(sel) => m.metric.matches(sel),
            None => m.primary || crate::analysis::primary_metric(&m.setting.task).is_none(),
        };
        if !chosen {
            continue;
        }
        let base = m.variant(&a.baseline).map_or(&empty, |v| &v.sample.values);
        for v in m.variants.iter().filter(|v| v.sample.variant != a.baseline) {
            let values = &v.sample.values;
            let (nr, n) = (base.len(), values.len());
            let observed = (nr >= 2 && n >= 2).then(|| {
                crate::stats::summary::std_dev(values) / crate::stats::summary::std_dev(base)
            });
            let not_learned = v
                .vs_baseline
                .as_ref()
                .and_then(|c| not_interpretable(&c.not_learned, m.direction));
            let note = if observed.is_none() {
                Some(format!("too few done runs ({nr}/{n}; at least 2 per arm)"))
            } else {
                not_learned
            };
            let seeds_to_decide = match (note.is_none(), observed) {
                (true, Some(r)) => seeds_to_decide_ratio(r, ratio, power, MAX_SEEDS),
                _ => None,
            };
            rows.push(PlanRow {
                task: m.setting.task.clone(),
                sweep: m.setting.sweep.clone(),
                metric: m.metric.label(),
                variant: v.sample.variant.clone(),
                reference: a.baseline.clone(),
                n_reference: nr,
                n,
                observed_ratio: observed,
                seeds_to_decide,
                note,
            });
        }
    }
    if !rows.iter().any(|r| r.observed_ratio.is_some()) {
        let have: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}: {}/{}",
                    r.task, r.metric, r.variant, r.n_reference, r.n
                )
            })
            .collect();
        return Err(PlanError::TooFew {
            experiment: a.experiment.clone(),
            have: if have.is_empty() {
                "no task has done runs of two variants".into()
            } else {
                format!("done runs baseline/variant: {}", have.join(", "))
            },
        });
    }
    Ok(Plan {
        experiment: a.experiment.clone(),
        reduction,
        power: power.target_power,
        alpha: power.alpha,
        max_seeds: MAX_SEEDS,
        seeds_for_reduction: seeds_needed(ratio, power, MAX_SEEDS),
        rows,
    })
}

fn count(n: Option<usize>, max: usize) -> String {
    n.map_or(format!("> {max}"), |n| n.to_string())
}

/// Renders a plan as an aligned table with a closing explanation.
pub fn render_table(p: &Plan) -> String {
    let mut t = Table::left(&[
        "task",
        "metric",
        "variant",
        "n base/v",
        "σ_v/σ_base",
        "seeds to decide",
        "note",
    ]);
    for r in &p.rows {
        let setting = Setting {
            task: r.task.clone(),
            sweep: r.sweep.clone(),
        };
        t.push(vec![
            setting.label(),
            r.metric.clone(),
            r.variant.clone(),
            format!("{}/{}", r.n_reference, r.n),
            r.observed_ratio.map_or(String::new(), sig),
            match r.note {
                Some(_) => String::new(),
                None => count(r.seeds_to_decide, p.max_seeds),
            },
            r.note.clone().unwrap_or_default(),
        ]);
    }
    let mut out = t.text();
    out.push_str(&format!(
        "\nDetecting a {:.0}% std reduction (σ_v/σ_base = {:.2}) with the Brown–Forsythe test at {:.0}% power, α = {}: {} seeds per arm (normal scores; heavier tails need more).\n\
         Seeds to decide: per arm, for the bootstrap interval of σ_v/σ_base to exclude 1 or the claimed ratio if the observed ratio were the truth.\n",
        100.0 * p.reduction,
        1.0 - p.reduction,
        100.0 * p.power,
        p.alpha,
        count(p.seeds_for_reduction, p.max_seeds),
    ));
    out
}

/// `harness plan`: reads the pilot from `db` (read-only) and renders the plan.
pub fn plan_command(args: &PlanArgs) -> anyhow::Result<String> {
    let data = load::experiment(&args.db, &args.experiment, Depth::Results)?;
    let a = analyse(
        &data,
        &Options {
            uncertainty: false,
            ..Options::default()
        },
    );
    let power = PowerSettings {
        target_power: args.power,
        ..PowerSettings::default()
    };
    let reduction = args
        .reduction
        .unwrap_or_else(|| claimed_reduction(&data).unwrap_or(DEFAULT_REDUCTION));
    let p = plan(&a, reduction, &power, args.metric.as_deref())?;
    Ok(match args.format {
        Format::Table => render_table(&p),
        Format::Json => crate::output::json(&p)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::{load, small_runs};

    #[test]
    fn plan_of_the_small_pilot() {
        let (data, _dir) = load(&small_runs(), false);
        let a = analyse(&data, &Options::default());
        let power = PowerSettings::default();
        let p = plan(&a, 0.3, &power, None).unwrap();
        // rte's primary metric only; cross_head has 4 done runs, skip none.
        assert_eq!(p.rows.len(), 1);
        let r = &p.rows[0];
        assert_eq!(
            (r.task.as_str(), r.metric.as_str(), r.variant.as_str()),
            ("rte", "acc", "cross_head")
        );
        assert_eq!((r.n_reference, r.n), (5, 4));
        // np.std(CROSS, ddof=1) / np.std(BASE, ddof=1) = 0.2807647214819358
        assert!((r.observed_ratio.unwrap() - 0.2807647214819358).abs() < 1e-12);
        assert_eq!(r.note, None);
        // Observed 0.28 against the claimed 0.7: rejecting ratio 1 at a true 0.28 is easiest.
        assert_eq!(
            r.seeds_to_decide,
            seeds_needed(0.2807647214819358, &power, MAX_SEEDS)
        );
        assert_eq!(p.seeds_for_reduction, seeds_needed(0.7, &power, MAX_SEEDS));
        let n = p.seeds_for_reduction.unwrap();
        assert!((70..=82).contains(&n), "{n}");
        let text = render_table(&p);
        assert!(text.starts_with("task  metric  variant     n base/v  σ_v/σ_base  seeds to decide  note\nrte   acc     cross_head  5/4       0.2808      11\n"), "{text}");
        assert!(
            text.contains(&format!("at 80% power, α = 0.05: {n} seeds per arm")),
            "{text}"
        );
    }

    #[test]
    fn too_few_runs_are_refused_with_the_counts() {
        let runs: Vec<_> = small_runs()
            .into_iter()
            .filter(|r| r.variant != "cross_head" || r.seed == 1)
            .collect();
        let (data, _dir) = load(&runs, false);
        let a = analyse(&data, &Options::default());
        let e = plan(&a, 0.3, &PowerSettings::default(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "too few done runs in `small` to plan from: a pilot needs at least 2 done runs in the baseline and in another variant of a task (done runs baseline/variant: rte acc cross_head: 5/1)"
        );
    }
}
