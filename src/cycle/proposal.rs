//! What a pull request proposes, decided purely: which changes share a branch, the branch's
//! name, the title and body, and a fingerprint that says whether two plans propose the same.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::delivered::Proposed;
use crate::config::{GroupBy, PullRequest, Repo};
use crate::forge::PullRequestRef;
use crate::plan::{Change, Plan, TagTable};

/// What to do with a group's branch, given what laminar last pushed there.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next<'r> {
    /// A registry of its images did not answer: an outage is not an empty plan.
    Wait(&'r Proposed),
    /// Someone closed this very proposal unmerged: it is not made again.
    Declined(&'r Proposed),
    /// The same plan on the same base is proposed already.
    UpToDate(&'r Proposed),
    /// The same plan, proposed on an older base: rebuild, unless the forge says the pull
    /// request was closed meanwhile (then it is declined).
    RebuildUnlessClosed(&'r Proposed, &'r PullRequestRef),
    /// Build the branch and propose it.
    Build,
}

/// The decision table for a group: `record` is what laminar last pushed to its branch,
/// `fingerprint` and `base` what this cycle would propose, `unanswered` the images whose
/// registries did not answer.
pub(super) fn next<'r>(
    record: Option<&'r Proposed>,
    fingerprint: &str,
    base: &str,
    unanswered: &HashSet<String>,
) -> Next<'r> {
    let Some(record) = record else {
        return Next::Build;
    };
    if record.images.iter().any(|i| unanswered.contains(i)) {
        return Next::Wait(record);
    }
    let same_plan = record.fingerprint == fingerprint;
    match (&record.pull, same_plan) {
        (_, true) if record.declined => Next::Declined(record),
        (Some(_), true) if record.base == base => Next::UpToDate(record),
        (Some(pull), true) => Next::RebuildUnlessClosed(record, pull),
        _ => Next::Build,
    }
}

/// The changes one pull request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Group {
    /// `all`, `rule-N`, or the image.
    pub name: String,
    pub branch: String,
    pub changes: Vec<Change>,
}

impl Group {
    pub(super) fn plan(&self) -> Plan {
        Plan {
            changes: self.changes.clone(),
            ..Plan::default()
        }
    }

    /// The images this group changes, sorted.
    pub(super) fn images(&self) -> Vec<String> {
        let mut images: Vec<String> = self.changes.iter().map(|c| c.image.clone()).collect();
        images.sort();
        images.dedup();
        images
    }

    /// Two plans with the same fingerprint make the same edits.
    pub(super) fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{}\0{}\0{}\0{}\0{}\0{:?}",
                    c.site.path.display(),
                    c.site.line,
                    c.image,
                    c.old_tag,
                    c.new_tag,
                    c.digest
                )
            })
            .collect();
        lines.sort();
        let hash = Sha256::digest(lines.join("\n"));
        hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

/// The plan's changes by the branch that carries them.
pub(super) fn groups(
    repo: &Repo,
    pull: &PullRequest,
    changes: &[Change],
) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for change in changes {
        let name = group_name(repo, pull.group_by, change);
        let branch = branch_name(&pull.branch, repo, &name);
        groups
            .entry(branch.clone())
            .or_insert_with(|| Group {
                name,
                branch,
                changes: Vec::new(),
            })
            .changes
            .push(change.clone());
    }
    groups
}

/// A promotion has a pull request of its own (merging it is the approval); other changes
/// are grouped as configured.
fn group_name(repo: &Repo, by: GroupBy, change: &Change) -> String {
    if let Some(promotion) = &change.promotion {
        let target = promotion.chain.rsplit(" → ").next().unwrap_or_default();
        return format!("promote-{}", branch_safe(target));
    }
    match by {
        GroupBy::Repo => "all".into(),
        GroupBy::Rule => {
            let rule = repo.rule_for(&change.site.path, &change.old_tag);
            let index =
                rule.and_then(|rule| repo.updates.iter().position(|r| std::ptr::eq(r, rule)));
            format!("rule-{}", index.map_or(0, |i| i + 1))
        }
        GroupBy::Image => branch_safe(&change.image),
    }
}

fn branch_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._/-".contains(c) {
            true => c,
            false => '-',
        })
        .collect()
}

/// The branch for `group`: the template filled in; a name git refuses (an image path part
/// ending in `.lock`, say) becomes a hash of it.
pub(super) fn branch_name(template: &str, repo: &Repo, group: &str) -> String {
    let fill = |group: &str| {
        template
            .replace("{repo}", &repo.name)
            .replace("{branch}", &repo.branch)
            .replace("{group}", group)
    };
    let branch = fill(group);
    if git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return branch;
    }
    let hash = Sha256::digest(group);
    let short: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    fill(&format!("group-{short}"))
}

/// The title: the configured template, else one that names the change or counts them.
pub(super) fn title(pull: &PullRequest, repo: &Repo, group: &Group) -> String {
    let mut moves: Vec<(&str, &str)> = group
        .changes
        .iter()
        .map(|c| (c.image.as_str(), c.new_tag.as_str()))
        .collect();
    moves.sort();
    moves.dedup();
    let promoted = super::message::promotion(&group.changes);
    let template = match (&pull.title, moves.len()) {
        (Some(template), _) => template.as_str(),
        (None, _) if promoted.is_some() => "{promotion}",
        (None, 1) => "Update {image} to {new}",
        (None, _) => "Update {count} images in {repo}",
    };
    let first = &group.changes[0];
    let title = fill(template, repo, group)
        .replace("{count}", &moves.len().to_string())
        .replace("{image}", &first.image)
        .replace("{old}", &first.old_tag)
        .replace("{new}", &first.new_tag)
        .replace("{promotion}", promoted.as_deref().unwrap_or_default());
    // One line, of a length every forge takes.
    let title: String = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(250)
        .collect();
    title.trim().to_string()
}

/// The body: the configured template (`{changes}` is the table), else the table with a line
/// saying where it came from.
pub(super) fn body(pull: &PullRequest, repo: &Repo, group: &Group, tags: &TagTable) -> String {
    let mut table = String::from("| File | Image | From | To | Pushed |\n|---|---|---|---|---|\n");
    for change in &group.changes {
        let pushed = tags
            .get(&change.image)
            .and_then(|t| t.tags.iter().find(|t| t.tag == change.new_tag))
            .and_then(|t| t.pushed)
            .map_or_else(|| "unknown".to_string(), time);
        table.push_str(&format!(
            "| {} | {} | {} | {} | {pushed} |\n",
            code(&format!(
                "{}:{}",
                change.site.path.display(),
                change.site.line
            )),
            code(&change.image),
            code(&change.old_tag),
            code(&change.new_tag),
        ));
    }
    let template = pull.body.as_deref().unwrap_or(
        "laminar keeps the images of `{repo}` current. Merging this into `{branch}` makes these changes:\n\n{changes}",
    );
    fill(template, repo, group).replace("{changes}", &table)
}

fn fill(template: &str, repo: &Repo, group: &Group) -> String {
    template
        .replace("{repo}", &repo.name)
        .replace("{branch}", &repo.branch)
        .replace("{group}", &group.name)
}

/// Text from a repo or a registry shown as code in a Markdown table: no backtick can end the
/// span, no `|` the cell, and inside a code span nothing is a mention or a link.
fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", text.replace('|', "\\|"))
}

fn time(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::config::{Environment, parse};
    use crate::image::scanner::Scanner;
    use crate::image::walk::FileRefs;
    use crate::plan::plan;
    use crate::policy::{ImageTags, TagInfo};

    fn repo(pull: &str) -> Repo {
        let text = format!(
            "dockerRegistries:\n- reg: reg.io/acme\ngit:\n- name: manifests\n  url: git@github.com:acme/manifests.git\n  branch: main\n  pullRequest:\n    tokenEnv: T\n{pull}  updates:\n  - pattern: glob:develop-*\n    files: [dev/]\n  - pattern: semver:^1\n    files: [.]\n"
        );
        let loaded = parse(Path::new("laminar.yaml"), &text, &Environment::default()).unwrap();
        loaded.config.repos.into_iter().next().unwrap()
    }

    fn tags(names: &[&str]) -> ImageTags {
        let tags = names
            .iter()
            .enumerate()
            .map(|(n, tag)| TagInfo {
                tag: tag.to_string(),
                pushed: Some(UNIX_EPOCH + Duration::from_secs(1_795_168_800 + n as u64)),
                digest: None,
            })
            .collect();
        ImageTags::complete(Arc::new(tags))
    }

    /// The plan for these files against develop-1..2 and 1.0.0..1.1.0 of every image.
    fn changes(repo: &Repo, files: &[(&str, &str)]) -> (Vec<Change>, TagTable) {
        let scanner = Scanner::new(["reg.io/acme"]).unwrap();
        let files: Vec<FileRefs> = files
            .iter()
            .map(|(path, text)| {
                let scan = scanner.scan_file(Path::new(path), text.as_bytes());
                FileRefs::of(PathBuf::from(path), scan)
            })
            .collect();
        let table: TagTable = ["reg.io/acme/app", "reg.io/acme/api", "reg.io/acme/db.lock"]
            .into_iter()
            .map(|i| {
                (
                    i.to_string(),
                    tags(&["develop-1", "develop-2", "1.0.0", "1.1.0"]),
                )
            })
            .collect();
        let planned = plan(repo, &files, &table, &Default::default(), SystemTime::now());
        (planned.changes, table)
    }

    const FILES: [(&str, &str); 2] = [
        (
            "dev/app.yaml",
            "a: reg.io/acme/app:develop-1\nb: reg.io/acme/api:develop-1\n",
        ),
        (
            "prod/app.yaml",
            "a: reg.io/acme/app:1.0.0\nb: reg.io/acme/db.lock:1.0.0\n",
        ),
    ];

    #[test]
    fn changes_are_grouped_by_repo_rule_or_image_each_on_a_branch_git_takes() {
        let by_repo = repo("");
        let (all, _) = changes(&by_repo, &FILES);
        let grouped = groups(&by_repo, by_repo.pull_request.as_ref().unwrap(), &all);
        assert_eq!(
            grouped.keys().collect::<Vec<_>>(),
            ["laminar/manifests/all"]
        );
        assert_eq!(grouped["laminar/manifests/all"].changes.len(), 4);

        let by_rule = repo("    groupBy: rule\n");
        let grouped = groups(&by_rule, by_rule.pull_request.as_ref().unwrap(), &all);
        let sizes: Vec<(&str, usize)> = grouped
            .values()
            .map(|g| (g.branch.as_str(), g.changes.len()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("laminar/manifests/rule-1", 2),
                ("laminar/manifests/rule-2", 2)
            ]
        );

        let by_image = repo("    groupBy: image\n    branch: \"bots/{branch}/{group}\"\n");
        let grouped = groups(&by_image, by_image.pull_request.as_ref().unwrap(), &all);
        let branches: Vec<&String> = grouped.keys().collect();
        // `db.lock` cannot end a ref name: that group's branch is named by a hash.
        assert_eq!(branches.len(), 3);
        assert!(
            branches.contains(&&"bots/main/reg.io/acme/app".to_string()),
            "{branches:?}"
        );
        assert!(
            branches.contains(&&"bots/main/reg.io/acme/api".to_string()),
            "{branches:?}"
        );
        assert!(
            branches.iter().any(|b| b.starts_with("bots/main/group-")),
            "{branches:?}"
        );
        for branch in branches {
            assert!(git2::Reference::is_valid_name(&format!(
                "refs/heads/{branch}"
            )));
        }
    }

    #[test]
    fn titles_name_one_change_or_count_them_and_bodies_list_every_one() {
        let repo = repo("");
        let pull = repo.pull_request.clone().unwrap();
        let (one, table) = changes(&repo, &FILES[..1]);
        let app_only: Vec<Change> = one
            .into_iter()
            .filter(|c| c.image.ends_with("/app"))
            .collect();
        let group = &groups(&repo, &pull, &app_only)["laminar/manifests/all"];
        assert_eq!(
            title(&pull, &repo, group),
            "Update reg.io/acme/app to develop-2"
        );
        let (all, table_all) = changes(&repo, &FILES);
        let group = &groups(&repo, &pull, &all)["laminar/manifests/all"];
        assert_eq!(title(&pull, &repo, group), "Update 4 images in manifests");
        let text = body(&pull, &repo, group, &table_all);
        assert!(
            text.contains("`manifests`") && text.contains("`main`"),
            "{text}"
        );
        assert!(
            text.contains("| `dev/app.yaml:1` | `reg.io/acme/app` | `develop-1` | `develop-2` | 2026-11-20 10:00 UTC |"),
            "{text}"
        );
        assert_eq!(text.matches("\n| `").count(), 4);

        let templated = PullRequest {
            title: Some("deps({group}): {image} {old}→{new}".into()),
            body: Some("{changes}\nfrom {repo}".into()),
            ..pull.clone()
        };
        let group = &groups(&repo, &templated, &app_only)["laminar/manifests/all"];
        assert_eq!(
            title(&templated, &repo, group),
            "deps(all): reg.io/acme/app develop-1→develop-2"
        );
        assert!(body(&templated, &repo, group, &table).ends_with("|\n\nfrom manifests"));
    }

    #[test]
    fn hostile_names_stay_inside_their_table_cell() {
        let repo = repo("");
        let pull = repo.pull_request.clone().unwrap();
        let path = "dev/x`|@everyone <b>.yaml";
        let (changes, table) = changes(&repo, &[(path, "a: reg.io/acme/app:develop-1\n")]);
        let group = &groups(&repo, &pull, &changes)["laminar/manifests/all"];
        let text = body(&pull, &repo, group, &table);
        let row = text.lines().find(|l| l.contains("everyone")).unwrap();
        assert_eq!(row.matches('`').count(), 8, "{row}");
        assert!(
            row.starts_with("| `dev/x'\\|@everyone <b>.yaml:1` |"),
            "{row}"
        );
    }

    #[test]
    fn the_fingerprint_follows_the_edits_not_their_order() {
        let repo = repo("");
        let pull = repo.pull_request.clone().unwrap();
        let (mut all, _) = changes(&repo, &FILES);
        let before = groups(&repo, &pull, &all)["laminar/manifests/all"].fingerprint();
        all.reverse();
        assert_eq!(
            groups(&repo, &pull, &all)["laminar/manifests/all"].fingerprint(),
            before
        );
        all.pop();
        assert_ne!(
            groups(&repo, &pull, &all)["laminar/manifests/all"].fingerprint(),
            before
        );
    }

    fn proposed(fingerprint: &str, base: &str, pull: Option<u64>, declined: bool) -> Proposed {
        Proposed {
            group: "all".into(),
            base: base.into(),
            fingerprint: fingerprint.into(),
            pushed: "c0ffee".into(),
            images: vec!["reg.io/acme/app".into()],
            pull: pull.map(|number| PullRequestRef {
                number,
                url: format!("https://forge.example/pulls/{number}"),
                created_at: None,
            }),
            declined,
        }
    }

    #[test]
    fn the_decision_table_for_a_groups_branch() {
        let none = HashSet::new();
        let silent: HashSet<String> = ["reg.io/acme/app".to_string()].into();
        assert_eq!(next(None, "f1", "b1", &none), Next::Build);
        let open = proposed("f1", "b1", Some(7), false);
        assert_eq!(next(Some(&open), "f1", "b1", &none), Next::UpToDate(&open));
        // A silent registry is no reason to close or rebuild anything.
        assert_eq!(next(Some(&open), "f2", "b2", &silent), Next::Wait(&open));
        // The watched branch moved, same plan: rebuilt, unless the pull request was closed.
        let Next::RebuildUnlessClosed(record, pull) = next(Some(&open), "f1", "b2", &none) else {
            panic!("a moved base is rebuilt");
        };
        assert_eq!((record, pull.number), (&open, 7));
        // Another plan (a newer tag) is built and proposed, even after a "no".
        let declined = proposed("f1", "b1", Some(7), true);
        assert_eq!(
            next(Some(&declined), "f1", "b2", &none),
            Next::Declined(&declined)
        );
        assert_eq!(next(Some(&declined), "f2", "b1", &none), Next::Build);
        // Pushed, but the forge never answered: proposed again.
        let unproposed = proposed("f1", "b1", None, false);
        assert_eq!(next(Some(&unproposed), "f1", "b1", &none), Next::Build);
    }
}
