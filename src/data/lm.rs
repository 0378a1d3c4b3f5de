//! PLACEHOLDER language-modelling corpus loader (the real one replaces this file): the API of
//! `harness::data::lm` over `<data_dir>/lm/<name>/{train,valid,test}.txt`, or a single text file
//! `<data_dir>/lm/<name>.txt` split 90/5/5 by position. Character-level corpora are read as bytes, word-level ones as whitespace-separated
//! words with `<eos>` at every line end.

use std::collections::HashMap;
use std::path::Path;

use super::DataError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Char,
    Word,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    pub symbols: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub name: String,
    pub level: Level,
    pub vocab: Vocab,
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
    pub test: Vec<u32>,
}

const NAMES: &[&str] = &[
    "enwik8",
    "text8",
    "wikitext2",
    "wikitext103",
    "ptb",
    "wikisample_bytes",
    "wikisample_text",
];

pub fn corpus_names() -> &'static [&'static str] {
    NAMES
}

pub fn load_corpus(data_dir: &Path, name: &str) -> Result<Corpus, DataError> {
    if !NAMES.contains(&name) {
        return Err(DataError::UnknownTask {
            name: name.to_string(),
            known: NAMES.join(", "),
        });
    }
    let split_dir = data_dir.join("lm").join(name);
    let (bytes, cuts) = if split_dir.is_dir() {
        let mut all = Vec::new();
        let mut cuts = Vec::new();
        for split in ["train", "valid", "test"] {
            let p = split_dir.join(format!("{split}.txt"));
            all.extend(std::fs::read(&p).map_err(|e| DataError::io(&p, e))?);
            cuts.push(all.len());
        }
        (all, Some(cuts))
    } else {
        (read_single(data_dir, name)?, None)
    };
    build(name, bytes, cuts)
}

fn read_single(data_dir: &Path, name: &str) -> Result<Vec<u8>, DataError> {
    let path = data_dir.join("lm").join(format!("{name}.txt"));
    std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            what: format!("corpus {name}"),
            path: path.clone(),
            hint: "write the corpus there".into(),
        },
        _ => DataError::io(&path, e),
    })
}

fn build(name: &str, bytes: Vec<u8>, cuts: Option<Vec<usize>>) -> Result<Corpus, DataError> {
    let word = matches!(name, "wikitext2" | "wikitext103" | "ptb");
    let (level, symbols, ids) = if word {
        let text = String::from_utf8_lossy(&bytes);
        let mut words = Vec::new();
        let mut word_cuts = Vec::new();
        let mut offset = 0;
        let mut cut_iter = cuts.iter().flatten().peekable();
        for line in text.split_inclusive('\n') {
            words.extend(line.split_whitespace().map(str::to_string));
            words.push("<eos>".to_string());
            offset += line.len();
            while cut_iter.peek().is_some_and(|&&c| c <= offset) {
                cut_iter.next();
                word_cuts.push(words.len());
            }
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for w in &words {
            *counts.entry(w).or_default() += 1;
        }
        let mut symbols: Vec<String> = counts.keys().map(|s| s.to_string()).collect();
        symbols.sort_by(|a, b| counts[b.as_str()].cmp(&counts[a.as_str()]).then(a.cmp(b)));
        let index: HashMap<&str, u32> = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i as u32))
            .collect();
        let ids = words.iter().map(|w| index[w.as_str()]).collect::<Vec<_>>();
        (Level::Word, symbols, (ids, word_cuts))
    } else {
        let mut present = [false; 256];
        for &b in &bytes {
            present[b as usize] = true;
        }
        let used: Vec<u8> = (0..=255u8).filter(|&b| present[b as usize]).collect();
        let mut index = [0u32; 256];
        for (i, &b) in used.iter().enumerate() {
            index[b as usize] = i as u32;
        }
        let symbols = used.iter().map(|b| format!("{b}")).collect();
        let ids = bytes.iter().map(|&b| index[b as usize]).collect();
        (
            Level::Char,
            symbols,
            (ids, cuts.clone().unwrap_or_default()),
        )
    };
    let (ids, cuts): (Vec<u32>, Vec<usize>) = ids;
    let n = ids.len();
    let (a, b) = if cuts.len() == 3 {
        (cuts[0], cuts[1])
    } else {
        (n * 90 / 100, n * 95 / 100)
    };
    Ok(Corpus {
        name: name.to_string(),
        level,
        vocab: Vocab { symbols },
        train: ids[..a].to_vec(),
        valid: ids[a..b].to_vec(),
        test: ids[b..].to_vec(),
    })
}
