//! The JSON Schemas under `schema/`: what `laminar schema` prints, and what every example
//! config is checked against by a real validator (check-jsonschema, from PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Dir, laminar_stdout, project_root};

fn validate(schema: &Path, files: &[PathBuf]) -> (bool, String) {
    let output = Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(schema)
        .args(files)
        .output()
        .expect("check-jsonschema (scripts/install-deps.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn configs() -> Vec<PathBuf> {
    let root = project_root();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples/configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.push(root.join("laminar.example.yaml"));
    files.push(root.join("examples/quickstart/laminar.yaml"));
    files.sort();
    files
}

#[test]
fn the_committed_schemas_are_what_laminar_schema_prints() {
    let root = project_root();
    for (file, args) in [
        ("schema/laminar.schema.json", &["schema"][..]),
        (
            "schema/laminar-remote.schema.json",
            &["schema", "--remote"][..],
        ),
    ] {
        let committed = std::fs::read_to_string(root.join(file)).unwrap();
        assert_eq!(
            committed,
            laminar_stdout(args),
            "{file} is stale: regenerate it with laminar {}",
            args.join(" ")
        );
    }
}

#[test]
fn every_example_config_names_its_schema_and_validates_against_it() {
    let root = project_root();
    let schema = root.join("schema/laminar.schema.json");
    let files = configs();
    assert!(files.len() > 5);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("# yaml-language-server: $schema=")
                && first.ends_with("schema/laminar.schema.json"),
            "{}: {first}",
            file.display()
        );
        // The path is relative to the file, as editors read it.
        let relative = first.rsplit('=').next().unwrap();
        assert!(file.parent().unwrap().join(relative).is_file(), "{first}");
    }
    let (ok, out) = validate(&schema, &files);
    assert!(ok, "{out}");
    let remote = root.join("examples/remote-laminar.yaml");
    let (ok, out) = validate(&root.join("schema/laminar-remote.schema.json"), &[remote]);
    assert!(ok, "{out}");

    // A mistyped key fails, as laminar check fails it.
    let dir = Dir::new();
    dir.write(
        "bad.yaml",
        "dockerRegistries:\n- reg: r.io/a\ngit:\n- name: x\n  url: u\n  branch: main\n  pollfreq: 1\n  updates: []\n",
    );
    let (ok, out) = validate(&schema, &[dir.path().join("bad.yaml")]);
    assert!(!ok && out.contains("pollfreq"), "{out}");
}
