//! Renders a `Document` as GitHub-flavoured Markdown; figures link to their PNG files.

use super::document::{Block, Document, Table};

fn table(t: &Table, out: &mut String) {
    out.push_str(&t.markdown());
}

pub fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    for block in &doc.blocks {
        out.push('\n');
        match block {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat(*level as usize));
                out.push(' ');
                out.push_str(text);
                out.push('\n');
            }
            Block::Paragraph(text) => {
                out.push_str(text);
                out.push('\n');
            }
            Block::List(items) => {
                for item in items {
                    out.push_str("- ");
                    out.push_str(item);
                    out.push('\n');
                }
            }
            Block::Table(t) => table(t, &mut out),
            Block::Figure(f) => {
                out.push_str(&format!("![{}]({})\n\n[SVG]({})\n", f.title, f.png, f.svg));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_blocks() {
        let mut doc = Document {
            title: "T".into(),
            ..Default::default()
        };
        doc.heading(2, "Runs");
        doc.para("Some `code`.");
        let mut t = Table::new(&["a", "b|c"], &[false, true]);
        t.push(vec!["x".into(), "1.5".into()]);
        doc.table(t);
        doc.list(vec!["one".into()]);
        assert_eq!(
            render(&doc),
            "# T\n\n## Runs\n\nSome `code`.\n\n| a | b\\|c |\n|---|---:|\n| x | 1.5 |\n\n- one\n"
        );
    }
}
