//! `harness data model NAME`: downloads a BERT checkpoint in the Hugging Face hub layout,
//! `<mirror>/<NAME>/resolve/<REVISION>/<file>` (default mirror [`HUB_URL`], revision `main`),
//! into `<data_dir>/models/<NAME>` (`NAME` may be `owner/name`, e.g.
//! `google-bert/bert-base-uncased`; legacy names such as `bert-base-uncased` are redirected by
//! the hub, and redirects are followed).
//!
//! Files: `config.json` and `model.safetensors` (both required), `tokenizer.json` or, where the
//! repository has none, `vocab.txt` (one of them required), and `tokenizer_config.json`
//! (optional: its `do_lower_case` matters with `vocab.txt`).
//!
//! Writing is atomic and resumable: files go to `<data_dir>/models/<NAME>.partial/`, each first
//! as `<file>.part`, renamed when complete; when every file is there the folder is renamed to
//! `<data_dir>/models/<NAME>`, so a checkpoint folder is never half-written. An interrupted
//! download resumes where it stopped: a `<file>.part` is continued with an HTTP `Range` request
//! (a server that ignores it sends the whole file, which then replaces the part), and files
//! already complete in the `.partial` folder are kept (for the same revision; another revision
//! starts over). The size and SHA-256 of every file are reported.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::download::agent_for;
use super::DataError;

/// The Hugging Face hub.
pub const HUB_URL: &str = "https://huggingface.co";

/// One file of a downloaded checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    /// Bytes that were already there from an interrupted download (0 = downloaded whole).
    pub resumed_from: u64,
}

/// What [`download_model`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDownload {
    pub dir: PathBuf,
    /// True when the checkpoint was already complete and nothing was fetched.
    pub skipped: bool,
    pub files: Vec<ModelFile>,
}

/// Checks a hub name: one or two `/`-separated parts of letters, digits, `-`, `_` and `.`
/// (not `.` or `..`).
pub fn check_name(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('/').collect();
    let ok = (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a Hugging Face model name: use NAME or OWNER/NAME (letters, digits, -, _, .), e.g. google-bert/bert-base-uncased"
        ))
    }
}

/// How to get the checkpoint a spec names as `pretrained` (for the missing-checkpoint error):
/// under `<data_dir>/models/`, the `harness data model` command for that name; MiniLM from
/// scripts/setup.sh.
pub fn how_to_get(data_dir: &Path, pretrained: &Path) -> String {
    let under = pretrained
        .strip_prefix(data_dir.join("models"))
        .ok()
        .and_then(|rest| rest.to_str())
        .filter(|rest| check_name(rest).is_ok());
    match under {
        Some("all-MiniLM-L6-v2") => "Run scripts/setup.sh to fetch all-MiniLM-L6-v2 (or \
             `harness data model sentence-transformers/all-MiniLM-L6-v2 --data-dir DIR` where there is \
             internet)."
            .to_string(),
        Some(name) => format!(
            "Download it where there is internet with `harness data model {name} --data-dir {}` \
             (the Hugging Face hub name, e.g. google-bert/bert-base-uncased; --mirror URL for \
             another hub), or point model.pretrained at a Hugging Face checkpoint directory \
             (config.json, model.safetensors, tokenizer.json or vocab.txt).",
            data_dir.display()
        ),
        None => "Download one with `harness data model NAME` (into data/models/NAME) where there \
             is internet, run scripts/setup.sh for all-MiniLM-L6-v2, or point model.pretrained at \
             a Hugging Face checkpoint directory (config.json, model.safetensors, tokenizer.json or \
             vocab.txt)."
            .to_string(),
    }
}

/// Whether `dir` holds a loadable checkpoint (config, weights, a tokenizer).
fn complete(dir: &Path) -> bool {
    dir.join("config.json").is_file()
        && dir.join("model.safetensors").is_file()
        && (dir.join("tokenizer.json").is_file() || dir.join("vocab.txt").is_file())
}

/// Downloads checkpoint `name` at `revision` from `mirror` (see the module documentation).
pub fn download_model(
    data_dir: &Path,
    name: &str,
    revision: &str,
    mirror: &str,
) -> Result<ModelDownload, DataError> {
    check_name(name).map_err(|message| DataError::Http {
        url: mirror.to_string(),
        message,
    })?;
    let dest = data_dir.join("models").join(name);
    if complete(&dest) {
        return Ok(ModelDownload {
            dir: dest,
            skipped: true,
            files: Vec::new(),
        });
    }
    if dest.exists() {
        return Err(DataError::Missing {
            what: format!("checkpoint {name}"),
            path: dest.join("model.safetensors"),
            hint: format!(
                "{} exists but is not a complete checkpoint (config.json, model.safetensors, \
                 tokenizer.json or vocab.txt); move it away and run `harness data model {name}` again",
                dest.display()
            ),
        });
    }
    let staging = PathBuf::from(format!("{}.partial", dest.display()));
    fs::create_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
    let stamp = staging.join(".revision");
    let stamped = fs::read_to_string(&stamp).ok();
    if stamped.as_deref() != Some(revision) {
        // Another revision's leftovers (or none): start over.
        fs::remove_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
        fs::create_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
        fs::write(&stamp, revision).map_err(|e| DataError::io(&stamp, e))?;
    }
    let base = format!("{}/{name}/resolve/{revision}", mirror.trim_end_matches('/'));
    let mut files = Vec::new();
    for file in ["config.json", "model.safetensors"] {
        match fetch_file(&base, &staging, file)? {
            Some(f) => files.push(f),
            None if file == "model.safetensors" => {
                return Err(DataError::Http {
                    url: format!("{base}/{file}"),
                    message: format!(
                        "the server answered HTTP 404: {name} has no model.safetensors at revision \
                         {revision}. If it has only pytorch_model.bin, download that and convert it \
                         (see `harness` README, \"Checkpoints\"): {}",
                        crate::model::bert::pytorch_only_message(&dest)
                    ),
                })
            }
            None => {
                return Err(DataError::Http {
                    url: format!("{base}/{file}"),
                    message: format!(
                        "the server answered HTTP 404: is `{name}` a model on this hub, and \
                         `{revision}` one of its revisions?"
                    ),
                })
            }
        }
    }
    match fetch_file(&base, &staging, "tokenizer.json")? {
        Some(f) => files.push(f),
        None => match fetch_file(&base, &staging, "vocab.txt")? {
            Some(f) => files.push(f),
            None => {
                return Err(DataError::Http {
                    url: format!("{base}/vocab.txt"),
                    message: "the server answered HTTP 404 for tokenizer.json and vocab.txt: \
                              the checkpoint has no tokenizer harness can read"
                        .into(),
                })
            }
        },
    }
    if let Some(f) = fetch_file(&base, &staging, "tokenizer_config.json")? {
        files.push(f);
    }
    fs::remove_file(&stamp).map_err(|e| DataError::io(&stamp, e))?;
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    fs::rename(&staging, &dest).map_err(|e| DataError::io(&dest, e))?;
    Ok(ModelDownload {
        dir: dest,
        skipped: false,
        files,
    })
}

/// SHA-256 (hex) and size of a file.
pub fn sha256_of(path: &Path) -> Result<(String, u64), DataError> {
    let mut f = fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(hasher.finalize()), n))
}

/// Fetches `<base>/<file>` into `<dir>/<file>` through `<dir>/<file>.part`, resuming a part
/// with a Range request. `None` when the server answers 404.
fn fetch_file(base: &str, dir: &Path, file: &str) -> Result<Option<ModelFile>, DataError> {
    let done = dir.join(file);
    let part = dir.join(format!("{file}.part"));
    let url = format!("{base}/{file}");
    if done.is_file() {
        let (sha256, bytes) = sha256_of(&done)?;
        return Ok(Some(ModelFile {
            name: file.to_string(),
            bytes,
            sha256,
            resumed_from: bytes,
        }));
    }
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let http = |message: String| DataError::Http {
        url: url.clone(),
        message,
    };
    let mut request = agent_for(&url).get(&url);
    if have > 0 {
        request = request.header("Range", &format!("bytes={have}-"));
    }
    let mut resp = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::StatusCode(404)) => return Ok(None),
        Err(ureq::Error::StatusCode(416)) if have > 0 => {
            // The part is not a prefix the server can continue: start over.
            fs::remove_file(&part).map_err(|e| DataError::io(&part, e))?;
            return fetch_file(base, dir, file);
        }
        Err(ureq::Error::StatusCode(code)) => {
            return Err(http(format!(
                "the server answered HTTP {code}; check the name and revision, or pass another \
                 --mirror that serves <NAME>/resolve/<REVISION>/<file>"
            )))
        }
        Err(other) => {
            return Err(http(format!(
                "{other} (the download needs internet access; rerun to resume)"
            )))
        }
    };
    let resumed = resp.status().as_u16() == 206;
    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(&part)
        .map_err(|e| DataError::io(&part, e))?;
    let copied = io::copy(&mut resp.body_mut().as_reader(), &mut out);
    out.flush()
        .and_then(|_| out.sync_all())
        .map_err(|e| DataError::io(&part, e))?;
    copied.map_err(|e| {
        http(format!(
            "reading the response: {e}; the bytes so far are kept in {}, rerun to resume",
            part.display()
        ))
    })?;
    drop(out);
    fs::rename(&part, &done).map_err(|e| DataError::io(&done, e))?;
    let (sha256, bytes) = sha256_of(&done)?;
    Ok(Some(ModelFile {
        name: file.to_string(),
        bytes,
        sha256,
        resumed_from: if resumed { have } else { 0 },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A hub-like server: `files` by path; honours `Range: bytes=N-` with 206; the first
    /// response for a path in `cut` stops after that many body bytes (a dropped connection).
    /// Records every request line with its Range header.
    fn serve(
        files: HashMap<String, Vec<u8>>,
        cut: HashMap<String, usize>,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut cut = cut;
            for stream in listener.incoming().take(200) {
                let Ok(mut stream) = stream else { continue };
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut range = None;
                for _ in 0..100 {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" || line == "\n" => break,
                        Ok(_) => {
                            if let Some(v) = line
                                .to_ascii_lowercase()
                                .strip_prefix("range: bytes=")
                                .and_then(|r| r.trim().strip_suffix('-').map(String::from))
                            {
                                range = v.parse::<usize>().ok();
                            }
                        }
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(format!("{path} range={range:?}"));
                let (status, body, total) = match (files.get(&path), range) {
                    (Some(b), Some(from)) if from < b.len() => {
                        ("206 Partial Content", b[from..].to_vec(), b.len())
                    }
                    (Some(b), Some(_)) => ("416 Range Not Satisfiable", Vec::new(), b.len()),
                    (Some(b), None) => ("200 OK", b.clone(), b.len()),
                    (None, _) => ("404 Not Found", b"not found".to_vec(), 9),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{total}\r\nConnection: close\r\n\r\n",
                    body.len(),
                    range.unwrap_or(0),
                    total.saturating_sub(1)
                );
                let _ = stream.write_all(head.as_bytes());
                let send = match cut.remove(&path) {
                    Some(n) => &body[..n.min(body.len())],
                    None => &body[..],
                };
                let _ = stream.write_all(send);
                let _ = stream.flush();
            }
        });
        (base, log)
    }

    fn tiny_bert(dir: &Path) {
        let config = crate::model::BertConfig {
            vocab_size: 16,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 16,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            initializer_range: 0.02,
            classifier_dropout: None,
            pad_token_id: 0,
            position_embedding_type: "absolute".into(),
        };
        crate::model::bert::write_random_checkpoint(dir, &config, "bert.", 3).unwrap();
        let words = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a",
            "dog", "ran", "far", "away", ".",
        ];
        fs::write(dir.join("vocab.txt"), words.join("\n") + "\n").unwrap();
        fs::write(
            dir.join("tokenizer_config.json"),
            r#"{"do_lower_case": true}"#,
        )
        .unwrap();
    }

    fn hub_files(src: &Path, name: &str, rev: &str, names: &[&str]) -> HashMap<String, Vec<u8>> {
        names
            .iter()
            .map(|f| {
                (
                    format!("/{name}/resolve/{rev}/{f}"),
                    fs::read(src.join(f)).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn downloads_resumes_with_range_and_renames_into_place() {
        let src = tempfile::tempdir().unwrap();
        tiny_bert(src.path());
        let name = "someone/tiny-bert";
        let files = hub_files(
            src.path(),
            name,
            "v1",
            &[
                "config.json",
                "model.safetensors",
                "vocab.txt",
                "tokenizer_config.json",
            ],
        );
        let weights = format!("/{name}/resolve/v1/model.safetensors");
        let total = files[&weights].len();
        let (base, log) = serve(files, HashMap::from([(weights.clone(), 1000)]));
        let data = tempfile::tempdir().unwrap();

        // The first attempt is cut off inside model.safetensors: nothing is in place yet.
        let e = download_model(data.path(), name, "v1", &base).unwrap_err();
        assert!(e.to_string().contains("rerun to resume"), "{e}");
        let dest = data.path().join("models/someone/tiny-bert");
        assert!(!dest.exists());
        let part = data
            .path()
            .join("models/someone/tiny-bert.partial/model.safetensors.part");
        assert_eq!(fs::metadata(&part).unwrap().len(), 1000);

        // The second continues from byte 1000 and keeps config.json.
        let got = download_model(data.path(), name, "v1", &base).unwrap();
        assert!(!got.skipped);
        assert_eq!(got.dir, dest);
        assert!(log
            .lock()
            .unwrap()
            .contains(&format!("{weights} range=Some(1000)")));
        let names: Vec<_> = got.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "config.json",
                "model.safetensors",
                "vocab.txt",
                "tokenizer_config.json"
            ]
        );
        let w = &got.files[1];
        assert_eq!((w.bytes, w.resumed_from), (total as u64, 1000));
        let want = hex::encode(Sha256::digest(
            fs::read(src.path().join("model.safetensors")).unwrap(),
        ));
        assert_eq!(w.sha256, want);
        for f in [
            "config.json",
            "model.safetensors",
            "vocab.txt",
            "tokenizer_config.json",
        ] {
            assert_eq!(
                fs::read(dest.join(f)).unwrap(),
                fs::read(src.path().join(f)).unwrap(),
                "{f}"
            );
        }
        assert!(!data
            .path()
            .join("models/someone/tiny-bert.partial")
            .exists());
        // tokenizer.json was asked for first (404), then vocab.txt.
        assert!(log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("tokenizer.json")));
        // The result loads.
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(0);
        crate::model::BertForSequenceClassification::load(
            &vs.root(),
            &dest,
            crate::model::Head::Classification(2),
            None,
            None,
            &mut rng,
        )
        .unwrap();
        let tok = crate::model::BertTokenizer::from_dir(&dest).unwrap();
        assert_eq!(
            tok.encode("The cat", None, 16).unwrap().ids,
            vec![2, 5, 6, 3]
        );

        // Complete: a rerun contacts no server.
        let again = download_model(data.path(), name, "v1", "http://127.0.0.1:1").unwrap();
        assert!(again.skipped);
    }

    #[test]
    fn missing_weights_and_bad_names_say_what_to_do() {
        let src = tempfile::tempdir().unwrap();
        tiny_bert(src.path());
        let files = hub_files(src.path(), "bert-tiny", "main", &["config.json"]);
        let (base, _) = serve(files, HashMap::new());
        let data = tempfile::tempdir().unwrap();
        let e = download_model(data.path(), "bert-tiny", "main", &base)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no model.safetensors") && e.contains("save_file"),
            "{e}"
        );
        assert!(!data.path().join("models/bert-tiny").exists());
        let e = download_model(data.path(), "other", "main", &base)
            .unwrap_err()
            .to_string();
        assert!(e.contains("HTTP 404") && e.contains("revisions"), "{e}");
        for bad in ["../x", "a/b/c", "", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("google-bert/bert-base-uncased").is_ok());
    }
}
