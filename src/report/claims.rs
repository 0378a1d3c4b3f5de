//! The report's opening section: a verdict per claim of the stored spec (`analysis::claims`),
//! the interval each rests on, and, where undecided, the seeds per arm that would decide it.

use super::document::{Document, Table};
use super::format::{sig, NA};
use crate::analysis::claims::{evaluate, stored_spec, ClaimOptions, ClaimResult, SeedsToDecide};
use crate::analysis::{Analysis, ExperimentData};
use crate::spec::Claimed;
use crate::stats::aso::THRESHOLD;

fn seeds_text(s: Option<SeedsToDecide>) -> String {
    match s {
        Some(SeedsToDecide::Seeds(n)) => format!("≈{n} per arm"),
        Some(SeedsToDecide::MoreThan(n)) => format!("more than {n} per arm"),
        None => String::new(),
    }
}

fn interval_text(i: Option<&crate::stats::Interval>) -> String {
    i.map_or(NA.into(), |i| {
        format!("[{}, {}]", sig(i.lower), sig(i.upper))
    })
}

/// The claims section (nothing when the spec states no claims).
pub fn claims_section(a: &Analysis, data: &ExperimentData, doc: &mut Document) {
    let spec = match stored_spec(data) {
        Ok(spec) => spec,
        Err(e) => {
            doc.heading(2, "Claims");
            doc.para(format!(
                "The spec stored with the experiment could not be read, so its claims are not judged: {e}"
            ));
            return;
        }
    };
    if spec.claims.is_empty() {
        return;
    }
    let options = ClaimOptions {
        bootstrap: a.bootstrap,
        power: a.power,
        ..ClaimOptions::default()
    };
    let results = evaluate(a, &spec, &options);
    render(&results, &options, doc);
}

/// Renders verdicts (separate from their computation for the tests).
pub fn render(results: &[ClaimResult], options: &ClaimOptions, doc: &mut Document) {
    doc.heading(2, "Claims");
    doc.para(format!(
        "Each claim of the spec, judged from the done runs. A std-reduction claim rests on the seeds-only percentile bootstrap \
         interval ({:.0}%, {} resamples) of σ_v/σ_ref: supported when it lies below 1 and contains the claimed ratio, contradicted \
         when it excludes the claimed ratio, undecided otherwise; over several tasks, on the geometric mean of the per-task ratios \
         with a stratified bootstrap interval (seeds resampled within each task). A target claim rests on the bootstrap interval \
         of the mean against target ± tolerance. Tasks an arm has not learned (most runs at or below the majority class) leave \
         the claim undecided on them and stay out of the pooled ratio. Seeds to decide: by simulation with normal scores at the \
         observed ratio (Brown–Forsythe test, {:.0}% power, α = {}) or at the observed mean and std (normal-theory interval).",
        100.0 * options.bootstrap.level,
        options.bootstrap.resamples,
        100.0 * options.power.target_power,
        options.power.alpha,
    ));
    let verdicts: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "**{}**: {} — {}.",
                r.verdict.as_str(),
                r.statement,
                r.summary
            )
        })
        .collect();
    doc.list(verdicts);
    for r in results {
        let target = matches!(r.claim.claimed(), Claimed::Target { .. });
        let mut t = Table::new(
            &[
                "task",
                "metric",
                if target { "n" } else { "n ref/v" },
                if target { "mean" } else { "σ_v/σ_ref" },
                "95% CI",
                "verdict",
                "why",
                "seeds to decide",
            ],
            &[false, false, true, true, true, false, false, true],
        );
        for row in &r.rows {
            t.push(vec![
                row.setting.label(),
                row.metric.label(),
                if target {
                    row.n.to_string()
                } else {
                    format!("{}/{}", row.n_reference, row.n)
                },
                row.estimate.map_or(NA.into(), sig),
                interval_text(row.interval.as_ref()),
                row.verdict.as_str().to_string(),
                row.reason.clone(),
                seeds_text(row.seeds_to_decide),
            ]);
        }
        if let Some(p) = &r.pooled {
            t.push(vec![
                format!("pooled ({} tasks)", p.tasks.len()),
                "geometric mean".into(),
                String::new(),
                sig(p.ratio),
                interval_text(p.interval.as_ref()),
                p.verdict.as_str().to_string(),
                "stratified bootstrap over the interpretable tasks".into(),
                seeds_text(p.seeds_to_decide),
            ]);
        }
        doc.heading(3, r.statement.clone());
        doc.table(t);
        let not_normal: Vec<String> = r
            .rows
            .iter()
            .filter_map(|row| {
                let why = row.not_normal.as_ref()?;
                let aso = match row.aso {
                    Some(aso) => format!(
                        "; Almost Stochastic Order of {} over {}: ε_min = {:.3} ({})",
                        r.claim.variant,
                        r.against,
                        aso.epsilon_min,
                        if aso.epsilon_min < THRESHOLD {
                            format!("{} scores better, ε_min < {THRESHOLD}", r.claim.variant)
                        } else if aso.epsilon_min > 1.0 - THRESHOLD {
                            format!("{} scores better", r.against)
                        } else {
                            "neither is almost stochastically better".to_string()
                        }
                    ),
                    None => String::new(),
                };
                Some(format!(
                    "{} {}: the scores are not normal ({why}), so the normal-theory seeds count is optimistic{aso}",
                    row.setting.label(),
                    row.metric.label()
                ))
            })
            .collect();
        doc.list(not_normal);
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::claims::tests::{runs, store_with, SPEC};
    use crate::analysis::{analyse, Options};
    use crate::report::write_report;
    use std::path::Path;

    #[test]
    fn the_report_opens_with_the_verdicts() {
        let (data, _db) = store_with(SPEC, &runs());
        let a = analyse(&data, &Options::default());
        let out = tempfile::tempdir().unwrap();
        let files = write_report(&a, &data, out.path(), Path::new("h.db")).unwrap();
        let md = std::fs::read_to_string(&files.markdown).unwrap();
        let claims = md.find("## Claims").expect("a claims section");
        assert!(
            claims < md.find("## Runs").unwrap(),
            "the verdicts come first"
        );
        for line in [
            "- **supported**: `cross_head` reduces the std across seeds of each task's primary metric by 30% against `baseline` on rte (paper) — on rte acc: the interval lies below 1 and contains the claimed ratio 0.70.",
            "- **contradicted**: `cross_head` reduces the std across seeds of each task's primary metric by 30% against `baseline` on mrpc — on mrpc f1: the interval lies above the claimed ratio 0.70: the reduction is smaller than claimed.",
            "- **supported**: `cross_head` reaches a mean `acc` of 0.75 (± 0.0200) on rte — supported on rte acc: the interval lies inside 0.75 ± 0.0200.",
            "| cola | mcc | 5/5 | 0.2746 | [",
            "| undecided | undecided here: not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class) |  |",
            "| pooled (2 tasks) | geometric mean |  | 0.8367 | [",
            "- cola mcc: the scores are not normal (baseline mixes 4 degenerate and 1 learned runs), so the normal-theory seeds count is optimistic; Almost Stochastic Order of cross_head over baseline: ε_min = 0.000 (cross_head scores better, ε_min < 0.2)",
        ] {
            assert!(md.contains(line), "report.md lacks {line:?}:\n{md}");
        }
        // The variance table gives cola no std reduction.
        let variance = &md[md.find("## Variance reduction").unwrap()..];
        assert!(
            variance.contains("| cola | mcc↑ | cross_head | 5/5 | 0.09839 | 0.02702 | not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class) |  |  |  |  |  |  |"),
            "{variance}"
        );
        // Degenerate runs are marked in the per-seed figure.
        let svg = files
            .figures
            .iter()
            .find(|f| f.svg.ends_with("seeds-cola-mcc.svg"))
            .map(|f| std::fs::read_to_string(&f.svg).unwrap())
            .unwrap();
        assert!(svg.contains("degenerate run (at or below the majority class)"));
        let rte = files
            .figures
            .iter()
            .find(|f| f.svg.ends_with("seeds-rte-acc.svg"))
            .map(|f| std::fs::read_to_string(&f.svg).unwrap())
            .unwrap();
        assert!(!rte.contains("degenerate run"));
    }

    #[test]
    fn an_unreadable_spec_is_reported_not_hidden() {
        let (data, _db) = store_with("name: claims\n", &runs()[..4]);
        let a = analyse(&data, &Options::default());
        let out = tempfile::tempdir().unwrap();
        let files = write_report(&a, &data, out.path(), Path::new("h.db")).unwrap();
        let md = std::fs::read_to_string(&files.markdown).unwrap();
        assert!(md.contains("## Claims\n\nThe spec stored with the experiment could not be read, so its claims are not judged: the stored spec of `claims`"), "{md}");
    }
}
