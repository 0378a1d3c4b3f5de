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
    }
}
