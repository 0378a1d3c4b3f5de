//! Downloader for the GLUE task files (Wang et al., 2019), fetching what the GLUE benchmark's
//! `download_glue_data.py` fetches, into `<data_dir>/glue/<DIR>/`.
//!
//! - Eight tasks are zip archives under [`OFFICIAL_BASE_URL`]: `CoLA.zip`, `SST-2.zip`,
//!   `STS-B.zip`, `QQP-clean.zip`, `MNLI.zip`, `QNLIv2.zip`, `RTE.zip`, `WNLI.zip`. Each holds
//!   one top-level folder (e.g. `QNLI/` inside `QNLIv2.zip`) whose contents are extracted into
//!   the task's directory; `__MACOSX/` entries are skipped.
//! - MRPC is not distributed as a GLUE archive (its licence is Microsoft's). As the GLUE script
//!   does, the downloader fetches `msr_paraphrase_train.txt` and `msr_paraphrase_test.txt`
//!   (the MSR Paraphrase Corpus as mirrored for SentEval, [`OFFICIAL_MRPC_URL`]) and
//!   `mrpc_dev_ids.tsv` (GLUE's dev split, under [`OFFICIAL_BASE_URL`]), then writes
//!   `train.tsv` and `dev.tsv` (training pairs whose `#1 ID`/`#2 ID` are listed in the dev ids
//!   go to dev; both with the `Quality` header) and `test.tsv` (header
//!   `index #1 ID #2 ID #1 String #2 String`, the labels dropped, rows numbered from 0). The
//!   three source files are kept in the MRPC directory (the dev ids as `dev_ids.tsv`).
//!
//! A mirror given as `base_url` must serve all files, the MRPC ones included, directly under
//! that URL. Each task is written to a temporary directory and renamed into place, so an
//! interrupted download leaves nothing half-written; a task whose train and dev files are
//! already present is skipped without contacting the server.
//!
//! [`lm`] downloads the real language-modelling corpora (enwik8, text8, WikiText-2/103, PTB)
//! into `<data_dir>/lm/` in the same way (see the section before the tests).

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::glue::{self, glue_dir, is_glue};
use super::{lm, DataError};
use crate::task::{Family, Source, Task};

/// Where the GLUE benchmark's download script fetches the task archives.
pub const OFFICIAL_BASE_URL: &str = "https://dl.fbaipublicfiles.com/glue/data";
/// Where the GLUE benchmark's download script fetches the MSR Paraphrase Corpus files.
pub const OFFICIAL_MRPC_URL: &str = "https://dl.fbaipublicfiles.com/senteval/senteval_data";

/// Base URLs of the archives and of the MRPC source files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueSource {
    pub archives: String,
    pub mrpc: String,
}

impl GlueSource {
    /// The official locations.
    pub fn official() -> Self {
        GlueSource {
            archives: OFFICIAL_BASE_URL.to_string(),
            mrpc: OFFICIAL_MRPC_URL.to_string(),
        }
    }

    /// [`official`](Self::official) for [`OFFICIAL_BASE_URL`], otherwise a mirror serving
    /// every file under `base_url`.
    pub fn from_base(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        if base == OFFICIAL_BASE_URL {
            Self::official()
        } else {
            GlueSource {
                archives: base.to_string(),
                mrpc: base.to_string(),
            }
        }
    }
}

/// The archive a GLUE task is distributed in; `None` for MRPC (see the module doc) and for
/// names that are not GLUE tasks.
pub fn archive_name(task: &str) -> Option<&'static str> {
    match Task::from_name(task)?.facts().source {
        Source::GlueArchive(zip) => Some(zip),
        _ => None,
    }
}

fn glue_tasks() -> impl Iterator<Item = Task> {
    Task::of_family(Family::Glue)
}

/// What happened to one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub task: String,
    pub dir: PathBuf,
    /// `true` when the files were already present and nothing was downloaded.
    pub skipped: bool,
}

impl std::fmt::Display for Fetched {
    /// `rte: downloaded in data/glue/RTE` or `rte: already present in ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.skipped {
            true => "already present",
            false => "downloaded",
        };
        write!(f, "{}: {what} in {}", self.task, self.dir.display())
    }
}

/// Download GLUE `tasks` (all nine when empty) from `base_url` ([`OFFICIAL_BASE_URL`] or a
/// mirror) into `<data_dir>/glue/<DIR>/`, skipping tasks already present.
pub fn glue(data_dir: &Path, tasks: &[String], base_url: &str) -> Result<Vec<Fetched>, DataError> {
    glue_from(data_dir, tasks, &GlueSource::from_base(base_url))
}

/// [`glue`] with explicit source URLs.
pub fn glue_from(
    data_dir: &Path,
    tasks: &[String],
    source: &GlueSource,
) -> Result<Vec<Fetched>, DataError> {
    let names: Vec<String> = if tasks.is_empty() {
        glue_tasks().map(|t| t.to_string()).collect()
    } else {
        tasks.to_vec()
    };
    for t in &names {
        if !is_glue(t) {
            return Err(DataError::UnknownTask {
                name: t.clone(),
                known: Task::names(glue_tasks()),
            });
        }
    }
    let root = data_dir.join("glue");
    fs::create_dir_all(&root).map_err(|e| DataError::io(&root, e))?;
    names.iter().map(|t| fetch_task(&root, t, source)).collect()
}

fn fetch_task(root: &Path, task: &str, source: &GlueSource) -> Result<Fetched, DataError> {
    let dir_name = glue_dir(task).expect("GLUE task");
    let dir = root.join(dir_name);
    let required = glue::required_files(task)?;
    let absent: Vec<&str> = required
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if absent.is_empty() {
        return Ok(Fetched {
            task: task.to_string(),
            dir,
            skipped: true,
        });
    }
    if dir.exists() {
        return Err(DataError::Missing {
            what: format!("GLUE task {task}"),
            path: super::absolute(&dir.join(absent[0])),
            hint: format!(
                "{} exists but is incomplete (it needs {}); remove it and download again, or \
                 copy the official files into it",
                super::absolute(&dir).display(),
                required.join(", ")
            ),
        });
    }
    let tmp = root.join(format!(".{dir_name}.download"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let result = match archive_name(task) {
        Some(zip) => fetch_archive(&tmp, &format!("{}/{zip}", source.archives), zip),
        None => fetch_mrpc(&tmp, source),
    }
    .and_then(|_| {
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|f| !tmp.join(f).is_file())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(DataError::Archive {
                name: archive_name(task).unwrap_or("MRPC").to_string(),
                message: format!(
                    "has no {} for task {task} (found: {})",
                    missing.join(", "),
                    list_files(&tmp).join(", ")
                ),
            })
        }
    });
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &dir).map_err(|e| DataError::io(&dir, e))?;
    Ok(Fetched {
        task: task.to_string(),
        dir,
        skipped: false,
    })
}

fn list_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub(crate) fn agent_for(url: &str) -> ureq::Agent {
    let host = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    // A local mirror (and the tests' server) is reached directly, never through a proxy.
    let local = host == "127.0.0.1" || host == "localhost" || url.contains("://[::1]");
    let config = ureq::Agent::config_builder().timeout_connect(Some(Duration::from_secs(30)));
    let config = if local { config.proxy(None) } else { config };
    config.build().new_agent()
}

/// GLUE files, for the hint of a failed download.
const GLUE_FILES: &str = "the GLUE files";
/// Language-modelling corpora, for the hint of a failed download.
const CORPUS_FILES: &str = "the corpus files";

/// Stream `url` into the file `dest`; returns the number of bytes written. `serves` names what
/// the mirror should serve, for the hint when the server refuses.
fn download(url: &str, dest: &Path, serves: &str) -> Result<u64, DataError> {
    let http = |message: String| DataError::Http {
        url: url.to_string(),
        message,
    };
    let mut resp = agent_for(url).get(url).call().map_err(|e| {
        http(match e {
            ureq::Error::StatusCode(code) => format!(
                "the server answered HTTP {code}; check the URL, or pass another mirror that \
                 serves {serves}"
            ),
            other => format!("{other} (the download needs internet access)"),
        })
    })?;
    let mut file = fs::File::create(dest).map_err(|e| DataError::io(dest, e))?;
    let n = io::copy(&mut resp.body_mut().as_reader(), &mut file)
        .map_err(|e| http(format!("reading the response: {e}")))?;
    file.flush()
        .and_then(|_| file.sync_all())
        .map_err(|e| DataError::io(dest, e))?;
    Ok(n)
}

/// Download a task archive and extract its top-level folder's contents into `tmp`.
fn fetch_archive(tmp: &Path, url: &str, zip_name: &str) -> Result<(), DataError> {
    let zip_path = tmp.join(zip_name);
    download(url, &zip_path, GLUE_FILES)?;
    let bad = |message: String| DataError::Archive {
        name: url.to_string(),
        message,
    };
    let file = fs::File::open(&zip_path).map_err(|e| DataError::io(&zip_path, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip file: {e}")))?;
    // Entry paths without `__MACOSX/`, checked to stay inside the archive.
    let mut entries: Vec<(usize, PathBuf, bool)> = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        let path = entry
            .enclosed_name()
            .ok_or_else(|| bad(format!("entry `{}` escapes the archive", entry.name())))?;
        if path.components().next() == Some(Component::Normal("__MACOSX".as_ref())) {
            continue;
        }
        entries.push((i, path, entry.is_dir()));
    }
    // One common top-level folder (`RTE/`, `QNLI/`, ...) is stripped.
    let first = |p: &Path| p.components().next().map(|c| c.as_os_str().to_owned());
    let top = entries.first().and_then(|(_, p, _)| first(p));
    let strip = top.is_some()
        && entries
            .iter()
            .all(|(_, p, is_dir)| first(p) == top && (*is_dir || p.components().count() > 1));
    for (i, path, is_dir) in entries {
        let rel: PathBuf = if strip {
            path.components().skip(1).collect()
        } else {
            path
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let out = tmp.join(&rel);
        if is_dir {
            fs::create_dir_all(&out).map_err(|e| DataError::io(&out, e))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
        }
        let mut entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        let mut f = fs::File::create(&out).map_err(|e| DataError::io(&out, e))?;
        io::copy(&mut entry, &mut f)
            .map_err(|e| bad(format!("extracting {}: {e}", rel.display())))?;
    }
    fs::remove_file(&zip_path).map_err(|e| DataError::io(&zip_path, e))?;
    Ok(())
}

/// Fetch the MSR Paraphrase Corpus files and split them as GLUE does (see the module doc).
fn fetch_mrpc(tmp: &Path, source: &GlueSource) -> Result<(), DataError> {
    let train_src = tmp.join("msr_paraphrase_train.txt");
    let test_src = tmp.join("msr_paraphrase_test.txt");
    let ids_src = tmp.join("dev_ids.tsv");
    download(
        &format!("{}/msr_paraphrase_train.txt", source.mrpc),
        &train_src,
        GLUE_FILES,
    )?;
    download(
        &format!("{}/msr_paraphrase_test.txt", source.mrpc),
        &test_src,
        GLUE_FILES,
    )?;
    download(
        &format!("{}/mrpc_dev_ids.tsv", source.archives),
        &ids_src,
        GLUE_FILES,
    )?;

    let read = |p: &Path| -> Result<String, DataError> {
        let s = fs::read_to_string(p).map_err(|e| DataError::io(p, e))?;
        Ok(s.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(s))
    };
    let dev_ids: std::collections::HashSet<(String, String)> = read(&ids_src)?
        .lines()
        .filter_map(|l| {
            let mut it = l.trim().split('\t');
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect();
    let rows = |path: &Path, text: &str| -> Result<Vec<[String; 5]>, DataError> {
        text.lines()
            .enumerate()
            .skip(1)
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let f: Vec<&str> = l.trim().split('\t').collect();
                <[&str; 5]>::try_from(f.as_slice())
                    .map(|a| a.map(str::to_string))
                    .map_err(|_| DataError::Malformed {
                        path: path.to_path_buf(),
                        line: i + 1,
                        message: format!(
                            "expected 5 tab-separated columns (Quality | #1 ID | #2 ID | \
                             #1 String | #2 String), found {}",
                            f.len()
                        ),
                    })
            })
            .collect()
    };
    let train_text = read(&train_src)?;
    let header = train_text.lines().next().unwrap_or("").trim_end();
    let mut train = format!("{header}\n");
    let mut dev = format!("{header}\n");
    for r in rows(&train_src, &train_text)? {
        let line = format!("{}\n", r.join("\t"));
        if dev_ids.contains(&(r[1].clone(), r[2].clone())) {
            dev.push_str(&line);
        } else {
            train.push_str(&line);
        }
    }
    let test_text = read(&test_src)?;
    let mut test = String::from("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n");
    for (i, r) in rows(&test_src, &test_text)?.iter().enumerate() {
        test.push_str(&format!("{i}\t{}\t{}\t{}\t{}\n", r[1], r[2], r[3], r[4]));
    }
    for (name, text) in [("train.tsv", train), ("dev.tsv", dev), ("test.tsv", test)] {
        let p = tmp.join(name);
        fs::write(&p, text).map_err(|e| DataError::io(&p, e))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- language-modelling corpora
//
// The sources the Transformer-XL `getdata.sh` (Dai et al., 2019) fetched: Mahoney's
// `enwik8.zip` and `text8.zip` (one member each, `enwik8` / `text8`), Salesforce's
// `wikitext-{2,103}-v1.zip` (members `wikitext-N/wiki.{train,valid,test}.tokens`), and
// Mikolov's PTB splits as plain files (`ptb.{train,valid,test}.txt`, mirrored in the
// tomsercu/lstm repository). A mirror given as `base_url_override` must serve the archive or
// the three PTB files directly under that URL.

/// Where `enwik8.zip` and `text8.zip` are served.
pub const HUTTER_BASE_URL: &str = "http://mattmahoney.net/dc";
/// Where `wikitext-2-v1.zip` and `wikitext-103-v1.zip` are served.
pub const WIKITEXT_BASE_URL: &str = "https://s3.amazonaws.com/research.metamind.io/wikitext";
/// Where Mikolov's `ptb.{train,valid,test}.txt` are served as plain files.
pub const PTB_BASE_URL: &str = "https://raw.githubusercontent.com/tomsercu/lstm/master/data";

/// How a language-modelling corpus is distributed: `(base URL, zip archive name)`; the
/// archive is `None` for PTB, whose files are fetched one by one.
fn lm_source(corpus: &str) -> Option<(&'static str, Option<&'static str>)> {
    match Task::from_name(corpus)?.facts().source {
        Source::Corpus { base_url, archive } => Some((base_url, archive)),
        _ => None,
    }
}

/// The URLs [`lm`] fetches for `corpus`, from the official location or `base_url_override`.
pub fn lm_urls(corpus: &str, base_url_override: Option<&str>) -> Result<Vec<String>, DataError> {
    let files = lm::corpus_files(Path::new(""), corpus)?;
    let (official, archive) = lm_source(corpus).ok_or_else(|| DataError::Corpus {
        corpus: corpus.to_string(),
        message: "is a stand-in prepared by scripts/setup.sh (`harness data lm-standin`), \
                  not downloaded"
            .to_string(),
    })?;
    let base = base_url_override.unwrap_or(official).trim_end_matches('/');
    Ok(match archive {
        Some(zip) => vec![format!("{base}/{zip}")],
        None => files
            .iter()
            .map(|p| format!("{base}/{}", p.file_name().unwrap().to_string_lossy()))
            .collect(),
    })
}

/// Download the real corpus `corpus` (`enwik8`, `text8`, `wikitext2`, `wikitext103`, `ptb`)
/// into `<data_dir>/lm/` in the layout [`lm::load_corpus`] reads, from the official location
/// or `base_url_override`. A corpus whose files are all present is skipped without contacting
/// the server; the files are written to a temporary directory renamed into place at the end.
pub fn lm(
    data_dir: &Path,
    corpus: &str,
    base_url_override: Option<&str>,
) -> Result<Fetched, DataError> {
    let urls = lm_urls(corpus, base_url_override)?;
    let files = lm::corpus_files(data_dir, corpus)?;
    let dir = lm::corpus_dir(data_dir, corpus)?;
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let fetched = |skipped| Fetched {
        task: corpus.to_string(),
        dir: dir.clone(),
        skipped,
    };
    if files.iter().all(|p| p.is_file()) {
        return Ok(fetched(true));
    }
    if dir.exists() {
        let absent = files.iter().find(|p| !p.is_file()).expect("one is absent");
        return Err(DataError::Missing {
            what: format!("corpus {corpus}"),
            path: super::absolute(absent),
            hint: format!(
                "{} exists but is incomplete (it needs {}); remove it and download again, or \
                 copy the missing files there",
                dir.display(),
                names.join(", ")
            ),
        });
    }
    let root = dir.parent().expect("corpus dir has a parent");
    fs::create_dir_all(root).map_err(|e| DataError::io(root, e))?;
    let dir_name = dir.file_name().unwrap().to_string_lossy();
    let tmp = root.join(format!(".{dir_name}.download"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let result = if lm_source(corpus).and_then(|(_, zip)| zip).is_some() {
        fetch_lm_archive(&tmp, &urls[0], &names)
    } else {
        urls.iter()
            .zip(&names)
            .try_for_each(|(url, name)| download(url, &tmp.join(name), CORPUS_FILES).map(|_| ()))
    };
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &dir).map_err(|e| DataError::io(&dir, e))?;
    Ok(fetched(false))
}

/// Download the zip at `url` into `tmp` and extract the entries whose file names are
/// `members` (in any folder, `__MACOSX/` skipped) directly into `tmp`; the zip is removed.
fn fetch_lm_archive(tmp: &Path, url: &str, members: &[String]) -> Result<(), DataError> {
    let zip_name = url.rsplit('/').next().unwrap_or("archive.zip");
    let zip_path = tmp.join(zip_name);
    download(url, &zip_path, CORPUS_FILES)?;
    let bad = |message: String| DataError::Archive {
        name: url.to_string(),
        message,
    };
    let file = fs::File::open(&zip_path).map_err(|e| DataError::io(&zip_path, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip file: {e}")))?;
    let mut found: Vec<Option<usize>> = vec![None; members.len()];
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        let Some(path) = entry.enclosed_name() else {
            continue;
        };
        if entry.is_dir()
            || path.components().next() == Some(Component::Normal("__MACOSX".as_ref()))
        {
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(k) = members.iter().position(|m| Some(m) == name.as_ref()) {
            if found[k].is_some() {
                return Err(bad(format!("holds more than one {}", members[k])));
            }
            found[k] = Some(i);
        }
    }
    let missing: Vec<&str> = members
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(m, _)| m.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!("has no {}", missing.join(", "))));
    }
    for (member, i) in members.iter().zip(found) {
        let mut entry = archive
            .by_index(i.expect("found"))
            .map_err(|e| bad(e.to_string()))?;
        let out = tmp.join(member);
        let mut f = fs::File::create(&out).map_err(|e| DataError::io(&out, e))?;
        io::copy(&mut entry, &mut f).map_err(|e| bad(format!("extracting {member}: {e}")))?;
        f.sync_all().map_err(|e| DataError::io(&out, e))?;
    }
    fs::remove_file(&zip_path).map_err(|e| DataError::io(&zip_path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load_task;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn fixture_dir(dir: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/glue")
            .join(dir)
    }

    /// A zip holding `top/` and the fixture files of GLUE folder `dir` under `top/`, plus a
    /// `__MACOSX` entry, as the distributed archives are laid out.
    fn fixture_zip(dir: &str, top: &str) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        w.add_directory(format!("{top}/"), opts).unwrap();
        let mut files: Vec<PathBuf> = fs::read_dir(fixture_dir(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for p in files {
            let name = p.file_name().unwrap().to_str().unwrap();
            w.start_file(format!("{top}/{name}"), opts).unwrap();
            w.write_all(&fs::read(&p).unwrap()).unwrap();
        }
        w.start_file(format!("__MACOSX/{top}/._train.tsv"), opts)
            .unwrap();
        w.write_all(b"\x00\x05\x16\x07").unwrap();
        w.finish().unwrap().into_inner()
    }

    /// Serves `files` (path → body) over HTTP/1.1 on 127.0.0.1 for at most `max_requests`
    /// connections; unknown paths get 404. Returns the base URL and a request counter.
    fn serve(files: HashMap<String, Vec<u8>>, max_requests: usize) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(max_requests) {
                let Ok(mut stream) = stream else { continue };
                seen.fetch_add(1, Ordering::SeqCst);
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                // Drain the headers (bounded).
                for _ in 0..100 {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" || line == "\n" => break,
                        Ok(_) => {}
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, body) = match files.get(&path) {
                    Some(b) => ("200 OK", b.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
                let _ = stream.flush();
            }
        });
        (base, count)
    }

    /// MSR Paraphrase Corpus sources reproducing the MRPC fixtures: the train file holds the
    /// fixture's train and dev rows (BOM, CRLF), the dev ids pick out the dev rows.
    fn mrpc_sources() -> Vec<(String, Vec<u8>)> {
        let train = fs::read_to_string(fixture_dir("MRPC").join("train.tsv")).unwrap();
        let dev = fs::read_to_string(fixture_dir("MRPC").join("dev.tsv")).unwrap();
        let test = fs::read_to_string(fixture_dir("MRPC").join("test.tsv")).unwrap();
        let body = |s: &str| s.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
        let (tr, dv) = (body(&train), body(&dev));
        let mut msr_train = vec![train.lines().next().unwrap().to_string()];
        // Interleave: dev rows sit among the train rows in the source file.
        msr_train.extend([&tr[0], &dv[0], &tr[1], &tr[2], &dv[1], &tr[3]].map(String::clone));
        let ids: String = dv
            .iter()
            .map(|r| {
                let f: Vec<&str> = r.split('\t').collect();
                format!("{}\t{}\n", f[1], f[2])
            })
            .collect();
        let mut msr_test = vec!["\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String".to_string()];
        for (i, r) in body(&test).iter().enumerate() {
            let f: Vec<&str> = r.split('\t').collect();
            msr_test.push(format!("{}\t{}\t{}\t{}\t{}", i % 2, f[1], f[2], f[3], f[4]));
        }
        vec![
            (
                "msr_paraphrase_train.txt".into(),
                (msr_train.join("\r\n") + "\r\n").into_bytes(),
            ),
            (
                "msr_paraphrase_test.txt".into(),
                (msr_test.join("\r\n") + "\r\n").into_bytes(),
            ),
            ("mrpc_dev_ids.tsv".into(), ids.into_bytes()),
        ]
    }

    #[test]
    fn downloads_from_a_local_mirror_then_loads() {
        let mut files = HashMap::new();
        files.insert("/glue/RTE.zip".to_string(), fixture_zip("RTE", "RTE"));
        // QNLI ships as QNLIv2.zip holding a QNLI/ folder.
        files.insert("/glue/QNLIv2.zip".to_string(), fixture_zip("QNLI", "QNLI"));
        files.insert("/glue/MNLI.zip".to_string(), fixture_zip("MNLI", "MNLI"));
        for (name, body) in mrpc_sources() {
            files.insert(format!("/glue/{name}"), body);
        }
        let (base, count) = serve(files, 20);
        let tmp = tempfile::tempdir().unwrap();
        let tasks: Vec<String> = ["rte", "qnli", "mnli", "mrpc"].map(String::from).to_vec();
        let got = glue(tmp.path(), &tasks, &format!("{base}/glue/")).unwrap();
        assert!(got.iter().all(|f| !f.skipped));
        let rte_dir = tmp.path().join("glue/RTE");
        assert_eq!(
            got[0].to_string(),
            format!("rte: downloaded in {}", rte_dir.display())
        );
        assert_eq!(count.load(Ordering::SeqCst), 6);

        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for t in ["rte", "qnli", "mnli", "mrpc"] {
            let expected = load_task(&fixtures, t).unwrap();
            let loaded = load_task(tmp.path(), t).unwrap();
            assert_eq!(loaded, expected, "{t}");
        }
        let glue_dir = tmp.path().join("glue");
        assert_eq!(list_files(&glue_dir), vec!["MNLI", "MRPC", "QNLI", "RTE"]);
        assert_eq!(
            list_files(&glue_dir.join("RTE")),
            vec!["dev.tsv", "test.tsv", "train.tsv"]
        );

        // Present tasks are skipped without contacting any server.
        let again = glue(tmp.path(), &tasks, "http://127.0.0.1:1").unwrap();
        assert!(again.iter().all(|f| f.skipped));
        let present = format!("rte: already present in {}", rte_dir.display());
        assert_eq!(again[0].to_string(), present);
        assert_eq!(count.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn http_404_names_the_url_and_leaves_nothing() {
        let (base, _) = serve(HashMap::new(), 5);
        let tmp = tempfile::tempdir().unwrap();
        let e = glue(tmp.path(), &["wnli".to_string()], &base)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "download of {base}/WNLI.zip failed: the server answered HTTP 404"
            )),
            "{e}"
        );
        assert!(list_files(&tmp.path().join("glue")).is_empty());
    }

    #[test]
    fn archive_without_the_task_files_is_rejected() {
        // An "MNLI.zip" holding RTE's files: no dev_matched.tsv / dev_mismatched.tsv.
        let mut files = HashMap::new();
        files.insert("/MNLI.zip".to_string(), fixture_zip("RTE", "MNLI"));
        let (base, _) = serve(files, 5);
        let tmp = tempfile::tempdir().unwrap();
        let e = glue(tmp.path(), &["mnli".to_string()], &base)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has no dev_matched.tsv, dev_mismatched.tsv for task mnli"),
            "{e}"
        );
        assert!(list_files(&tmp.path().join("glue")).is_empty());
    }

    #[test]
    fn unknown_and_incomplete_tasks() {
        let tmp = tempfile::tempdir().unwrap();
        let e = glue(tmp.path(), &["spam".to_string()], "http://127.0.0.1:1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown task `spam`"), "{e}");
        fs::create_dir_all(tmp.path().join("glue/RTE")).unwrap();
        fs::write(tmp.path().join("glue/RTE/dev.tsv"), "x").unwrap();
        let e = glue(tmp.path(), &["rte".to_string()], "http://127.0.0.1:1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("RTE/train.tsv not found") && e.contains("is incomplete"),
            "{e}"
        );
    }

    #[test]
    fn official_source_urls() {
        assert_eq!(
            GlueSource::from_base(OFFICIAL_BASE_URL),
            GlueSource::official()
        );
        assert_eq!(GlueSource::official().mrpc, OFFICIAL_MRPC_URL);
        let m = GlueSource::from_base("http://mirror.example/glue/");
        assert_eq!(m.archives, "http://mirror.example/glue");
        assert_eq!(m.mrpc, "http://mirror.example/glue");
        for t in glue_tasks() {
            assert_eq!(archive_name(t.as_str()).is_none(), t == Task::Mrpc);
        }
    }

    /// A zip holding `(entry name, bytes)` pairs.
    fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (name, bytes) in entries {
            if name.ends_with('/') {
                w.add_directory(name.to_string(), opts).unwrap();
            } else {
                w.start_file(name.to_string(), opts).unwrap();
                w.write_all(bytes).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn lm_fixture(corpus: &str) -> Vec<(String, Vec<u8>)> {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        lm::corpus_files(&fixtures, corpus)
            .unwrap()
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, fs::read(p).unwrap())
            })
            .collect()
    }

    #[test]
    fn lm_corpora_download_from_a_local_mirror_then_load() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let bytes = lm_fixture("wikisample_bytes").remove(0).1;
        let text = lm_fixture("wikisample_text").remove(0).1;
        let mut wt2 = vec![("wikitext-2/".to_string(), Vec::new())];
        for (name, body) in lm_fixture("wikitext2") {
            wt2.push((format!("wikitext-2/{name}"), body.clone()));
            // Resource-fork entries of the same name must be ignored.
            wt2.push((format!("__MACOSX/wikitext-2/{name}"), b"\x00\x05".to_vec()));
        }
        let wt2: Vec<(&str, Vec<u8>)> = wt2.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        let mut files = HashMap::new();
        files.insert(
            "/m/enwik8.zip".to_string(),
            zip_of(&[("enwik8", bytes.clone())]),
        );
        files.insert(
            "/m/text8.zip".to_string(),
            zip_of(&[("text8", text.clone())]),
        );
        files.insert("/m/wikitext-2-v1.zip".to_string(), zip_of(&wt2));
        for (name, body) in lm_fixture("ptb") {
            files.insert(format!("/m/{name}"), body);
        }
        let (base, count) = serve(files, 20);
        let tmp = tempfile::tempdir().unwrap();
        let mirror = format!("{base}/m/");
        for corpus in ["enwik8", "text8", "wikitext2", "ptb"] {
            let f = lm(tmp.path(), corpus, Some(&mirror)).unwrap();
            assert!(!f.skipped, "{corpus}");
        }
        assert_eq!(count.load(Ordering::SeqCst), 6);
        let renamed = |mut c: lm::Corpus, name: &str| {
            c.name = name.to_string();
            c
        };
        for (corpus, fixture) in [
            ("enwik8", "wikisample_bytes"),
            ("text8", "wikisample_text"),
            ("wikitext2", "wikitext2"),
            ("ptb", "ptb"),
        ] {
            let loaded = lm::load_corpus(tmp.path(), corpus).unwrap();
            let expected = renamed(lm::load_corpus(&fixtures, fixture).unwrap(), corpus);
            assert_eq!(loaded, expected, "{corpus}");
        }
        assert_eq!(
            list_files(&tmp.path().join("lm")),
            vec!["enwik8", "ptb", "text8", "wikitext-2"]
        );
        assert_eq!(list_files(&tmp.path().join("lm/enwik8")), vec!["enwik8"]);
        // Present corpora are skipped without contacting any server.
        for corpus in ["enwik8", "text8", "wikitext2", "ptb"] {
            assert!(
                lm(tmp.path(), corpus, Some("http://127.0.0.1:1"))
                    .unwrap()
                    .skipped
            );
        }
        assert_eq!(count.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn lm_download_errors_name_the_url_and_leave_nothing() {
        let mut files = HashMap::new();
        files.insert("/ptb.train.txt".to_string(), b" a b \n".to_vec());
        files.insert(
            "/wikitext-103-v1.zip".to_string(),
            zip_of(&[("wikitext-103/wiki.train.tokens", b" a \n".to_vec())]),
        );
        let (base, _) = serve(files, 10);
        let tmp = tempfile::tempdir().unwrap();
        // PTB: the second file is missing on the mirror.
        let e = lm(tmp.path(), "ptb", Some(&base)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "download of {base}/ptb.valid.txt failed: the server answered HTTP 404"
            )),
            "{e}"
        );
        let e = lm(tmp.path(), "wikitext103", Some(&base))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "archive {base}/wikitext-103-v1.zip: has no wiki.valid.tokens, wiki.test.tokens"
            )
        );
        assert!(list_files(&tmp.path().join("lm")).is_empty());

        let e = lm(tmp.path(), "wikisample_bytes", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stand-in prepared by scripts/setup.sh"), "{e}");
        let e = lm(tmp.path(), "enwik9", None).unwrap_err().to_string();
        assert!(e.contains("unknown corpus `enwik9`"), "{e}");
        let dir = tmp.path().join("lm/wikitext-2");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("wiki.train.tokens"), " a \n").unwrap();
        let e = lm(tmp.path(), "wikitext2", Some("http://127.0.0.1:1"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wikitext-2/wiki.valid.tokens not found") && e.contains("is incomplete"),
            "{e}"
        );
    }

    #[test]
    fn lm_official_urls() {
        let urls = |c| lm_urls(c, None).unwrap();
        assert_eq!(urls("enwik8"), ["http://mattmahoney.net/dc/enwik8.zip"]);
        assert_eq!(urls("text8"), ["http://mattmahoney.net/dc/text8.zip"]);
        assert_eq!(
            urls("wikitext103"),
            ["https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip"]
        );
        assert_eq!(
            urls("wikitext2"),
            ["https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip"]
        );
        assert_eq!(
            urls("ptb"),
            ["train", "valid", "test"].map(|s| format!(
                "https://raw.githubusercontent.com/tomsercu/lstm/master/data/ptb.{s}.txt"
            ))
        );
        assert_eq!(
            lm_urls("ptb", Some("http://m.example/x/")).unwrap()[0],
            "http://m.example/x/ptb.train.txt"
        );
    }
}
