//! `--set dotted.path=value` overrides, applied to the parsed YAML before deserialization.

use serde_yaml::{Mapping, Value};

use super::locate::{FieldPath, Seg};

/// One parsed `--set` argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The argument as given (`train.lr=1e-5`), for error messages.
    pub arg: String,
    /// Where to set.
    pub path: FieldPath,
    /// The value, parsed as a YAML scalar or flow value.
    pub value: Value,
}

/// Why a `--set` argument could not be used: `(field, message)`.
pub type OverrideError = (String, String);

impl Override {
    /// Parses `dotted.path=value`; the value is YAML (`2`, `null`, `[spam]`, `{prob: 0.2}`).
    pub fn parse(arg: &str) -> Result<Self, OverrideError> {
        let usage =
            "expected `dotted.path=value`, e.g. `--set train.lr=1e-5` or `--set tasks=[spam]`";
        let (path_text, value_text) = arg
            .split_once('=')
            .ok_or_else(|| (String::new(), format!("missing `=`; {usage}")))?;
        let path_text = path_text.trim();
        if path_text.is_empty() {
            return Err((String::new(), format!("missing path before `=`; {usage}")));
        }
        let path =
            FieldPath::parse(path_text).map_err(|e| (String::new(), format!("{e}; {usage}")))?;
        let value: Value = serde_yaml::from_str(value_text).map_err(|e| {
            (
                path.to_string(),
                format!("cannot parse `{value_text}` as a YAML value: {e}"),
            )
        })?;
        Ok(Override {
            arg: arg.to_string(),
            path,
            value,
        })
    }

    /// Sets the value in `doc`, creating missing mappings on the way.
    pub fn apply(&self, doc: &mut Value) -> Result<(), OverrideError> {
        let field = self.path.to_string();
        let mut node = doc;
        let mut walked = FieldPath::root();
        for seg in &self.path.0 {
            if node.is_null() {
                *node = Value::Mapping(Mapping::new());
            }
            let here = if walked.0.is_empty() {
                "the top level".to_string()
            } else {
                format!("`{walked}`")
            };
            node = match (seg, node) {
                (Seg::Key(key), Value::Mapping(map)) => {
                    let key = Value::String(key.clone());
                    if !map.contains_key(&key) {
                        map.insert(key.clone(), Value::Null);
                    }
                    map.get_mut(&key).expect("inserted above")
                }
                (Seg::Index(i), Value::Sequence(items)) => {
                    let len = items.len();
                    items.get_mut(*i).ok_or_else(|| {
                        (
                            field.clone(),
                            format!("unknown path: {here} has {len} items, no index {i}"),
                        )
                    })?
                }
                (Seg::Key(key), other) => {
                    return Err((
                        field.clone(),
                        format!(
                            "unknown path: {here} is {}, it has no field `{key}`",
                            kind_of(other)
                        ),
                    ))
                }
                (Seg::Index(i), other) => {
                    return Err((
                        field.clone(),
                        format!(
                            "unknown path: {here} is {}, it has no index {i}",
                            kind_of(other)
                        ),
                    ))
                }
            };
            walked.0.push(seg.clone());
        }
        *node = self.value.clone();
        Ok(())
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_yaml::from_str(
            "seeds: {count: 5}\ntasks: [spam, kjv_next]\ntrain: {lr: 1.0}\nname: x\n",
        )
        .unwrap()
    }

    fn set(arg: &str) -> Result<Value, OverrideError> {
        let mut d = doc();
        Override::parse(arg)?.apply(&mut d)?;
        Ok(d)
    }

    #[test]
    fn sets_nested_values_lists_and_null() {
        let d = set("seeds.count=2").unwrap();
        assert_eq!(d["seeds"]["count"], Value::from(2));
        let d = set("tasks=[spam]").unwrap();
        assert_eq!(d["tasks"], serde_yaml::from_str::<Value>("[spam]").unwrap());
        let d = set("tasks[1]=rte").unwrap();
        assert_eq!(d["tasks"][1], Value::from("rte"));
        let d = set("train.max_steps=null").unwrap();
        assert!(d["train"]["max_steps"].is_null());
        assert_eq!(d["train"]["lr"], Value::from(1.0));
        let d = set("model.dropout=0.2").unwrap();
        assert_eq!(d["model"]["dropout"], Value::from(0.2));
        let d = set("sweep.train.lr=[1e-5, 2e-5]").unwrap();
        assert_eq!(d["sweep"]["train.lr"].as_sequence().unwrap().len(), 2);
        let d = set("description=a = b").unwrap();
        assert_eq!(d["description"], Value::from("a = b"));
    }

    #[test]
    fn rejects_bad_syntax_and_unknown_paths() {
        assert!(set("train.lr").unwrap_err().1.contains("missing `=`"));
        assert!(set("=3").unwrap_err().1.contains("missing path"));
        assert!(set("train..lr=3").unwrap_err().1.contains("malformed path"));
        assert!(set("train.lr=[1,").unwrap_err().1.contains("cannot parse"));
        let (field, msg) = set("tasks[5]=rte").unwrap_err();
        assert_eq!(field, "tasks[5]");
        assert_eq!(msg, "unknown path: `tasks` has 2 items, no index 5");
        let (field, msg) = set("name.first=x").unwrap_err();
        assert_eq!(field, "name.first");
        assert_eq!(
            msg,
            "unknown path: `name` is a string, it has no field `first`"
        );
    }
}
