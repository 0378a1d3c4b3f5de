//! The TSV layouts of the GLUE tasks and of the stand-in tasks written in GLUE layouts: which
//! columns each file has and which hold the texts and the label (see `crate::data::glue` for
//! how they are read).

/// Columns of one TSV file.
#[derive(Debug)]
pub struct Layout {
    pub columns: usize,
    /// Expected header row, `None` for headerless files (CoLA train/dev).
    pub header: Option<&'static [&'static str]>,
    pub text_a: usize,
    pub text_b: Option<usize>,
    /// Label column; `None` for unlabelled (test) files.
    pub label: Option<usize>,
}

#[derive(Debug)]
pub struct FileSpec {
    pub split: &'static str,
    pub file: &'static str,
    pub layout: &'static Layout,
}

#[derive(Debug)]
pub enum Labels {
    /// Class names in class-id order.
    Classes(&'static [&'static str]),
    /// A real-valued score (STS-B).
    Score,
}

// ---- layouts -------------------------------------------------------------------------------

pub const INDEX_SENTENCE: Layout = Layout {
    columns: 2,
    header: Some(&["index", "sentence"]),
    text_a: 1,
    text_b: None,
    label: None,
};
pub const COLA: Layout = Layout {
    columns: 4,
    header: None,
    text_a: 3,
    text_b: None,
    label: Some(1),
};
pub const SST2: Layout = Layout {
    columns: 2,
    header: Some(&["sentence", "label"]),
    text_a: 0,
    text_b: None,
    label: Some(1),
};
pub const MRPC: Layout = Layout {
    columns: 5,
    header: Some(&["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]),
    text_a: 3,
    text_b: Some(4),
    label: Some(0),
};
pub const MRPC_TEST: Layout = Layout {
    columns: 5,
    header: Some(&["index", "#1 ID", "#2 ID", "#1 String", "#2 String"]),
    text_a: 3,
    text_b: Some(4),
    label: None,
};
pub const STSB: Layout = Layout {
    columns: 10,
    header: Some(&[
        "index",
        "genre",
        "filename",
        "year",
        "old_index",
        "source1",
        "source2",
        "sentence1",
        "sentence2",
        "score",
    ]),
    text_a: 7,
    text_b: Some(8),
    label: Some(9),
};
pub const STSB_TEST: Layout = Layout {
    columns: 9,
    header: Some(&[
        "index",
        "genre",
        "filename",
        "year",
        "old_index",
        "source1",
        "source2",
        "sentence1",
        "sentence2",
    ]),
    text_a: 7,
    text_b: Some(8),
    label: None,
};
pub const QQP: Layout = Layout {
    columns: 6,
    header: Some(&[
        "id",
        "qid1",
        "qid2",
        "question1",
        "question2",
        "is_duplicate",
    ]),
    text_a: 3,
    text_b: Some(4),
    label: Some(5),
};
pub const QQP_TEST: Layout = Layout {
    columns: 3,
    header: Some(&["id", "question1", "question2"]),
    text_a: 1,
    text_b: Some(2),
    label: None,
};
pub const MNLI_TRAIN: Layout = Layout {
    columns: 12,
    header: Some(&[
        "index",
        "promptID",
        "pairID",
        "genre",
        "sentence1_binary_parse",
        "sentence2_binary_parse",
        "sentence1_parse",
        "sentence2_parse",
        "sentence1",
        "sentence2",
        "label1",
        "gold_label",
    ]),
    text_a: 8,
    text_b: Some(9),
    label: Some(11),
};
pub const MNLI_DEV: Layout = Layout {
    columns: 16,
    header: Some(&[
        "index",
        "promptID",
        "pairID",
        "genre",
        "sentence1_binary_parse",
        "sentence2_binary_parse",
        "sentence1_parse",
        "sentence2_parse",
        "sentence1",
        "sentence2",
        "label1",
        "label2",
        "label3",
        "label4",
        "label5",
        "gold_label",
    ]),
    text_a: 8,
    text_b: Some(9),
    label: Some(15),
};
pub const MNLI_TEST: Layout = Layout {
    columns: 10,
    header: Some(&[
        "index",
        "promptID",
        "pairID",
        "genre",
        "sentence1_binary_parse",
        "sentence2_binary_parse",
        "sentence1_parse",
        "sentence2_parse",
        "sentence1",
        "sentence2",
    ]),
    text_a: 8,
    text_b: Some(9),
    label: None,
};
pub const QNLI: Layout = Layout {
    columns: 4,
    header: Some(&["index", "question", "sentence", "label"]),
    text_a: 1,
    text_b: Some(2),
    label: Some(3),
};
pub const QNLI_TEST: Layout = Layout {
    columns: 3,
    header: Some(&["index", "question", "sentence"]),
    text_a: 1,
    text_b: Some(2),
    label: None,
};
/// RTE and WNLI (and the `kjv_next` stand-in).
pub const PAIR: Layout = Layout {
    columns: 4,
    header: Some(&["index", "sentence1", "sentence2", "label"]),
    text_a: 1,
    text_b: Some(2),
    label: Some(3),
};
pub const PAIR_TEST: Layout = Layout {
    columns: 3,
    header: Some(&["index", "sentence1", "sentence2"]),
    text_a: 1,
    text_b: Some(2),
    label: None,
};

// ---- the task table ------------------------------------------------------------------------

pub const BINARY: &[&str] = &["0", "1"];
pub const NLI2: &[&str] = &["entailment", "not_entailment"];
pub const NLI3: &[&str] = &["contradiction", "entailment", "neutral"];
/// Labels of the `kjv_next` stand-in: class 1 = B is the verse right after A.
pub const KJV_NEXT_LABELS: &[&str] = &["not_next", "next"];
/// Labels of the `kjv_testament` stand-in: class 1 = the verse is from the New Testament.
pub const KJV_TESTAMENT_LABELS: &[&str] = &["old", "new"];

pub(crate) const fn f(
    split: &'static str,
    file: &'static str,
    layout: &'static Layout,
) -> FileSpec {
    FileSpec {
        split,
        file,
        layout,
    }
}

/// The files of a task read from TSV, with their layouts and labels.
#[derive(Debug)]
pub struct TsvFiles {
    /// The label set of every labelled file.
    pub labels: Labels,
    /// The training file.
    pub train: FileSpec,
    /// Evaluation files (required); MNLI has two.
    pub dev: &'static [FileSpec],
    /// Test files (read when present).
    pub test: &'static [FileSpec],
    /// Skip (and count) rows with a wrong column count or label instead of failing (QQP).
    pub skip_malformed: bool,
}

impl TsvFiles {
    /// The files a task needs in its directory: train, then the dev files.
    pub fn required(&'static self) -> impl Iterator<Item = &'static FileSpec> {
        std::iter::once(&self.train).chain(self.dev.iter())
    }
}
