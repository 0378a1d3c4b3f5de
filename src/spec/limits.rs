//! Bounds on what a spec may ask for, checked before anything is parsed or allocated: the file's
//! size, the nesting depth of its YAML, control bytes, the number of runs its grid expands into,
//! the thread count and the seed range. Each bound says how to get past it where that makes
//! sense.

use super::locate::Pos;

/// The largest spec file read (1 MiB): real specs are a few kilobytes.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;
/// The deepest nesting of YAML collections accepted (the parser's time grows with depth).
pub const MAX_DEPTH: usize = 64;
/// The largest grid `harness run` expands by default; `--max-grid N` raises it.
pub const DEFAULT_MAX_GRID: u64 = 100_000;
/// The most CPU threads a spec may ask for.
pub const MAX_THREADS: usize = 1024;
/// The largest seed: the store keeps seeds as signed 64-bit integers.
pub const MAX_SEED: u64 = i64::MAX as u64;

/// The first NUL or other control byte (tab, newline and carriage return are text), with its
/// position, so that a binary file is reported where it stops being text.
pub fn control_byte(text: &str) -> Option<(Pos, char)> {
    let (mut line, mut column) = (1, 1);
    for c in text.chars() {
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            return Some((Pos { line, column }, c));
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    None
}

/// The position where flow collections (`[`, `{`) or block indentation first nest deeper than
/// `max`, ignoring quoted strings and comments.
pub fn too_deep(text: &str, max: usize) -> Option<Pos> {
    // Block collections nest by indentation: two columns per level is YAML's usual step.
    let levels: Vec<usize> = text
        .lines()
        .map(|raw| (raw.len() - raw.trim_start_matches([' ', '-']).len()) / 2)
        .collect();
    if let Some(i) = levels.iter().position(|&level| level > max) {
        return Some(Pos {
            line: i + 1,
            column: 1,
        });
    }
    let mut depth = 0usize;
    let mut found = None;
    walk_plain(text, |line, column, _, c| {
        match c {
            '[' | '{' => {
                depth += 1;
                if depth + levels[line - 1] > max {
                    found = Some(Pos { line, column });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        found.is_some()
    });
    found
}

/// Positions of the characters of `text` outside quoted strings and comments, line by line:
/// calls `visit(line, column, previous, c)`; a `true` return stops the walk.
fn walk_plain(text: &str, mut visit: impl FnMut(usize, usize, char, char) -> bool) {
    for (i, raw) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (j, c) in raw.chars().enumerate() {
            match (quote, c) {
                (Some(q), _) if c == q && prev != '\\' => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if prev == ' ' || j == 0 => break,
                (None, _) => {
                    if visit(i + 1, j + 1, prev, c) {
                        return;
                    }
                }
            }
            prev = c;
        }
    }
}

/// The first YAML tag (`!!str 1.0e-4`, `!custom`): specs use none, and a tag can make a quoted
/// number pass as a number.
pub fn yaml_tag(text: &str) -> Option<Pos> {
    let mut found = None;
    walk_plain(text, |line, column, prev, c| {
        let at = c == '!' && (column == 1 || matches!(prev, ' ' | '[' | '{' | ',' | ':' | '-'));
        if at {
            found = Some(Pos { line, column });
        }
        at
    });
    found
}

/// Where the block key `key` appears a second time at the indentation of its first
/// appearance (a duplicate key in a block mapping).
pub fn second_key(text: &str, key: &str) -> Option<Pos> {
    let mut indent_of_first = None;
    for (i, raw) in text.lines().enumerate() {
        let body = raw.trim_start();
        let indent = raw.len() - body.len();
        let is_key = body
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with(':'));
        if !is_key {
            continue;
        }
        match indent_of_first {
            None => indent_of_first = Some(indent),
            Some(first) if first == indent => {
                return Some(Pos {
                    line: i + 1,
                    column: indent + 1,
                })
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_second_keys_are_located() {
        let pos = yaml_tag("name: x\ntrain: {lr: !!str 1.0e-4}\n").unwrap();
        assert_eq!((pos.line, pos.column), (2, 13));
        assert_eq!(
            yaml_tag("description: \"wow!\" # really!\nname: x!\n"),
            None
        );
        let pos = second_key(
            "name: a\nseeds: [1]\ntrain:\n  seeds: 3\nseeds: [2]\n",
            "seeds",
        )
        .unwrap();
        assert_eq!((pos.line, pos.column), (5, 1));
    }

    #[test]
    fn control_bytes_are_found_where_they_are() {
        assert_eq!(control_byte("name: x\nseeds: [1]\n\ttasks: [a]\r\n"), None);
        let (pos, c) = control_byte("name: x\nse\u{0}eds: 1").unwrap();
        assert_eq!((pos.line, pos.column, c), (2, 3, '\u{0}'));
    }

    #[test]
    fn nesting_is_bounded_and_strings_do_not_count() {
        let deep = format!("name: x\nseeds: {}1{}\n", "[".repeat(70), "]".repeat(70));
        let pos = too_deep(&deep, MAX_DEPTH).unwrap();
        assert_eq!((pos.line, pos.column), (2, 8 + MAX_DEPTH));
        let fine = format!("name: x\nseeds: {}1{}\n", "[".repeat(10), "]".repeat(10));
        assert_eq!(too_deep(&fine, MAX_DEPTH), None);
        let quoted = format!(
            "description: \"{}\" # {}\n",
            "[".repeat(100),
            "{".repeat(100)
        );
        assert_eq!(too_deep(&quoted, MAX_DEPTH), None);
        let indented: String = (0..70)
            .map(|i| format!("{}a{i}:\n", "  ".repeat(i)))
            .collect();
        assert!(too_deep(&indented, MAX_DEPTH).is_some());
    }
}
