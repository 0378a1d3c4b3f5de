//! One table type for every command: a header, rows of already formatted cells and an
//! alignment per column, rendered as aligned text, Markdown, HTML or CSV.

use super::inline;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers: right-aligned in text, `---:` in Markdown, `class="num"` in HTML.
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Per column: right-aligned (numbers) or left-aligned.
    pub numeric: Vec<bool>,
}

impl Table {
    pub fn new(header: &[&str], numeric: &[bool]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            numeric: numeric.to_vec(),
        }
    }

    /// Every column left-aligned.
    pub fn left(header: &[&str]) -> Table {
        Table::new(header, &vec![false; header.len()])
    }

    /// The first column left-aligned, the others right-aligned.
    pub fn first_left(header: &[&str]) -> Table {
        let numeric: Vec<bool> = (0..header.len()).map(|i| i > 0).collect();
        Table::new(header, &numeric)
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    pub fn align(&self, column: usize) -> Align {
        if self.numeric.get(column).copied().unwrap_or(false) {
            Align::Right
        } else {
            Align::Left
        }
    }

    /// Columns padded to their widest cell (in characters), two spaces apart, trailing blanks
    /// trimmed, one line per row after the header.
    pub fn text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                } else {
                    widths.push(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = " ".repeat(widths[i] - c.chars().count());
                    match self.align(i) {
                        Align::Left => format!("{c}{pad}"),
                        Align::Right => format!("{pad}{c}"),
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown table (cells escaped, numbers right-aligned).
    pub fn markdown(&self) -> String {
        let row = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| inline::markdown_cell(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = row(&self.header);
        out.push('|');
        for i in 0..self.header.len() {
            out.push_str(match self.align(i) {
                Align::Right => "---:|",
                Align::Left => "---|",
            });
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&row(r));
        }
        out
    }

    /// An HTML table in a horizontally scrolling box; cells may hold `code` and **bold** spans.
    pub fn html(&self) -> String {
        let mut out = String::from("<div class=\"scroll\"><table>\n<thead><tr>");
        for h in &self.header {
            out.push_str(&format!("<th>{}</th>", inline::html(h)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for (i, c) in row.iter().enumerate() {
                match self.align(i) {
                    Align::Right => {
                        out.push_str(&format!("<td class=\"num\">{}</td>", inline::html(c)))
                    }
                    Align::Left => out.push_str(&format!("<td>{}</td>", inline::html(c))),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table></div>\n");
        out
    }

    /// Comma-separated values: the header, then one line per row, fields quoted where needed.
    pub fn csv(&self) -> String {
        let line = |cells: &[String]| {
            let fields: Vec<String> = cells.iter().map(|c| inline::csv_field(c)).collect();
            fields.join(",") + "\n"
        };
        let mut out = line(&self.header);
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&["task", "n", "note"], &[false, true, false]);
        t.push(vec!["spam".into(), "10".into(), "".into()]);
        t.push(vec!["kjv_testament".into(), "5".into(), "a|b, c".into()]);
        t
    }

    #[test]
    fn text_pads_numbers_right_and_trims_line_ends() {
        assert_eq!(
            sample().text(),
            "task            n  note\nspam           10\nkjv_testament   5  a|b, c\n"
        );
    }

    #[test]
    fn markdown_marks_numeric_columns_and_escapes_pipes() {
        assert_eq!(
            sample().markdown(),
            "| task | n | note |\n|---|---:|---|\n| spam | 10 |  |\n| kjv_testament | 5 | a\\|b, c |\n"
        );
    }

    #[test]
    fn csv_quotes_fields_with_commas() {
        assert_eq!(
            sample().csv(),
            "task,n,note\nspam,10,\nkjv_testament,5,\"a|b, c\"\n"
        );
    }

    #[test]
    fn html_classes_numbers() {
        let html = sample().html();
        assert!(html.contains("<td class=\"num\">10</td>"), "{html}");
        assert!(html.contains("<th>task</th>"), "{html}");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::left(&["σ", "x"]);
        t.push(vec!["σσσ".into(), "1".into()]);
        assert_eq!(t.text(), "σ    x\nσσσ  1\n");
    }
}
