//! The library search path a job needs: the submitter's `LD_LIBRARY_PATH`, then the directories
//! of the binary's RUNPATH (where build.rs points it at libtorch), read from its ELF header.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: i64 = 0;
const DT_STRTAB: i64 = 5;
const DT_RPATH: i64 = 15;
const DT_RUNPATH: i64 = 29;

/// RUNPATH (or the older RPATH) directories of a 64-bit little-endian ELF file, with `$ORIGIN`
/// expanded; empty when it has none. `None` when the file is not such an ELF file.
pub fn elf_runpath(binary: &Path) -> Option<Vec<PathBuf>> {
    let f = File::open(binary).ok()?;
    let read = |off: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, off).ok()?;
        Some(buf)
    };
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());

    let header = read(0, 64)?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 0x20),
        u16_at(&header, 0x36) as u64,
        u16_at(&header, 0x38) as u64,
    );
    if phentsize < 56 {
        return None;
    }
    // (vaddr, offset, filesz) of each loaded segment, and the dynamic section.
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let ph = read(phoff + i * phentsize, 56)?;
        let (kind, offset, vaddr, filesz) = (
            u32_at(&ph, 0),
            u64_at(&ph, 8),
            u64_at(&ph, 16),
            u64_at(&ph, 32),
        );
        match kind {
            PT_LOAD => loads.push((vaddr, offset, filesz)),
            PT_DYNAMIC => dynamic = Some((offset, filesz)),
            _ => {}
        }
    }
    let Some((dyn_off, dyn_size)) = dynamic else {
        return Some(Vec::new()); // statically linked
    };
    let entries = read(dyn_off, usize::try_from(dyn_size).ok()?)?;
    let (mut strtab, mut runpath, mut rpath) = (None, None, None);
    for e in entries.chunks_exact(16) {
        let (tag, val) = (u64_at(e, 0) as i64, u64_at(e, 8));
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(val),
            DT_RUNPATH => runpath = Some(val),
            DT_RPATH => rpath = Some(val),
            _ => {}
        }
    }
    let (Some(strtab), Some(name)) = (strtab, runpath.or(rpath)) else {
        return Some(Vec::new());
    };
    let (vaddr, offset, _) = loads
        .iter()
        .find(|(v, _, size)| *v <= strtab && strtab < v + size)?;
    let text = read_c_string(&f, strtab - vaddr + offset + name)?;
    let text = String::from_utf8(text).ok()?;
    let origin = binary.parent().unwrap_or(Path::new("/"));
    let origin = origin.to_string_lossy();
    Some(
        text.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin)))
            .collect(),
    )
}

/// The NUL-terminated string at `at` (at most 64 KiB).
fn read_c_string(f: &File, mut at: u64) -> Option<Vec<u8>> {
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    while text.len() < 65536 {
        let n = f.read_at(&mut buf, at).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].iter().position(|&c| c == 0) {
            text.extend_from_slice(&buf[..end]);
            return Some(text);
        }
        text.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    None
}

/// The job's `LD_LIBRARY_PATH`: the submitter's entries first (they take precedence over RUNPATH
/// at run time too), then the binary's RUNPATH directories, without repeats.
pub fn job_library_path(ld_library_path: Option<&str>, runpath: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let given = ld_library_path
        .unwrap_or("")
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    for dir in given.chain(runpath.iter().cloned()) {
        if !out.contains(&dir) {
            out.push(dir);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_carries_build_rs_runpath_to_libtorch() {
        // build.rs bakes RUNPATH into every binary and test when LIBTORCH is set (it always is
        // for this project's builds).
        let exe = std::env::current_exe().unwrap();
        let dirs = elf_runpath(&exe).expect("the test binary is a 64-bit ELF file");
        let Some(libtorch) = option_env!("LIBTORCH") else {
            return; // built without LIBTORCH: build.rs set no RUNPATH
        };
        let libtorch = Path::new(libtorch).join("lib").canonicalize().unwrap();
        assert!(
            dirs.contains(&libtorch),
            "RUNPATH {dirs:?} of {} lacks {}",
            exe.display(),
            libtorch.display()
        );
    }

    #[test]
    fn a_non_elf_file_has_no_runpath() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("script.sh");
        std::fs::write(&p, "#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(elf_runpath(&p), None);
    }

    #[test]
    fn submitter_entries_come_first_without_repeats() {
        let got = job_library_path(
            Some("/usr/local/cuda/lib64::/opt/torch/lib"),
            &["/opt/torch/lib".into(), "/home/u/.deps/lib".into()],
        );
        assert_eq!(
            got,
            [
                PathBuf::from("/usr/local/cuda/lib64"),
                "/opt/torch/lib".into(),
                "/home/u/.deps/lib".into()
            ]
        );
        assert!(job_library_path(None, &[]).is_empty());
    }
}
