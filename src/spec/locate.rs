//! Dotted field paths and where each one is written in a YAML text.
//!
//! serde_yaml reports locations only for structural errors; validation errors (ranges, unknown
//! names) find the line and column of the offending value here, from yaml-rust2's marked events.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a path: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    /// A mapping key (may itself contain dots, like the sweep key `train.lr`).
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the document root, displayed as `train.lr`, `tasks[1]`, `sweep.train.lr[0]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// `self` followed by key `key`.
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        FieldPath(segs)
    }

    /// `self` followed by index `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        FieldPath(segs)
    }

    /// A path of keys.
    pub fn of(keys: &[&str]) -> Self {
        FieldPath(keys.iter().map(|k| Seg::Key(k.to_string())).collect())
    }

    /// The path one step up, if any.
    pub fn parent(&self) -> Option<Self> {
        let (_, head) = self.0.split_last()?;
        Some(FieldPath(head.to_vec()))
    }

    /// Whether `self` equals `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// Parses `a.b[2].c`. Under `sweep`, the key up to the next `[` is one key (sweep keys are
    /// dotted paths themselves): `sweep.train.lr[1]` = `sweep` / `train.lr` / `1`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("malformed path `{text}`");
        let mut segs = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let under_sweep = segs == [Seg::Key("sweep".to_string())];
            let end = if under_sweep {
                rest.find('[').unwrap_or(rest.len())
            } else {
                rest.find(['.', '[']).unwrap_or(rest.len())
            };
            let (key, tail) = rest.split_at(end);
            if key.is_empty() || key.contains(']') {
                return Err(bad());
            }
            segs.push(Seg::Key(key.to_string()));
            rest = tail;
            while let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').ok_or_else(bad)?;
                let index = after[..close].parse::<usize>().map_err(|_| bad())?;
                segs.push(Seg::Index(index));
                rest = &after[close + 1..];
            }
            if let Some(after) = rest.strip_prefix('.') {
                if after.is_empty() {
                    return Err(bad());
                }
                rest = after;
            } else if !rest.is_empty() {
                return Err(bad());
            }
        }
        Ok(FieldPath(segs))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Where a node is written: its key (for mapping values) and the value itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePos {
    /// The key's position, for values of mappings.
    pub key: Option<Pos>,
    /// The value's position (for mappings and sequences, where they start).
    pub value: Pos,
}

/// Positions of every node of a YAML document, by path.
#[derive(Clone, Debug, Default)]
pub struct Locator {
    nodes: HashMap<FieldPath, NodePos>,
}

impl Locator {
    /// Indexes `text`; a text yaml-rust2 cannot parse gives an empty locator (serde_yaml reports
    /// the syntax error itself).
    pub fn new(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Locator::default();
        }
        Locator {
            nodes: builder.nodes,
        }
    }

    /// The node at exactly `path`.
    pub fn node(&self, path: &FieldPath) -> Option<NodePos> {
        self.nodes.get(path).copied()
    }

    /// Where to blame a problem with the value at `path`: the value itself, or, when it is not
    /// written in the text, the nearest enclosing node that is.
    pub fn value_pos(&self, path: &FieldPath) -> Option<Pos> {
        let mut path = path.clone();
        loop {
            if let Some(node) = self.nodes.get(&path) {
                return Some(node.value);
            }
            path = path.parent()?;
        }
    }

    /// Where to blame a key at `path` (unknown field): the key, else as [`Self::value_pos`].
    pub fn key_pos(&self, path: &FieldPath) -> Option<Pos> {
        match self.nodes.get(path) {
            Some(NodePos { key: Some(key), .. }) => Some(*key),
            _ => self.value_pos(path),
        }
    }
}

enum Frame {
    Map {
        path: FieldPath,
        /// The pending key of the next value; `None` while a key is expected.
        key: Option<(String, Pos)>,
    },
    Seq {
        path: FieldPath,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    nodes: HashMap<FieldPath, NodePos>,
    /// Depth of a complex (non-scalar) mapping key being skipped.
    skipping: usize,
}

fn pos(mark: Marker) -> Pos {
    // yaml-rust2 0.10: lines from 1, columns from 0.
    Pos {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Builder {
    /// Called for every node start. Returns the node's path, or `None` when it is a key.
    fn start_node(&mut self, scalar_key: Option<&str>, mark: Marker) -> Option<FieldPath> {
        match self.stack.last_mut() {
            None => Some(FieldPath::root()),
            Some(Frame::Seq { path, next }) => {
                let p = path.index(*next);
                *next += 1;
                self.nodes.insert(
                    p.clone(),
                    NodePos {
                        key: None,
                        value: pos(mark),
                    },
                );
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                None => {
                    // A block mapping's start event is marked after its first key; the key's
                    // position is where the mapping visibly starts.
                    if let Some(node) = self.nodes.get_mut(path) {
                        let (k, v) = (pos(mark), node.value);
                        if (k.line, k.column) < (v.line, v.column) {
                            node.value = k;
                        }
                    }
                    *key = Some((scalar_key.unwrap_or("?").to_string(), pos(mark)));
                    None
                }
                Some((k, key_pos)) => {
                    let p = path.key(&k);
                    self.nodes.insert(
                        p.clone(),
                        NodePos {
                            key: Some(key_pos),
                            value: pos(mark),
                        },
                    );
                    Some(p)
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.skipping > 0 {
            match ev {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.skipping += 1,
                Event::MappingEnd | Event::SequenceEnd => self.skipping -= 1,
                _ => {}
            }
            return;
        }
        match ev {
            Event::Scalar(ref value, ..) => {
                if let Some(p) = self.start_node(Some(value), mark) {
                    if p.0.is_empty() {
                        self.nodes.insert(
                            p,
                            NodePos {
                                key: None,
                                value: pos(mark),
                            },
                        );
                    }
                }
            }
            Event::Alias(_) => {
                self.start_node(Some("*"), mark);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                match self.start_node(None, mark) {
                    None => self.skipping = 1,
                    Some(path) => {
                        if path.0.is_empty() {
                            // The root mapping; other nodes were recorded by `start_node`.
                            self.nodes.insert(
                                path.clone(),
                                NodePos {
                                    key: None,
                                    value: pos(mark),
                                },
                            );
                        }
                        self.stack.push(if is_map {
                            Frame::Map { path, key: None }
                        } else {
                            Frame::Seq { path, next: 0 }
                        });
                    }
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(loc: &Locator, path: &str) -> (usize, usize) {
        let p = loc.value_pos(&FieldPath::parse(path).unwrap()).unwrap();
        (p.line, p.column)
    }

    #[test]
    fn parses_and_displays_paths() {
        for text in [
            "train.lr",
            "tasks[1]",
            "a.b[2][3].c",
            "sweep.train.lr[0]",
            "name",
        ] {
            assert_eq!(FieldPath::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            FieldPath::parse("sweep.train.lr[1]").unwrap(),
            FieldPath(vec![
                Seg::Key("sweep".into()),
                Seg::Key("train.lr".into()),
                Seg::Index(1)
            ])
        );
        for bad in ["a..b", "a.", ".a", "a[x]", "a[1", "a]b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locates_block_and_flow_nodes() {
        let text = "name: x\ntrain:\n  lr: -1\n  epochs: 3\ntasks: [spam, sst-2]\nseeds:\n  - 1\n  - 2\nsweep:\n  train.lr: [1, 2]\n";
        let loc = Locator::new(text);
        assert_eq!(at(&loc, "name"), (1, 7));
        assert_eq!(at(&loc, "train.lr"), (3, 7));
        assert_eq!(at(&loc, "train.epochs"), (4, 11));
        assert_eq!(at(&loc, "tasks[0]"), (5, 9));
        assert_eq!(at(&loc, "tasks[1]"), (5, 15));
        assert_eq!(at(&loc, "seeds[1]"), (8, 5));
        assert_eq!(at(&loc, "sweep.train.lr[1]"), (10, 17));
        // Not written: the nearest enclosing node.
        assert_eq!(at(&loc, "train.max_steps"), (3, 3));
        let key = loc
            .key_pos(&FieldPath::parse("train.epochs").unwrap())
            .unwrap();
        assert_eq!((key.line, key.column), (4, 3));
    }

    #[test]
    fn skips_complex_keys() {
        let loc = Locator::new("? [a, b]\n: 1\nc: {d: 2}\n");
        assert_eq!(at(&loc, "c.d"), (3, 8));
    }
}
