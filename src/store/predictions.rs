//! Per-example predictions of one evaluation split and their packed form in the `predictions`
//! table (migrations/*/0003_predictions.sql): two little-endian arrays of the same length, the
//! predicted and the gold value of every example, in the split's example order.
//!
//! | format | element | bytes per example (both arrays) |
//! |---|---|---|
//! | `class-u8` | class id < 256 | 2 |
//! | `class-u16` | class id < 65,536 | 4 |
//! | `class-u32` | any class id | 8 |
//! | `score-f32` | a regression score | 8 |
//!
//! Class ids take the narrowest width that holds every id of both arrays.

use serde::Serialize;

/// Version of the packing written into the `version` column.
pub const PACKING_VERSION: i64 = 1;

/// The predicted and gold values of every example of a split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExampleValues {
    /// Classification: predicted class ids and gold class ids.
    Classes { predicted: Vec<u32>, gold: Vec<u32> },
    /// Regression (STS-B): predicted scores and gold scores.
    Scores { predicted: Vec<f32>, gold: Vec<f32> },
}

impl ExampleValues {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            ExampleValues::Classes { predicted, .. } => predicted.len(),
            ExampleValues::Scores { predicted, .. } => predicted.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a run's final evaluation predicted on one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitPredictions {
    pub split: String,
    pub values: ExampleValues,
}

/// Predictions read back with the run they belong to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPredictions {
    pub run_key: String,
    pub task: String,
    pub variant: String,
    pub seed: i64,
    pub split: String,
    pub values: ExampleValues,
}

/// A row of the table that does not decode (written by another harness version, or damaged).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PackingError {
    #[error("predictions of run {key}, split {split}: unknown format `{format}` (version {version}); this harness reads {known} (version {PACKING_VERSION})", known = FORMATS.join(", "))]
    UnknownFormat {
        key: String,
        split: String,
        format: String,
        version: i64,
    },
    #[error("predictions of run {key}, split {split}: {what} holds {bytes} bytes, not {examples} examples of format {format}")]
    Length {
        key: String,
        split: String,
        what: &'static str,
        format: String,
        bytes: usize,
        examples: i64,
    },
}

const FORMATS: [&str; 4] = ["class-u8", "class-u16", "class-u32", "score-f32"];

/// The packed row: (format, predicted bytes, gold bytes).
pub fn pack(values: &ExampleValues) -> (&'static str, Vec<u8>, Vec<u8>) {
    match values {
        ExampleValues::Classes { predicted, gold } => {
            let max = predicted.iter().chain(gold).copied().max().unwrap_or(0);
            let (format, width) = if max <= u8::MAX as u32 {
                ("class-u8", 1)
            } else if max <= u16::MAX as u32 {
                ("class-u16", 2)
            } else {
                ("class-u32", 4)
            };
            let bytes = |v: &[u32]| -> Vec<u8> {
                v.iter()
                    .flat_map(|x| x.to_le_bytes().into_iter().take(width))
                    .collect()
            };
            (format, bytes(predicted), bytes(gold))
        }
        ExampleValues::Scores { predicted, gold } => {
            let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
            ("score-f32", bytes(predicted), bytes(gold))
        }
    }
}

/// Decodes a packed row (`key` and `split` name it in errors).
pub fn unpack(
    key: &str,
    split: &str,
    format: &str,
    version: i64,
    examples: i64,
    predicted: &[u8],
    gold: &[u8],
) -> Result<ExampleValues, PackingError> {
    let width = match (format, version) {
        ("class-u8", PACKING_VERSION) => 1,
        ("class-u16", PACKING_VERSION) => 2,
        ("class-u32", PACKING_VERSION) | ("score-f32", PACKING_VERSION) => 4,
        _ => {
            return Err(PackingError::UnknownFormat {
                key: key.into(),
                split: split.into(),
                format: format.into(),
                version,
            })
        }
    };
    for (what, bytes) in [("predicted", predicted), ("gold", gold)] {
        if examples < 0 || bytes.len() != examples as usize * width {
            return Err(PackingError::Length {
                key: key.into(),
                split: split.into(),
                what,
                format: format.into(),
                bytes: bytes.len(),
                examples,
            });
        }
    }
    let words = |b: &[u8]| -> Vec<[u8; 4]> {
        b.chunks_exact(width)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..width].copy_from_slice(c);
                w
            })
            .collect()
    };
    Ok(if format == "score-f32" {
        let f = |b: &[u8]| words(b).into_iter().map(f32::from_le_bytes).collect();
        ExampleValues::Scores {
            predicted: f(predicted),
            gold: f(gold),
        }
    } else {
        let u = |b: &[u8]| words(b).into_iter().map(u32::from_le_bytes).collect();
        ExampleValues::Classes {
            predicted: u(predicted),
            gold: u(gold),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &ExampleValues) -> (&'static str, usize) {
        let (format, p, g) = pack(v);
        let back = unpack("k", "dev", format, PACKING_VERSION, v.len() as i64, &p, &g).unwrap();
        assert_eq!(&back, v);
        (format, p.len() + g.len())
    }

    #[test]
    fn classes_take_the_narrowest_width() {
        let v = ExampleValues::Classes {
            predicted: vec![0, 1, 2, 255],
            gold: vec![1, 1, 0, 2],
        };
        assert_eq!(round_trip(&v), ("class-u8", 8));
        let v = ExampleValues::Classes {
            predicted: vec![256, 0],
            gold: vec![0, 65_535],
        };
        assert_eq!(round_trip(&v), ("class-u16", 8));
        let v = ExampleValues::Classes {
            predicted: vec![70_000],
            gold: vec![u32::MAX],
        };
        assert_eq!(round_trip(&v), ("class-u32", 8));
        // Little-endian: 256 = 00 01.
        let (_, p, _) = pack(&ExampleValues::Classes {
            predicted: vec![256],
            gold: vec![0],
        });
        assert_eq!(p, [0x00, 0x01]);
    }

    #[test]
    fn scores_keep_every_bit() {
        let v = ExampleValues::Scores {
            predicted: vec![0.1, -3.25, f32::MIN_POSITIVE, 5.0],
            gold: vec![4.8, 0.0, 1.0, 2.5],
        };
        assert_eq!(round_trip(&v), ("score-f32", 32));
        let (_, p, _) = pack(&v);
        assert_eq!(&p[4..8], &(-3.25f32).to_le_bytes());
    }

    #[test]
    fn bad_rows_are_named() {
        let e = unpack("k1", "dev", "class-u8", 1, 3, &[0, 1], &[0, 1, 1]).unwrap_err();
        assert!(
            e.to_string()
                .contains("run k1, split dev: predicted holds 2 bytes, not 3 examples"),
            "{e}"
        );
        let e = unpack("k1", "dev", "class-u8", 2, 0, &[], &[]).unwrap_err();
        assert!(matches!(e, PackingError::UnknownFormat { version: 2, .. }));
        let e = unpack("k1", "dev", "logits", 1, 0, &[], &[]).unwrap_err();
        assert!(e.to_string().contains("unknown format `logits`"), "{e}");
    }
}
