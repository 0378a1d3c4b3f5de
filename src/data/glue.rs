//! The TSV loader shared by the GLUE tasks and the stand-in tasks, whose files and layouts are
//! in the task registry (`crate::task`, `crate::task::tsv`).
//!
//! Each GLUE task is read in the layout the GLUE benchmark distributes (Wang et al., 2019,
//! `download_glue_data.py` archives), with the column choices of BERT's reference processors
//! (Devlin et al., 2019, `run_classifier.py`):
//!
//! | task | dir | train/dev columns (text a, text b, label) | header | labels |
//! |---|---|---|---|---|
//! | cola | CoLA | 4: source, label, original-label marker, sentence (3, –, 1) | none | `0`, `1` |
//! | sst2 | SST-2 | `sentence label` (0, –, 1) | yes | `0`, `1` |
//! | mrpc | MRPC | `Quality #1 ID #2 ID #1 String #2 String` (3, 4, 0) | yes | `0`, `1` |
//! | stsb | STS-B | 10: `index genre filename year old_index source1 source2 sentence1 sentence2 score` (7, 8, 9) | yes | score 0–5 |
//! | qqp | QQP | `id qid1 qid2 question1 question2 is_duplicate` (3, 4, 5) | yes | `0`, `1` |
//! | mnli | MNLI | train 12, dev 16 columns: sentence1/sentence2 at 8/9, `gold_label` last | yes | `contradiction`, `entailment`, `neutral` |
//! | qnli | QNLI | `index question sentence label` (1, 2, 3) | yes | `entailment`, `not_entailment` |
//! | rte | RTE | `index sentence1 sentence2 label` (1, 2, 3) | yes | `entailment`, `not_entailment` |
//! | wnli | WNLI | `index sentence1 sentence2 label` (1, 2, 3) | yes | `0`, `1` |
//!
//! Test files have a header starting with `index` (QQP: `id`), the same text columns and no
//! label. Quotes are ordinary characters (the files contain raw, unbalanced `"`); a field ends
//! only at a tab, a row only at `\n` (a trailing `\r` and a leading byte-order mark are
//! dropped, empty lines are ignored). A header is checked for its column count and for the
//! names of the columns read. A row with the wrong column count or an unknown label is an
//! error naming file and line, except in QQP, whose distributed files contain a few broken
//! rows; those are skipped and counted in [`TaskData::skipped_rows`], as BERT's QQP processor
//! skips them. Label ids follow the order listed above (the order used by BERT's processors
//! and the GLUE leaderboard submissions), so class 1 is the positive class of MRPC and QQP.
//!
//! The train and dev files are required; test files are loaded when present.

use std::path::{Path, PathBuf};

use super::{absolute, DataError, Example, Label, Split, TaskData, TaskKind};

use crate::task::tsv::{FileSpec, Labels, Layout, TsvFiles};
use crate::task::{Family, Files, Task};

pub use crate::task::tsv::{KJV_NEXT_LABELS, KJV_TESTAMENT_LABELS};

/// A task read from TSV files: its registry entry and files.
struct TsvTask {
    task: Task,
    files: &'static TsvFiles,
}

/// Whether `name` is one of the nine GLUE tasks (stand-ins are not).
pub fn is_glue(name: &str) -> bool {
    Task::from_name(name).is_some_and(Task::is_glue)
}

/// The official GLUE directory name of a task (`rte` → `RTE`); `None` for non-GLUE names.
pub fn glue_dir(name: &str) -> Option<&'static str> {
    Task::from_name(name)
        .filter(|t| t.is_glue())
        .map(|t| t.facts().dir)
}

/// The label strings of a classification task in class-id order; `None` for STS-B and
/// unknown names.
pub fn label_names(name: &str) -> Option<&'static [&'static str]> {
    Task::from_name(name)?.label_names()
}

/// The kind of a known task.
pub fn task_kind(name: &str) -> Result<TaskKind, DataError> {
    Ok(kind_of(&tsv_task(name)?))
}

/// The directory a task is read from: `<data_dir>/glue/<DIR>` or `<data_dir>/standin/<name>`.
pub fn task_dir(data_dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    Ok(tsv_task(name)?.task.dir(data_dir))
}

/// The file names a task needs (train and dev files) in its directory.
pub fn required_files(name: &str) -> Result<Vec<&'static str>, DataError> {
    Ok(tsv_task(name)?.files.required().map(|f| f.file).collect())
}

/// The TSV task called `name`, or an error listing the known ones.
fn tsv_task(name: &str) -> Result<TsvTask, DataError> {
    let found = Task::from_name(name).and_then(|task| match &task.facts().files {
        Files::Tsv(files) => Some(TsvTask { task, files }),
        Files::Corpus { .. } => None,
    });
    found.ok_or_else(|| DataError::UnknownTask {
        name: name.to_string(),
        known: Task::names(Task::ALL.into_iter().filter(|t| !t.is_language_modelling())),
    })
}

fn kind_of(s: &TsvTask) -> TaskKind {
    s.task.kind().expect("a TSV task has labels")
}

/// Load every split of task `name` from `data_dir` (see the module doc for the layouts).
pub fn load_task(data_dir: &Path, name: &str) -> Result<TaskData, DataError> {
    let s = tsv_task(name)?;
    load_from(&s, &s.task.dir(data_dir))
}

/// Load task `name` from an explicit directory holding its files (e.g. a GLUE task folder
/// kept elsewhere), with the same layouts as [`load_task`].
pub fn load_task_dir(dir: &Path, name: &str) -> Result<TaskData, DataError> {
    load_from(&tsv_task(name)?, dir)
}

fn load_from(s: &TsvTask, dir: &Path) -> Result<TaskData, DataError> {
    let mut skipped = 0;
    let mut load = |fs: &FileSpec, required: bool| -> Result<Option<Split>, DataError> {
        let path = dir.join(fs.file);
        if !path.is_file() {
            return if required {
                Err(missing(s, dir, &path))
            } else {
                Ok(None)
            };
        }
        let text = read_utf8(&path)?;
        let (examples, n) = parse_tsv(
            &path,
            &text,
            fs.layout,
            &s.files.labels,
            s.files.skip_malformed,
        )?;
        skipped += n;
        // A split with too few examples would give scores of nothing (accuracy 0 of 0):
        // one example, and two for evaluating a regression task (a correlation needs two).
        let least = match s.files.labels {
            Labels::Score if fs.split != "train" => 2,
            _ => 1,
        };
        if required && examples.len() < least {
            return Err(DataError::Malformed {
                path: path.clone(),
                line: 1,
                message: format!(
                    "the {} split of task {} has {} labelled example{} (at least {least} needed); \
                     is the file only its header?",
                    fs.split,
                    s.task,
                    examples.len(),
                    if examples.len() == 1 { "" } else { "s" }
                ),
            });
        }
        Ok(Some(Split {
            name: fs.split.to_string(),
            examples,
        }))
    };
    let train = load(&s.files.train, true)?.expect("required split");
    let mut dev = Vec::new();
    for fs in s.files.dev {
        dev.push(load(fs, true)?.expect("required split"));
    }
    let mut test = Vec::new();
    for fs in s.files.test {
        if let Some(split) = load(fs, false)? {
            test.push(split);
        }
    }
    Ok(TaskData {
        name: s.task.to_string(),
        kind: kind_of(s),
        train,
        dev,
        test,
        skipped_rows: skipped,
    })
}

fn missing(s: &TsvTask, dir: &Path, path: &Path) -> DataError {
    let dir = absolute(dir);
    let name = s.task.as_str();
    match s.task.facts().family {
        Family::Glue => DataError::Missing {
            what: format!("GLUE task {name}"),
            path: absolute(path),
            hint: format!(
                "Download GLUE with `harness data glue --tasks {}` (needs internet) or copy the \
                 official files into {}/",
                name,
                dir.display()
            ),
        },
        Family::Standin | Family::Corpus => DataError::Missing {
            what: format!("stand-in task {name}"),
            path: absolute(path),
            hint: format!(
                "Build the stand-in tasks with scripts/setup.sh (it fetches their sources and \
                 runs `harness data standin`), which writes {}/",
                dir.display()
            ),
        },
    }
}

fn read_utf8(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DataError::Malformed {
            path: path.to_path_buf(),
            line,
            message: format!("not valid UTF-8 (byte {valid}); GLUE files are UTF-8"),
        }
    })
}

/// Parse one TSV file; returns the examples and the number of skipped malformed rows.
fn parse_tsv(
    path: &Path,
    text: &str,
    layout: &Layout,
    labels: &Labels,
    skip_malformed: bool,
) -> Result<(Vec<Example>, usize), DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let err = |line: usize, message: String| DataError::Malformed {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut examples = Vec::new();
    let mut skipped = 0;
    let mut header_pending = layout.header.is_some();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if header_pending {
            header_pending = false;
            check_header(layout, &fields).map_err(|m| err(line_no, m))?;
            continue;
        }
        if fields.len() != layout.columns {
            if skip_malformed {
                skipped += 1;
                continue;
            }
            return Err(err(
                line_no,
                format!(
                    "expected {} tab-separated columns{}, found {}",
                    layout.columns,
                    describe(layout),
                    fields.len()
                ),
            ));
        }
        let label = match layout.label {
            None => None,
            Some(col) => match parse_label(fields[col], labels) {
                Ok(l) => Some(l),
                Err(_) if skip_malformed => {
                    skipped += 1;
                    continue;
                }
                Err(m) => return Err(err(line_no, format!("column {}: {m}", col + 1))),
            },
        };
        examples.push(Example {
            text_a: fields[layout.text_a].to_string(),
            text_b: layout.text_b.map(|c| fields[c].to_string()),
            label,
        });
    }
    Ok((examples, skipped))
}

fn describe(layout: &Layout) -> String {
    match layout.header {
        Some(h) => format!(" ({})", h.join(" | ")),
        None => String::new(),
    }
}

fn check_header(layout: &Layout, fields: &[&str]) -> Result<(), String> {
    let expected = layout.header.expect("layout with header");
    let used = [Some(layout.text_a), layout.text_b, layout.label];
    let names_ok = fields.len() == expected.len()
        && used
            .iter()
            .flatten()
            .all(|&c| fields[c].trim() == expected[c]);
    if names_ok {
        Ok(())
    } else {
        Err(format!(
            "header does not match the official layout: expected `{}`, found `{}`",
            expected.join("\\t"),
            fields.join("\\t")
        ))
    }
}

fn parse_label(field: &str, labels: &Labels) -> Result<Label, String> {
    let field = field.trim();
    match labels {
        Labels::Classes(names) => names
            .iter()
            .position(|n| *n == field)
            .map(Label::Class)
            .ok_or_else(|| format!("label `{field}` is not one of {}", names.join(", "))),
        Labels::Score => match field.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(Label::Score(v)),
            _ => Err(format!("score `{field}` is not a finite number")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    fn class(ex: &Example) -> usize {
        match ex.label {
            Some(Label::Class(c)) => c,
            other => panic!("expected a class label, got {other:?}"),
        }
    }

    fn counts(split: &Split, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for ex in &split.examples {
            c[class(ex)] += 1;
        }
        c
    }

    #[test]
    fn every_classification_task_is_read_from_tsv() {
        let names: Vec<&str> = Task::ALL
            .into_iter()
            .filter(|t| !t.is_language_modelling())
            .map(Task::as_str)
            .collect();
        assert_eq!(names.len(), 12);
        for n in &names {
            let s = tsv_task(n).unwrap();
            assert_eq!(s.task.as_str(), *n);
            assert!(!required_files(n).unwrap().is_empty());
        }
        assert!(tsv_task("ptb").is_err());
        assert_eq!(names.iter().filter(|n| is_glue(n)).count(), 9);
        assert!(!is_glue("spam") && !is_glue("kjv_next") && !is_glue("RTE"));
        assert_eq!(glue_dir("stsb"), Some("STS-B"));
    }

    #[test]
    fn cola_headerless_train_and_indexed_test() {
        let t = load_task(&fixtures(), "cola").unwrap();
        assert_eq!(t.kind, TaskKind::Classification { num_labels: 2 });
        assert_eq!(t.train.examples.len(), 6);
        // Row 3 of the fixture: `clc95	0	*	The book was written by John the .`
        let ex = &t.train.examples[2];
        assert_eq!(ex.text_a, "The book was written by John the .");
        assert_eq!(ex.text_b, None);
        assert_eq!(counts(&t.train, 2), vec![2, 4]);
        assert_eq!(t.dev[0].name, "dev");
        assert_eq!(t.dev[0].examples.len(), 3);
        assert_eq!(t.test[0].examples.len(), 2);
        assert!(t.test[0].examples.iter().all(|e| e.label.is_none()));
        assert_eq!(t.test[0].examples[1].text_a, "He said \"hi there.");
    }

    #[test]
    fn a_dev_split_of_only_its_header_is_refused_not_scored() {
        let dir = tempfile::tempdir().unwrap();
        let sst = dir.path().join("SST-2");
        std::fs::create_dir_all(&sst).unwrap();
        let src = fixtures().join("glue/SST-2");
        std::fs::copy(src.join("train.tsv"), sst.join("train.tsv")).unwrap();
        std::fs::write(sst.join("dev.tsv"), "sentence\tlabel\n").unwrap();
        let e = load_task_dir(&sst, "sst2").unwrap_err().to_string();
        assert!(
            e.contains(
                "dev.tsv:1: the dev split of task sst2 has 0 labelled examples (at least 1 needed)"
            ),
            "{e}"
        );
        std::fs::write(sst.join("dev.tsv"), "sentence\tlabel\nfine .\t1\n").unwrap();
        assert_eq!(
            load_task_dir(&sst, "sst2").unwrap().dev[0].examples.len(),
            1
        );
        // An empty train split is refused the same way.
        std::fs::write(sst.join("train.tsv"), "sentence\tlabel\n").unwrap();
        let e = load_task_dir(&sst, "sst2").unwrap_err().to_string();
        assert!(
            e.contains("train.tsv:1: the train split of task sst2 has 0 labelled examples"),
            "{e}"
        );
    }

    #[test]
    fn sst2_raw_quotes_are_text() {
        let t = load_task(&fixtures(), "sst2").unwrap();
        assert_eq!(t.train.examples.len(), 5);
        // A field opening with `"` and no closing quote stays one field.
        assert_eq!(
            t.train.examples[1].text_a,
            "\" a gorgeous , witty , seductive movie . "
        );
        assert_eq!(counts(&t.train, 2), vec![2, 3]);
        assert_eq!(t.test[0].examples[0].text_a, "it 's a charming journey .");
    }

    #[test]
    fn mrpc_bom_header_and_pairs() {
        let t = load_task(&fixtures(), "mrpc").unwrap();
        assert_eq!(t.train.examples.len(), 4);
        let ex = &t.train.examples[0];
        assert_eq!(
            ex.text_a,
            "The company said profit rose 5 percent in the quarter ."
        );
        assert_eq!(
            ex.text_b.as_deref(),
            Some("Quarterly profit rose 5 percent , the company said .")
        );
        assert_eq!(class(ex), 1);
        assert_eq!(t.test[0].examples.len(), 2);
        assert!(t.test[0].examples[0].text_b.is_some());
    }

    #[test]
    fn stsb_scores() {
        let t = load_task(&fixtures(), "stsb").unwrap();
        assert_eq!(t.kind, TaskKind::Regression);
        let scores: Vec<f32> = t
            .train
            .examples
            .iter()
            .map(|e| match e.label {
                Some(Label::Score(s)) => s,
                _ => panic!(),
            })
            .collect();
        assert_eq!(scores, vec![5.0, 3.8, 0.6, 2.25]);
        assert_eq!(
            t.train.examples[1].text_a,
            "A man is playing a large flute."
        );
        assert_eq!(
            t.train.examples[1].text_b.as_deref(),
            Some("A man is playing a flute.")
        );
        assert_eq!(t.test[0].examples.len(), 2);
    }

    #[test]
    fn qqp_skips_and_counts_broken_rows() {
        let t = load_task(&fixtures(), "qqp").unwrap();
        // train.tsv: 5 good rows, one row cut short (5 columns), one with an empty label.
        assert_eq!(t.train.examples.len(), 5);
        assert_eq!(t.skipped_rows, 2);
        assert_eq!(counts(&t.train, 2), vec![3, 2]);
        assert_eq!(t.test[0].examples.len(), 2);
    }

    #[test]
    fn mnli_matched_and_mismatched() {
        let t = load_task(&fixtures(), "mnli").unwrap();
        assert_eq!(t.kind, TaskKind::Classification { num_labels: 3 });
        let names: Vec<&str> = t.dev.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["dev_matched", "dev_mismatched"]);
        assert_eq!(counts(&t.train, 3), vec![1, 1, 1]);
        assert_eq!(counts(&t.dev[0], 3), vec![1, 1, 0]);
        assert_eq!(counts(&t.dev[1], 3), vec![0, 1, 1]);
        assert_eq!(
            t.train.examples[0].text_b.as_deref(),
            Some("Product and geography are what make cream skimming work. ")
        );
        let tests: Vec<&str> = t.test.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(tests, vec!["test_matched", "test_mismatched"]);
    }

    #[test]
    fn qnli_rte_wnli_labels() {
        let q = load_task(&fixtures(), "qnli").unwrap();
        assert_eq!(counts(&q.train, 2), vec![2, 1]);
        assert_eq!(
            q.train.examples[0].text_a,
            "When did the third Digimon series begin?"
        );
        let r = load_task(&fixtures(), "rte").unwrap();
        assert_eq!(counts(&r.train, 2), vec![1, 2]);
        assert_eq!(r.test[0].examples.len(), 2);
        let w = load_task(&fixtures(), "wnli").unwrap();
        assert_eq!(counts(&w.train, 2), vec![1, 2]);
        assert_eq!(counts(&w.dev[0], 2), vec![1, 1]);
    }

    #[test]
    fn missing_glue_file_says_how_to_get_it() {
        let tmp = tempfile::tempdir().unwrap();
        let e = load_task(tmp.path(), "rte").unwrap_err().to_string();
        let dir = absolute(&tmp.path().join("glue/RTE"));
        assert!(
            e.starts_with(&format!(
                "GLUE task rte: {}/train.tsv not found.",
                dir.display()
            )),
            "{e}"
        );
        assert!(e.contains("harness data glue --tasks rte"), "{e}");
        assert!(e.contains(&format!("{}/", dir.display())), "{e}");
        let e = load_task(tmp.path(), "kjv_next").unwrap_err().to_string();
        assert!(e.contains("standin/kjv_next/train.tsv not found"), "{e}");
        assert!(e.contains("scripts/setup.sh"), "{e}");
        let e = load_task(tmp.path(), "RTE").unwrap_err().to_string();
        assert!(e.contains("unknown task `RTE`") && e.contains("rte"), "{e}");
    }

    #[test]
    fn test_files_are_optional() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("glue/RTE");
        std::fs::create_dir_all(&dir).unwrap();
        let body = "index\tsentence1\tsentence2\tlabel\n0\tA b.\tC d.\tentailment\n";
        std::fs::write(dir.join("train.tsv"), body).unwrap();
        std::fs::write(dir.join("dev.tsv"), body).unwrap();
        let t = load_task(tmp.path(), "rte").unwrap();
        assert!(t.test.is_empty());
        assert_eq!(t.dev[0].examples.len(), 1);
    }

    fn write_rte(rows: &str) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("glue/RTE");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("dev.tsv"),
            "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n",
        )
        .unwrap();
        let path = dir.join("train.tsv");
        std::fs::write(&path, rows).unwrap();
        (tmp, path)
    }

    #[test]
    fn malformed_rows_name_file_line_and_columns() {
        let (tmp, path) =
            write_rte("index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tA.\tB.\n");
        let e = load_task(tmp.path(), "rte").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:3: expected 4 tab-separated columns (index | sentence1 | sentence2 | label), found 3",
                path.display()
            )
        );
        let (tmp, path) =
            write_rte("index\tsentence1\tsentence2\tlabel\r\n0\tA.\tB.\tcontradiction\r\n");
        let e = load_task(tmp.path(), "rte").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2: column 4: label `contradiction` is not one of entailment, not_entailment",
                path.display()
            )
        );
        let (tmp, path) = write_rte("index\tsentence\tlabel\n");
        let e = load_task(tmp.path(), "rte").unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:1: header does not match", path.display())));
    }

    #[test]
    fn crlf_and_bom_are_tolerated() {
        let (tmp, _) = write_rte(
            "\u{feff}index\tsentence1\tsentence2\tlabel\r\n0\tA.\tB.\tnot_entailment\r\n\r\n",
        );
        let t = load_task(tmp.path(), "rte").unwrap();
        assert_eq!(t.train.examples.len(), 1);
        assert_eq!(t.train.examples[0].text_b.as_deref(), Some("B."));
        assert_eq!(t.train.examples[0].label, Some(Label::Class(1)));
    }

    #[test]
    fn invalid_utf8_is_reported_with_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("glue/SST-2");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("train.tsv"),
            b"sentence\tlabel\nok\t1\nbad \xff\t0\n",
        )
        .unwrap();
        let e = load_task(tmp.path(), "sst2").unwrap_err().to_string();
        assert!(e.contains("train.tsv:3: not valid UTF-8"), "{e}");
    }
}
