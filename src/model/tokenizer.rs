//! WordPiece tokenization for BERT through a checkpoint's `tokenizer.json`, with the semantics of
//! Hugging Face's fast tokenizer called as
//! `tokenizer(a, b, truncation="longest_first", max_length=max_len, padding="longest")`:
//! pairs are truncated longest-first to `max_len` tokens including [CLS]/[SEP], and a batch is
//! padded to its longest member. The padding and truncation settings stored in
//! `tokenizer.json` are ignored.
//!
//! A checkpoint without `tokenizer.json` (only `vocab.txt`, as older BERT uploads) gets the
//! tokenizer transformers' `BertTokenizerFast` converts such a vocabulary into: a WordPiece model
//! (`[UNK]`, prefix `##`, at most 100 characters per word), the BERT normalizer (clean text,
//! Chinese characters split, lower-casing and accent stripping as `tokenizer_config.json`'s
//! `do_lower_case` / `strip_accents` say; default lower-case), the BERT pre-tokenizer, the
//! special tokens as added tokens and the `[CLS] A [SEP] (B [SEP])` template with segment ids
//! 0 / 1 (`tests/checkpoints.rs` checks it equals MiniLM's own `tokenizer.json` on real texts).

use std::path::{Path, PathBuf};

use tch::{Device, Tensor};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::utils::parallelism::MaybeParallelIterator;
use tokenizers::utils::truncation::{
    truncate_encodings, TruncationDirection, TruncationParams, TruncationStrategy,
};
use tokenizers::{AddedToken, PostProcessor, Tokenizer};

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
    /// Reads `dir/tokenizer.json`, or builds the tokenizer from `dir/vocab.txt` (and
    /// `dir/tokenizer_config.json` when present) where there is no `tokenizer.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let json = dir.join("tokenizer.json");
        if !json.is_file() && dir.join("vocab.txt").is_file() {
            return Self::from_vocab(dir);
        }
        Self::from_file(&json)
    }

    /// Builds the WordPiece tokenizer of `dir/vocab.txt` (see the module documentation).
    pub fn from_vocab(dir: &Path) -> Result<Self, ModelError> {
        let vocab = dir.join("vocab.txt");
        let config = TokenizerConfig::read(&dir.join("tokenizer_config.json"))?;
        let err = |message: String| ModelError::Tokenizer {
            file: vocab.clone(),
            message,
        };
        let path = vocab
            .to_str()
            .ok_or_else(|| err("the path is not valid UTF-8".into()))?;
        let words = WordPiece::read_file(path).map_err(|e| err(e.to_string()))?;
        let id = |token: &str| {
            words.get(token).copied().ok_or_else(|| {
                err(format!(
                    "the special token {token} is not in the vocabulary (set it in tokenizer_config.json)"
                ))
            })
        };
        let (cls, sep, pad) = (id(&config.cls)?, id(&config.sep)?, id(&config.pad)?);
        id(&config.unk)?;
        let model = WordPiece::builder()
            .vocab(words.clone())
            .unk_token(config.unk.clone())
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(100)
            .build()
            .map_err(|e| err(e.to_string()))?;
        let template = TemplateProcessing::builder()
            .try_single(format!("{} $A:0 {}:0", config.cls, config.sep))
            .map_err(|e| err(e.to_string()))?
            .try_pair(format!(
                "{} $A:0 {}:0 $B:1 {}:1",
                config.cls, config.sep, config.sep
            ))
            .map_err(|e| err(e.to_string()))?
            .special_tokens(vec![(config.cls.clone(), cls), (config.sep.clone(), sep)])
            .build()
            .map_err(|e| err(e.to_string()))?;
        let mut tokenizer = Tokenizer::new(model);
        tokenizer
            .with_normalizer(Some(BertNormalizer::new(
                true,
                config.tokenize_chinese_chars,
                config.strip_accents,
                config.lowercase,
            )))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(template));
        // The special tokens in id order, as transformers registers them.
        let mut specials: Vec<(u32, String)> = [
            &config.pad,
            &config.unk,
            &config.cls,
            &config.sep,
            &config.mask,
        ]
        .into_iter()
        .filter_map(|t| words.get(t.as_str()).map(|&i| (i, t.clone())))
        .collect();
        specials.sort();
        specials.dedup();
        let added: Vec<AddedToken> = specials
            .into_iter()
            .map(|(_, t)| AddedToken::from(t, true))
            .collect();
        tokenizer.add_special_tokens(&added);
        Ok(BertTokenizer {
            tokenizer,
            pad_id: pad,
            file: vocab,
        })
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

/// The fields of a `tokenizer_config.json` that shape a BERT tokenizer built from
/// `vocab.txt`; absent ones take `BertTokenizer`'s defaults.
struct TokenizerConfig {
    lowercase: bool,
    strip_accents: Option<bool>,
    tokenize_chinese_chars: bool,
    unk: String,
    cls: String,
    sep: String,
    pad: String,
    mask: String,
}

impl TokenizerConfig {
    fn read(file: &Path) -> Result<Self, ModelError> {
        let value: serde_json::Value = if file.is_file() {
            let text = std::fs::read_to_string(file).map_err(|source| ModelError::Io {
                file: file.to_path_buf(),
                source,
            })?;
            serde_json::from_str(&text).map_err(|e| ModelError::Tokenizer {
                file: file.to_path_buf(),
                message: format!("not valid JSON: {e}"),
            })?
        } else {
            serde_json::Value::Null
        };
        let flag = |key: &str| value.get(key).and_then(serde_json::Value::as_bool);
        // A special token is a string, or an AddedToken object with a `content`.
        let token = |key: &str, default: &str| {
            match value.get(key) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(v) => v.get("content").and_then(|c| c.as_str()).map(String::from),
                None => None,
            }
            .unwrap_or_else(|| default.to_string())
        };
        Ok(TokenizerConfig {
            lowercase: flag("do_lower_case").unwrap_or(true),
            strip_accents: flag("strip_accents"),
            tokenize_chinese_chars: flag("tokenize_chinese_chars").unwrap_or(true),
            unk: token("unk_token", "[UNK]"),
            cls: token("cls_token", "[CLS]"),
            sep: token("sep_token", "[SEP]"),
            pad: token("pad_token", "[PAD]"),
            mask: token("mask_token", "[MASK]"),
        })
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
    fn vocab_only_directory_builds_the_same_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let from_json = tiny_tokenizer(dir.path());
        let only_vocab = tempfile::tempdir().unwrap();
        std::fs::copy(
            dir.path().join("vocab.txt"),
            only_vocab.path().join("vocab.txt"),
        )
        .unwrap();
        let built = BertTokenizer::from_dir(only_vocab.path()).unwrap();
        for (a, b) in [
            ("The CATS sat.", None),
            ("a dog", Some("ran far away . the mat")),
            ("Ünknown wörds", Some("dogs")),
        ] {
            assert_eq!(
                built.encode(a, b, 64).unwrap(),
                from_json.encode(a, b, 64).unwrap(),
                "{a:?} {b:?}"
            );
        }
        // do_lower_case: false keeps case, so capitalised words become [UNK].
        std::fs::write(
            only_vocab.path().join("tokenizer_config.json"),
            r#"{"do_lower_case": false, "unk_token": {"content": "[UNK]"}}"#,
        )
        .unwrap();
        let cased = BertTokenizer::from_dir(only_vocab.path()).unwrap();
        assert_eq!(
            cased.encode("The cat", None, 64).unwrap().ids,
            vec![2, 1, 5, 3]
        );
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
