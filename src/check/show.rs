//! How `harness check` prints numbers: expected and actual values, and their differences.

/// A value with up to 10 significant digits (all of them when its shortest form is short).
pub fn show(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let shortest = format!("{x:?}");
    if shortest.len() <= 12 {
        return shortest;
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-4..10).contains(&magnitude) {
        let decimals = (9 - magnitude).max(0) as usize;
        let s = format!("{x:.decimals$}");
        let s = s.trim_end_matches('0');
        s.strip_suffix('.').unwrap_or(s).to_string()
    } else {
        format!("{x:.9e}")
    }
}

/// A signed difference with four significant digits: `+0.0625`, `-0.05412`, `-1.234e-12`.
pub fn show_diff(d: f64) -> String {
    if d == 0.0 {
        return "0".into();
    }
    let s = crate::report::format::sig(d);
    let s = if s.contains('e') || !s.contains('.') {
        s
    } else {
        let t = s.trim_end_matches('0');
        t.strip_suffix('.').unwrap_or(t).to_string()
    };
    if d > 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(show(0.5), "0.5");
        assert_eq!(show(0.6614072471857071), "0.6614072472");
        assert_eq!(show(1234.5678901234), "1234.56789");
        assert_eq!(show(1.0), "1.0");
        assert_eq!(show(0.0), "0");
        assert_eq!(show(f64::NAN), "NaN");
        assert_eq!(show_diff(-0.0625), "-0.0625");
        assert_eq!(show_diff(0.0625), "+0.0625");
        assert_eq!(show_diff(1.2344e-12), "+1.234e-12");
        assert_eq!(show_diff(-3e-5), "-3.000e-5");
        assert_eq!(show_diff(0.0), "0");
        assert_eq!(show_diff(-0.05411814153), "-0.05412");
        assert_eq!(show_diff(0.0001155287027), "+0.0001155");
        assert_eq!(show_diff(12.0), "+12");
    }
}
