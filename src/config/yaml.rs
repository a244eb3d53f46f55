//! A YAML document as a tree of nodes that each remember where they were written.
//!
//! The config decoder walks this tree by hand instead of deriving `Deserialize` on the config
//! structs: that way it can report *every* problem in a file (unknown keys, wrong types, bad
//! patterns) with its line and column, rather than stopping at serde's first error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// 1-based line and column (in characters) of a node in its source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// One YAML node and its position.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// The shapes a YAML node can take once parsed.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own positions so unknown keys can be pointed at.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and its position.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Key {
    pub name: String,
    pub pos: Pos,
}

/// A YAML syntax error, located.
#[derive(Debug)]
pub(super) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one YAML document into a located tree. Tags (`!!python/object:…`, `!secret`) are
/// refused rather than silently dropped: a config has no use for them.
pub(super) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    options.reject_unsupported_tags = true;
    match serde_saphyr::from_str_with_options::<Spanned<Value>>(text, options) {
        Ok(spanned) => Ok(node(spanned)),
        Err(err) => {
            let pos = err.location().map(pos_of).unwrap_or_default();
            Err(SyntaxError {
                pos,
                message: user_message(err.without_snippet()),
            })
        }
    }
}

/// Bytes that must be UTF-8 text, with the line and column of the first byte that is not.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, SyntaxError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let before = String::from_utf8_lossy(&valid[line_start..]);
        SyntaxError {
            pos: Pos {
                line: 1 + valid.iter().filter(|&&b| b == b'\n').count() as u64,
                column: 1 + before.chars().count() as u64,
            },
            message: "the file is not UTF-8 text".into(),
        }
    })
}

/// The parser's error in the user's terms: no hints aimed at programmers using the library.
fn user_message(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error;
    match err {
        Error::DuplicateMappingKey { key: Some(key), .. } => format!("duplicate key \"{key}\""),
        Error::DuplicateMappingKey { key: None, .. } => "duplicate key".into(),
        Error::MultipleDocuments { .. } => {
            "more than one YAML document (a `---` separator): the file must hold exactly one".into()
        }
        Error::UnsupportedTag { tag, .. } => {
            format!("YAML tags such as \"{tag}\" are not allowed: write the plain value")
        }
        other => {
            let text = other.render_with_formatter(&serde_saphyr::UserMessageFormatter);
            // Limits are reported with the library's counters, some wrapped in alias context.
            if text.contains("too large or too complex") {
                TOO_LARGE.into()
            } else {
                bare_message(&text)
            }
        }
    }
}

const TOO_LARGE: &str =
    "the document is too large or too deeply nested, or expands too many aliases";

/// The parser's message without its own " at line L, column C" suffix: callers print the
/// position themselves, in `file:line:column:` form.
fn bare_message(text: &str) -> String {
    let first = text.lines().next().unwrap_or(text).trim();
    match first.rfind(" at line ") {
        Some(cut) => first[..cut].to_string(),
        None => first.to_string(),
    }
}

fn pos_of(location: serde_saphyr::Location) -> Pos {
    Pos {
        line: location.line(),
        column: location.column(),
    }
}

fn node(spanned: Spanned<Value>) -> Node {
    Node {
        value: spanned.value,
        pos: pos_of(spanned.referenced),
    }
}

impl Value {
    /// What the node is, as a user would call it in an error message.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(node(item));
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyName>>()? {
            let value = node(map.next_value::<Spanned<Value>>()?);
            let key = Key {
                name: key.value.0,
                pos: pos_of(key.referenced),
            };
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// Mapping keys are read as text whatever their YAML type (`1: x` has key "1").
struct KeyName(String);

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::Str(s) => Ok(KeyName(s)),
            Value::Int(i) => Ok(KeyName(i.to_string())),
            Value::Bool(b) => Ok(KeyName(b.to_string())),
            Value::Null => Ok(KeyName("null".into())),
            other => Err(de::Error::custom(format!(
                "a mapping key must be a scalar, not {}",
                other.kind()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Key, Node)] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    #[test]
    fn keys_and_values_carry_their_positions() {
        let doc = parse("a: 1\nb:\n  - x\n  - {p: 'q'}\nc: ~\n").unwrap();
        let entries = map(&doc);
        assert_eq!(entries[0].0.name, "a");
        assert_eq!(entries[0].1.value, Value::Int(1));
        assert_eq!(entries[0].1.pos, Pos { line: 1, column: 4 });
        assert_eq!(entries[2].0.pos, Pos { line: 5, column: 1 });
        assert_eq!(entries[2].1.value, Value::Null);
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("b is a list")
        };
        assert_eq!(items[0].value, Value::Str("x".into()));
        let inner = map(&items[1]);
        assert_eq!(inner[0].0.name, "p");
        assert_eq!(inner[0].1.pos, Pos { line: 4, column: 9 });
    }

    #[test]
    fn duplicate_keys_are_a_located_error() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, column: 1 });
        assert!(err.message.contains("duplicate"), "{}", err.message);
        assert!(!err.message.contains("at line"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("a: [1\n").unwrap_err();
        assert_eq!(err.pos.line, 1);
    }

    #[test]
    fn an_empty_document_is_null() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap().value, Value::Null);
    }
}
