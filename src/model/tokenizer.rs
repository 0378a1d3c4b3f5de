//! WordPiece tokenization for BERT through a checkpoint's `tokenizer.json`, with the semantics of
//! Hugging Face's fast tokenizer called as
//! `tokenizer(a, b, truncation="longest_first", max_length=max_len, padding="longest")`:
//! pairs are truncated longest-first to `max_len` tokens including [CLS]/[SEP], and a batch is
//! padded to its longest member. The padding and truncation settings stored in
//! `tokenizer.json` are ignored.

use std::path::{Path, PathBuf};

use tch::{Device, Tensor};
use tokenizers::utils::parallelism::MaybeParallelIterator;
use tokenizers::utils::truncation::{
    truncate_encodings, TruncationDirection, TruncationParams, TruncationStrategy,
};
use tokenizers::{PostProcessor, Tokenizer};

use super::ModelError;

/// One example as model inputs: padded token ids, segment ids and the 1/0 attention mask,
/// each `[batch, seq]` Int64.
#[derive(Debug)]
pub struct Batch {
    pub input_ids: Tensor,
    pub token_type_ids: Tensor,
    pub attention_mask: Tensor,
}

impl Batch {
    /// The same batch on `device`.
    pub fn to_device(&self, device: Device) -> Batch {
        Batch {
            input_ids: self.input_ids.to_device(device),
            token_type_ids: self.token_type_ids.to_device(device),
            attention_mask: self.attention_mask.to_device(device),
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.input_ids.size()[0] as usize
    }

    /// True for a batch of no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Padded sequence length.
    pub fn seq_len(&self) -> usize {
        self.input_ids.size()[1] as usize
    }
}

/// One tokenized example, unpadded: `[CLS] a [SEP] (b [SEP])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u8>,
}

/// A checkpoint's tokenizer with its own padding and truncation switched off.
pub struct BertTokenizer {
    tokenizer: Tokenizer,
    pad_id: u32,
    file: PathBuf,
}

impl BertTokenizer {
    /// Reads `dir/tokenizer.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        Self::from_file(&dir.join("tokenizer.json"))
    }

    /// Reads a `tokenizer.json` file.
    pub fn from_file(file: &Path) -> Result<Self, ModelError> {
        if !file.is_file() {
            return Err(ModelError::Missing {
                file: file.to_path_buf(),
                what: "tokenizer.json of the checkpoint",
            });
        }
        let mut tokenizer = Tokenizer::from_file(file).map_err(|e| ModelError::Tokenizer {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        let pad_id = match tokenizer.get_padding() {
            Some(p) => p.pad_id,
            None => tokenizer.token_to_id("[PAD]").unwrap_or(0),
        };
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| ModelError::Tokenizer {
                file: file.to_path_buf(),
                message: e.to_string(),
            })?;
        Ok(BertTokenizer {
            tokenizer,
            pad_id,
            file: file.to_path_buf(),
        })
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The underlying `tokenizers` tokenizer (padding and truncation off).
    pub fn inner(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Tokenizes one example, truncating longest-first so that the result, special tokens
    /// included, has at most `max_len` tokens.
    pub fn encode(&self, a: &str, b: Option<&str>, max_len: usize) -> Result<Encoded, ModelError> {
        let err = |e: tokenizers::Error| ModelError::Tokenizer {
            file: self.file.clone(),
            message: e.to_string(),
        };
        let is_pair = b.is_some();
        let added = self
            .tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(is_pair));
        if max_len <= added {
            return Err(ModelError::MaxLen { max_len, added });
        }
        let first = self.tokenizer.encode_fast(a, false).map_err(err)?;
        let second = match b {
            Some(b) => Some(self.tokenizer.encode_fast(b, false).map_err(err)?),
            None => None,
        };
        let params = TruncationParams {
            direction: TruncationDirection::Right,
            max_length: max_len - added,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        };
        let (first, second) = truncate_encodings(first, second, &params).map_err(err)?;
        let enc = self
            .tokenizer
            .post_process(first, second, true)
            .map_err(err)?;
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().iter().map(|&t| t as u8).collect(),
        })
    }

    /// Tokenizes a whole dataset once (in parallel); reuse the result every epoch with
    /// [`collate`](Self::collate).
    pub fn encode_all(
        &self,
        examples: &[(String, Option<String>)],
        max_len: usize,
    ) -> Result<Vec<Encoded>, ModelError> {
        examples
            .into_maybe_par_iter()
            .map(|(a, b)| self.encode(a, b.as_deref(), max_len))
            .collect()
    }

    /// Tokenizes and pads a batch.
    pub fn encode_batch(
        &self,
        examples: &[(String, Option<String>)],
        max_len: usize,
    ) -> Result<Batch, ModelError> {
        let encoded = self.encode_all(examples, max_len)?;
        Ok(self.collate(&encoded.iter().collect::<Vec<_>>()))
    }

    /// Pads pre-tokenized examples to the longest one with this tokenizer's pad id.
    pub fn collate(&self, items: &[&Encoded]) -> Batch {
        collate(items, self.pad_id)
    }
}

/// Pads `items` on the right to the longest one: ids with `pad_id`, segment ids and the
/// attention mask with 0. All tensors Int64 on the CPU.
pub fn collate(items: &[&Encoded], pad_id: u32) -> Batch {
    let b = items.len();
    let t = items.iter().map(|e| e.ids.len()).max().unwrap_or(0);
    let mut ids = vec![pad_id as i64; b * t];
    let mut types = vec![0i64; b * t];
    let mut mask = vec![0i64; b * t];
    for (row, e) in items.iter().enumerate() {
        let base = row * t;
        for (j, (&id, &ty)) in e.ids.iter().zip(&e.type_ids).enumerate() {
            ids[base + j] = id as i64;
            types[base + j] = ty as i64;
            mask[base + j] = 1;
        }
    }
    let shape = [b as i64, t as i64];
    Batch {
        input_ids: Tensor::from_slice(&ids).view(shape),
        token_type_ids: Tensor::from_slice(&types).view(shape),
        attention_mask: Tensor::from_slice(&mask).view(shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;
    use tokenizers::utils::padding::{PaddingParams, PaddingStrategy};

    const WORDS: &[&str] = &[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran",
        "far", "away", "##s", ".",
    ];

    /// A tiny BERT-style tokenizer saved with padding and truncation switched ON, as some
    /// checkpoints ship them, to check that the wrapper ignores both.
    fn tiny_tokenizer(dir: &Path) -> BertTokenizer {
        let vocab = dir.join("vocab.txt");
        std::fs::write(&vocab, WORDS.join("\n")).unwrap();
        let wp = WordPiece::from_file(vocab.to_str().unwrap())
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tok = Tokenizer::new(wp);
        tok.with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(
                ("[SEP]".into(), 3),
                ("[CLS]".into(), 2),
            )));
        tok.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(32),
            pad_id: 0,
            ..Default::default()
        }));
        tok.with_truncation(Some(TruncationParams {
            max_length: 6,
            ..Default::default()
        }))
        .unwrap();
        let file = dir.join("tokenizer.json");
        tok.save(&file, false).unwrap();
        BertTokenizer::from_file(&file).unwrap()
    }

    #[test]
    fn single_and_pair_layout() {
        let dir = tempfile::tempdir().unwrap();
        let tok = tiny_tokenizer(dir.path());
        let e = tok.encode("The cats sat.", None, 64).unwrap();
        // [CLS] the cat ##s sat . [SEP]
        assert_eq!(e.ids, vec![2, 4, 5, 14, 6, 15, 3]);
        assert_eq!(e.type_ids, vec![0; 7]);
        let e = tok.encode("a dog", Some("ran far away"), 64).unwrap();
        assert_eq!(e.ids, vec![2, 9, 10, 3, 11, 12, 13, 3]);
        assert_eq!(e.type_ids, vec![0, 0, 0, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn pair_truncation_is_longest_first() {
        let dir = tempfile::tempdir().unwrap();
        let tok = tiny_tokenizer(dir.path());
        let a = "the cat sat on the mat"; // 6 tokens
        let b = "a dog ran far away . the dog"; // 8 tokens
                                                // max_len 11 leaves 8 for text: both are cut, to 4 and 4.
        let e = tok.encode(a, Some(b), 11).unwrap();
        assert_eq!(e.ids, vec![2, 4, 5, 6, 7, 3, 9, 10, 11, 12, 3]);
        // max_len 12 leaves 9: the shorter keeps 4, the longer 5 (n1 = 9/2, n2 = n1 + 9 % 2).
        let e = tok.encode(a, Some(b), 12).unwrap();
        assert_eq!(e.ids, vec![2, 4, 5, 6, 7, 3, 9, 10, 11, 12, 13, 3]);
        // Only the longer one is cut when the shorter fits in half: "a dog" (2) + 5 of b.
        let e = tok.encode("a dog", Some(b), 10).unwrap();
        assert_eq!(e.ids, vec![2, 9, 10, 3, 9, 10, 11, 12, 13, 3]);
        // A single sentence is cut at the right.
        let e = tok.encode(b, None, 5).unwrap();
        assert_eq!(e.ids, vec![2, 9, 10, 11, 3]);
        assert!(matches!(
            tok.encode(a, Some(b), 3),
            Err(ModelError::MaxLen { added: 3, .. })
        ));
    }

    #[test]
    fn batches_pad_to_the_longest_member() {
        let dir = tempfile::tempdir().unwrap();
        let tok = tiny_tokenizer(dir.path());
        let examples = vec![
            ("the cat".to_string(), None),
            ("a dog".to_string(), Some("ran away".to_string())),
        ];
        let batch = tok.encode_batch(&examples, 128).unwrap();
        assert_eq!(batch.input_ids.size(), vec![2, 7]);
        assert_eq!(batch.input_ids.kind(), Kind::Int64);
        let ids: Vec<i64> = Vec::try_from(batch.input_ids.view([-1])).unwrap();
        assert_eq!(ids, vec![2, 4, 5, 3, 0, 0, 0, 2, 9, 10, 3, 11, 13, 3]);
        let mask: Vec<i64> = Vec::try_from(batch.attention_mask.view([-1])).unwrap();
        assert_eq!(mask, vec![1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
        let types: Vec<i64> = Vec::try_from(batch.token_type_ids.view([-1])).unwrap();
        assert_eq!(types, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
        // Pre-tokenized once, collated later: the same batch.
        let encoded = tok.encode_all(&examples, 128).unwrap();
        let again = tok.collate(&[&encoded[0], &encoded[1]]);
        assert!(again.input_ids.equal(&batch.input_ids));
        assert!(again.attention_mask.equal(&batch.attention_mask));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = BertTokenizer::from_dir(Path::new("/nonexistent/model"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent/model/tokenizer.json"), "{err}");
    }
}
