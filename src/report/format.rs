//! Number formatting shared by reports and comparisons. Undefined values print as `n/a`.

pub const NA: &str = "n/a";

/// A metric value: 4 decimals (1 for magnitudes of 1000 and more, e.g. large perplexities).
pub fn value(x: f64) -> String {
    if !x.is_finite() {
        return NA.into();
    }
    if x.abs() >= 1000.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
    }
}

/// Four significant digits (standard deviations, ratios).
pub fn sig(x: f64) -> String {
    if x.is_nan() {
        return NA.into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A fraction as a signed percentage with one decimal: `+28.4%`.
pub fn percent(x: f64) -> String {
    if !x.is_finite() {
        return NA.into();
    }
    format!("{:+.1}%", 100.0 * x)
}

/// A p-value: three decimals, scientific below 0.001.
pub fn p_value(p: f64) -> String {
    if !p.is_finite() {
        return NA.into();
    }
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// A measurement or fact with its unit, chosen by its name: memory in MiB, milliseconds,
/// seconds, counts as integers, rates with one decimal, fractions and ratios with 4 digits.
pub fn quantity(name: &str, x: f64) -> String {
    if !x.is_finite() {
        return NA.into();
    }
    if name.contains("_over_") {
        sig(x)
    } else if name.ends_with("_bytes") {
        format!("{:.1} MiB", x / (1024.0 * 1024.0))
    } else if name.starts_with("ms_per_step") {
        format!("{x:.2} ms")
    } else if name.ends_with("duration_s") {
        format!("{x:.1} s")
    } else if name.starts_with("params_") || name == "tokens" {
        format!("{x:.0}")
    } else if name.ends_with("_per_s") || name.contains("_per_s_") {
        format!("{x:.1}")
    } else {
        sig(x)
    }
}

/// `mean ± std` of a measurement (the std left out for a single run and for values that are
/// the same in every run).
pub fn quantity_spread(name: &str, mean: f64, std: f64) -> String {
    if std.is_finite() && std != 0.0 {
        format!("{} ± {}", quantity(name, mean), quantity(name, std))
    } else {
        quantity(name, mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(value(0.61234567), "0.6123");
        assert_eq!(value(22913.4), "22913.4");
        assert_eq!(value(f64::NAN), "n/a");
        assert_eq!(sig(0.07694153624668537), "0.07694");
        assert_eq!(sig(1.5), "1.500");
        assert_eq!(sig(123.456), "123.5");
        assert_eq!(sig(f64::INFINITY), "inf");
        assert_eq!(sig(2.5e-7), "2.500e-7");
        assert_eq!(percent(0.7192352785180642), "+71.9%");
        assert_eq!(percent(-0.05), "-5.0%");
        assert_eq!(p_value(0.1305988180502319), "0.131");
        assert_eq!(p_value(0.00043252858199034345), "4.3e-4");
        assert_eq!(
            quantity("peak_memory_bytes", 3.0 * 1024.0 * 1024.0),
            "3.0 MiB"
        );
        assert_eq!(quantity("ms_per_step_phase1", 81.234), "81.23 ms");
        assert_eq!(
            quantity("ms_per_step_phase1_over_phase2", 0.81234),
            "0.8123"
        );
        assert_eq!(quantity("params_total", 123456.0), "123456");
        assert_eq!(quantity("tokens_per_s_phase2", 5432.97), "5433.0");
        assert_eq!(quantity("skip_fraction_expected", 0.1389), "0.1389");
        assert_eq!(quantity("duration_s", 35.94), "35.9 s");
        assert_eq!(
            quantity_spread("ms_per_step_phase2", 94.2, 2.0),
            "94.20 ms ± 2.00 ms"
        );
        assert_eq!(quantity_spread("tokens", 1000.0, f64::NAN), "1000");
        assert_eq!(quantity_spread("params_total", 5000.0, 0.0), "5000");
    }
}
