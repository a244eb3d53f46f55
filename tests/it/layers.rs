//! The crate's top-level modules import only down the layers `src/lib.rs` documents, and never
//! in a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::project_root;

/// The layers as `src/lib.rs` states them, highest first.
fn layers(lib: &str) -> Vec<Vec<String>> {
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let start = docs
        .iter()
        .position(|l| *l == "## Layers")
        .expect("a Layers section");
    docs[start..]
        .iter()
        .skip_while(|l| **l != "```text")
        .skip(1)
        .take_while(|l| **l != "```")
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// The `.rs` files of a top-level module: `src/<name>.rs` and everything under `src/<name>/`.
fn sources(src: &Path, module: &str) -> Vec<std::path::PathBuf> {
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.map(|e| e.unwrap().path()) {
            match entry.is_dir() {
                true => dirs.push(entry),
                false if entry.extension().is_some_and(|e| e == "rs") => files.push(entry),
                false => {}
            }
        }
    }
    files.retain(|f| f.exists());
    files
}

/// The top-level modules `module`'s code names as `crate::<name>` (comments aside).
fn imports(src: &Path, module: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let path = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut found = BTreeSet::new();
    for file in sources(src, module) {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for name in path.captures_iter(line).map(|c| c[1].to_string()) {
                if name != module && known.contains(&name) {
                    found.insert(name);
                }
            }
        }
    }
    found
}

#[test]
fn imports_go_down_the_documented_layers_and_never_round() {
    let src = project_root().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layers = layers(&lib);
    assert!(layers.len() >= 5, "{layers:?}");
    let rank: BTreeMap<String, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.clone(), i)))
        .collect();
    // Every module lib.rs declares has a layer, and every layer names a module.
    let declared: BTreeSet<String> = regex::Regex::new(r"(?m)^pub(?:\(crate\))? mod (\w+);")
        .unwrap()
        .captures_iter(&lib)
        .map(|c| c[1].to_string())
        .collect();
    let ranked: BTreeSet<String> = rank.keys().cloned().collect();
    assert_eq!(declared, ranked, "lib.rs's modules and its layers differ");

    let graph: BTreeMap<String, BTreeSet<String>> = declared
        .iter()
        .map(|m| (m.clone(), imports(&src, m, &declared)))
        .collect();
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
        .filter(|(from, to)| rank[*to] < rank[*from])
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    assert!(upward.is_empty(), "imports against the layers: {upward:?}");

    // No circle, even within a layer: depth-first search for a back edge.
    fn visit<'g>(
        node: &'g str,
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'g str>,
        done: &mut BTreeSet<&'g str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut circle: Vec<String> = path[at..].iter().map(|n| n.to_string()).collect();
            circle.push(node.to_string());
            return Some(circle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in &graph[node] {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        let circle = visit(module, &graph, &mut Vec::new(), &mut done);
        assert!(
            circle.is_none(),
            "a circle: {}",
            circle.unwrap().join(" → ")
        );
    }
}
