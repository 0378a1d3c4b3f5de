//! `model:`, one typed mapping per kind: [`ModelSpec::Bert`] or [`ModelSpec::TransformerXl`],
//! chosen by `kind`.
//!
//! Each kind's fields are those of its struct ([`BertSpec`], [`TxlSpec`]); no other list of
//! them is written. Deserialization reads `kind` and then the kind's struct from the same
//! mapping, so that serde_yaml keeps the path and position of every value in error messages
//! (when `kind` is not the first key, the entries before it are buffered and their errors are
//! named by field, to be located by path). A field of the other kind is refused at its key
//! (`model.n_layer: not used by kind bert; allowed: …`), as is an unknown field, and a missing
//! required field names the kind.
//!
//! Key stability: the serialized form is `kind` followed by the kind's fields, and for
//! Transformer-XL also `pretrained: null` and `layers: null`, as the one flat model mapping of
//! earlier versions wrote them for every kind; run keys hash this form. A field added later must
//! be skipped when unset (see `types`).

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::model::adaptive::AdaptiveConfig;
use crate::model::transformer_xl::{TxlConfig, TxlConfigError};

/// Kinds of model: the `kind` of a `model:` mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A pretrained BERT encoder with a sequence-classification head.
    Bert,
    /// A Transformer-XL language model trained from scratch (METHODS §1).
    TransformerXl,
}

impl ModelKind {
    /// The name used in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Bert => "bert",
            ModelKind::TransformerXl => "transformer_xl",
        }
    }

    /// The fields of this kind's `model:` mapping besides `kind`, in declaration order (read
    /// from its struct's `Deserialize`).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            ModelKind::Bert => struct_fields::<BertSpec>(),
            ModelKind::TransformerXl => struct_fields::<TxlSpec>(),
        }
    }

    fn others(self) -> impl Iterator<Item = ModelKind> {
        [ModelKind::Bert, ModelKind::TransformerXl]
            .into_iter()
            .filter(move |k| *k != self)
    }
}

/// `model:`: which model, with the fields of its kind.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per spec and run config, the size of the flat model struct it replaces"
)]
pub enum ModelSpec {
    /// `kind: bert`.
    Bert(BertSpec),
    /// `kind: transformer_xl`.
    TransformerXl(TxlSpec),
}

/// `model: {kind: bert, …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BertSpec {
    /// Folder with `config.json`, `model.safetensors`, `tokenizer.json`.
    #[serde(deserialize_with = "written_path")]
    pub pretrained: PathBuf,
    /// Keep only the first N encoder layers (>= 1).
    #[serde(default)]
    pub layers: Option<usize>,
    /// Override of the hidden and attention dropout, in [0, 1); none = the checkpoint's.
    #[serde(default)]
    pub dropout: Option<f64>,
}

/// `pretrained`, which must be given: null is a missing field (serde_yaml would read `~` as the
/// path `~`).
fn written_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    Option::<PathBuf>::deserialize(deserializer)?
        .ok_or_else(|| de::Error::missing_field("pretrained"))
}

/// `model: {kind: transformer_xl, …}`: the [`TxlConfig`] of the model (less the vocabulary
/// size, which the corpus gives) and the segment and memory lengths of evaluation. A field added
/// later must be skipped when unset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxlSpec {
    /// Dropout on embeddings, attention output, feed-forward and positional embeddings, in
    /// [0, 1) (default 0). First, and written when unset, as the flat model mapping of earlier
    /// versions did (run keys).
    #[serde(default)]
    pub dropout: Option<f64>,
    /// Number of layers N.
    pub n_layer: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Width of one head.
    pub d_head: usize,
    /// Inner width of the feed-forward block.
    pub d_inner: usize,
    /// Embedding width (of the head cluster); default d_model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_embed: Option<usize>,
    /// Dropout on attention probabilities, in [0, 1) (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropatt: Option<f64>,
    /// Dropout on the input embedding, in [0, 1) (default `dropout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emb_dropout: Option<f64>,
    /// Dropout on the positional embeddings, in [0, 1) (default `dropout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_dropout: Option<f64>,
    /// Dropout on the last layer's output before the softmax, in [0, 1) (default `dropout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dropout: Option<f64>,
    /// Training segment length M (tokens predicted per step and stream).
    pub tgt_len: usize,
    /// Memory length L per layer in training.
    pub mem_len: usize,
    /// Cap on relative distances in training (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clamp_len: Option<usize>,
    /// Every query sees the same number of keys, in training (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_length: Option<bool>,
    /// Segment length of evaluation (default tgt_len).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_tgt_len: Option<usize>,
    /// Memory length of evaluation (default mem_len).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_mem_len: Option<usize>,
    /// Distance cap of evaluation (default clamp_len).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_clamp_len: Option<usize>,
    /// `same_length` in evaluation (default same_length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_same_length: Option<bool>,
    /// Adaptive input and softmax `{cutoffs, div_val, tie_projs}`; none = plain embedding and
    /// softmax (character level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveConfig>,
    /// Output word weights tied to the input embedding (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_weights: Option<bool>,
}

impl TxlSpec {
    /// The model's configuration, with `n_token` (the corpus vocabulary size) filled in.
    pub fn config(&self, n_token: usize) -> TxlConfig {
        TxlConfig {
            n_token,
            n_layer: self.n_layer,
            d_model: self.d_model,
            n_head: self.n_head,
            d_head: self.d_head,
            d_inner: self.d_inner,
            d_embed: self.d_embed,
            dropout: self.dropout.unwrap_or(0.0),
            dropatt: self.dropatt.unwrap_or(0.0),
            emb_dropout: self.emb_dropout,
            pos_dropout: self.pos_dropout,
            out_dropout: self.out_dropout,
            tgt_len: self.tgt_len,
            mem_len: self.mem_len,
            ext_len: 0,
            clamp_len: self.clamp_len,
            same_length: self.same_length.unwrap_or(false),
            tie_weights: self.tie_weights.unwrap_or(true),
            adaptive: self.adaptive.clone(),
        }
    }

    /// Every range of a Transformer-XL spec: those of the model, as
    /// [`TxlConfig::validate`] checks them when the model is built (the one place they are
    /// written; the vocabulary, not known before the corpus is read, is taken as unbounded), then
    /// those of evaluation, which the model does not hold.
    pub fn validate(&self) -> Result<(), TxlConfigError> {
        self.config(usize::MAX).validate()?;
        for (field, value) in [
            ("eval_tgt_len", self.eval_tgt_len),
            ("eval_clamp_len", self.eval_clamp_len),
        ] {
            if value == Some(0) {
                return Err(TxlConfigError::TooSmall {
                    field,
                    value: 0,
                    min: 1,
                });
            }
        }
        Ok(())
    }
}

impl ModelSpec {
    /// Which kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::Bert(_) => ModelKind::Bert,
            ModelSpec::TransformerXl(_) => ModelKind::TransformerXl,
        }
    }

    /// The BERT settings; `None` for other kinds.
    pub fn as_bert(&self) -> Option<&BertSpec> {
        match self {
            ModelSpec::Bert(b) => Some(b),
            _ => None,
        }
    }

    /// The Transformer-XL settings; `None` for other kinds.
    pub fn as_txl(&self) -> Option<&TxlSpec> {
        match self {
            ModelSpec::TransformerXl(t) => Some(t),
            _ => None,
        }
    }

    /// The Transformer-XL configuration with `n_token` filled in; `None` for other kinds.
    pub fn txl_config(&self, n_token: usize) -> Option<TxlConfig> {
        self.as_txl().map(|t| t.config(n_token))
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// `kind`, the legacy nulls, then the kind's fields (see the module documentation).
        #[derive(Serialize)]
        struct Tagged<'a, T> {
            kind: ModelKind,
            /// `Some(())` is written as null.
            #[serde(skip_serializing_if = "Option::is_none")]
            pretrained: Option<()>,
            #[serde(skip_serializing_if = "Option::is_none")]
            layers: Option<()>,
            #[serde(flatten)]
            fields: &'a T,
        }
        match self {
            ModelSpec::Bert(fields) => Tagged {
                kind: ModelKind::Bert,
                pretrained: None,
                layers: None,
                fields,
            }
            .serialize(serializer),
            ModelSpec::TransformerXl(fields) => Tagged {
                kind: ModelKind::TransformerXl,
                pretrained: Some(()),
                layers: Some(()),
                fields,
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ModelVisitor)
    }
}

struct ModelVisitor;

impl<'de> Visitor<'de> for ModelVisitor {
    type Value = ModelSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelSpec, A::Error> {
        // Entries before `kind`, kept until it is known which fields they may be.
        let mut before = Vec::new();
        let kind = loop {
            match map.next_key::<String>()? {
                None => return Err(de::Error::missing_field("kind")),
                Some(key) if key == "kind" => break map.next_value::<ModelKind>()?,
                Some(key) => {
                    let value = map.next_value::<serde_yaml::Value>()?;
                    before.push((key, value));
                }
            }
        };
        let fields = de::value::MapAccessDeserializer::new(KindFields {
            kind,
            before: before.into_iter(),
            map,
            key: String::new(),
            value: None,
        });
        let spec = match kind {
            ModelKind::Bert => BertSpec::deserialize(fields).map(ModelSpec::Bert),
            ModelKind::TransformerXl => TxlSpec::deserialize(fields).map(ModelSpec::TransformerXl),
        };
        spec.map_err(|e| {
            // A required field of the kind: say which kind requires it.
            let text = e.to_string();
            match text
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                Some(name) if !name.contains('`') => de::Error::custom(format_args!(
                    "missing field `{name}` for kind `{}`",
                    kind.as_str()
                )),
                _ => e,
            }
        })
    }
}

/// The entries of a model mapping after `kind` (and those before it), as the kind's struct
/// reads them: its own fields pass; a field of another kind is refused unless null (unset: the
/// serialized form of earlier versions wrote every kind's fields), and an unknown one is refused.
struct KindFields<A> {
    kind: ModelKind,
    before: std::vec::IntoIter<(String, serde_yaml::Value)>,
    map: A,
    /// The key just read.
    key: String,
    /// Its value, when it was buffered before `kind`.
    value: Option<serde_yaml::Value>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for KindFields<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let (key, value) = match self.before.next() {
                Some((key, value)) => (key, Some(value)),
                None => match self.map.next_key::<String>()? {
                    Some(key) => (key, None),
                    None => return Ok(None),
                },
            };
            let own = self.kind.fields();
            if own.contains(&key.as_str()) {
                self.key.clone_from(&key);
                self.value = value;
                let name: de::value::StringDeserializer<A::Error> = key.into_deserializer();
                return seed.deserialize(name).map(Some);
            }
            let allowed = || {
                std::iter::once("kind")
                    .chain(own.iter().copied())
                    .collect::<Vec<_>>()
            };
            if key == "kind" {
                return Err(de::Error::custom(format_args!(
                    "{key}: given twice; each key may appear only once"
                )));
            }
            let of_another_kind = self
                .kind
                .others()
                .any(|k| k.fields().contains(&key.as_str()));
            if of_another_kind {
                let unset = match value {
                    Some(v) => v.is_null(),
                    None => self.map.next_value::<Option<de::IgnoredAny>>()?.is_none(),
                };
                if unset {
                    continue;
                }
                return Err(de::Error::custom(format_args!(
                    "{key}: {NOT_USED} `{}`; allowed: {}",
                    self.kind.as_str(),
                    allowed().join(", ")
                )));
            }
            let expected: Vec<String> = allowed().iter().map(|f| format!("`{f}`")).collect();
            return Err(de::Error::custom(format_args!(
                "unknown field `{key}`, expected one of {}",
                expected.join(", ")
            )));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.value.take() {
            None => self.map.next_value_seed(seed),
            // Named by field: serde_yaml places it at the model mapping.
            Some(value) => seed
                .deserialize(value)
                .map_err(|e| de::Error::custom(format_args!("{}: {e}", self.key))),
        }
    }
}

/// How a field of another kind is refused: `model.n_layer: not used by kind `bert`; …`.
pub(crate) const NOT_USED: &str = "not used by kind";

/// The field names of a struct's derived `Deserialize` (`deserialize_struct`'s list).
fn struct_fields<T: de::DeserializeOwned>() -> &'static [&'static str] {
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only the field names are read"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only the field names are read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERT: &str = "{kind: bert, pretrained: m, layers: 2}";
    const TXL: &str = "{kind: transformer_xl, n_layer: 4, d_model: 32, n_head: 2, d_head: 16, \
                       d_inner: 64, tgt_len: 16, mem_len: 16, eval_tgt_len: 32}";

    #[test]
    fn fields_come_from_the_structs() {
        assert_eq!(
            ModelKind::Bert.fields(),
            ["pretrained", "layers", "dropout"]
        );
        let txl = ModelKind::TransformerXl.fields();
        assert_eq!(txl.len(), 21);
        assert_eq!(txl[..2], ["dropout", "n_layer"]);
        assert_eq!(txl.last(), Some(&"tie_weights"));
    }

    #[test]
    fn serializes_as_the_flat_mapping_did() {
        let bert = serde_yaml::from_str::<ModelSpec>(BERT).unwrap();
        assert_eq!(
            serde_json::to_string(&bert).unwrap(),
            r#"{"kind":"bert","pretrained":"m","layers":2,"dropout":null}"#
        );
        let txl: ModelSpec = serde_yaml::from_str(TXL).unwrap();
        assert_eq!(
            serde_json::to_string(&txl).unwrap(),
            concat!(
                r#"{"kind":"transformer_xl","pretrained":null,"layers":null,"dropout":null,"#,
                r#""n_layer":4,"d_model":32,"n_head":2,"d_head":16,"d_inner":64,"tgt_len":16,"#,
                r#""mem_len":16,"eval_tgt_len":32}"#
            )
        );
        for spec in [bert, txl] {
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(serde_json::from_str::<ModelSpec>(&json).unwrap(), spec);
        }
    }

    #[test]
    fn kind_may_come_later() {
        let spec: ModelSpec =
            serde_yaml::from_str("{pretrained: m, layers: 2, kind: bert}").unwrap();
        assert_eq!(spec, serde_yaml::from_str::<ModelSpec>(BERT).unwrap());
        let e = serde_yaml::from_str::<ModelSpec>("{layers: x, kind: bert, pretrained: m}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("layers: invalid type: string \"x\""), "{e}");
    }

    #[test]
    fn other_kinds_and_unknown_fields_are_refused() {
        let err = |text: &str| {
            serde_yaml::from_str::<ModelSpec>(text)
                .unwrap_err()
                .to_string()
        };
        let e = err("{kind: bert, pretrained: m, n_layer: 2}");
        assert!(
            e.starts_with(
                "n_layer: not used by kind `bert`; allowed: kind, pretrained, layers, dropout"
            ),
            "{e}"
        );
        let e = err("{kind: bert, pretrained: m, bogus: 2}");
        assert!(
            e.starts_with(
                "unknown field `bogus`, expected one of `kind`, `pretrained`, `layers`, `dropout`"
            ),
            "{e}"
        );
        let e = err("{kind: transformer_xl, n_layer: 2}");
        assert!(
            e.starts_with("missing field `d_model` for kind `transformer_xl`"),
            "{e}"
        );
        assert!(err("{pretrained: m}").starts_with("missing field `kind`"));
        assert!(err("{kind: bert, pretrained: ~}")
            .starts_with("missing field `pretrained` for kind `bert`"));
        // Null fields of another kind are unset, as earlier versions wrote them.
        let spec: ModelSpec =
            serde_yaml::from_str("{kind: bert, pretrained: m, n_layer: ~}").unwrap();
        assert_eq!(spec.kind(), ModelKind::Bert);
    }

    #[test]
    fn one_validation_of_the_transformer_xl_ranges() {
        let ModelSpec::TransformerXl(mut txl) = serde_yaml::from_str::<ModelSpec>(TXL).unwrap()
        else {
            panic!("a transformer_xl spec");
        };
        assert_eq!(txl.validate(), Ok(()));
        txl.eval_clamp_len = Some(0);
        assert!(matches!(
            txl.validate(),
            Err(TxlConfigError::TooSmall {
                field: "eval_clamp_len",
                ..
            })
        ));
        txl.eval_clamp_len = None;
        txl.dropout = Some(1.0);
        assert_eq!(
            txl.validate(),
            Err(TxlConfigError::Rate {
                field: "dropout",
                value: 1.0
            })
        );
        assert_eq!(txl.validate(), txl.config(1000).validate());
    }
}
