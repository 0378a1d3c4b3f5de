//! Three stand-in fine-tuning tasks built from public-domain text, written in GLUE TSV layouts
//! under `<data_dir>/standin/<name>/{train,dev,test}.tsv` and read by the same loader as GLUE.
//! They are not GLUE tasks and their scores are never GLUE scores.
//!
//! **`spam`** — single-text classification, ham = 0, spam = 1, SST-2 layout
//! (`sentence<TAB>label` header). Source: the SpamAssassin public corpus (folders
//! `easy-ham-1`, `easy-ham-2`, `hard-ham-1` = ham, `spam-1`, `spam-2` = spam; 4,150 ham and
//! 1,896 spam raw emails). Text of an email: its decoded `Subject`, a space, then the start of
//! its body: headers other than Subject dropped, the first `text/plain` part of a multipart
//! message (else the first `text/html` part), quoted-printable and base64 decoded, bytes read
//! as UTF-8 or else Latin-1, HTML tags, comments, scripts and styles removed, common entities
//! decoded, control characters and all whitespace runs (tabs, newlines) collapsed to one
//! space, capped at 1,000 characters. Emails whose text is empty are dropped, and duplicates
//! (same text) are kept once (first in folder/file-name order). Splits: train 2,000, dev 500,
//! test 500, drawn without overlap and stratified: each split has the spam share of the
//! de-duplicated pool (rounded), about 31% spam.
//!
//! **`kjv_next`** — sentence-pair classification, "is B the verse right after A?", RTE/WNLI
//! layout (`index<TAB>sentence1<TAB>sentence2<TAB>label`) with labels `not_next` = 0 and
//! `next` = 1. Source: the King James Bible, one verse per line (`kjv.jsonl`, 31,102 verses,
//! 66 books). The successor of a verse is the next verse of the same book in
//! (chapter, verse) order, crossing chapter ends; a book's last verse has none. Books are
//! split, not verses, so that no text is shared across splits: the books are shuffled, then
//! taken in that order into dev until it has at least as many verses with a successor as its
//! size, then into test likewise, and all remaining books form train. In each split, that
//! many anchor verses A are drawn without replacement; the first half are paired with their
//! successor (`next`), the other half with a verse drawn uniformly from the split's books
//! that is neither A nor its successor (`not_next`). Splits: train 4,000, dev 500, test 500,
//! exactly 50/50.
//!
//! **`kjv_testament`** — single-text classification, "is this verse from the Old or the New
//! Testament?", SST-2 layout with labels `old` = 0 and `new` = 1. Source: the same
//! `kjv.jsonl`; the 27 books of [`NEW_TESTAMENT`] are New Testament, the other 39 Old.
//! Verses whose text occurs more than once in the whole Bible are dropped (so no text is in
//! two splits or in both classes). Chapters are split, not verses: per testament (Old first),
//! the chapters are shuffled, then taken in that order into dev until it has at least half
//! its size of that testament's verses (for odd sizes class 0 gets the extra example), then
//! into test likewise; all remaining chapters form train. In each split, that many verses of
//! each testament are drawn without replacement. Splits: train 2,000, dev 500, test 500,
//! exactly 50/50. `kjv_next` asks for the relation of two verses and is not learned by
//! MiniLM-L6 in the quickstart's 40 steps (chance on every seed); this task is.
//!
//! All tasks have labelled test files (unlike GLUE). Randomness: ChaCha8 seeded with
//! [`STANDIN_SEED`] (the paper's arXiv number), stream 1 for `spam`, stream 2 for
//! `kjv_next` and stream 3 for `kjv_testament`; each split's rows are shuffled. Rebuilding with the same sources and sizes
//! gives byte-identical files. Each task directory holds a `BUILD` marker whose first line
//! records the construction version, seed and sizes; a build whose marker matches is skipped,
//! any other is replaced atomically (written to a temporary directory, then renamed).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod email;

pub use email::email_text;

use super::glue::{self, KJV_NEXT_LABELS, KJV_TESTAMENT_LABELS};
use super::{DataError, Label};

/// Seed of the stand-in constructions (arXiv 2311.08123).
pub const STANDIN_SEED: u64 = 231_108_123;
/// Construction version recorded in each `BUILD` marker; bump it when the construction changes.
pub const CONSTRUCTION_VERSION: u32 = 1;
/// Characters kept of each email text.
pub const SPAM_MAX_CHARS: usize = 1000;

const HAM_DIRS: &[&str] = &["easy-ham-1", "easy-ham-2", "hard-ham-1"];
const SPAM_DIRS: &[&str] = &["spam-1", "spam-2"];
const MARKER: &str = "BUILD";

/// Number of examples per split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSizes {
    pub train: usize,
    pub dev: usize,
    pub test: usize,
}

/// Sizes of the stand-in tasks; [`Default`] gives the documented sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildConfig {
    pub spam: SplitSizes,
    pub kjv_next: SplitSizes,
    pub kjv_testament: SplitSizes,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            spam: SplitSizes {
                train: 2000,
                dev: 500,
                test: 500,
            },
            kjv_next: SplitSizes {
                train: 4000,
                dev: 500,
                test: 500,
            },
            kjv_testament: SplitSizes {
                train: 2000,
                dev: 500,
                test: 500,
            },
        }
    }
}

/// Size and class counts of one written split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitSummary {
    pub name: String,
    pub examples: usize,
    /// Examples per class id (see [`glue::label_names`]).
    pub class_counts: Vec<usize>,
}

/// What [`build_all`] did for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSummary {
    pub name: String,
    /// `false` when the existing files were up to date and left as they were.
    pub built: bool,
    pub dir: PathBuf,
    pub splits: Vec<SplitSummary>,
    /// Construction notes from the `BUILD` marker (source counts, books per split).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSummary {
    pub tasks: Vec<TaskSummary>,
}

impl fmt::Display for BuildSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tasks {
            let state = if t.built { "built" } else { "up to date" };
            writeln!(f, "{} ({state}): {}", t.name, t.dir.display())?;
            let labels = glue::label_names(&t.name).unwrap_or(&[]);
            for s in &t.splits {
                let classes: Vec<String> = s
                    .class_counts
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{} {n}", labels.get(i).unwrap_or(&"?")))
                    .collect();
                writeln!(
                    f,
                    "  {:<5} {:>5}  ({})",
                    s.name,
                    s.examples,
                    classes.join(", ")
                )?;
            }
            for n in &t.notes {
                writeln!(f, "  {n}")?;
            }
        }
        Ok(())
    }
}

/// Build the three stand-in tasks with the documented sizes: `spam` from the SpamAssassin
/// folders under `spam_dir`, `kjv_next` and `kjv_testament` from `kjv_jsonl`, into `out_dir/<name>/` (`out_dir` is
/// `<data_dir>/standin`). Up-to-date tasks are skipped.
pub fn build_all(
    spam_dir: &Path,
    kjv_jsonl: &Path,
    out_dir: &Path,
) -> Result<BuildSummary, DataError> {
    build_all_with(spam_dir, kjv_jsonl, out_dir, &BuildConfig::default())
}

/// [`build_all`] with explicit sizes.
pub fn build_all_with(
    spam_dir: &Path,
    kjv_jsonl: &Path,
    out_dir: &Path,
    config: &BuildConfig,
) -> Result<BuildSummary, DataError> {
    fs::create_dir_all(out_dir).map_err(|e| DataError::io(out_dir, e))?;
    let spam = build_task(out_dir, "spam", &config.spam, |rng| {
        build_spam(spam_dir, &config.spam, rng)
    })?;
    let kjv = build_task(out_dir, "kjv_next", &config.kjv_next, |rng| {
        build_kjv_next(kjv_jsonl, &config.kjv_next, rng)
    })?;
    let testament = build_task(out_dir, "kjv_testament", &config.kjv_testament, |rng| {
        build_kjv_testament(kjv_jsonl, &config.kjv_testament, rng)
    })?;
    Ok(BuildSummary {
        tasks: vec![spam, kjv, testament],
    })
}

/// The files of one task: (file name, contents), plus construction notes.
struct Built {
    files: Vec<(&'static str, String)>,
    notes: Vec<String>,
}

fn marker_head(name: &str, sizes: &SplitSizes) -> String {
    format!(
        "construction {name} v{CONSTRUCTION_VERSION} seed {STANDIN_SEED} sizes train {} dev {} test {}",
        sizes.train, sizes.dev, sizes.test
    )
}

fn stream(name: &str) -> u64 {
    match name {
        "spam" => 1,
        "kjv_next" => 2,
        _ => 3,
    }
}

fn build_task(
    out_dir: &Path,
    name: &str,
    sizes: &SplitSizes,
    make: impl FnOnce(&mut ChaCha8Rng) -> Result<Built, DataError>,
) -> Result<TaskSummary, DataError> {
    let dir = out_dir.join(name);
    let head = marker_head(name, sizes);
    let marker_path = dir.join(MARKER);
    if let Ok(marker) = fs::read_to_string(&marker_path) {
        if marker.lines().next() == Some(head.as_str()) {
            let notes = marker.lines().skip(1).map(str::to_string).collect();
            return summarize(&dir, name, false, notes);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(STANDIN_SEED);
    rng.set_stream(stream(name));
    let built = make(&mut rng)?;

    let tmp = out_dir.join(format!(".{name}.tmp"));
    let old = out_dir.join(format!(".{name}.old"));
    for leftover in [&tmp, &old] {
        if leftover.exists() {
            fs::remove_dir_all(leftover).map_err(|e| DataError::io(leftover, e))?;
        }
    }
    fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    for (file, contents) in &built.files {
        write_file(&tmp.join(file), contents)?;
    }
    let mut marker = head;
    marker.push('\n');
    for n in &built.notes {
        marker.push_str(n);
        marker.push('\n');
    }
    write_file(&tmp.join(MARKER), &marker)?;
    if dir.exists() {
        fs::rename(&dir, &old).map_err(|e| DataError::io(&dir, e))?;
    }
    fs::rename(&tmp, &dir).map_err(|e| DataError::io(&dir, e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| DataError::io(&old, e))?;
    }
    summarize(&dir, name, true, built.notes)
}

fn write_file(path: &Path, contents: &str) -> Result<(), DataError> {
    let mut f = fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| DataError::io(path, e))
}

/// Summary read back through the task loader, so it describes what `load_task` will see.
fn summarize(
    dir: &Path,
    name: &str,
    built: bool,
    notes: Vec<String>,
) -> Result<TaskSummary, DataError> {
    let data = glue::load_task_dir(dir, name)?;
    let n = glue::label_names(name).map_or(0, |l| l.len());
    let splits = std::iter::once(&data.train)
        .chain(&data.dev)
        .chain(&data.test)
        .map(|s| {
            let mut class_counts = vec![0; n];
            for ex in &s.examples {
                if let Some(Label::Class(c)) = ex.label {
                    class_counts[c] += 1;
                }
            }
            SplitSummary {
                name: s.name.clone(),
                examples: s.examples.len(),
                class_counts,
            }
        })
        .collect();
    Ok(TaskSummary {
        name: name.to_string(),
        built,
        dir: dir.to_path_buf(),
        splits,
        notes,
    })
}

fn source_error(task: &str, message: String) -> DataError {
    DataError::Standin {
        task: task.to_string(),
        message,
    }
}

// ---- spam ----------------------------------------------------------------------------------

fn build_spam(
    spam_dir: &Path,
    sizes: &SplitSizes,
    rng: &mut ChaCha8Rng,
) -> Result<Built, DataError> {
    let mut read = 0;
    let mut seen = HashSet::new();
    let (mut ham, mut spam) = (Vec::new(), Vec::new());
    let (mut empty, mut dups) = (0, 0);
    for (dirs, is_spam) in [(HAM_DIRS, false), (SPAM_DIRS, true)] {
        for d in dirs {
            let dir = spam_dir.join(d);
            let mut files: Vec<PathBuf> = fs::read_dir(&dir)
                .map_err(|e| {
                    source_error(
                        "spam",
                        format!(
                            "cannot read {}: {e}. Run scripts/setup.sh to fetch the SpamAssassin \
                             corpus",
                            super::absolute(&dir).display()
                        ),
                    )
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "txt"))
                .collect();
            files.sort();
            for path in files {
                let raw = fs::read(&path).map_err(|e| DataError::io(&path, e))?;
                read += 1;
                let text = email_text(&raw);
                if text.is_empty() {
                    empty += 1;
                } else if !seen.insert(text.clone()) {
                    dups += 1;
                } else if is_spam {
                    spam.push(text);
                } else {
                    ham.push(text);
                }
            }
        }
    }
    let (n_ham, n_spam) = (ham.len(), spam.len());
    let share = n_spam as f64 / (n_ham + n_spam).max(1) as f64;
    ham.shuffle(rng);
    spam.shuffle(rng);
    let (mut ham, mut spam) = (ham.into_iter(), spam.into_iter());
    let mut files = Vec::new();
    for (file, n) in [
        ("train.tsv", sizes.train),
        ("dev.tsv", sizes.dev),
        ("test.tsv", sizes.test),
    ] {
        let k = (n as f64 * share).round() as usize;
        let mut rows: Vec<(String, u8)> = Vec::with_capacity(n);
        rows.extend(spam.by_ref().take(k).map(|t| (t, 1)));
        rows.extend(ham.by_ref().take(n - k).map(|t| (t, 0)));
        if rows.len() < n {
            return Err(source_error(
                "spam",
                format!(
                    "{} has {n_ham} usable ham and {n_spam} spam emails, too few for splits of \
                     {} / {} / {}",
                    spam_dir.display(),
                    sizes.train,
                    sizes.dev,
                    sizes.test
                ),
            ));
        }
        rows.shuffle(rng);
        let mut tsv = String::from("sentence\tlabel\n");
        for (text, label) in rows {
            tsv.push_str(&format!("{text}\t{label}\n"));
        }
        files.push((file, tsv));
    }
    let notes = vec![format!(
        "source: {read} emails read; {empty} with empty text and {dups} duplicates dropped; \
             pool {n_ham} ham, {n_spam} spam ({:.1}% spam)",
        100.0 * share
    )];
    Ok(Built { files, notes })
}

/// Control characters to spaces, whitespace runs (tabs, newlines included) to one space.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- kjv_next ------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct Verse {
    book: String,
    chapter: u32,
    verse: u32,
    text: String,
}

/// (chapter, verse, cleaned text)
type BookVerse = (u32, u32, String);

/// The books of `kjv.jsonl` in order of first appearance, each verse list in (chapter, verse)
/// order, texts cleaned; verses whose text is empty after cleaning are left out.
fn read_kjv_books(
    kjv_jsonl: &Path,
    task: &str,
) -> Result<Vec<(String, Vec<BookVerse>)>, DataError> {
    let raw = fs::read_to_string(kjv_jsonl).map_err(|e| {
        source_error(
            task,
            format!(
                "cannot read {}: {e}. Run scripts/setup.sh to fetch kjv.jsonl",
                super::absolute(kjv_jsonl).display()
            ),
        )
    })?;
    let mut books: Vec<(String, Vec<BookVerse>)> = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Verse = serde_json::from_str(line).map_err(|e| DataError::Malformed {
            path: kjv_jsonl.to_path_buf(),
            line: i + 1,
            message: format!("expected a JSON object with book, chapter, verse, text: {e}"),
        })?;
        let text = clean(&v.text);
        if text.is_empty() {
            continue;
        }
        match books.iter_mut().find(|(b, _)| *b == v.book) {
            Some((_, verses)) => verses.push((v.chapter, v.verse, text)),
            None => books.push((v.book, vec![(v.chapter, v.verse, text)])),
        }
    }
    for (_, verses) in &mut books {
        verses.sort_by_key(|(c, v, _)| (*c, *v));
    }
    Ok(books)
}

fn build_kjv_next(
    kjv_jsonl: &Path,
    sizes: &SplitSizes,
    rng: &mut ChaCha8Rng,
) -> Result<Built, DataError> {
    let books = read_kjv_books(kjv_jsonl, "kjv_next")?;
    let n_verses: usize = books.iter().map(|(_, v)| v.len()).sum();

    let mut order: Vec<usize> = (0..books.len()).collect();
    order.shuffle(rng);
    let anchors_in = |b: usize| books[b].1.len().saturating_sub(1);
    let mut assigned: [Vec<usize>; 3] = Default::default(); // dev, test, train
    let mut next = order.into_iter();
    for (slot, need) in [(0, sizes.dev), (1, sizes.test)] {
        let mut have = 0;
        while have < need {
            let Some(b) = next.next() else { break };
            have += anchors_in(b);
            assigned[slot].push(b);
        }
    }
    assigned[2].extend(next);

    let mut files = Vec::new();
    let mut notes = vec![format!(
        "source: {n_verses} verses in {} books",
        books.len()
    )];
    for (slot, file, n) in [
        (2, "train.tsv", sizes.train),
        (0, "dev.tsv", sizes.dev),
        (1, "test.tsv", sizes.test),
    ] {
        let mut split_books = assigned[slot].clone();
        split_books.sort();
        // (book, position) of every verse in the split, and the anchors (verses with a successor).
        let pool: Vec<(usize, usize)> = split_books
            .iter()
            .flat_map(|&b| (0..books[b].1.len()).map(move |p| (b, p)))
            .collect();
        let mut anchors: Vec<(usize, usize)> = pool
            .iter()
            .copied()
            .filter(|&(b, p)| p + 1 < books[b].1.len())
            .collect();
        if anchors.len() < n || pool.len() < 3 {
            return Err(source_error(
                "kjv_next",
                format!(
                    "{} has too few verses for {file} ({n} pairs need {n} verses with a \
                     successor; its books have {})",
                    kjv_jsonl.display(),
                    anchors.len()
                ),
            ));
        }
        anchors.shuffle(rng);
        let text = |(b, p): (usize, usize)| books[b].1[p].2.as_str();
        let mut rows: Vec<(&str, &str, usize)> = Vec::with_capacity(n);
        for (i, &(b, p)) in anchors[..n].iter().enumerate() {
            if i < n / 2 {
                rows.push((text((b, p)), text((b, p + 1)), 1));
            } else {
                let other = loop {
                    let r = pool[rng.random_range(0..pool.len())];
                    if r != (b, p) && r != (b, p + 1) {
                        break r;
                    }
                };
                rows.push((text((b, p)), text(other), 0));
            }
        }
        rows.shuffle(rng);
        let mut tsv = String::from("index\tsentence1\tsentence2\tlabel\n");
        for (i, (a, b, label)) in rows.iter().enumerate() {
            tsv.push_str(&format!("{i}\t{a}\t{b}\t{}\n", KJV_NEXT_LABELS[*label]));
        }
        files.push((file, tsv));
        let names: Vec<&str> = split_books.iter().map(|&b| books[b].0.as_str()).collect();
        notes.push(format!(
            "{} books ({}): {}",
            file.trim_end_matches(".tsv"),
            names.len(),
            names.join(", ")
        ));
    }
    Ok(Built { files, notes })
}

// ---- kjv_testament -------------------------------------------------------------------------

/// The 27 New Testament books as `kjv.jsonl` names them; every other book is Old Testament.
pub const NEW_TESTAMENT: &[&str] = &[
    "Matthew",
    "Mark",
    "Luke",
    "John",
    "Acts",
    "Romans",
    "1 Corinthians",
    "2 Corinthians",
    "Galatians",
    "Ephesians",
    "Philippians",
    "Colossians",
    "1 Thessalonians",
    "2 Thessalonians",
    "1 Timothy",
    "2 Timothy",
    "Titus",
    "Philemon",
    "Hebrews",
    "James",
    "1 Peter",
    "2 Peter",
    "1 John",
    "2 John",
    "3 John",
    "Jude",
    "Revelation",
];

/// Examples of class `class` in a split of `n`: class 1 gets `n / 2`, class 0 the rest.
fn per_class(n: usize, class: usize) -> usize {
    if class == 1 {
        n / 2
    } else {
        n - n / 2
    }
}

fn build_kjv_testament(
    kjv_jsonl: &Path,
    sizes: &SplitSizes,
    rng: &mut ChaCha8Rng,
) -> Result<Built, DataError> {
    const TESTAMENT: [&str; 2] = ["Old Testament", "New Testament"];
    let books = read_kjv_books(kjv_jsonl, "kjv_testament")?;
    let n_verses: usize = books.iter().map(|(_, v)| v.len()).sum();
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    for (_, verses) in &books {
        for (_, _, text) in verses {
            *occurrences.entry(text.as_str()).or_default() += 1;
        }
    }
    // Chapters of each testament in source order, each with its verses whose text occurs once.
    let mut chapters: [Vec<Vec<&str>>; 2] = Default::default();
    let mut n_books = [0; 2];
    let mut dropped = 0;
    for (name, verses) in &books {
        let class = usize::from(NEW_TESTAMENT.contains(&name.as_str()));
        n_books[class] += 1;
        let mut current = None;
        for (chapter, _, text) in verses {
            if current != Some(*chapter) {
                current = Some(*chapter);
                chapters[class].push(Vec::new());
            }
            if occurrences[text.as_str()] == 1 {
                chapters[class]
                    .last_mut()
                    .expect("pushed above")
                    .push(text.as_str());
            } else {
                dropped += 1;
            }
        }
    }
    // Chapters, not verses, are split: per testament, shuffled, into dev until it has enough
    // verses of that testament, then into test likewise, the rest into train.
    let mut pools: [[Vec<&str>; 2]; 3] = Default::default(); // dev, test, train × class
    let mut n_chapters = [[0usize; 2]; 3];
    for (class, list) in chapters.iter().enumerate() {
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.shuffle(rng);
        let mut next = order.into_iter();
        for (slot, n) in [(0, sizes.dev), (1, sizes.test)] {
            while pools[slot][class].len() < per_class(n, class) {
                let Some(c) = next.next() else { break };
                pools[slot][class].extend(&list[c]);
                n_chapters[slot][class] += 1;
            }
        }
        for c in next {
            pools[2][class].extend(&list[c]);
            n_chapters[2][class] += 1;
        }
    }

    let mut files = Vec::new();
    let mut notes = vec![format!(
        "source: {n_verses} verses in {} books ({} Old Testament, {} New Testament); {dropped} \
         verses whose text occurs more than once dropped",
        books.len(),
        n_books[0],
        n_books[1]
    )];
    for (slot, file, n) in [
        (2, "train.tsv", sizes.train),
        (0, "dev.tsv", sizes.dev),
        (1, "test.tsv", sizes.test),
    ] {
        let mut rows: Vec<(&str, usize)> = Vec::with_capacity(n);
        for (class, testament) in TESTAMENT.iter().enumerate() {
            let need = per_class(n, class);
            let pool = &mut pools[slot][class];
            if pool.len() < need {
                return Err(source_error(
                    "kjv_testament",
                    format!(
                        "{} has too few {testament} verses for {file} ({need} needed, its \
                         chapters have {} with a text found nowhere else)",
                        kjv_jsonl.display(),
                        pool.len()
                    ),
                ));
            }
            pool.shuffle(rng);
            rows.extend(pool[..need].iter().map(|t| (*t, class)));
        }
        rows.shuffle(rng);
        let mut tsv = String::from("sentence\tlabel\n");
        for (text, label) in &rows {
            tsv.push_str(&format!("{text}\t{}\n", KJV_TESTAMENT_LABELS[*label]));
        }
        files.push((file, tsv));
        notes.push(format!(
            "{} chapters: {} Old Testament, {} New Testament",
            file.trim_end_matches(".tsv"),
            n_chapters[slot][0],
            n_chapters[slot][1]
        ));
    }
    Ok(Built { files, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{load_task, Example};

    /// A tiny corpus: `n_ham` ham and `n_spam` spam emails in the real folder layout, plus
    /// one duplicate and one empty email, and a KJV-style file of 4 books (2 Old Testament,
    /// 2 New) × `per_book` verses, 10 verses a chapter.
    fn sources(root: &Path, n_ham: usize, n_spam: usize, per_book: usize) -> (PathBuf, PathBuf) {
        let spam_dir = root.join("spam-assassin");
        for d in HAM_DIRS.iter().chain(SPAM_DIRS) {
            fs::create_dir_all(spam_dir.join(d)).unwrap();
        }
        for i in 0..n_ham {
            let d = HAM_DIRS[i % HAM_DIRS.len()];
            let body = format!("Subject: notes {i}\nFrom: x\n\nminutes of meeting {i}\tok\n");
            fs::write(spam_dir.join(d).join(format!("{i:05}.txt")), body).unwrap();
        }
        for i in 0..n_spam {
            let d = SPAM_DIRS[i % SPAM_DIRS.len()];
            let body = format!("Subject: WIN {i}\nContent-Type: text/html\n\n<b>cash</b> {i}\n");
            fs::write(spam_dir.join(d).join(format!("{i:05}.txt")), body).unwrap();
        }
        fs::write(
            spam_dir.join("spam-2/99998.txt"),
            "Subject: WIN 0\nContent-Type: text/html\n\n<b>cash</b> 0\n",
        )
        .unwrap();
        fs::write(spam_dir.join("spam-2/99999.txt"), "X: y\n\n  \n").unwrap();
        fs::write(spam_dir.join("spam-2/notes.json"), "{}").unwrap();

        let kjv = root.join("kjv.jsonl");
        let mut lines = String::new();
        for book in ["Genesis", "Exodus", "Matthew", "Mark"] {
            for v in 0..per_book {
                let (ch, vs) = (1 + v / 10, 1 + v % 10);
                lines.push_str(&format!(
                    "{{\"citation\": \"{book} {ch}:{vs}\", \"text\": \"{book} says\\tthing {v}.\", \"book\": \"{book}\", \"chapter\": {ch}, \"verse\": {vs}}}\n"
                ));
            }
        }
        fs::write(&kjv, lines).unwrap();
        (spam_dir, kjv)
    }

    const SMALL: BuildConfig = BuildConfig {
        spam: SplitSizes {
            train: 20,
            dev: 10,
            test: 10,
        },
        kjv_next: SplitSizes {
            train: 12,
            dev: 8,
            test: 8,
        },
        kjv_testament: SplitSizes {
            train: 8,
            dev: 4,
            test: 4,
        },
    };

    fn count(ex: &[Example], class: usize) -> usize {
        ex.iter()
            .filter(|e| e.label == Some(Label::Class(class)))
            .count()
    }

    #[test]
    fn build_then_load_with_the_glue_loader() {
        let tmp = tempfile::tempdir().unwrap();
        let (spam_dir, kjv) = sources(tmp.path(), 35, 15, 20);
        let out = tmp.path().join("data/standin");
        let summary = build_all_with(&spam_dir, &kjv, &out, &SMALL).unwrap();
        assert!(summary.tasks.iter().all(|t| t.built));

        let spam = load_task(&tmp.path().join("data"), "spam").unwrap();
        assert_eq!(spam.train.examples.len(), 20);
        assert_eq!(spam.dev[0].examples.len(), 10);
        assert_eq!(spam.test[0].examples.len(), 10);
        // Pool: 35 ham, 15 spam (the duplicate and the empty email dropped) → 30% spam.
        assert_eq!(count(&spam.train.examples, 1), 6);
        assert_eq!(count(&spam.dev[0].examples, 1), 3);
        assert_eq!(count(&spam.test[0].examples, 1), 3);
        assert!(spam.train.examples.iter().all(|e| e.text_b.is_none()));
        let ham_ex = spam
            .train
            .examples
            .iter()
            .find(|e| e.label == Some(Label::Class(0)))
            .unwrap();
        assert!(
            ham_ex.text_a.starts_with("notes ") && ham_ex.text_a.ends_with(" ok"),
            "{ham_ex:?}"
        );
        // No text appears in two splits.
        let mut seen = HashSet::new();
        for s in std::iter::once(&spam.train)
            .chain(&spam.dev)
            .chain(&spam.test)
        {
            for e in &s.examples {
                assert!(seen.insert(e.text_a.clone()), "{} repeated", e.text_a);
            }
        }
        let notes = &summary.tasks[0].notes[0];
        assert!(
            notes.contains("52 emails read; 1 with empty text and 1 duplicates"),
            "{notes}"
        );

        let kjv_task = load_task(&tmp.path().join("data"), "kjv_next").unwrap();
        for (s, n) in [
            (&kjv_task.train, 12),
            (&kjv_task.dev[0], 8),
            (&kjv_task.test[0], 8),
        ] {
            assert_eq!(s.examples.len(), n);
            assert_eq!(count(&s.examples, 1), n / 2);
            for e in &s.examples {
                let a: usize = e
                    .text_a
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .trim_end_matches('.')
                    .parse()
                    .unwrap();
                let b_text = e.text_b.as_deref().unwrap();
                let b: usize = b_text
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .trim_end_matches('.')
                    .parse()
                    .unwrap();
                let same_book = e.text_a.split(' ').next() == b_text.split(' ').next();
                let is_next = same_book && b == a + 1;
                assert_eq!(e.label == Some(Label::Class(1)), is_next, "{e:?}");
                assert!(!e.text_a.contains('\t'));
            }
        }
        // Each split gets its own books: dev and test take one book each (19 anchors ≥ 8).
        let kjv_sum = &summary.tasks[1];
        assert_eq!(
            kjv_sum
                .splits
                .iter()
                .map(|s| s.examples)
                .collect::<Vec<_>>(),
            vec![12, 8, 8]
        );
        assert_eq!(kjv_sum.splits[0].class_counts, vec![6, 6]);
        let books = |p: &str| {
            kjv_sum
                .notes
                .iter()
                .find(|n| n.starts_with(p))
                .unwrap()
                .split(": ")
                .nth(1)
                .unwrap()
                .to_string()
        };
        let (tr, dv, te) = (
            books("train books"),
            books("dev books"),
            books("test books"),
        );
        assert!(tr != dv && dv != te && tr != te, "{tr} / {dv} / {te}");

        let testament = load_task(&tmp.path().join("data"), "kjv_testament").unwrap();
        // (book, chapter) → the split that holds it; a chapter is never in two splits.
        let mut chapter_split: std::collections::HashMap<(String, usize), &str> =
            Default::default();
        let mut texts = HashSet::new();
        for (s, n, name) in [
            (&testament.train, 8, "train"),
            (&testament.dev[0], 4, "dev"),
            (&testament.test[0], 4, "test"),
        ] {
            assert_eq!(s.examples.len(), n);
            assert_eq!(count(&s.examples, 1), n / 2);
            for e in &s.examples {
                assert!(e.text_b.is_none());
                assert!(texts.insert(e.text_a.clone()), "{} repeated", e.text_a);
                let book = e.text_a.split(' ').next().unwrap().to_string();
                let new = book == "Matthew" || book == "Mark";
                assert_eq!(e.label == Some(Label::Class(1)), new, "{e:?}");
                let v: usize = e
                    .text_a
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .trim_end_matches('.')
                    .parse()
                    .unwrap();
                let held = chapter_split.entry((book, v / 10)).or_insert(name);
                assert_eq!(*held, name, "{e:?}");
            }
        }
        // 4 chapters per testament: one each for dev and test (10 verses ≥ 2), two for train.
        assert_eq!(
            summary.tasks[2].notes[1..],
            [
                "train chapters: 2 Old Testament, 2 New Testament",
                "dev chapters: 1 Old Testament, 1 New Testament",
                "test chapters: 1 Old Testament, 1 New Testament",
            ]
        );
    }

    #[test]
    fn kjv_testament_drops_repeated_texts_and_names_a_short_testament() {
        let tmp = tempfile::tempdir().unwrap();
        let verse = |book: &str, ch: u32, v: u32, text: &str| {
            format!(
                "{{\"book\": \"{book}\", \"chapter\": {ch}, \"verse\": {v}, \"text\": \"{text}\"}}\n"
            )
        };
        let mut lines = String::new();
        for ch in 1..=6 {
            for v in 1..=4 {
                lines.push_str(&verse(
                    "Genesis",
                    ch,
                    v,
                    &format!("In the beginning {ch} {v}"),
                ));
                if ch <= 3 {
                    lines.push_str(&verse(
                        "John",
                        ch,
                        v,
                        &format!("In the beginning was {ch} {v}"),
                    ));
                }
            }
        }
        // The same text in both testaments: dropped from both.
        lines.push_str(&verse("Psalms", 1, 1, "Amen."));
        lines.push_str(&verse("Jude", 1, 1, "Amen."));
        let kjv = tmp.path().join("kjv.jsonl");
        fs::write(&kjv, &lines).unwrap();
        let sizes = SplitSizes {
            train: 4,
            dev: 3,
            test: 2,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(STANDIN_SEED);
        let built = build_kjv_testament(&kjv, &sizes, &mut rng).unwrap();
        assert!(
            built.notes[0].contains("38 verses in 4 books (2 Old Testament, 2 New Testament); 2 verses whose text occurs more than once dropped"),
            "{}",
            built.notes[0]
        );
        let all: String = built.files.iter().map(|(_, c)| c.as_str()).collect();
        assert!(!all.contains("Amen."), "{all}");
        // Odd sizes: class 0 gets the extra example.
        let dev = &built.files[1].1;
        assert_eq!(dev.matches("\told\n").count(), 2, "{dev}");
        assert_eq!(dev.matches("\tnew\n").count(), 1, "{dev}");

        // 3 New Testament chapters of 4 verses: dev and test take one each, train needs 5.
        let sizes = SplitSizes {
            train: 10,
            dev: 4,
            test: 4,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(STANDIN_SEED);
        let e = match build_kjv_testament(&kjv, &sizes, &mut rng) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("built from too few verses"),
        };
        assert!(
            e.contains("too few New Testament verses for train.tsv"),
            "{e}"
        );
    }

    #[test]
    fn rebuild_is_byte_identical_and_skipped_when_up_to_date() {
        let tmp = tempfile::tempdir().unwrap();
        let (spam_dir, kjv) = sources(tmp.path(), 35, 15, 20);
        let read_all = |out: &Path| -> Vec<Vec<u8>> {
            ["spam", "kjv_next", "kjv_testament"]
                .iter()
                .flat_map(|t| {
                    ["train.tsv", "dev.tsv", "test.tsv", "BUILD"].map(|f| out.join(t).join(f))
                })
                .map(|p| fs::read(p).unwrap())
                .collect()
        };
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        build_all_with(&spam_dir, &kjv, &a, &SMALL).unwrap();
        build_all_with(&spam_dir, &kjv, &b, &SMALL).unwrap();
        assert_eq!(read_all(&a), read_all(&b));

        // Up to date: skipped, files untouched.
        let again = build_all_with(&spam_dir, &kjv, &a, &SMALL).unwrap();
        assert!(again.tasks.iter().all(|t| !t.built));
        assert_eq!(again.tasks[1].splits[0].examples, 12);
        assert_eq!(read_all(&a), read_all(&b));

        // Other sizes: rebuilt in place, no temporary directories left.
        let mut other = SMALL;
        other.kjv_next.train = 10;
        let s = build_all_with(&spam_dir, &kjv, &a, &other).unwrap();
        assert!(!s.tasks[0].built && s.tasks[1].built && !s.tasks[2].built);
        assert_eq!(load_task_dir_len(&a.join("kjv_next")), 10);
        let names: Vec<String> = fs::read_dir(&a)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    fn load_task_dir_len(dir: &Path) -> usize {
        glue::load_task_dir(dir, "kjv_next")
            .unwrap()
            .train
            .examples
            .len()
    }

    #[test]
    fn too_small_sources_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let (spam_dir, kjv) = sources(tmp.path(), 10, 5, 20);
        let e = build_all_with(&spam_dir, &kjv, &tmp.path().join("o"), &SMALL).unwrap_err();
        assert!(
            e.to_string()
                .contains("10 usable ham and 5 spam emails, too few"),
            "{e}"
        );
        let e = build_all_with(
            &tmp.path().join("nowhere"),
            &kjv,
            &tmp.path().join("o"),
            &SMALL,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("nowhere/easy-ham-1") && e.contains("scripts/setup.sh"),
            "{e}"
        );
    }

    /// The real sources (`data/sources` after scripts/setup.sh, or `$HARNESS_SOURCES`):
    /// `cargo test --release --lib standin -- --ignored --nocapture`.
    #[test]
    #[ignore = "needs the real sources fetched by scripts/setup.sh"]
    fn real_sources_build_documented_sizes() {
        let src = std::env::var_os("HARNESS_SOURCES")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sources"));
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("standin");
        let s = build_all(&src.join("spam-assassin"), &src.join("kjv.jsonl"), &out).unwrap();
        println!("{s}");
        let sizes: Vec<Vec<usize>> = s
            .tasks
            .iter()
            .map(|t| t.splits.iter().map(|x| x.examples).collect())
            .collect();
        assert_eq!(
            sizes,
            vec![
                vec![2000, 500, 500],
                vec![4000, 500, 500],
                vec![2000, 500, 500]
            ]
        );
        for sp in s.tasks[1].splits.iter().chain(&s.tasks[2].splits) {
            assert_eq!(sp.class_counts[0], sp.class_counts[1]);
        }
    }
}
