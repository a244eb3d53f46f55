//! JSON Schemas (2020-12) for `laminar.yaml` and a repo's `.laminar.yaml`, for editors.
//!
//! They are made by the decoder itself: it decodes sample documents that use every section,
//! recording the keys each mapping was asked for ([`Decoder::asked`]) — the same table that
//! reports unknown keys — and the schema takes its shape (mappings, lists, scalars) from the
//! samples. A key the decoder learns is in the schema without anyone writing it down twice.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json, json};

use super::fields::{Asked, Decoder};
use super::yaml::{self, Node, Pos, Value};
use super::{Environment, decode};

const SAMPLE: &str = include_str!("schema/sample.yaml");
const REMOTE_SAMPLE: &str = include_str!("schema/remote.yaml");

/// The schema of `laminar.yaml`.
pub fn config() -> Json {
    let env = Environment::default();
    document(
        SAMPLE,
        "laminar.yaml",
        "laminar's configuration",
        |doc, d| {
            decode::config(doc, d, &env);
        },
    )
}

/// The schema of a repo's own `.laminar.yaml`.
pub fn remote() -> Json {
    document(
        REMOTE_SAMPLE,
        ".laminar.yaml",
        "a repo's own update rules for laminar",
        |doc, d| {
            decode::remote(doc, d);
        },
    )
}

fn document(
    sample: &str,
    title: &str,
    description: &str,
    decode: impl Fn(&Node, &mut Decoder),
) -> Json {
    let doc = yaml::parse(sample).expect("the schema samples are valid YAML");
    let mut d = Decoder {
        asked: Some(BTreeMap::new()),
        ..Decoder::default()
    };
    decode(&doc, &mut d);
    let read = Read {
        asked: d.asked.unwrap_or_default(),
        keywords: d.keywords,
    };
    let mut schema = match shape(&doc, &read).to_json() {
        Json::Object(map) => map,
        _ => Map::new(),
    };
    let mut head = Map::new();
    head.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    head.insert("title".into(), json!(title));
    head.insert("description".into(), json!(description));
    head.append(&mut schema);
    Json::Object(head)
}

/// What the samples show of one place in the document; several samples' shapes merge.
#[derive(Clone, Debug, Default)]
struct Shape {
    /// A mapping: its keys (each with what the sample held there, if anything) and the ones
    /// it requires.
    object: Option<Object>,
    /// A list: what its items hold.
    array: Option<Box<Shape>>,
    /// Scalars: JSON type names.
    scalars: BTreeSet<&'static str>,
    /// A keyword: the values it may take.
    keywords: BTreeSet<&'static str>,
}

/// What the decoder recorded while it read the samples.
struct Read {
    asked: BTreeMap<Pos, Asked>,
    keywords: BTreeMap<Pos, Vec<&'static str>>,
}

#[derive(Clone, Debug, Default)]
struct Object {
    keys: BTreeMap<String, Shape>,
    required: BTreeSet<String>,
}

fn shape(node: &Node, read: &Read) -> Shape {
    let mut found = Shape::default();
    if let Some(keywords) = read.keywords.get(&node.pos) {
        found.keywords.extend(keywords);
        return found;
    }
    match &node.value {
        Value::Map(entries) => {
            let mut object = Object::default();
            let table = read.asked.get(&node.pos);
            for key in table.iter().flat_map(|t| &t.known) {
                object.keys.entry(key.to_string()).or_default();
            }
            object.required = table
                .iter()
                .flat_map(|t| &t.required)
                .map(|k| k.to_string())
                .collect();
            // Only what the decoder asked for: the samples hold nothing else.
            for (key, value) in entries {
                if let Some(slot) = object.keys.get_mut(&key.name) {
                    slot.merge(shape(value, read));
                }
            }
            for (alias, key) in table.iter().flat_map(|t| &t.aliases) {
                let Some(mut same) = object.keys.get(*key).cloned() else {
                    continue;
                };
                if let Some(slot) = object.keys.get_mut(*alias) {
                    std::mem::swap(slot, &mut same);
                    slot.merge(same);
                }
            }
            found.object = Some(object);
        }
        Value::Seq(items) => {
            let mut item = Shape::default();
            for node in items {
                item.merge(shape(node, read));
            }
            found.array = Some(Box::new(item));
        }
        Value::Bool(_) => {
            found.scalars.insert("boolean");
        }
        // The decoder reads numbers where text is wanted and text where a number or a
        // duration is (`pollFreq: 1m`), so a scalar that is not a boolean may be either.
        Value::Int(_) | Value::Float(_) | Value::Str(_) => {
            found.scalars.extend(["string", "number"]);
        }
        Value::Null => {}
    }
    found
}

impl Shape {
    fn merge(&mut self, other: Shape) {
        match (&mut self.object, other.object) {
            (Some(mine), Some(theirs)) => {
                // Required only where every sample's mapping required it.
                mine.required = mine
                    .required
                    .intersection(&theirs.required)
                    .cloned()
                    .collect();
                for (key, shape) in theirs.keys {
                    mine.keys.entry(key).or_default().merge(shape);
                }
            }
            (None, Some(theirs)) => self.object = Some(theirs),
            (_, None) => {}
        }
        match (&mut self.array, other.array) {
            (Some(mine), Some(theirs)) => mine.merge(*theirs),
            (None, Some(theirs)) => self.array = Some(theirs),
            (_, None) => {}
        }
        self.scalars.extend(other.scalars);
        self.keywords.extend(other.keywords);
    }

    fn to_json(&self) -> Json {
        let mut forms = Vec::new();
        if let Some(object) = &self.object {
            let properties: Map<String, Json> = object
                .keys
                .iter()
                .map(|(key, shape)| (key.clone(), shape.to_json()))
                .collect();
            // A mapping whose keys the decoder asks for none of (an attestation's `match`) is
            // the user's own: any key, string values.
            let others = match object.keys.is_empty() {
                true => json!({"type": "string"}),
                false => json!(false),
            };
            let mut form = json!({
                "type": "object",
                "properties": properties,
                "additionalProperties": others,
            });
            if !object.required.is_empty() {
                form["required"] = json!(object.required);
            }
            forms.push(form);
        }
        if let Some(items) = &self.array {
            forms.push(json!({ "type": "array", "items": items.to_json() }));
        }
        if !self.keywords.is_empty() {
            forms.push(json!({ "enum": self.keywords }));
        }
        if !self.scalars.is_empty() {
            let types: Vec<&str> = self.scalars.iter().copied().collect();
            forms.push(match types.as_slice() {
                [one] => json!({ "type": one }),
                _ => json!({ "type": types }),
            });
        }
        match forms.len() {
            0 => json!({}),
            1 => forms.remove(0),
            _ => json!({ "anyOf": forms }),
        }
    }
}

/// Every key name anywhere in `schema`.
pub fn keys(schema: &Json) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![schema];
    while let Some(node) = stack.pop() {
        match node {
            Json::Object(map) => {
                if let Some(Json::Object(properties)) = map.get("properties") {
                    found.extend(properties.keys().cloned());
                }
                stack.extend(map.values());
            }
            Json::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key name the decoder's source asks for: `get`/`require` calls (with their
    /// aliases), secrets' pairs of keys, and the fields of one-key list items.
    fn keys_in_decoder_source() -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let calls = regex::Regex::new(
            r#"(?:get|require)\(d,"(\w+)",&\[([^\]]*)\]|secret\(d,&mutf,env,"(\w+)","(\w+)"\)|checked_list\(d,node,"(\w+)""#,
        )
        .unwrap();
        // Every decoder file of the config module: a section moved to a file of its own is
        // still read.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        for path in files {
            let source: String = std::fs::read_to_string(path)
                .unwrap()
                .split_whitespace()
                .collect();
            for found in calls.captures_iter(&source) {
                for group in found.iter().skip(1).flatten() {
                    keys.extend(
                        group
                            .as_str()
                            .split(',')
                            .map(|k| k.trim_matches('"').to_string())
                            .filter(|k| !k.is_empty()),
                    );
                }
            }
        }
        keys
    }

    #[test]
    fn every_key_the_decoder_accepts_is_in_the_schema() {
        let mut schema_keys = keys(&config());
        schema_keys.extend(keys(&remote()));
        let source = keys_in_decoder_source();
        assert!(source.len() > 100, "{source:?}");
        let missing: Vec<&String> = source.difference(&schema_keys).collect();
        assert!(
            missing.is_empty(),
            "keys missing from the schema: {missing:?}"
        );
    }

    #[test]
    fn the_schema_refuses_unknown_keys_and_knows_required_ones() {
        let schema = config();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["dockerRegistries", "git"]));
        let repo = &schema["properties"]["git"]["items"];
        assert_eq!(
            repo["required"],
            json!(["branch", "name", "updates", "url"])
        );
        assert!(
            repo["properties"]["exec"]["anyOf"].is_array()
                || repo["properties"]["exec"]["type"] == "array"
        );
        let rule = &repo["properties"]["updates"]["items"];
        assert_eq!(
            rule["properties"]["blacklist"],
            rule["properties"]["exclude"]
        );
        let remote = remote();
        assert_eq!(
            keys(&remote)
                .into_iter()
                .filter(|k| k == "updates" || k == "exec")
                .count(),
            2
        );
        assert!(remote["properties"]["preCommitCommands"].is_object());
    }

    #[test]
    fn keywords_are_listed_from_the_tables_the_decoder_reads() {
        let schema = config();
        let global = &schema["properties"]["global"]["properties"];
        assert_eq!(
            global["statusPage"],
            json!({"enum": ["off", "public", "token"]})
        );
        assert_eq!(global["metricsAuth"], json!({"enum": ["public", "token"]}));
        let webhook = &schema["properties"]["webhooks"]["items"]["properties"];
        let kinds: Vec<&str> = <super::super::WebhookKind as super::super::fields::Keyword>::ALL
            .iter()
            .map(|(name, _)| *name)
            .collect();
        let listed: Vec<&str> = webhook["kind"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
    }
}
