//! The report's section on the evaluation set: from the stored per-example predictions
//! (`analysis::examples`), the seeds-only and the seeds-and-examples (multi-bootstrap)
//! intervals of the difference of means and of σ_v/σ_base side by side, which is wider and
//! why, in words computed from the numbers, and McNemar's paired test per seed.

use super::document::{Document, Table};
use super::format::{p_value, sig, NA};
use crate::analysis::examples::{compare_examples, ExampleComparison, MCNEMAR_ALPHA, REPLICATES};
use crate::analysis::{Analysis, ExperimentData};
use crate::stats::{Interval, VarianceSplit};

fn interval(i: Option<Interval>, fmt: fn(f64) -> String) -> String {
    i.map_or(NA.into(), |i| {
        format!("[{}, {}]", fmt(i.lower), fmt(i.upper))
    })
}

fn signed(x: f64) -> String {
    if x.is_finite() {
        format!("{x:+.4}")
    } else {
        NA.into()
    }
}

fn share(s: &VarianceSplit) -> String {
    s.evaluation_share()
        .map_or(NA.into(), |x| format!("{:.0}%", 100.0 * x))
}

fn width(i: Option<Interval>) -> Option<f64> {
    i.map(|i| i.upper - i.lower)
        .filter(|w| w.is_finite() && *w >= 0.0)
}

/// "2.3× as wide as" / "no wider than" the seeds-only interval, from the two widths.
fn wider(joint: Option<Interval>, seeds: Option<Interval>, fmt: fn(f64) -> String) -> String {
    let unbounded = |i: Option<Interval>| i.is_some_and(|i| i.upper.is_infinite());
    if unbounded(joint) || unbounded(seeds) {
        return "unbounded in at least one resampling (resamples whose baseline seeds all score \
                the same give +∞)"
            .into();
    }
    match (width(joint), width(seeds)) {
        (Some(j), Some(s)) if s > 0.0 && j > s => format!(
            "{:.1}× as wide as the seeds-only one ({} vs {})",
            j / s,
            fmt(j),
            fmt(s)
        ),
        (Some(j), Some(s)) if s == 0.0 && j > 0.0 => format!(
            "wider than the seeds-only one, which is a single point ({} vs 0)",
            fmt(j)
        ),
        (Some(j), Some(s)) if j == 0.0 && s == 0.0 => {
            "a single point, as the seeds-only one".into()
        }
        (Some(j), Some(s)) => format!(
            "no wider than the seeds-only one ({} vs {})",
            fmt(j),
            fmt(s)
        ),
        _ => "not defined for both resamplings".into(),
    }
}

/// What the variance split says, in words.
fn split_words(c: &ExampleComparison, b: &VarianceSplit, v: &VarianceSplit) -> String {
    let part = |name: &str, what: &str, s: &VarianceSplit| match s.evaluation_share() {
        Some(x) => format!(
            "{:.0}% of `{name}`'s{what} ({} of {})",
            100.0 * x,
            sig(s.evaluation_set),
            sig(s.across_seeds)
        ),
        None => format!("none of `{name}`'s (its seeds all score the same)"),
    };
    let examples = format!("{} `{}` examples", c.examples, c.metric.split);
    if b.evaluation_share().is_none() && v.evaluation_share().is_none() {
        return format!(
            "the seeds of both variants score the same on the {examples}: there is no across-seed variance to split"
        );
    }
    let verdict = match b.evaluation_share().zip(v.evaluation_share()) {
        Some((x, y)) if x >= 1.0 && y >= 1.0 => format!(
            "the seeds differ no more than the same predictions would on another draw of {examples}: \
             these seed-to-seed differences are within what the evaluation set can resolve"
        ),
        Some((x, y)) if x >= 0.5 && y >= 0.5 => format!(
            "most of the seed-to-seed spread is what {examples} alone produce"
        ),
        Some((x, y)) if x < 0.5 && y < 0.5 => format!(
            "the seeds' own differences dominate; {examples} add the smaller part"
        ),
        _ => format!("the two variants split differently on {examples}"),
    };
    format!(
        "the evaluation set alone accounts for {} and {}: {verdict}",
        part(&c.baseline, " across-seed variance", b),
        part(&c.variant, "", v)
    )
}

/// The section, or nothing when no run stored predictions.
pub fn examples_section(a: &Analysis, data: &ExperimentData, doc: &mut Document) {
    if data.predictions.is_empty() {
        return;
    }
    let comparisons = compare_examples(
        &data.runs,
        &data.predictions,
        &a.baseline,
        &a.variants,
        &a.bootstrap,
    );
    doc.heading(2, "Seeds and the evaluation set");
    doc.para(format!(
        "From the per-example predictions of the done runs (each seed's score recomputed from them). \
         Seeds only: the seeds resampled, the evaluation set fixed, as in the variance table. \
         Seeds and examples: the multi-bootstrap (Sellam et al. 2021): seeds and evaluation examples \
         resampled jointly, the same examples for both variants. {REPLICATES} replicates, \
         {:.0}% percentile intervals. Evaluation-set share: the variance the same predictions show \
         under example resampling alone, as a share of the across-seed variance.",
        100.0 * a.bootstrap.level
    ));
    if comparisons.is_empty() {
        doc.para(format!(
            "No comparison: the baseline `{}` and another variant both need done runs with predictions on the same task.",
            a.baseline
        ));
        return;
    }
    let mut t = Table::new(
        &[
            "task",
            "metric",
            "variant",
            "n base/v",
            "examples",
            "Δ mean",
            "Δ seeds only",
            "Δ seeds + examples",
            "σ_v/σ_base",
            "σ ratio seeds only",
            "σ ratio seeds + examples",
            "eval-set share base",
            "eval-set share v",
        ],
        &[
            false, false, false, true, true, true, true, true, true, true, true, true, true,
        ],
    );
    let mut words = Vec::new();
    for c in &comparisons {
        let head = format!(
            "{} {}, `{}` against `{}`",
            c.setting.label(),
            c.metric.label(),
            c.variant,
            c.baseline
        );
        let m = match &c.multibootstrap {
            Ok(m) => m,
            Err(e) => {
                words.push(format!("{head}: not computed: {e}."));
                continue;
            }
        };
        t.push(vec![
            c.setting.label(),
            c.metric.label(),
            c.variant.clone(),
            format!("{}/{}", c.baseline_seeds, c.variant_seeds),
            c.examples.to_string(),
            signed(m.mean_difference),
            interval(m.seeds_only.mean_difference, signed),
            interval(m.seeds_and_examples.mean_difference, signed),
            sig(m.std_ratio),
            interval(m.seeds_only.std_ratio, sig),
            interval(m.seeds_and_examples.std_ratio, sig),
            share(&m.baseline_split),
            share(&m.variant_split),
        ]);
        let (d_joint, d_seeds) = (
            m.seeds_and_examples.mean_difference,
            m.seeds_only.mean_difference,
        );
        let d_why = match (width(d_joint), width(d_seeds)) {
            (Some(j), Some(s)) if j > s => {
                " (each seed's score also varies with the examples drawn)"
            }
            (Some(j), Some(_)) if j > 0.0 => {
                " (the examples drawn move both variants' scores alike)"
            }
            _ => "",
        };
        let (r_joint, r_seeds) = (m.seeds_and_examples.std_ratio, m.seeds_only.std_ratio);
        let r_why = match (width(r_joint), width(r_seeds)) {
            (Some(j), Some(s)) if j > s => " (the evaluation set's noise differs between the variants' seeds)",
            (Some(j), Some(_)) if j > 0.0 => {
                " (the same evaluation-set noise added to both variants' seeds pulls the ratio toward 1)"
            }
            _ => "",
        };
        words.push(format!(
            "{head}: with the examples resampled too, the interval of Δ mean is {}{d_why}, and that of \
             σ_v/σ_base is {}{r_why}; {}.",
            wider(d_joint, d_seeds, sig),
            wider(r_joint, r_seeds, sig),
            split_words(c, &m.baseline_split, &m.variant_split)
        ));
    }
    if !t.rows.is_empty() {
        doc.table(t);
    }
    doc.list(words);

    let mut mt = Table::new(
        &[
            "task",
            "metric",
            "variant",
            "seeds paired",
            "variant better",
            "baseline better",
            "not significant",
            "right only: variant/baseline",
            "p per seed",
        ],
        &[false, false, false, true, true, true, true, true, false],
    );
    for c in &comparisons {
        let Some(s) = &c.mcnemar else { continue };
        mt.push(vec![
            c.setting.label(),
            c.metric.label(),
            c.variant.clone(),
            s.per_seed.len().to_string(),
            s.variant_better.to_string(),
            s.baseline_better.to_string(),
            s.not_significant.to_string(),
            format!("{}/{}", s.variant_only_right, s.baseline_only_right),
            s.per_seed
                .iter()
                .map(|p| format!("{}: {}", p.seed, p_value(p.test.p_value)))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    if !mt.rows.is_empty() {
        doc.heading(3, "Paired per-example comparison (McNemar)");
        doc.para(format!(
            "For each seed, the variant's run against the baseline's run of the same seed, on the examples \
             where exactly one of them is right (McNemar's exact test). Seeds counted as better at \
             p < {MCNEMAR_ALPHA}, without correction for the number of seeds; \"right only\" sums the \
             discordant examples over the seeds."
        ));
        doc.table(mt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::load;
    use crate::analysis::{analyse, Options};
    use crate::store::ExampleValues;
    use crate::synthetic::SyntheticRun;
    use rand::{Rng, SeedableRng};

    /// rte, 200 dev examples, 10 seeds per variant. Every seed gets each example right with
    /// probability 0.7 independently: the seeds differ only by the luck of which examples they
    /// get right, so the evaluation set accounts for about all of the across-seed variance.
    fn runs() -> Vec<SyntheticRun> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let n = 200;
        let gold: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let mut runs = Vec::new();
        for variant in ["baseline", "cross_head"] {
            for seed in 1..=10 {
                let predicted = gold
                    .iter()
                    .map(|&g| if rng.random::<f64>() < 0.7 { g } else { 1 - g })
                    .collect();
                runs.push(
                    SyntheticRun::done("rte", variant, seed, &[]).with_predictions(
                        "dev",
                        ExampleValues::Classes {
                            predicted,
                            gold: gold.clone(),
                        },
                    ),
                );
            }
        }
        runs
    }

    fn render(runs: &[SyntheticRun]) -> String {
        let (data, _dir) = load(runs, true);
        let a = analyse(&data, &Options::default());
        let mut doc = Document::default();
        examples_section(&a, &data, &mut doc);
        super::super::markdown::render(&doc)
    }

    #[test]
    fn both_intervals_and_the_share_of_the_evaluation_set() {
        let md = render(&runs());
        assert!(md.contains("## Seeds and the evaluation set"), "{md}");
        let row = md
            .lines()
            .find(|l| l.starts_with("| rte | acc | cross_head | 10/10 | 200 |"))
            .unwrap_or_else(|| panic!("no acc row in\n{md}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // Both intervals are shown; the joint one is the wider (it adds each seed's
        // evaluation-set variance, about 0.21/200 per seed here).
        let bounds = |cell: &str| -> (f64, f64) {
            let (lo, hi) = cell
                .trim_matches(|c| c == '[' || c == ']')
                .split_once(", ")
                .unwrap();
            (lo.parse().unwrap(), hi.parse().unwrap())
        };
        let (s_lo, s_hi) = bounds(cells[7]);
        let (j_lo, j_hi) = bounds(cells[8]);
        assert!(j_hi - j_lo > s_hi - s_lo, "{row}");
        // Binomial luck alone: each share is near 100% (the across-seed variance of 10 seeds is
        // itself uncertain by about ±50%).
        for cell in [cells[12], cells[13]] {
            let share: f64 = cell.trim_end_matches('%').parse().unwrap();
            assert!((40.0..300.0).contains(&share), "{row}");
        }
        assert!(
            md.contains("- rte acc, `cross_head` against `baseline`: with the examples resampled too, the interval of Δ mean is "),
            "{md}"
        );
        assert!(md.contains("× as wide as the seeds-only one ("), "{md}");
        assert!(
            md.contains("of `baseline`'s across-seed variance ("),
            "{md}"
        );
        assert!(md.contains("200 `dev` examples"), "{md}");
        // McNemar per seed.
        assert!(
            md.contains("### Paired per-example comparison (McNemar)"),
            "{md}"
        );
        assert!(
            md.lines()
                .any(|l| l.starts_with("| rte | acc | cross_head | 10 | ") && l.contains("1: ")),
            "{md}"
        );
    }

    #[test]
    fn no_predictions_no_section_and_reasons_given() {
        let plain = vec![
            SyntheticRun::done("rte", "baseline", 1, &[("acc", 0.5)]),
            SyntheticRun::done("rte", "cross_head", 1, &[("acc", 0.6)]),
        ];
        assert!(!render(&plain).contains("Seeds and the evaluation set"));
        let mut one_seed = runs();
        one_seed.retain(|r| r.seed == 1);
        let md = render(&one_seed);
        assert!(
            md.contains("- rte acc, `cross_head` against `baseline`: not computed: the baseline has 1 seed(s) with predictions"),
            "{md}"
        );
    }
}
