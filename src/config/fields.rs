//! Typed reading of a located YAML tree, collecting every problem instead of stopping early.
//!
//! A mapping is read through [`Fields`]: the decoder asks for each key it knows (with its
//! aliases) and whatever was never asked for is reported as unknown, with a suggestion drawn
//! from the keys that were asked for. So the list of known keys is the decoding code itself.

use std::collections::BTreeMap;

use super::diagnostic::Diagnostic;
use super::yaml::{Key, Node, Pos, Value};

/// A keyword's spellings, named once: the decoder reads them and errors list them.
pub(super) trait Keyword: Copy + 'static {
    const ALL: &'static [(&'static str, Self)];
}

/// Collects errors and warnings while a document is decoded.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    /// When set, the keys each mapping was asked for, by the mapping's position: the
    /// decoder's own table of keys, which `laminar schema` is made from.
    pub asked: Option<BTreeMap<Pos, Asked>>,
    /// With `asked`: the keywords each keyword value may take, by the value's position.
    pub keywords: BTreeMap<Pos, Vec<&'static str>>,
}

/// The keys the decoder asked one mapping for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Asked {
    /// Every key and alias.
    pub known: Vec<&'static str>,
    /// The keys it may not lack.
    pub required: Vec<&'static str>,
    /// (alias, key) pairs: an alias takes what its key takes.
    pub aliases: Vec<(&'static str, &'static str)>,
}

impl Decoder {
    pub(super) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            pos,
            message: message.into(),
        });
    }

    pub(super) fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            pos,
            message: message.into(),
        });
    }

    fn expected(&mut self, node: &Node, what: &str) {
        self.error(
            node.pos,
            format!("expected {what}, found {}", node.value.kind()),
        );
    }

    /// Opens a mapping; `null` (an empty section) reads as an empty mapping.
    pub(super) fn fields<'n>(&mut self, node: &'n Node) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields::new(entries, node.pos)),
            Value::Null => Some(Fields::new(&[], node.pos)),
            _ => {
                self.expected(node, "a mapping");
                None
            }
        }
    }

    /// A list; a single value where a list is expected is an error, `null` an empty list.
    pub(super) fn list<'n>(&mut self, node: &'n Node) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.expected(node, "a list");
                &[]
            }
        }
    }

    pub(super) fn string(&mut self, node: &Node) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            // Unquoted integers are fine where text is expected (`branch: 2024`); a float would
            // not read back as written (`1.10` is 1.1), so it must be quoted.
            Value::Int(i) => Some(i.to_string()),
            Value::Float(_) => {
                self.error(node.pos, "expected a string, found a number: quote it");
                None
            }
            _ => {
                self.expected(node, "a string");
                None
            }
        }
    }

    /// A non-empty string.
    pub(super) fn text(&mut self, node: &Node) -> Option<String> {
        let s = self.string(node)?;
        if s.trim().is_empty() {
            self.error(node.pos, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// One of `K`'s keywords; `key` names the setting in the error.
    pub(super) fn keyword<K: Keyword>(&mut self, node: &Node, key: &str) -> Option<K> {
        if self.asked.is_some() {
            let names = K::ALL.iter().map(|(name, _)| *name).collect();
            self.keywords.insert(node.pos, names);
        }
        let text = self.text(node)?;
        let found = K::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, k)| *k);
        if found.is_none() {
            let names: Vec<&str> = K::ALL.iter().map(|(name, _)| *name).collect();
            self.error(
                node.pos,
                format!(
                    "unknown {key} {text:?}: expected one of {}",
                    names.join(", ")
                ),
            );
        }
        found
    }

    pub(super) fn bool(&mut self, node: &Node) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.expected(node, "true or false");
                None
            }
        }
    }

    /// An integer from `min` to `max`.
    pub(super) fn whole_number(&mut self, node: &Node, min: u64, max: u64) -> Option<u64> {
        match node.value {
            Value::Int(n) if (i128::from(min)..=i128::from(max)).contains(&n) => Some(n as u64),
            _ => {
                self.error(
                    node.pos,
                    format!("expected a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    /// A list of strings.
    pub(super) fn strings(&mut self, node: &Node) -> Vec<String> {
        self.list(node)
            .iter()
            .filter_map(|item| self.string(item))
            .collect()
    }
}

/// The entries of one mapping, tracking which keys were read.
pub(super) struct Fields<'n> {
    entries: &'n [(Key, Node)],
    read: Vec<bool>,
    /// Every key name (and alias) the decoder asked for, for suggestions.
    known: Vec<&'static str>,
    required: Vec<&'static str>,
    aliases: Vec<(&'static str, &'static str)>,
    pub pos: Pos,
}

impl<'n> Fields<'n> {
    fn new(entries: &'n [(Key, Node)], pos: Pos) -> Fields<'n> {
        Fields {
            entries,
            read: vec![false; entries.len()],
            known: Vec::new(),
            required: Vec::new(),
            aliases: Vec::new(),
            pos,
        }
    }

    /// The value of `name`, or of one of its `aliases`. `null` counts as absent. Giving both
    /// a key and its alias is an error.
    pub(super) fn get(
        &mut self,
        d: &mut Decoder,
        name: &'static str,
        aliases: &[&'static str],
    ) -> Option<&'n Node> {
        self.known.push(name);
        self.known.extend_from_slice(aliases);
        self.aliases
            .extend(aliases.iter().map(|alias| (*alias, name)));
        let mut found: Option<&'n (Key, Node)> = None;
        for (i, entry) in self.entries.iter().enumerate() {
            let key = entry.0.name.as_str();
            if key != name && !aliases.contains(&key) {
                continue;
            }
            self.read[i] = true;
            match found {
                Some(first) => d.error(
                    entry.0.pos,
                    format!("\"{key}\" repeats \"{}\": give only one", first.0.name),
                ),
                None => found = Some(entry),
            }
        }
        found
            .map(|(_, node)| node)
            .filter(|node| node.value != Value::Null)
    }

    /// Like [`Fields::get`], but a missing key is an error.
    pub(super) fn require(
        &mut self,
        d: &mut Decoder,
        name: &'static str,
        aliases: &[&'static str],
    ) -> Option<&'n Node> {
        self.required.push(name);
        let node = self.get(d, name, aliases);
        if node.is_none() {
            d.error(self.pos, format!("missing key \"{name}\""));
        }
        node
    }

    /// Reports every key that was never asked for.
    pub(super) fn finish(self, d: &mut Decoder) {
        if let Some(asked) = d.asked.as_mut() {
            asked.insert(
                self.pos,
                Asked {
                    known: self.known.clone(),
                    required: self.required.clone(),
                    aliases: self.aliases.clone(),
                },
            );
        }
        for (entry, read) in self.entries.iter().zip(&self.read) {
            if *read {
                continue;
            }
            let key = &entry.0;
            let message = match suggest(&key.name, &self.known) {
                Some(near) => format!("unknown key \"{}\" (did you mean \"{near}\"?)", key.name),
                None => format!(
                    "unknown key \"{}\" (expected one of: {})",
                    key.name,
                    self.known.join(", ")
                ),
            };
            d.error(key.pos, message);
        }
    }
}

/// The known key closest to a mistyped one, if any is close enough to be a likely typo.
pub(super) fn suggest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let typed_lower = typed.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&typed_lower, &k.to_lowercase()), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let doc = parse("pollfreq: 1\nname: x\nzzz: 2\n").unwrap();
        let mut d = Decoder::default();
        let mut f = d.fields(&doc).unwrap();
        assert!(f.get(&mut d, "name", &[]).is_some());
        assert!(f.get(&mut d, "pollFreq", &[]).is_none());
        f.finish(&mut d);
        let messages: Vec<_> = d
            .errors
            .iter()
            .map(|e| (e.pos.line, e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (1, "unknown key \"pollfreq\" (did you mean \"pollFreq\"?)"),
                (3, "unknown key \"zzz\" (expected one of: name, pollFreq)"),
            ]
        );
    }

    #[test]
    fn aliases_are_read_but_not_both() {
        let doc = parse("exec: [a]\npreCommitCommands: [b]\n").unwrap();
        let mut d = Decoder::default();
        let mut f = d.fields(&doc).unwrap();
        let node = f.get(&mut d, "exec", &["preCommitCommands"]).unwrap();
        assert_eq!(d.strings(node), ["a"]);
        f.finish(&mut d);
        assert_eq!(d.errors.len(), 1);
        assert!(d.errors[0].message.contains("give only one"));
    }

    #[test]
    fn wrong_types_are_reported_and_decoding_goes_on() {
        let doc = parse("a: [1]\nb: {}\nc: yes\n").unwrap();
        let mut d = Decoder::default();
        let mut f = d.fields(&doc).unwrap();
        let a = f.get(&mut d, "a", &[]).unwrap();
        assert_eq!(d.string(a), None);
        let b = f.get(&mut d, "b", &[]).unwrap();
        assert_eq!(d.bool(b), None);
        f.require(&mut d, "missing", &[]);
        f.finish(&mut d);
        let messages: Vec<_> = d.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "expected a string, found a list",
                "expected true or false, found a mapping",
                "missing key \"missing\"",
                "unknown key \"c\" (expected one of: a, b, missing)",
            ]
        );
    }
}
