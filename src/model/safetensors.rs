//! A structural check of a `model.safetensors` file without reading its tensors: the 8-byte
//! little-endian header length, the JSON header, and every tensor's byte range lying inside the
//! file with the size its dtype and shape imply. It catches a truncated download or a file that
//! is not safetensors before any run starts.

use std::io::Read;
use std::path::Path;

use super::ModelError;

/// Largest header accepted (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Checks the structure of the safetensors file `file`; returns the number of tensors.
pub fn check_file(file: &Path) -> Result<usize, ModelError> {
    let bad = |message: String| ModelError::Safetensors {
        file: file.to_path_buf(),
        message,
    };
    let io = |source| ModelError::Io {
        file: file.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(file).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| {
        bad(format!(
            "{size} bytes is too short for a safetensors header"
        ))
    })?;
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_HEADER || 8 + header_len > size {
        return Err(bad(format!(
            "the header claims {header_len} bytes but the file has {size}: truncated or not a \
             safetensors file; download it again"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header).map_err(io)?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| {
            bad(format!(
                "the header is not a JSON object ({e}); download it again"
            ))
        })?;
    let data = size - 8 - header_len;
    let mut tensors = 0;
    for (name, entry) in &header {
        if name == "__metadata__" {
            continue;
        }
        let (dtype, shape, begin, end) = tensor_entry(entry)
            .ok_or_else(|| bad(format!("header entry `{name}` is malformed")))?;
        if end < begin || end > data {
            return Err(bad(format!(
                "tensor `{name}` lies at bytes {begin}..{end} of the data, but the file holds \
                 only {data} bytes of data: truncated; download it again"
            )));
        }
        if let Some(width) = dtype_bytes(dtype) {
            let expected = shape.iter().product::<u64>() * width;
            if end - begin != expected {
                return Err(bad(format!(
                    "tensor `{name}` ({dtype} {shape:?}) needs {expected} bytes, the header \
                     gives it {}",
                    end - begin
                )));
            }
        }
        tensors += 1;
    }
    Ok(tensors)
}

fn tensor_entry(entry: &serde_json::Value) -> Option<(&str, Vec<u64>, u64, u64)> {
    let dtype = entry.get("dtype")?.as_str()?;
    let shape = entry
        .get("shape")?
        .as_array()?
        .iter()
        .map(|d| d.as_u64())
        .collect::<Option<Vec<u64>>>()?;
    let offsets = entry.get("data_offsets")?.as_array()?;
    match offsets.as_slice() {
        [b, e] => Some((dtype, shape, b.as_u64()?, e.as_u64()?)),
        _ => None,
    }
}

/// Bytes per element of a safetensors dtype; `None` for ones whose size is not checked.
fn dtype_bytes(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" => 1,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    fn written(dir: &Path) -> std::path::PathBuf {
        let file = dir.join("model.safetensors");
        let a = Tensor::arange(12, (Kind::Float, tch::Device::Cpu)).view([3, 4]);
        let b = Tensor::from_slice(&[1i64, 2, 3]);
        Tensor::write_safetensors(&[("a", &a), ("b", &b)], &file).unwrap();
        file
    }

    #[test]
    fn a_whole_file_passes_and_counts_its_tensors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_file(&written(dir.path())).unwrap(), 2);
    }

    #[test]
    fn truncated_files_are_named_as_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let file = written(dir.path());
        let bytes = std::fs::read(&file).unwrap();
        for keep in [0, 5, 20, bytes.len() - 1] {
            std::fs::write(&file, &bytes[..keep]).unwrap();
            let err = check_file(&file).unwrap_err().to_string();
            assert!(
                err.contains("model.safetensors")
                    && (err.contains("truncated") || err.contains("too short")),
                "keep {keep}: {err}"
            );
        }
        std::fs::write(&file, b"{\"not\": \"safetensors\"}").unwrap();
        assert!(check_file(&file).is_err());
    }
}
