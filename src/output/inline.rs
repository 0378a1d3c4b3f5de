//! Inline markup shared by the Markdown and HTML renderers: text may contain `code` spans
//! (backticks) and **bold** spans; nothing else is interpreted.

/// Escapes the characters that would break a Markdown table cell.
pub fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Escapes HTML, turns `code` spans into <code> and **bold** spans into <strong> elements.
pub fn html(s: &str) -> String {
    let escaped = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            for (j, piece) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    out.push_str("<strong>");
                    out.push_str(piece);
                    out.push_str("</strong>");
                } else {
                    out.push_str(piece);
                }
            }
        }
    }
    out
}

/// One CSV field, quoted where it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A number in a CSV field: every digit needed to read it back (Rust's shortest round-trip
/// form), empty when it is not finite.
pub fn csv_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_and_marks_spans() {
        assert_eq!(
            html("a <b> & `x<y>` **bold**"),
            "a &lt;b&gt; &amp; <code>x&lt;y&gt;</code> <strong>bold</strong>"
        );
    }

    #[test]
    fn csv_quotes_only_where_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_number(0.6174999999999999), "0.6174999999999999");
        assert_eq!(csv_number(f64::NAN), "");
    }

    #[test]
    fn markdown_cells_keep_the_table_intact() {
        assert_eq!(markdown_cell("a|b\nc"), "a\\|b c");
    }
}
