//! The task registry: one table of what `harness` knows about each task, which everything else
//! looks up. A task has a name (plus aliases that older stores and reports use), a family
//! (GLUE, stand-in, language-modelling corpus), where its files are and how they are laid out,
//! its labels, its metrics and the primary one, whether a majority baseline applies, and
//! where its files come from.
//!
//! On disk, under a data directory `<data_dir>`: GLUE tasks in `glue/<DIR>/` (official
//! directory names), classification stand-ins in `standin/<name>/`, corpora in `lm/<dir>/`.

pub mod tsv;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::data::download::{HUTTER_BASE_URL, PTB_BASE_URL, WIKITEXT_BASE_URL};
use crate::data::TaskKind;
use crate::spec::ModelKind;
use tsv::{f, FileSpec, Labels, TsvFiles};
use tsv::{BINARY, KJV_NEXT_LABELS, KJV_TESTAMENT_LABELS, NLI2, NLI3};
use CorpusFormat::{Bytes, Text8, Words};
use Family::{Glue, Standin};
use Labels::{Classes, Score};

/// A fine-tuning or language-modelling task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// GLUE CoLA.
    Cola,
    /// GLUE SST-2.
    Sst2,
    /// GLUE MRPC.
    Mrpc,
    /// GLUE STS-B.
    Stsb,
    /// GLUE QQP.
    Qqp,
    /// GLUE MNLI.
    Mnli,
    /// GLUE QNLI.
    Qnli,
    /// GLUE RTE.
    Rte,
    /// GLUE WNLI.
    Wnli,
    /// Stand-in: SpamAssassin spam/ham (single text).
    Spam,
    /// Stand-in: King James Bible next-verse (sentence pair).
    KjvNext,
    /// Stand-in: King James Bible Old or New Testament (single text).
    KjvTestament,
    /// Language modelling: enwik8 (bytes of the Wikipedia XML dump; bpc).
    Enwik8,
    /// Language modelling: text8 (cleaned Wikipedia text; bpc).
    Text8,
    /// Language modelling: WikiText-2 (words; perplexity).
    Wikitext2,
    /// Language modelling: WikiText-103 (words; perplexity).
    Wikitext103,
    /// Language modelling: Penn Treebank, Mikolov's split (words; perplexity).
    Ptb,
    /// Language modelling stand-in: bytes of the Wikipedia XML sample, enwik8 format (bpc).
    WikisampleBytes,
    /// Language modelling stand-in: text8-style cleaning of the same sample (bpc).
    WikisampleText,
}

/// Which kind of task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// One of the nine GLUE tasks, in `<data_dir>/glue/<DIR>/`.
    Glue,
    /// A classification stand-in in a GLUE layout, in `<data_dir>/standin/<name>/`.
    Standin,
    /// A language-modelling corpus (real or stand-in), in `<data_dir>/lm/<dir>/`.
    Corpus,
}

impl Family {
    /// The folder of `<data_dir>` holding this family's tasks.
    pub fn root(self) -> &'static str {
        match self {
            Family::Glue => "glue",
            Family::Standin => "standin",
            Family::Corpus => "lm",
        }
    }
}

/// How a corpus file is turned into tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorpusFormat {
    /// Raw bytes, split 90/5/5.
    Bytes,
    /// text8 characters, split 90/5/5.
    Text8,
    /// Three word-level files (train, valid, test).
    Words,
}

/// The files of a task and how they are read.
#[derive(Debug)]
pub enum Files {
    /// TSV files (GLUE and classification stand-ins).
    Tsv(TsvFiles),
    /// A language-modelling corpus: its files in split order (one file for the 90/5/5
    /// character corpora), and its vocabulary size as `harness` builds it.
    Corpus {
        format: CorpusFormat,
        files: &'static [&'static str],
        vocab_size: usize,
    },
}

/// Where a task's files come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The GLUE archive of this name (`harness data glue`).
    GlueArchive(&'static str),
    /// MRPC, assembled from the MSR Paraphrase Corpus files (`harness data glue`).
    GlueMrpc,
    /// A corpus served at `base_url`, as the zip `archive` or, without one, file by file
    /// (`harness data lm`).
    Corpus {
        base_url: &'static str,
        archive: Option<&'static str>,
    },
    /// A classification stand-in built by scripts/setup.sh (`harness data standin`).
    Standin,
    /// A corpus stand-in built by scripts/setup.sh (`harness data lm-standin`).
    CorpusStandin,
}

/// Everything known about one task.
#[derive(Debug)]
pub struct TaskFacts {
    /// The task.
    pub task: Task,
    /// The name used in specs and the store.
    pub name: &'static str,
    /// Other names stores and reports may use for it (`wt103`).
    pub aliases: &'static [&'static str],
    /// Which kind of task.
    pub family: Family,
    /// Its folder under `<data_dir>/<family root>/`.
    pub dir: &'static str,
    /// Its files and their layout.
    pub files: Files,
    /// The metrics a run reports, in order.
    pub metrics: &'static [&'static str],
    /// The metric its headline score is read from.
    pub primary_metric: &'static str,
    /// Where its files come from.
    pub source: Source,
}

const TSV_TEST: &[FileSpec] = &[f("test", "test.tsv", &tsv::INDEX_SENTENCE)];
const WIKITEXT_FILES: &[&str] = &["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"];
const PTB_FILES: &[&str] = &["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"];
const ACC: &[&str] = &["acc"];
const ACC_F1: &[&str] = &["acc", "f1"];
const BPC: &[&str] = &["bpc"];
const PPL: &[&str] = &["ppl"];

/// A GLUE task or stand-in read from TSV files.
#[allow(clippy::too_many_arguments)]
const fn tsv_task(
    task: Task,
    name: &'static str,
    family: Family,
    dir: &'static str,
    files: TsvFiles,
    metrics: &'static [&'static str],
    primary_metric: &'static str,
    source: Source,
) -> TaskFacts {
    TaskFacts {
        task,
        name,
        aliases: &[],
        family,
        dir,
        files: Files::Tsv(files),
        metrics,
        primary_metric,
        source,
    }
}

/// Train, dev and test files of one layout each.
const fn three(
    labels: Labels,
    layout: &'static tsv::Layout,
    dev: &'static [FileSpec],
    test: &'static [FileSpec],
) -> TsvFiles {
    TsvFiles {
        labels,
        train: f("train", "train.tsv", layout),
        dev,
        test,
        skip_malformed: false,
    }
}

/// A corpus, its primary metric being its only one.
#[allow(clippy::too_many_arguments)]
const fn corpus(
    task: Task,
    name: &'static str,
    aliases: &'static [&'static str],
    dir: &'static str,
    format: CorpusFormat,
    files: &'static [&'static str],
    vocab_size: usize,
    source: Source,
) -> TaskFacts {
    let metrics = match format {
        CorpusFormat::Bytes | CorpusFormat::Text8 => BPC,
        CorpusFormat::Words => PPL,
    };
    TaskFacts {
        task,
        name,
        aliases,
        family: Family::Corpus,
        dir,
        files: Files::Corpus {
            format,
            files,
            vocab_size,
        },
        metrics,
        primary_metric: metrics[0],
        source,
    }
}

const fn hutter(archive: &'static str) -> Source {
    Source::Corpus {
        base_url: HUTTER_BASE_URL,
        archive: Some(archive),
    }
}

const fn wikitext(archive: &'static str) -> Source {
    Source::Corpus {
        base_url: WIKITEXT_BASE_URL,
        archive: Some(archive),
    }
}

/// The registry, in [`Task`] order: GLUE, the stand-ins, then the corpora. The corpus
/// vocabulary sizes are those `crate::data::lm` builds from the official files: enwik8 204
/// distinct bytes, text8 27 symbols, WikiText-2 33,278 and WikiText-103 267,735 words (with
/// `<eos>`), PTB 10,000, and the stand-ins of the Wikipedia XML sample (201 bytes, 27 symbols).
static REGISTRY: [TaskFacts; 19] = [
    tsv_task(
        Task::Cola,
        "cola",
        Glue,
        "CoLA",
        three(
            Classes(BINARY),
            &tsv::COLA,
            &[f("dev", "dev.tsv", &tsv::COLA)],
            TSV_TEST,
        ),
        &["mcc"],
        "mcc",
        Source::GlueArchive("CoLA.zip"),
    ),
    tsv_task(
        Task::Sst2,
        "sst2",
        Glue,
        "SST-2",
        three(
            Classes(BINARY),
            &tsv::SST2,
            &[f("dev", "dev.tsv", &tsv::SST2)],
            TSV_TEST,
        ),
        ACC,
        "acc",
        Source::GlueArchive("SST-2.zip"),
    ),
    tsv_task(
        Task::Mrpc,
        "mrpc",
        Glue,
        "MRPC",
        three(
            Classes(BINARY),
            &tsv::MRPC,
            &[f("dev", "dev.tsv", &tsv::MRPC)],
            &[f("test", "test.tsv", &tsv::MRPC_TEST)],
        ),
        ACC_F1,
        "f1",
        Source::GlueMrpc,
    ),
    tsv_task(
        Task::Stsb,
        "stsb",
        Glue,
        "STS-B",
        three(
            Score,
            &tsv::STSB,
            &[f("dev", "dev.tsv", &tsv::STSB)],
            &[f("test", "test.tsv", &tsv::STSB_TEST)],
        ),
        &["pearson", "spearman"],
        "pearson",
        Source::GlueArchive("STS-B.zip"),
    ),
    tsv_task(
        Task::Qqp,
        "qqp",
        Glue,
        "QQP",
        TsvFiles {
            labels: Classes(BINARY),
            train: f("train", "train.tsv", &tsv::QQP),
            dev: &[f("dev", "dev.tsv", &tsv::QQP)],
            test: &[f("test", "test.tsv", &tsv::QQP_TEST)],
            skip_malformed: true,
        },
        ACC_F1,
        "f1",
        Source::GlueArchive("QQP-clean.zip"),
    ),
    tsv_task(
        Task::Mnli,
        "mnli",
        Glue,
        "MNLI",
        TsvFiles {
            labels: Classes(NLI3),
            train: f("train", "train.tsv", &tsv::MNLI_TRAIN),
            dev: &[
                f("dev_matched", "dev_matched.tsv", &tsv::MNLI_DEV),
                f("dev_mismatched", "dev_mismatched.tsv", &tsv::MNLI_DEV),
            ],
            test: &[
                f("test_matched", "test_matched.tsv", &tsv::MNLI_TEST),
                f("test_mismatched", "test_mismatched.tsv", &tsv::MNLI_TEST),
            ],
            skip_malformed: false,
        },
        ACC,
        "acc",
        Source::GlueArchive("MNLI.zip"),
    ),
    tsv_task(
        Task::Qnli,
        "qnli",
        Glue,
        "QNLI",
        three(
            Classes(NLI2),
            &tsv::QNLI,
            &[f("dev", "dev.tsv", &tsv::QNLI)],
            &[f("test", "test.tsv", &tsv::QNLI_TEST)],
        ),
        ACC,
        "acc",
        Source::GlueArchive("QNLIv2.zip"),
    ),
    tsv_task(
        Task::Rte,
        "rte",
        Glue,
        "RTE",
        three(
            Classes(NLI2),
            &tsv::PAIR,
            &[f("dev", "dev.tsv", &tsv::PAIR)],
            &[f("test", "test.tsv", &tsv::PAIR_TEST)],
        ),
        ACC,
        "acc",
        Source::GlueArchive("RTE.zip"),
    ),
    tsv_task(
        Task::Wnli,
        "wnli",
        Glue,
        "WNLI",
        three(
            Classes(BINARY),
            &tsv::PAIR,
            &[f("dev", "dev.tsv", &tsv::PAIR)],
            &[f("test", "test.tsv", &tsv::PAIR_TEST)],
        ),
        ACC,
        "acc",
        Source::GlueArchive("WNLI.zip"),
    ),
    // Stand-ins: GLUE layouts, labelled test files.
    tsv_task(
        Task::Spam,
        "spam",
        Standin,
        "spam",
        three(
            Classes(BINARY),
            &tsv::SST2,
            &[f("dev", "dev.tsv", &tsv::SST2)],
            &[f("test", "test.tsv", &tsv::SST2)],
        ),
        ACC_F1,
        "f1",
        Source::Standin,
    ),
    tsv_task(
        Task::KjvNext,
        "kjv_next",
        Standin,
        "kjv_next",
        three(
            Classes(KJV_NEXT_LABELS),
            &tsv::PAIR,
            &[f("dev", "dev.tsv", &tsv::PAIR)],
            &[f("test", "test.tsv", &tsv::PAIR)],
        ),
        ACC,
        "acc",
        Source::Standin,
    ),
    tsv_task(
        Task::KjvTestament,
        "kjv_testament",
        Standin,
        "kjv_testament",
        three(
            Classes(KJV_TESTAMENT_LABELS),
            &tsv::SST2,
            &[f("dev", "dev.tsv", &tsv::SST2)],
            &[f("test", "test.tsv", &tsv::SST2)],
        ),
        ACC,
        "acc",
        Source::Standin,
    ),
    corpus(
        Task::Enwik8,
        "enwik8",
        &[],
        "enwik8",
        Bytes,
        &["enwik8"],
        204,
        hutter("enwik8.zip"),
    ),
    corpus(
        Task::Text8,
        "text8",
        &[],
        "text8",
        Text8,
        &["text8"],
        27,
        hutter("text8.zip"),
    ),
    corpus(
        Task::Wikitext2,
        "wikitext2",
        &["wt2"],
        "wikitext-2",
        Words,
        WIKITEXT_FILES,
        33_278,
        wikitext("wikitext-2-v1.zip"),
    ),
    corpus(
        Task::Wikitext103,
        "wikitext103",
        &["wt103"],
        "wikitext-103",
        Words,
        WIKITEXT_FILES,
        267_735,
        wikitext("wikitext-103-v1.zip"),
    ),
    corpus(
        Task::Ptb,
        "ptb",
        &[],
        "ptb",
        Words,
        PTB_FILES,
        10_000,
        Source::Corpus {
            base_url: PTB_BASE_URL,
            archive: None,
        },
    ),
    corpus(
        Task::WikisampleBytes,
        "wikisample_bytes",
        &[],
        "wikisample_bytes",
        Bytes,
        &["wikisample_bytes"],
        201,
        Source::CorpusStandin,
    ),
    corpus(
        Task::WikisampleText,
        "wikisample_text",
        &[],
        "wikisample_text",
        Text8,
        &["wikisample_text"],
        27,
        Source::CorpusStandin,
    ),
];

impl Task {
    /// Every task: GLUE, the stand-ins, then the language-modelling corpora.
    pub const ALL: [Task; 19] = [
        Task::Cola,
        Task::Sst2,
        Task::Mrpc,
        Task::Stsb,
        Task::Qqp,
        Task::Mnli,
        Task::Qnli,
        Task::Rte,
        Task::Wnli,
        Task::Spam,
        Task::KjvNext,
        Task::KjvTestament,
        Task::Enwik8,
        Task::Text8,
        Task::Wikitext2,
        Task::Wikitext103,
        Task::Ptb,
        Task::WikisampleBytes,
        Task::WikisampleText,
    ];

    /// What the registry knows about this task.
    pub fn facts(self) -> &'static TaskFacts {
        &REGISTRY[self as usize]
    }

    /// The task called `name` (its name, not an alias).
    pub fn from_name(name: &str) -> Option<Task> {
        REGISTRY.iter().find(|t| t.name == name).map(|t| t.task)
    }

    /// The task called `name` or known by the alias `name` (`wt103`).
    pub fn from_name_or_alias(name: &str) -> Option<Task> {
        REGISTRY
            .iter()
            .find(|t| t.name == name || t.aliases.contains(&name))
            .map(|t| t.task)
    }

    /// The tasks of one family, in registry order.
    pub fn of_family(family: Family) -> impl Iterator<Item = Task> {
        Task::ALL
            .into_iter()
            .filter(move |t| t.facts().family == family)
    }

    /// The names of `tasks`, space-separated (for "known tasks: ..." messages).
    pub fn names(tasks: impl IntoIterator<Item = Task>) -> String {
        let names: Vec<&str> = tasks.into_iter().map(Task::as_str).collect();
        names.join(" ")
    }

    /// The name used in specs and the store.
    pub fn as_str(self) -> &'static str {
        self.facts().name
    }

    /// Whether this is one of the nine GLUE tasks (as opposed to a stand-in or a corpus).
    pub fn is_glue(self) -> bool {
        self.facts().family == Family::Glue
    }

    /// Whether this is a language-modelling corpus (trained with `transformer_xl`), as opposed
    /// to a sequence-classification task (trained with `bert`).
    pub fn is_language_modelling(self) -> bool {
        self.facts().family == Family::Corpus
    }

    /// The model kind that trains on this task.
    pub fn model_kind(self) -> ModelKind {
        if self.is_language_modelling() {
            ModelKind::TransformerXl
        } else {
            ModelKind::Bert
        }
    }

    /// What a fine-tuned model predicts; `None` for corpora.
    pub fn kind(self) -> Option<TaskKind> {
        match &self.facts().files {
            Files::Tsv(t) => Some(match t.labels {
                Labels::Classes(l) => TaskKind::Classification {
                    num_labels: l.len(),
                },
                Labels::Score => TaskKind::Regression,
            }),
            Files::Corpus { .. } => None,
        }
    }

    /// The label strings of a classification task in class-id order; `None` for STS-B and
    /// corpora.
    pub fn label_names(self) -> Option<&'static [&'static str]> {
        match &self.facts().files {
            Files::Tsv(TsvFiles {
                labels: Labels::Classes(l),
                ..
            }) => Some(l),
            _ => None,
        }
    }

    /// The metric the task's headline score is read from.
    pub fn primary_metric(self) -> &'static str {
        self.facts().primary_metric
    }

    /// The metrics a run of this task reports, in order.
    pub fn metrics(self) -> &'static [&'static str] {
        self.facts().metrics
    }

    /// Whether always predicting the most frequent train class (or the train mean) is a
    /// meaningful floor for this task: true for fine-tuning tasks, false for corpora.
    pub fn has_majority_baseline(self) -> bool {
        !self.is_language_modelling()
    }

    /// The vocabulary size of a corpus as `harness` builds it; `None` for fine-tuning tasks.
    pub fn vocab_size(self) -> Option<usize> {
        match self.facts().files {
            Files::Corpus { vocab_size, .. } => Some(vocab_size),
            Files::Tsv(_) => None,
        }
    }

    /// The folder holding the task's files under `data_dir`.
    pub fn dir(self, data_dir: &Path) -> PathBuf {
        let facts = self.facts();
        data_dir.join(facts.family.root()).join(facts.dir)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Task::from_name(s).ok_or_else(|| {
            let allowed: Vec<_> = Task::ALL.iter().map(|t| t.as_str()).collect();
            format!("unknown task `{s}`; allowed: {}", allowed.join(", "))
        })
    }
}

impl PartialEq<str> for Task {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Task {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Task> for &str {
    fn eq(&self, other: &Task) -> bool {
        *self == other.as_str()
    }
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TaskVisitor;
        impl Visitor<'_> for TaskVisitor {
            type Value = Task;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a task name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Task, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(TaskVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_in_task_order_and_consistent() {
        for (i, t) in Task::ALL.into_iter().enumerate() {
            let facts = t.facts();
            assert_eq!(facts.task, t);
            assert_eq!(REGISTRY[i].task, t);
            assert!(facts.metrics.contains(&facts.primary_metric), "{t}");
            assert_eq!(Task::from_name(facts.name), Some(t));
            assert_eq!(t.as_str().parse::<Task>(), Ok(t));
            if let Files::Tsv(files) = &facts.files {
                for fs in files.required().chain(files.test) {
                    let l = fs.layout;
                    if let Some(h) = l.header {
                        assert_eq!(h.len(), l.columns, "{t} {}", fs.file);
                    }
                    let max = [Some(l.text_a), l.text_b, l.label]
                        .into_iter()
                        .flatten()
                        .max();
                    assert!(max.unwrap() < l.columns);
                }
            }
            let downloadable = !matches!(facts.source, Source::Standin | Source::CorpusStandin);
            assert_eq!(
                downloadable,
                t.is_glue() || matches!(facts.source, Source::Corpus { .. }),
                "{t}"
            );
        }
        assert_eq!(Task::of_family(Family::Glue).count(), 9);
        assert_eq!(Task::of_family(Family::Standin).count(), 3);
        assert_eq!(Task::of_family(Family::Corpus).count(), 7);
    }

    #[test]
    fn aliases_and_directories() {
        assert_eq!(Task::from_name_or_alias("wt103"), Some(Task::Wikitext103));
        assert_eq!(Task::from_name_or_alias("wt2"), Some(Task::Wikitext2));
        assert_eq!(Task::from_name("wt2"), None);
        assert!("wt2".parse::<Task>().is_err());
        let d = Path::new("d");
        assert_eq!(Task::Stsb.dir(d), Path::new("d/glue/STS-B"));
        assert_eq!(Task::Spam.dir(d), Path::new("d/standin/spam"));
        assert_eq!(Task::Wikitext2.dir(d), Path::new("d/lm/wikitext-2"));
        assert!(Task::Spam == "spam" && "ptb" == Task::Ptb);
    }
}
