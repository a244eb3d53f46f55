//! Following the remote by its differences: after outside commits, the working tree is moved
//! by writing only the files that changed, and the scan is patched by re-reading only those —
//! and both end exactly where a full reset and a full scan would.

use std::path::PathBuf;

use laminar::config::{Environment, Repo, parse};
use laminar::git::{Coverage, Identity, Workspace};
use laminar::image::scanner::Scanner;
use laminar::image::walk::{FileRefs, Starts, patch_scan, scan_paths, scan_starts};
use proptest::prelude::*;

use crate::fixtures::git::{BareRepo, git};
use crate::util::Dir;

/// One outside change to the repo.
#[derive(Clone, Debug)]
enum Change {
    /// A text file under `dir` with `refs` references.
    Write {
        dir: usize,
        file: usize,
        refs: usize,
        tag: usize,
    },
    /// A file that is binary (a NUL byte) but holds a reference.
    Binary {
        file: usize,
    },
    /// Line-ending rules: files under `dev/` are written with CRLF from then on.
    Attributes,
    Delete {
        dir: usize,
        file: usize,
    },
    /// A symlink under `dev/` to another file.
    Link {
        file: usize,
        target: usize,
    },
}

const DIRS: [&str; 3] = ["dev", "dev/nested", "other"];

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (0..3usize, 0..4usize, 0..3usize, 0..50usize)
            .prop_map(|(dir, file, refs, tag)| Change::Write { dir, file, refs, tag }),
        1 => (0..4usize).prop_map(|file| Change::Binary { file }),
        2 => (0..3usize, 0..4usize).prop_map(|(dir, file)| Change::Delete { dir, file }),
        1 => (0..4usize, 0..4usize).prop_map(|(file, target)| Change::Link { file, target }),
        1 => Just(Change::Attributes),
    ]
}

fn apply(remote: &BareRepo, change: &Change) {
    let root = &remote.outside;
    match change {
        Change::Write {
            dir,
            file,
            refs,
            tag,
        } => {
            let text: String = (0..*refs)
                .map(|n| format!("image{n}: reg.io/acme/app:develop-{tag}\n"))
                .collect();
            remote.write(
                &format!("{}/f{file}.yaml", DIRS[*dir]),
                &format!("# file\n{text}"),
            );
        }
        Change::Binary { file } => {
            remote.write(
                &format!("dev/b{file}.bin"),
                "reg.io/acme/app:develop-9\0binary",
            );
        }
        Change::Delete { dir, file } => {
            let _ = std::fs::remove_file(root.join(format!("{}/f{file}.yaml", DIRS[*dir])));
        }
        Change::Attributes => remote.write("dev/.gitattributes", "*.yaml text eol=crlf\n"),
        Change::Link { file, target } => {
            let link = root.join(format!("dev/l{file}.yaml"));
            let _ = std::fs::remove_file(&link);
            std::fs::create_dir_all(root.join("dev")).unwrap();
            std::os::unix::fs::symlink(format!("f{target}.yaml"), link).unwrap();
        }
    }
}

/// Every file under `root` but `.git`, with its bytes (a symlink: its target).
fn contents(root: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if entry.file_name() == ".git" {
                continue;
            } else if kind.is_dir() {
                pending.push(path);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                found.push((
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    target.into_os_string().into_encoded_bytes(),
                ));
            } else {
                found.push((
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    found.sort();
    found
}

/// A second working copy of `repo` under `data`, brought to the remote head by a full reset
/// from wherever it was (its saved memo removed, so it cannot move by differences).
fn reset_checkout(repo: &Repo, data: &Dir, coverage: &Coverage) -> PathBuf {
    if let Ok(entries) = std::fs::read_dir(data.path().join("workspaces")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".memo.json") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
    let mut workspace = Workspace::open(data.path(), repo, identity(), None).unwrap();
    workspace.want(coverage.clone());
    let synced = workspace.sync().unwrap();
    assert!(
        synced.changed.is_none() || synced.previous.is_none(),
        "reset whole"
    );
    workspace.dir().to_path_buf()
}

fn repo(url: &str) -> Repo {
    let text = format!(
        "dockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: m\n  url: {url}\n  branch: main\n  updates:\n  - pattern: glob:develop-*\n    files: [dev/, other/f0.yaml]\n"
    );
    let loaded = parse(
        std::path::Path::new("laminar.yaml"),
        &text,
        &Environment::default(),
    )
    .unwrap();
    loaded.config.repos.into_iter().next().unwrap()
}

fn identity() -> Identity {
    Identity {
        name: "Laminar".into(),
        email: "laminar@example.org".into(),
        signing: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn an_incremental_scan_equals_a_full_scan(
        commits in prop::collection::vec(prop::collection::vec(change(), 1..4), 1..6),
        partial in any::<bool>(),
    ) {
        let remote = BareRepo::new(&[("dev/f0.yaml", "image: reg.io/acme/app:develop-1\n")]);
        let repo = repo(remote.bare.to_str().unwrap());
        let data = Dir::new();
        let resets = Dir::new();
        let scanner = Scanner::new(["reg.io/acme"]).unwrap();
        let paths: Vec<PathBuf> = repo.scan_paths();
        // A partial workspace holds only the rules' paths.
        let coverage = match partial {
            true => Coverage::of(paths.clone()),
            false => Coverage::Full,
        };
        let status_of: Vec<&str> = match partial {
            true => vec!["status", "--porcelain", "--", "dev", "other/f0.yaml"],
            false => vec!["status", "--porcelain"],
        };
        let mut workspace = Workspace::open(data.path(), &repo, identity(), None).unwrap();
        workspace.want(coverage.clone());
        workspace.sync().unwrap();
        let dir = workspace.dir().to_path_buf();
        let mut starts = Starts::resolve(&dir, &paths).unwrap();
        let mut files: Vec<FileRefs> = scan_starts(&starts, &scanner, 1 << 20).unwrap();
        // The oracle follows the same commits, each by a full reset.
        reset_checkout(&repo, &resets, &coverage);
        for (n, commit) in commits.iter().enumerate() {
            for change in commit {
                apply(&remote, change);
            }
            git(&remote.outside, &["add", "-A"]);
            if git(&remote.outside, &["status", "--porcelain"]).is_empty() {
                continue;
            }
            remote.commit_and_push(&format!("outside {n}"));
            let synced = workspace.sync().unwrap();
            let changed = synced.changed.clone().expect("moved by its differences, not reset");
            prop_assert_eq!(git(&dir, &status_of), "");
            prop_assert_eq!(git(&dir, &["rev-parse", "HEAD"]), remote.head());
            let now = Starts::resolve(&dir, &paths).unwrap();
            files = if now == starts {
                patch_scan(&now, &files, &changed, &scanner, 1 << 20)
            } else {
                scan_starts(&now, &scanner, 1 << 20).unwrap()
            };
            starts = now;
            prop_assert_eq!(&files, &scan_paths(&dir, &paths, &scanner, 1 << 20).unwrap());
            let reset = reset_checkout(&repo, &resets, &coverage);
            let on_disk = contents(&dir);
            prop_assert_eq!(&on_disk, &contents(&reset), "byte for byte what a reset gives");
            let paths_of = |files: Vec<(PathBuf, Vec<u8>)>| -> Vec<PathBuf> {
                files.into_iter().map(|(path, _)| path).filter(|p| coverage.contains(p)).collect()
            };
            let on_disk_paths: Vec<PathBuf> = on_disk.into_iter().map(|(path, _)| path).collect();
            prop_assert_eq!(on_disk_paths, paths_of(contents(&remote.outside)), "the covered files, and only those");
        }
        prop_assert_eq!(workspace.resets(), 1, "only the first checkout reset the tree");
    }
}

#[test]
fn a_one_file_commit_elsewhere_moves_one_file() {
    let remote = BareRepo::new(&[
        ("dev/f0.yaml", "image: reg.io/acme/app:develop-1\n"),
        ("docs/readme.md", "hello\n"),
    ]);
    let repo = repo(remote.bare.to_str().unwrap());
    let data = Dir::new();
    let mut workspace = Workspace::open(data.path(), &repo, identity(), None).unwrap();
    workspace.sync().unwrap();
    remote.write("docs/readme.md", "hello again\n");
    remote.commit_and_push("docs");
    let synced = workspace.sync().unwrap();
    assert_eq!(synced.changed, Some(vec![PathBuf::from("docs/readme.md")]));
    assert_eq!((workspace.resets(), workspace.tree_moves()), (1, 1));
    assert_eq!(
        std::fs::read_to_string(workspace.dir().join("docs/readme.md")).unwrap(),
        "hello again\n"
    );
}
