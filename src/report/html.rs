//! Renders a `Document` as one self-contained HTML file: inline CSS, figures embedded as base64
//! PNG, no scripts and no network access.

use super::document::{Block, Document, Table};
use base64::Engine;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("could not read the figure {path} to embed it in the HTML report: {source}")]
pub struct EmbedError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; margin: 2em auto;
       max-width: 1250px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #0072b2; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: .15em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #eef3f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f2f2f2; padding: 0 .2em; border-radius: 3px; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
.scroll { overflow-x: auto; }
";

use crate::output::inline::html as text;

fn table(t: &Table, out: &mut String) {
    out.push_str(&t.html());
}

pub fn render(doc: &Document) -> Result<String, EmbedError> {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        text(&doc.title),
        text(&doc.title)
    );
    for block in &doc.blocks {
        match block {
            Block::Heading(level, s) => {
                let l = (*level).clamp(2, 6);
                out.push_str(&format!("<h{l}>{}</h{l}>\n", text(s)));
            }
            Block::Paragraph(s) => out.push_str(&format!("<p>{}</p>\n", text(s))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", text(item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(t) => table(t, &mut out),
            Block::Figure(f) => {
                let bytes = std::fs::read(&f.png_path).map_err(|source| EmbedError {
                    path: f.png_path.clone(),
                    source,
                })?;
                let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                out.push_str(&format!(
                    "<figure><img alt=\"{}\" src=\"data:image/png;base64,{b64}\"><figcaption>{} (files: <code>{}</code>, <code>{}</code>)</figcaption></figure>\n",
                    text(&f.title),
                    text(&f.title),
                    text(&f.png),
                    text(&f.svg)
                ));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_marks_code() {
        assert_eq!(text("a < b & `x`"), "a &lt; b &amp; <code>x</code>");
        assert_eq!(
            text("**supported**: `a**b`"),
            "<strong>supported</strong>: <code>a**b</code>"
        );
    }
}
