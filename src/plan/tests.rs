use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;
use crate::config::{Environment, parse};
use crate::image::rewrite::splice;
use crate::image::scanner::Scanner;

const CONFIG: &str = "\
dockerRegistries:
- reg: reg.io/acme
git:
- name: manifests
  url: file:///srv/manifests.git
  branch: main
  updates:
  - pattern: glob:develop-*
    files: [dev/]
  - pattern: semver:^1
    files: [.]
";

fn repo() -> Repo {
    let loaded = parse(Path::new("laminar.yaml"), CONFIG, &Environment::default()).unwrap();
    loaded.config.repos.into_iter().next().unwrap()
}

fn digest(n: u64) -> String {
    format!("sha256:{n:064x}")
}

fn develop(n: u64) -> TagInfo {
    TagInfo {
        tag: format!("develop-{n}"),
        pushed: Some(UNIX_EPOCH + Duration::from_secs(1000 + n)),
        digest: Some(digest(n)),
    }
}

fn table(images: &[&str], tags: Vec<TagInfo>) -> TagTable {
    images
        .iter()
        .map(|i| {
            (
                i.to_string(),
                ImageTags::complete(std::sync::Arc::new(tags.clone())),
            )
        })
        .collect()
}

fn scan(path: &str, text: &str) -> Vec<FileRefs> {
    let scan = Scanner::new(["reg.io/acme", "docker.io/acme"])
        .unwrap()
        .scan_file(Path::new(path), text.as_bytes());
    vec![FileRefs::of(PathBuf::from(path), scan)]
}

/// Applies a plan to in-memory text.
fn apply_text(text: &str, plan: &Plan) -> String {
    let edits: Vec<Edit> = plan.changes.iter().flat_map(Change::edits).collect();
    String::from_utf8(splice(Path::new("f"), text.as_bytes(), &edits).unwrap()).unwrap()
}

#[test]
fn moves_each_reference_by_its_own_rule() {
    let text =
        "a: reg.io/acme/app:develop-1\nb: reg.io/acme/app:develop-12\nc: reg.io/acme/app:1.0.0\n";
    let mut tags = vec![develop(1), develop(12), develop(13)];
    tags.push(TagInfo::named("1.4.2"));
    tags.push(TagInfo::named("2.0.0"));
    let plan = plan(
        &repo(),
        &scan("dev/app.yaml", text),
        &table(&["reg.io/acme/app"], tags),
        &Standing::default(),
        UNIX_EPOCH,
    );
    let moves: Vec<_> = plan
        .changes
        .iter()
        .map(|c| {
            (
                c.site.line,
                c.old_tag.as_str(),
                c.new_tag.as_str(),
                c.rule.as_str(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (1, "develop-1", "develop-13", "glob:develop-*"),
            (2, "develop-12", "develop-13", "glob:develop-*"),
            (3, "1.0.0", "1.4.2", "semver:^1"),
        ]
    );
    assert_eq!(
        apply_text(text, &plan),
        "a: reg.io/acme/app:develop-13\nb: reg.io/acme/app:develop-13\nc: reg.io/acme/app:1.4.2\n"
    );
}

#[test]
fn rules_only_cover_their_files() {
    let text = "reg.io/acme/app:develop-1\n";
    let tags = table(&["reg.io/acme/app"], vec![develop(1), develop(2)]);
    assert_eq!(
        plan(
            &repo(),
            &scan("dev/x.yaml", text),
            &tags,
            &Standing::default(),
            UNIX_EPOCH
        )
        .changes
        .len(),
        1
    );
    assert!(
        plan(
            &repo(),
            &scan("prod/x.yaml", text),
            &tags,
            &Standing::default(),
            UNIX_EPOCH
        )
        .is_empty()
    );
}

#[test]
fn pinned_digests_move_with_the_tag_or_not_at_all() {
    let text = format!("reg.io/acme/app:develop-1@{}\n", digest(1));
    let tags = table(&["reg.io/acme/app"], vec![develop(1), develop(2)]);
    let plan = plan(
        &repo(),
        &scan("dev/app.yaml", &text),
        &tags,
        &Standing::default(),
        UNIX_EPOCH,
    );
    assert_eq!(
        apply_text(&text, &plan),
        format!("reg.io/acme/app:develop-2@{}\n", digest(2))
    );

    let mut no_digest = develop(2);
    no_digest.digest = None;
    let tags = table(&["reg.io/acme/app"], vec![develop(1), no_digest]);
    let plan = super::plan(
        &repo(),
        &scan("dev/app.yaml", &text),
        &tags,
        &Standing::default(),
        UNIX_EPOCH,
    );
    assert!(plan.is_empty());
    assert!(
        plan.kept[0]
            .reason
            .to_string()
            .contains("digest is unknown"),
        "{:?}",
        plan.kept
    );
}

#[test]
fn unknown_images_and_up_to_date_references_are_kept_with_a_reason() {
    let text = "reg.io/acme/app:develop-2 reg.io/acme/other:develop-1";
    let tags = table(&["reg.io/acme/app"], vec![develop(1), develop(2)]);
    let plan = plan(
        &repo(),
        &scan("dev/app.yaml", text),
        &tags,
        &Standing::default(),
        UNIX_EPOCH,
    );
    let reasons: Vec<_> = plan
        .kept
        .iter()
        .map(|k| (k.image.as_str(), k.reason.to_string()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "reg.io/acme/app",
                "already the newest allowed tag".to_string()
            ),
            (
                "reg.io/acme/other",
                "no tags are known for this image".to_string()
            ),
        ]
    );
}

#[test]
fn apply_rewrites_files_in_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dev")).unwrap();
    let file = dir.path().join("dev/app.yaml");
    std::fs::write(&file, "image: reg.io/acme/app:develop-1 # pinned by CI\n").unwrap();
    let tags = table(&["reg.io/acme/app"], vec![develop(1), develop(7)]);
    let files = crate::image::walk::scan_paths(
        dir.path(),
        &[PathBuf::from("dev")],
        &Scanner::new(["reg.io/acme"]).unwrap(),
        1 << 20,
    )
    .unwrap();
    let plan = plan(&repo(), &files, &tags, &Standing::default(), UNIX_EPOCH);
    assert_eq!(
        apply(dir.path(), &plan).unwrap(),
        [PathBuf::from("dev/app.yaml")]
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "image: reg.io/acme/app:develop-7 # pinned by CI\n"
    );
}

/// A piece of a generated manifest: filler text or a reference.
#[derive(Clone, Debug)]
enum Piece {
    Filler(String),
    Ref {
        app: u8,
        tag: u64,
        release: bool,
        pinned: bool,
        quote: &'static str,
    },
}

fn arb_piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        "[a-z :#=\\-]{0,12}(\n|\r\n)?".prop_map(Piece::Filler),
        (
            0u8..3,
            0u64..20,
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(""), Just("\""), Just("'")]
        )
            .prop_map(|(app, tag, release, pinned, quote)| Piece::Ref {
                app,
                tag,
                release,
                pinned,
                quote
            }),
    ]
}

fn render(pieces: &[Piece]) -> String {
    let mut text = String::new();
    for piece in pieces {
        match piece {
            Piece::Filler(s) => text.push_str(s),
            Piece::Ref {
                app,
                tag,
                release,
                pinned,
                quote,
            } => {
                let channel = if *release { "release" } else { "develop" };
                text.push_str(&format!(" {quote}reg.io/acme/app{app}:{channel}-{tag}"));
                if *pinned {
                    text.push_str(&format!("@{}", digest(*tag)));
                }
                text.push_str(&format!("{quote} "));
            }
        }
    }
    text
}

proptest! {
    #[test]
    fn applying_a_plan_twice_changes_nothing_the_second_time(
        pieces in prop::collection::vec(arb_piece(), 0..30),
        newest in 0u64..25,
    ) {
        let text = render(&pieces);
        let tags = table(&["reg.io/acme/app0", "reg.io/acme/app1"], (0..=newest).map(develop).collect());
        let first = plan(&repo(), &scan("dev/app.yaml", &text), &tags, &Standing::default(), UNIX_EPOCH);
        let once = apply_text(&text, &first);
        let second = plan(&repo(), &scan("dev/app.yaml", &once), &tags, &Standing::default(), UNIX_EPOCH);
        prop_assert!(second.is_empty(), "second plan: {:?}", second.changes);
        prop_assert_eq!(apply_text(&once, &second), once);
    }

    #[test]
    fn rewritten_references_are_found_again_at_the_same_places(
        pieces in prop::collection::vec(arb_piece(), 0..30),
        newest in 0u64..25,
    ) {
        let text = render(&pieces);
        let tags = table(&["reg.io/acme/app0", "reg.io/acme/app1", "reg.io/acme/app2"], (0..=newest).map(develop).collect());
        let before = scan("dev/app.yaml", &text);
        let plan = plan(&repo(), &before, &tags, &Standing::default(), UNIX_EPOCH);
        let after_text = apply_text(&text, &plan);
        let after = scan("dev/app.yaml", &after_text);
        prop_assert_eq!(before[0].refs.len(), after[0].refs.len());
        let mut shift: isize = 0;
        for (old, new) in before[0].refs.iter().zip(&after[0].refs) {
            let change = plan.changes.iter().find(|c| c.site.line == old.line && c.site.column == old.column);
            prop_assert_eq!(new.line, old.line);
            prop_assert_eq!(new.spans.name.start as isize, old.spans.name.start as isize + shift);
            prop_assert_eq!(&new.image, &old.image);
            match change {
                Some(c) => {
                    prop_assert_eq!(&new.tag, &c.new_tag);
                    shift += c.new_tag.len() as isize - c.old_tag.len() as isize;
                    if let Some((old_digest, new_digest)) = &c.digest {
                        prop_assert_eq!(new.digest.as_ref(), Some(new_digest));
                        shift += new_digest.len() as isize - old_digest.len() as isize;
                    }
                }
                None => {
                    prop_assert_eq!(&new.tag, &old.tag);
                    prop_assert_eq!(&new.digest, &old.digest);
                }
            }
        }
    }
}

/// One structured reference in a generated values file or kustomization.
#[derive(Clone, Debug)]
struct Split {
    app: u8,
    tag: u64,
    quote: &'static str,
    /// `{repository: …, tag: …}` on one line instead of a block.
    flow: bool,
    /// `registry: reg.io` beside `repository: acme/app…`.
    registry_key: bool,
    /// `version:` instead of `tag:`.
    version_key: bool,
    anchor: bool,
}

fn arb_split() -> impl Strategy<Value = Split> {
    (
        0u8..3,
        0u64..20,
        prop_oneof![Just(""), Just("\""), Just("'")],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(app, tag, quote, flow, registry_key, version_key, anchor)| Split {
                app,
                tag,
                quote,
                flow,
                registry_key,
                version_key,
                anchor,
            },
        )
}

/// A chart-style values file: each entry a mapping of split keys, with comments.
fn render_values(entries: &[Split]) -> String {
    let mut text = String::from("# values\n");
    for (n, e) in entries.iter().enumerate() {
        let anchor = if e.anchor {
            format!(" &a{n}")
        } else {
            String::new()
        };
        let tag_key = if e.version_key { "version" } else { "tag" };
        let q = e.quote;
        let repository = match e.registry_key {
            true => format!("registry: reg.io\n  repository: acme/app{}", e.app),
            false => format!("repository: reg.io/acme/app{}", e.app),
        };
        if e.flow && !e.registry_key {
            text.push_str(&format!(
                "e{n}:{anchor} {{{repository}, {tag_key}: {q}develop-{}{q}}}  # flow\n",
                e.tag
            ));
        } else {
            text.push_str(&format!(
                "e{n}:{anchor}\n  {repository}  # where\n  {tag_key}: {q}develop-{}{q} # which\n",
                e.tag
            ));
        }
    }
    text
}

/// A compose file naming Docker Hub images without their registry.
fn render_compose(entries: &[Split]) -> String {
    let mut text = String::from("services:\n");
    for (n, e) in entries.iter().enumerate() {
        let q = e.quote;
        text.push_str(&format!(
            "  s{n}:\n    image: {q}acme/app{}:develop-{}{q}  # hub\n",
            e.app, e.tag
        ));
    }
    text
}

fn render_kustomization(entries: &[Split]) -> String {
    let mut text = String::from("resources: [app.yaml]\nimages:\n");
    for (n, e) in entries.iter().enumerate() {
        let q = e.quote;
        text.push_str(&format!(
            "- name: app-{n}\n  newName: reg.io/acme/app{}\n  newTag: {q}develop-{}{q}  # pinned\n",
            e.app, e.tag
        ));
    }
    text
}

/// The text with every tag span cut out: what must not change.
fn outside_tags(text: &str, refs: &[ImageRef]) -> String {
    let mut spans: Vec<_> = refs.iter().filter_map(|r| r.spans.tag.clone()).collect();
    spans.sort_by_key(|s| s.start);
    let mut out = String::new();
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push('|');
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

proptest! {
    #[test]
    fn split_references_are_rewritten_in_their_tag_bytes_only(
        entries in prop::collection::vec(arb_split(), 1..8),
        newest in 0u64..25,
        form in 0..3,
    ) {
        let (path, text) = match form {
            0 => ("dev/kustomization.yaml", render_kustomization(&entries)),
            1 => ("dev/compose.yaml", render_compose(&entries)),
            _ => ("dev/values.yaml", render_values(&entries)),
        };
        let images = ["reg.io/acme/app0", "reg.io/acme/app1", "reg.io/acme/app2", "acme/app0", "acme/app1", "acme/app2"];
        let tags = table(&images, (0..=newest).map(develop).collect());
        let before = scan(path, &text);
        prop_assert_eq!(before[0].refs.len(), entries.len(), "every entry found: {}", text);
        let first = plan(&repo(), &before, &tags, &Standing::default(), UNIX_EPOCH);
        let after_text = apply_text(&text, &first);
        let after = scan(path, &after_text);
        prop_assert_eq!(after[0].refs.len(), entries.len());
        for (old, new) in before[0].refs.iter().zip(&after[0].refs) {
            prop_assert_eq!(new.line, old.line);
            prop_assert_eq!(&new.image, &old.image);
            let change = first.changes.iter().find(|c| c.site.line == old.line && c.site.column == old.column);
            prop_assert_eq!(&new.tag, change.map_or(&old.tag, |c| &c.new_tag));
        }
        prop_assert_eq!(outside_tags(&text, &before[0].refs), outside_tags(&after_text, &after[0].refs));
        prop_assert!(plan(&repo(), &after, &tags, &Standing::default(), UNIX_EPOCH).is_empty());
    }
}

#[test]
fn a_time_ordered_rule_waits_while_its_tags_times_are_pending() {
    let text = "a: reg.io/acme/app:develop-1\nb: reg.io/acme/app:1.0.0\n";
    let mut tags = table(
        &["reg.io/acme/app"],
        vec![develop(1), develop(2), TagInfo::named("1.1.0")],
    );
    let pending = |names: &[&str]| {
        std::sync::Arc::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    };
    // Two develop tags are still to be read: develop-2 is not known to be the newest.
    tags.get_mut("reg.io/acme/app").unwrap().pending = pending(&["develop-3", "develop-4"]);
    let planned = plan(
        &repo(),
        &scan("dev/app.yaml", text),
        &tags,
        &Standing::default(),
        UNIX_EPOCH,
    );
    let moves: Vec<_> = planned.changes.iter().map(|c| c.new_tag.as_str()).collect();
    // The semver rule needs no times and moves on.
    assert_eq!(moves, ["1.1.0"]);
    assert_eq!(
        planned.kept[0].reason.to_string(),
        "ordering incomplete: 2 tags pending (read over the next cycles)"
    );
    // Pending tags the rule would never pick do not hold it back.
    tags.get_mut("reg.io/acme/app").unwrap().pending = pending(&["release-9"]);
    let planned = plan(
        &repo(),
        &scan("dev/app.yaml", text),
        &tags,
        &Standing::default(),
        UNIX_EPOCH,
    );
    assert_eq!(planned.changes.len(), 2);
}

mod chain;
mod charts;
mod holds;
mod trust;
