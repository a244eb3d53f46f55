//! Recall and precision on real manifests from public repositories (`tests/corpus/`, sources
//! and licences in its `SOURCES.md`), against a table of references read by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use laminar::image::scanner::Scanner;
use laminar::image::walk::scan_paths;

use crate::util::project_root;

const REGISTRIES: &[&str] = &[
    "docker.io",
    "ghcr.io",
    "public.ecr.aws",
    "mcr.microsoft.com",
    "gcr.io",
    "us-central1-docker.pkg.dev",
    "quay.io",
];

/// Classic Helm repositories, as (name, `host/path` of the URL).
const CHART_REPOSITORIES: &[(&str, &str)] = &[
    ("argo", "argoproj.github.io/argo-helm"),
    ("podinfo", "stefanprodan.github.io/podinfo"),
];

/// (file, line, form, image, tag)
type Row = (String, usize, String, String, String);

fn table(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(project_root().join("tests/corpus").join(name)).unwrap();
    text.lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn every_hand_listed_reference_is_found_and_nothing_else() {
    let root = project_root().join("tests/corpus");
    let scanner = Scanner::new(REGISTRIES)
        .unwrap()
        .with_chart_repositories(CHART_REPOSITORIES.iter().copied())
        .unwrap();
    let files = scan_paths(&root, &[PathBuf::from(".")], &scanner, 1 << 20).unwrap();
    let found: BTreeSet<Row> = files
        .iter()
        .flat_map(|f| {
            f.refs.iter().map(move |r| {
                let form = r.form.as_str().to_string();
                (
                    f.display_path(),
                    r.line,
                    form,
                    r.image.clone(),
                    r.tag.clone(),
                )
            })
        })
        .collect();
    let expected: BTreeSet<Row> = table("expected.tsv")
        .into_iter()
        .map(|c| {
            let line = c[1].parse().unwrap();
            (c[0].clone(), line, c[2].clone(), c[3].clone(), c[4].clone())
        })
        .collect();
    let mut per_form: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for row in &expected {
        let entry = per_form.entry(row.2.as_str()).or_default();
        entry.1 += 1;
        entry.0 += usize::from(found.contains(row));
    }
    for (form, (hit, all)) in &per_form {
        println!("recall {form}: {hit}/{all}");
    }
    let missed: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    println!(
        "recall {}/{}, precision {}/{}",
        expected.len() - missed.len(),
        expected.len(),
        found.len() - extra.len(),
        found.len()
    );
    assert!(missed.is_empty(), "missed: {missed:#?}");
    assert!(extra.is_empty(), "not in the table: {extra:#?}");

    let unmanaged: BTreeSet<(String, usize, String, String)> = files
        .iter()
        .flat_map(|f| {
            f.unmanaged.iter().map(move |u| {
                let reason = serde_json::to_value(u.reason).unwrap();
                (
                    f.display_path(),
                    u.line,
                    u.form.as_str().to_string(),
                    reason.as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    let listed: BTreeSet<(String, usize, String, String)> = table("unmanaged.tsv")
        .into_iter()
        .map(|c| {
            (
                c[0].clone(),
                c[1].parse().unwrap(),
                c[2].clone(),
                c[3].clone(),
            )
        })
        .collect();
    assert_eq!(unmanaged, listed);
}
