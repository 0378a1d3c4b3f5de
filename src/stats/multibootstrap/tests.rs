use super::*;
use crate::stats::distributions::normal_cdf;

fn accuracy(predicted: &[u32], gold: &[u32]) -> f64 {
    let hits = predicted.iter().zip(gold).filter(|(p, g)| p == g).count();
    hits as f64 / gold.len() as f64
}

/// F1 of class 1; 0 without true positives.
fn f1(predicted: &[u32], gold: &[u32]) -> f64 {
    let (mut tp, mut fp, mut fnn) = (0.0, 0.0, 0.0);
    for (&p, &g) in predicted.iter().zip(gold) {
        match (p == 1, g == 1) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fnn += 1.0,
            _ => {}
        }
    }
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fnn)
    }
}

/// Predictions against an all-1 gold of `n` examples: the first round(acc · n) right.
fn with_accuracy(acc: f64, n: usize) -> Vec<u32> {
    let right = (acc * n as f64).round() as usize;
    (0..n).map(|i| u32::from(i < right)).collect()
}

fn settings(resamples: usize, seed: u64) -> Bootstrap {
    Bootstrap {
        resamples,
        level: 0.95,
        seed,
    }
}

fn within(value: f64, lo: f64, hi: f64) {
    assert!(value >= lo && value <= hi, "{value} not in [{lo}, {hi}]");
}

fn slices(v: &[Vec<u32>]) -> Vec<&[u32]> {
    v.iter().map(Vec::as_slice).collect()
}

/// The seeds-only intervals against the complete seed-bootstrap distribution, enumerated over
/// all 5⁵ · 5⁵ resample pairs of the seeds' accuracies in numpy:
/// ```text
/// b = np.array([0.55,0.65,0.7,0.8,0.9]); v = np.array([0.7,0.75,0.75,0.8,0.85])
/// cb = np.array(list(itertools.product(b, repeat=5))); cv = ... v ...
/// d = (cv.mean(1)[:, None] - cb.mean(1)[None, :]).ravel()
/// r = (cv.std(1, ddof=1)[:, None] / cb.std(1, ddof=1)[None, :]).ravel(), NaN (0/0) dropped
/// np.quantile(d, q, method='inverted_cdf') for q = 0.0175, 0.025, 0.0325, 0.9675, 0.975, 0.9825
///   -> -0.07, -0.07, -0.06, 0.16, 0.16, 0.17
/// np.quantile(r, q, ...) -> 0.14359163172354775, 0.15369465587356815, 0.1629376339780707,
///   1.040832999733066, 1.1180339887498945, 1.2247448713915892
/// ```
/// Accepted: the exact quantiles 0.0075 either side in probability (about 5 Monte Carlo
/// standard errors at 10,000 replicates).
#[test]
fn seeds_only_intervals_match_the_exact_seed_bootstrap() {
    let n = 20;
    let gold = vec![1u32; n];
    let base: Vec<Vec<u32>> = [0.55, 0.65, 0.7, 0.8, 0.9]
        .iter()
        .map(|&a| with_accuracy(a, n))
        .collect();
    let var: Vec<Vec<u32>> = [0.7, 0.75, 0.75, 0.8, 0.85]
        .iter()
        .map(|&a| with_accuracy(a, n))
        .collect();
    let m = multibootstrap(
        &gold,
        &slices(&base),
        &slices(&var),
        accuracy,
        &settings(10_000, 3),
    )
    .unwrap();
    let eps = 1e-9;
    let d = m.seeds_only.mean_difference.unwrap();
    within(d.lower, -0.07 - eps, -0.06 + eps);
    within(d.upper, 0.16 - eps, 0.17 + eps);
    let r = m.seeds_only.std_ratio.unwrap();
    within(r.lower, 0.14359163172354775 - eps, 0.1629376339780707 + eps);
    within(r.upper, 1.040832999733066 - eps, 1.2247448713915892 + eps);
    // Point estimates: mean 0.77 − 0.72; σ ratio np.std(v, ddof=1) / np.std(b, ddof=1)
    // = 0.05700877125495689 / 0.13509256086106294 = 0.42199627...
    assert!((m.mean_difference - 0.05).abs() < 1e-12);
    assert!((m.std_ratio - 0.05700877125495689 / 0.13509256086106294).abs() < 1e-12);
    // Resampling the examples as well can only add spread here.
    let j = m.seeds_and_examples.mean_difference.unwrap();
    assert!(j.upper - j.lower > d.upper - d.lower, "{j:?} vs {d:?}");
}

/// For accuracy, the ideal bootstrap variance of a seed's score under example resampling is
/// p(1 − p)/n (the variance of a mean of n draws of a 0/1 variable with mean p).
/// Seeds at p = 0.5, 0.7, 0.9 on n = 200: (0.25 + 0.21 + 0.09) / 3 / 200 = 0.000916666...
/// The estimate from 20,000 replicates is within a few percent (relative standard error of a
/// variance estimate ≈ √(2/B) = 1%).
#[test]
fn evaluation_set_variance_of_accuracy_is_p_one_minus_p_over_n() {
    let n = 200;
    let gold = vec![1u32; n];
    let seeds: Vec<Vec<u32>> = [0.5, 0.7, 0.9]
        .iter()
        .map(|&a| with_accuracy(a, n))
        .collect();
    let m = multibootstrap(
        &gold,
        &slices(&seeds),
        &slices(&seeds),
        accuracy,
        &settings(20_000, 11),
    )
    .unwrap();
    let expected = (0.25 + 0.21 + 0.09) / 3.0 / 200.0;
    for split in [m.baseline_split, m.variant_split] {
        assert_eq!((split.seeds, split.examples), (3, 200));
        within(split.evaluation_set, 0.96 * expected, 1.04 * expected);
        // np.var([0.5, 0.7, 0.9], ddof=1) = 0.04
        assert!((split.across_seeds - 0.04).abs() < 1e-12);
        let share = split.evaluation_share().unwrap();
        within(share, 0.96 * expected / 0.04, 1.04 * expected / 0.04);
        assert!((split.seed_part() - (0.04 - split.evaluation_set)).abs() < 1e-15);
    }
}

/// Metrics other than accuracy are recomputed on every resampled example set. F1 of two seeds
/// on 40 examples, against numpy (400,000 bootstrap resamples per seed):
/// ```text
/// g = np.array([1,1,1,1,0,0,0,0,0,0]*4)
/// p1 = np.array([1,1,1,0,1,1,0,0,0,0]*4); p2 = np.array([1,0,1,1,0,0,1,0,0,0]*4)
/// idx = rng.integers(0, 40, size=(B, 40)); f = F1(p[idx], g[idx]) row by row; f.var(ddof=1)
///   -> p1: F1 0.6666666666666666, variance 0.008682024233507451
///      p2: F1 0.75, variance 0.00793416866939891; mean 0.008308096451453181
/// np.var([2/3, 0.75], ddof=1) -> 0.0034722222222222255
/// ```
#[test]
fn f1_is_recomputed_on_each_resample() {
    let g: Vec<u32> = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0].repeat(4);
    let p1: Vec<u32> = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0].repeat(4);
    let p2: Vec<u32> = [1, 0, 1, 1, 0, 0, 1, 0, 0, 0].repeat(4);
    let arm = [p1.as_slice(), p2.as_slice()];
    let m = multibootstrap(&g, &arm, &arm, f1, &settings(20_000, 5)).unwrap();
    assert_eq!(m.baseline_scores, vec![2.0 / 3.0, 0.75]);
    let s = m.baseline_split;
    assert!((s.across_seeds - 0.0034722222222222255).abs() < 1e-12);
    within(
        s.evaluation_set,
        0.95 * 0.008308096451453181,
        1.05 * 0.008308096451453181,
    );
    // The evaluation set alone would make these two seeds vary more than they do.
    assert!(s.evaluation_share().unwrap() > 2.0);
    assert_eq!(s.seed_part(), 0.0);
}

/// Paired examples: two arms with the same predictions, identical across seeds, differ by
/// exactly 0 in every replicate, whatever examples are drawn (unpaired example draws would
/// not); their σ ratio is 0/0 in every replicate and has no interval.
#[test]
fn the_same_example_draw_serves_both_arms() {
    let gold: Vec<u32> = (0..50).map(|i| i % 2).collect();
    let p: Vec<u32> = (0..50).map(|i| u32::from(i % 3 == 0)).collect();
    let arm = [p.as_slice(), p.as_slice(), p.as_slice()];
    let m = multibootstrap(&gold, &arm, &arm, accuracy, &settings(500, 1)).unwrap();
    let d = m.seeds_and_examples.mean_difference.unwrap();
    assert_eq!((d.lower, d.upper, d.resamples), (0.0, 0.0, 500));
    assert_eq!(m.seeds_and_examples.std_ratio, None);
    // The evaluation-set variance is still there: the scores move with the examples.
    assert!(m.baseline_split.evaluation_set > 0.0);
    assert_eq!(m.baseline_split.across_seeds, 0.0);
    assert_eq!(m.baseline_split.evaluation_share(), None);
}

#[test]
fn seeded_reproducible_and_errors_named() {
    let gold = vec![1u32; 30];
    let a: Vec<Vec<u32>> = [0.5, 0.6, 0.8]
        .iter()
        .map(|&x| with_accuracy(x, 30))
        .collect();
    let b: Vec<Vec<u32>> = [0.7, 0.6, 0.9]
        .iter()
        .map(|&x| with_accuracy(x, 30))
        .collect();
    let run = |seed| {
        multibootstrap(
            &gold,
            &slices(&a),
            &slices(&b),
            accuracy,
            &settings(300, seed),
        )
    };
    assert_eq!(run(4).unwrap(), run(4).unwrap());
    assert_ne!(run(4).unwrap(), run(5).unwrap());
    assert_eq!(
        sigma_ratio_interval(&gold, &slices(&a), &slices(&b), accuracy, &settings(300, 4)).unwrap(),
        run(4).unwrap().seeds_and_examples.std_ratio
    );
    assert_eq!(
        mean_difference_interval(&gold, &slices(&a), &slices(&b), accuracy, &settings(300, 4))
            .unwrap(),
        run(4).unwrap().seeds_and_examples.mean_difference
    );
    let one = [a[0].as_slice()];
    let e = multibootstrap(&gold, &one, &slices(&b), accuracy, &settings(10, 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the baseline has 1 seed(s) with predictions; the multi-bootstrap needs at least 2 per arm"
    );
    let short = [&a[0][..29], &a[1][..]];
    let e = multibootstrap(&gold, &slices(&a), &short, accuracy, &settings(10, 1)).unwrap_err();
    assert!(matches!(
        e,
        MultiBootstrapError::Length {
            arm: "variant",
            got: 29,
            expected: 30
        }
    ));
    let none: [&[u32]; 2] = [&[], &[]];
    assert_eq!(
        multibootstrap(&[], &none, &none, accuracy, &settings(10, 1)).unwrap_err(),
        MultiBootstrapError::NoExamples
    );
}

/// A standard-normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Coverage on synthetic experiments with known variance components. Every experiment draws a
/// new evaluation set of n = 100 examples (difficulty d_i ~ N(0, 1), and an example-by-arm
/// effect c_i ~ N(0, κ²) that only the variant sees) and k = 10 new seeds per arm (a_s ~
/// N(0, τ²)); seed s gets example i right when a_s + μ + d_i (+ c_i) + e_si > 0, e_si ~ N(0, 1).
/// The expected accuracies over seeds and examples are Φ(μ_b / √(τ² + 2)) and
/// Φ(μ_v / √(τ² + 2 + κ²)); with μ_b = 0.5, μ_v = 0.8, τ = 0.2, κ = 1.5 (scipy.stats.norm.cdf):
/// 0.6368569255605976 and 0.6503418815978182, difference 0.013484956037220663.
/// Over 400 experiments the seeds-and-examples 95% interval of the difference covers it about
/// 95% of the time (Monte Carlo standard error 1.1%; resampling both seeds and examples counts
/// the seed-by-example noise twice, which errs on the wide side), while the seeds-only interval, blind to the evaluation set, covers it far
/// less often.
#[test]
fn joint_intervals_cover_the_difference_over_seeds_and_examples() {
    assert!((normal_cdf(0.5 / 2.04f64.sqrt()) - 0.6368569255605976).abs() < 1e-7);
    let truth = 0.013484956037220663;
    let (n, k, experiments) = (100, 10, 400);
    let (mu_b, mu_v, tau, kappa) = (0.5, 0.8, 0.2, 1.5);
    let mut rng = ChaCha8Rng::seed_from_u64(2021);
    let (mut joint_hits, mut seeds_hits) = (0, 0);
    let mut share = 0.0;
    for e in 0..experiments {
        let d: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let c: Vec<f64> = (0..n).map(|_| kappa * normal(&mut rng)).collect();
        let mut arm = |mu: f64, with_c: bool| -> Vec<Vec<u32>> {
            (0..k)
                .map(|_| {
                    let a = tau * normal(&mut rng);
                    (0..n)
                        .map(|i| {
                            let extra = if with_c { c[i] } else { 0.0 };
                            u32::from(a + mu + d[i] + extra + normal(&mut rng) > 0.0)
                        })
                        .collect()
                })
                .collect()
        };
        let base = arm(mu_b, false);
        let var = arm(mu_v, true);
        let gold = vec![1u32; n];
        let m = multibootstrap(
            &gold,
            &slices(&base),
            &slices(&var),
            accuracy,
            &settings(400, e),
        )
        .unwrap();
        let covers = |i: Option<Interval>| i.is_some_and(|i| i.lower <= truth && truth <= i.upper);
        joint_hits += usize::from(covers(m.seeds_and_examples.mean_difference));
        seeds_hits += usize::from(covers(m.seeds_only.mean_difference));
        share += m.baseline_split.evaluation_share().unwrap_or(0.0) / experiments as f64;
    }
    let joint = joint_hits as f64 / experiments as f64;
    let seeds = seeds_hits as f64 / experiments as f64;
    eprintln!("coverage over {experiments} experiments: joint {joint}, seeds only {seeds}; evaluation-set share {share:.3}");
    within(joint, 0.92, 0.99);
    assert!(seeds < 0.8, "seeds-only coverage {seeds}, joint {joint}");
    // Here the evaluation set produces most of the baseline's across-seed variance.
    assert!(share > 0.5, "{share}");
}
