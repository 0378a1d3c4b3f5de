//! Resumable training checkpoints: one file per checkpoint holding named tensors (weights,
//! optimizer moments, recurrent memory) and a JSON description of everything else (step, phase,
//! data position, random-stream positions), written atomically.
//!
//! Format: libtorch's named-tensor archive (`Tensor::save_multi_to_stream`); the JSON is stored UTF-8
//! encoded as the `uint8` tensor [`META`]. Writing goes to `<stem>.tmp-<pid>.ckpt` in the same
//! folder, which is flushed to disk and then renamed over `<file>`, so that a reader (or a run
//! killed at any instant) sees either the previous checkpoint or the new one, never a torn file.
//!
//! Where: `<checkpoint dir>/<experiment>/<run_key>/`, see [`run_dir`]. The checkpoint dir is
//! `--checkpoint-dir`, by default `<folder of the SQLite database>/checkpoints`, or
//! `results/checkpoints` for a PostgreSQL store ([`default_root`]); workers on several machines
//! must share it (a network file system) for a reclaimed run to resume where it stopped.
//!
//! Ownership: a run's checkpoint records the [`CheckpointOwner`] that wrote it (store id,
//! experiment, run key, attempt) and is resumed only by that run of that store, in the same or
//! a later attempt; any other checkpoint is ignored with a warning.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// Name of the tensor holding the JSON description.
pub const META: &str = "__meta__";

/// The rolling checkpoint of a run, replaced every `checkpoint_every` steps.
pub const LATEST: &str = "latest.ckpt";
/// The checkpoint written at the end of phase 1, kept after the run is done (it can start
/// phase 2 of another run through `train.init_from`).
pub const PHASE1: &str = "phase1.ckpt";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: cannot write the checkpoint: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: checkpoint not found: check train.init_from, or drop it to train from scratch", path.display())]
    Missing { path: PathBuf },
    #[error("{}: not a readable checkpoint ({message}); delete it to train from scratch", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
}

/// The default checkpoint dir of a store (`--db` value): `<db folder>/checkpoints` for a
/// SQLite file, `results/checkpoints` for a PostgreSQL URL.
pub fn default_root(db: &Path) -> PathBuf {
    if crate::store::is_postgres(db) {
        return PathBuf::from("results/checkpoints");
    }
    db.parent()
        .unwrap_or_else(|| Path::new(""))
        .join("checkpoints")
}

/// The checkpoint folder of one run: `<root>/<experiment>/<run_key>`.
pub fn run_dir(root: &Path, experiment: &str, run_key: &str) -> PathBuf {
    root.join(experiment).join(run_key)
}

/// Which run of which store a checkpoint belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CheckpointOwner {
    pub store_id: String,
    pub experiment: String,
    pub run_key: String,
    pub attempt: i64,
}

impl CheckpointOwner {
    /// Why the attempt `self` must not resume a checkpoint written by `written` (None: it may).
    pub fn refuses(&self, written: Option<&CheckpointOwner>) -> Option<String> {
        let Some(w) = written else {
            return Some("it records no owner (written by an older harness)".into());
        };
        if w.store_id != self.store_id {
            return Some(format!(
                "it belongs to another results database (store id {}, this one is {})",
                w.store_id, self.store_id
            ));
        }
        if w.experiment != self.experiment || w.run_key != self.run_key {
            return Some(format!(
                "it belongs to run {} of experiment {}",
                w.run_key, w.experiment
            ));
        }
        if w.attempt > self.attempt {
            return Some(format!(
                "it was written by attempt {}, after this attempt {}",
                w.attempt, self.attempt
            ));
        }
        None
    }
}

/// Deletes the temporary files (`*.tmp-<pid>.ckpt`, see [`crate::atomic_file`]) that writers killed mid-write left in `dir`; the
/// run owning `dir` is held by the caller, so none of them is being written. Returns them.
pub fn remove_orphans(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let orphan = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(crate::atomic_file::is_temporary);
        if orphan && path.is_file() {
            remove(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Writes `meta` and `tensors` to `path` atomically (see the module documentation), creating
/// its folder.
pub fn save<M: Serialize>(
    path: &Path,
    meta: &M,
    tensors: &[(String, Tensor)],
) -> Result<(), CheckpointError> {
    let err = |source: io::Error| CheckpointError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let json = serde_json::to_vec(meta).map_err(|e| err(io::Error::other(e)))?;
    let meta_tensor = Tensor::from_slice(&json).to_kind(Kind::Uint8);
    let mut named: Vec<(&str, &Tensor)> = vec![(META, &meta_tensor)];
    named.extend(tensors.iter().map(|(n, t)| (n.as_str(), t)));
    // libtorch serializes into memory; the file is written by std I/O so that a full disk or any
    // other OS error comes back as an error with its reason (libtorch's own file writer aborts
    // the process when a write fails).
    let mut bytes = Vec::new();
    Tensor::save_multi_to_stream(&named, &mut bytes)
        .map_err(|e| err(io::Error::other(e.to_string())))?;
    crate::atomic_file::write(path, &bytes).map_err(err)?;
    // The rename itself is durable once the folder is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a checkpoint written by [`save`], tensors on `device`.
pub fn load<M: DeserializeOwned>(
    path: &Path,
    device: Device,
) -> Result<(M, HashMap<String, Tensor>), CheckpointError> {
    if !path.is_file() {
        return Err(CheckpointError::Missing {
            path: path.to_path_buf(),
        });
    }
    let corrupt = |message: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let mut tensors: HashMap<String, Tensor> = Tensor::load_multi_with_device(path, device)
        .map_err(|e| corrupt(e.to_string()))?
        .into_iter()
        .collect();
    let meta = tensors
        .remove(META)
        .ok_or_else(|| corrupt(format!("no `{META}` entry")))?;
    let bytes =
        Vec::<u8>::try_from(meta.to_device(Device::Cpu)).map_err(|e| corrupt(e.to_string()))?;
    let meta = serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("description: {e}")))?;
    Ok((meta, tensors))
}

/// Deletes the checkpoint at `path` if there is one.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Meta {
        step: i64,
        pos: String,
    }

    #[test]
    fn round_trips_exactly_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/latest.ckpt");
        let x = Tensor::randn([3, 4], (Kind::Float, Device::Cpu));
        let meta = Meta {
            step: 7,
            pos: u128::MAX.to_string(),
        };
        save(&path, &meta, &[("model.w".to_string(), x.shallow_clone())]).unwrap();
        let (back, tensors): (Meta, _) = load(&path, Device::Cpu).unwrap();
        assert_eq!(back, meta);
        assert!(tensors["model.w"].equal(&x));
        // A second save replaces the first; no temporary file is left behind.
        let y = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        save(
            &path,
            &Meta {
                step: 8,
                pos: "0".into(),
            },
            &[("model.w".to_string(), y.shallow_clone())],
        )
        .unwrap();
        let (back, tensors): (Meta, _) = load(&path, Device::Cpu).unwrap();
        assert_eq!(back.step, 8);
        assert!(tensors["model.w"].equal(&y));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["latest.ckpt".to_string()]);
    }

    #[test]
    fn missing_and_torn_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latest.ckpt");
        let e = load::<Meta>(&path, Device::Cpu).unwrap_err();
        assert!(matches!(e, CheckpointError::Missing { .. }), "{e}");
        std::fs::write(&path, b"PK\x03\x04 truncated").unwrap();
        let e = load::<Meta>(&path, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("latest.ckpt") && e.contains("not a readable checkpoint"),
            "{e}"
        );
    }

    #[test]
    fn run_dir_sits_beside_the_database() {
        assert_eq!(
            run_dir(
                &default_root(Path::new("results/harness.db")),
                "exp",
                "0123abcd"
            ),
            PathBuf::from("results/checkpoints/exp/0123abcd")
        );
        assert_eq!(
            default_root(Path::new("postgres://h@127.0.0.1:5/db")),
            PathBuf::from("results/checkpoints")
        );
    }

    #[test]
    fn orphaned_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "latest.ckpt",
            "latest.tmp-123.ckpt",
            "phase1.tmp-9.ckpt",
            "latest.ckpt.tmp-77",
            "notes.tmp-x",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let mut removed: Vec<String> = remove_orphans(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        assert_eq!(
            removed,
            [
                "latest.ckpt.tmp-77",
                "latest.tmp-123.ckpt",
                "phase1.tmp-9.ckpt"
            ]
        );
        assert!(dir.path().join("latest.ckpt").exists());
        assert!(remove_orphans(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn a_checkpoint_serves_only_its_own_run_of_its_own_store() {
        let me = CheckpointOwner {
            store_id: "s1".into(),
            experiment: "e".into(),
            run_key: "k".into(),
            attempt: 2,
        };
        assert_eq!(me.refuses(Some(&me)), None);
        let earlier = CheckpointOwner {
            attempt: 1,
            ..me.clone()
        };
        assert_eq!(me.refuses(Some(&earlier)), None);
        let later = CheckpointOwner {
            attempt: 3,
            ..me.clone()
        };
        assert!(me.refuses(Some(&later)).unwrap().contains("attempt 3"));
        let other_store = CheckpointOwner {
            store_id: "s2".into(),
            ..me.clone()
        };
        assert!(me
            .refuses(Some(&other_store))
            .unwrap()
            .contains("another results database"));
        let other_run = CheckpointOwner {
            run_key: "j".into(),
            ..me.clone()
        };
        assert!(me.refuses(Some(&other_run)).unwrap().contains("run j"));
        assert!(me.refuses(None).unwrap().contains("no owner"));
    }
}
