//! Chart versions in every chart form: a plan rewrites a version's bytes and nothing else.

use super::*;

#[derive(Clone, Debug)]
struct Chart {
    chart: u8,
    version: u64,
    quote: &'static str,
    /// A flow mapping (`{…}`) instead of a block, where the form allows one.
    flow: bool,
    comment: bool,
}

fn arb_chart() -> impl Strategy<Value = Chart> {
    (
        0u8..3,
        0u64..20,
        prop_oneof![Just(""), Just("\""), Just("'")],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(chart, version, quote, flow, comment)| Chart {
            chart,
            version,
            quote,
            flow,
            comment,
        })
}

/// The file of one chart form holding these charts, all from `oci://reg.io/acme/charts`.
fn render(form: u8, charts: &[Chart]) -> (&'static str, String) {
    let version = |c: &Chart| format!("{q}1.0.{v}{q}", q = c.quote, v = c.version);
    let comment = |c: &Chart| if c.comment { "  # pinned" } else { "" };
    let mut text = String::new();
    let path = match form {
        0 => {
            for c in charts {
                text.push_str("---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n");
                match c.flow {
                    true => text.push_str(&format!(
                        "  source: {{repoURL: reg.io/acme/charts, chart: c{}, targetRevision: {}}}{}\n",
                        c.chart, version(c), comment(c)
                    )),
                    false => text.push_str(&format!(
                        "  source:\n    repoURL: oci://reg.io/acme/charts\n    chart: c{}\n    targetRevision: {}{}\n",
                        c.chart, version(c), comment(c)
                    )),
                }
            }
            "deploy/apps.yaml"
        }
        1 => {
            text.push_str("kind: Application\nspec:\n  sources:\n  - repoURL: https://git.example/values.git\n    ref: values\n");
            for c in charts {
                text.push_str(&format!(
                    "  - repoURL: reg.io/acme/charts\n    chart: c{}{}\n    targetRevision: {}\n",
                    c.chart,
                    comment(c),
                    version(c)
                ));
            }
            "deploy/multi.yaml"
        }
        2 => {
            text.push_str("apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n");
            for c in charts {
                text.push_str(&format!(
                    "- name: c{}\n  version: {}{}\n  repository: oci://reg.io/acme/charts\n",
                    c.chart,
                    version(c),
                    comment(c)
                ));
            }
            "chart/Chart.yaml"
        }
        3 => {
            text.push_str("resources: [app.yaml]\nhelmCharts:\n");
            for c in charts {
                text.push_str(&format!(
                    "- name: c{}\n  repo: oci://reg.io/acme/charts\n  version: {}{}\n  releaseName: r\n",
                    c.chart, version(c), comment(c)
                ));
            }
            "kustomize/kustomization.yaml"
        }
        4 => {
            text.push_str(
                "repositories:\n- name: acme\n  url: reg.io/acme/charts\n  oci: true\nreleases:\n",
            );
            for (n, c) in charts.iter().enumerate() {
                text.push_str(&format!(
                    "- name: r{n}\n  chart: acme/c{}\n  version: {}{}\n",
                    c.chart,
                    version(c),
                    comment(c)
                ));
            }
            "helmfile.yaml"
        }
        _ => {
            for c in charts {
                text.push_str(&format!(
                    "---\nkind: OCIRepository\nspec:\n  url: oci://reg.io/acme/charts/c{}\n  ref:\n    tag: {}{}\n",
                    c.chart, version(c), comment(c)
                ));
            }
            "flux/oci.yaml"
        }
    };
    (path, text)
}

proptest! {
    #[test]
    fn only_the_version_bytes_of_a_chart_change(
        charts in prop::collection::vec(arb_chart(), 1..6),
        newest in 20u64..25,
        form in 0u8..6,
    ) {
        let (path, text) = render(form, &charts);
        let mut versions: Vec<TagInfo> = (0..=newest).map(|n| TagInfo::named(format!("1.0.{n}"))).collect();
        // Build metadata, as a chart's version writes it (OCIRepository tags cannot hold it).
        if form < 5 {
            versions.push(TagInfo::named("1.1.0+build.7"));
        }
        let names = ["reg.io/acme/charts/c0", "reg.io/acme/charts/c1", "reg.io/acme/charts/c2"];
        let tags = table(&names, versions);
        let before = scan(path, &text);
        prop_assert_eq!(before[0].refs.len(), charts.len(), "every chart found: {}", text);
        let first = plan(&repo(), &before, &tags, &Standing::default(), UNIX_EPOCH);
        prop_assert_eq!(first.changes.len(), charts.len());
        let after_text = apply_text(&text, &first);
        let after = scan(path, &after_text);
        prop_assert_eq!(after[0].refs.len(), charts.len());
        for (old, new) in before[0].refs.iter().zip(&after[0].refs) {
            prop_assert_eq!(&new.image, &old.image);
            let wanted = if form < 5 { "1.1.0+build.7".to_string() } else { format!("1.0.{newest}") };
            prop_assert_eq!(&new.tag, &wanted);
        }
        prop_assert_eq!(outside_tags(&text, &before[0].refs), outside_tags(&after_text, &after[0].refs));
        prop_assert!(plan(&repo(), &after, &tags, &Standing::default(), UNIX_EPOCH).is_empty());
    }
}

#[test]
fn a_deploy_request_sets_a_chart_version_and_a_held_chart_stays() {
    let text = "dependencies:\n- name: c0\n  version: 1.0.3\n  repository: oci://reg.io/acme/charts\n- name: c1\n  version: 1.0.0 # laminar:hold\n  repository: oci://reg.io/acme/charts\n";
    let files = scan("chart/Chart.yaml", text);
    let versions = ["1.0.0", "1.0.3", "1.1.0+build.7"]
        .map(TagInfo::named)
        .to_vec();
    let tags = table(
        &["reg.io/acme/charts/c0", "reg.io/acme/charts/c1"],
        versions,
    );
    // The rules move c0; the held c1 stays.
    let planned = plan(&repo(), &files, &tags, &Standing::default(), UNIX_EPOCH);
    let moved: Vec<(&str, &str)> = planned
        .changes
        .iter()
        .map(|c| (c.image.as_str(), c.new_tag.as_str()))
        .collect();
    assert_eq!(moved, [("reg.io/acme/charts/c0", "1.1.0+build.7")]);
    // A deploy request takes c0 back to 1.0.0.
    let order = DeployOrder {
        id: "d1".into(),
        image: "reg.io/acme/charts/c0".into(),
        tag: "1.0.0".into(),
        files: Vec::new(),
        reason: Some("rollback".into()),
        force: false,
    };
    let inputs = Inputs {
        repo: &repo(),
        tags: &tags,
        standing: &Standing::default(),
        now: UNIX_EPOCH,
    };
    let deployed = deploy(&inputs, &files, &order).unwrap();
    assert_eq!(
        apply_text(text, &deployed),
        text.replacen("version: 1.0.3", "version: 1.0.0", 1)
    );
}
