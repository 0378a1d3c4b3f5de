//! Files that appear whole or not at all: written to `<name>.tmp-<pid><ext>` beside the target,
//! flushed, then renamed over it; on any error the temporary file is removed and the error
//! keeps the operating system's reason (a full disk says "No space left on device").

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary file [`write`] uses for `path`, keeping its extension (so that writers that
/// choose a format by extension, like the PNG encoder, still do): `a/b.png` →
/// `a/b.tmp-<pid>.png`.
pub fn temp_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let name = match path.extension() {
        Some(ext) => format!(
            "{stem}.tmp-{}.{}",
            std::process::id(),
            ext.to_string_lossy()
        ),
        None => format!("{stem}.tmp-{}", std::process::id()),
    };
    path.with_file_name(name)
}

/// Whether `name` is a temporary file of [`write`] (`<stem>.tmp-<pid>[.<ext>]`), or of this
/// project's earlier checkpoint writer (`<name>.tmp-<pid>`).
pub fn is_temporary(name: &str) -> bool {
    name.rsplit_once(".tmp-").is_some_and(|(_, rest)| {
        let pid = rest.split_once('.').map_or(rest, |(pid, _)| pid);
        !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit())
    })
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })
}

/// Lets `fill` create the temporary file of `path` (see [`temp_path`]), then renames it over
/// `path`; removes it when `fill` or the rename fails.
pub fn replace_with<E>(path: &Path, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E>
where
    E: From<io::Error>,
{
    let tmp = temp_path(path);
    let result = fill(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(E::from));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_file_keeps_the_extension() {
        let t = temp_path(Path::new("r/fig.png"));
        assert_eq!(t.extension().unwrap(), "png");
        assert!(t.to_string_lossy().starts_with("r/fig.tmp-"));
        assert!(temp_path(Path::new("latest.ckpt"))
            .to_string_lossy()
            .starts_with("latest.tmp-"));
    }

    #[test]
    fn a_failed_fill_leaves_neither_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.md");
        write(&target, b"old").unwrap();
        let r: io::Result<()> = replace_with(&target, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(io::Error::other("No space left on device"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "the temporary file is removed");
    }
}
