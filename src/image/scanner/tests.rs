use super::*;

const ECR: &str = "1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp";

fn refs(prefixes: &[&str], text: &str) -> Vec<(String, usize, usize)> {
    Scanner::new(prefixes)
        .unwrap()
        .scan(text.as_bytes())
        .into_iter()
        .map(|r| (text[r.spans.full()].to_string(), r.line, r.column))
        .collect()
}

fn texts(prefixes: &[&str], text: &str) -> Vec<String> {
    refs(prefixes, text).into_iter().map(|r| r.0).collect()
}

#[test]
fn one_long_line_of_references_is_read_once() {
    let scanner = Scanner::new([ECR]).unwrap();
    for count in [1_000, 100_000] {
        let line: String = (0..count)
            .map(|n| format!("{ECR}/app:develop-{n} "))
            .collect();
        let text = format!("{line} # laminar:hold\nnext: {ECR}/app:develop-1\n");
        let mut holds = LineHolds::default();
        let found = scanner.scan_with(text.as_bytes(), &mut holds);
        assert_eq!(found.len(), count + 1);
        assert!(found[..count].iter().all(|r| r.hold.is_some()));
        assert!(found[count].hold.is_none());
        // Each line is read once: the lines' lengths, not that times the references.
        assert!(holds.bytes_read() <= text.len(), "{}", holds.bytes_read());
    }
    // A hold on the first line of a file, whose reference starts at its first byte.
    let first = format!("{ECR}/app:develop-1 # laminar:hold\n");
    assert!(scanner.scan(first.as_bytes())[0].hold.is_some());
}

#[test]
fn finds_references_in_many_syntaxes() {
    let text = format!(
        "image: {ECR}/app:develop-1\n\
         image: \"{ECR}/app:develop-2\"\n\
         image: '{ECR}/app:develop-3'\n\
         {{\"image\":\"{ECR}/app:develop-4\"}}\n\
         FROM {ECR}/base:1.0 AS build\n\
         --image={ECR}/app:develop-5\n\
         IMAGE={ECR}/app:develop-6\n\
         image = \"{ECR}/app:develop-7\"\n\
         # was {ECR}/app:develop-8, see below\n\
         - {ECR}/app:develop-9\r\n"
    );
    let found = texts(&[ECR], &text);
    let tags: Vec<&str> = found
        .iter()
        .map(|r| r.rsplit(':').next().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "develop-1",
            "develop-2",
            "develop-3",
            "develop-4",
            "1.0",
            "develop-5",
            "develop-6",
            "develop-7",
            "develop-8",
            "develop-9"
        ]
    );
}

#[test]
fn lines_and_byte_columns_are_one_based() {
    let text = format!("a: b\n  image: {ECR}/app:1\n\u{e9}x {ECR}/app:2");
    let found = refs(&[ECR], &text);
    assert_eq!((found[0].1, found[0].2), (2, 10));
    // `é` is two bytes: the column counts bytes.
    assert_eq!((found[1].1, found[1].2), (3, 5));
}

#[test]
fn a_prefix_must_stand_alone_and_be_followed_by_a_slash() {
    let text = format!(
        "{ECR}-x/app:1\nx{ECR}/app:2\nsub.{ECR}/app:3\n/{ECR}/app:4\n{ECR}app:5\n{ECR}/app:6"
    );
    assert_eq!(texts(&[ECR], &text), [format!("{ECR}/app:6")]);
}

#[test]
fn untagged_digest_only_and_invalid_names_are_skipped() {
    let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let text = format!(
        "reg.io/app\nreg.io/app@{digest}\nreg.io/App:1\nreg.io/app:{}\nreg.io/app:1@{digest}\n",
        "x".repeat(129)
    );
    assert_eq!(
        texts(&["reg.io"], &text),
        [format!("reg.io/app:1@{digest}")]
    );
}

#[test]
fn a_reference_ends_where_the_grammar_ends() {
    let text = "reg.io/app:develop-1\",reg.io/app:develop-12 reg.io/a/b:v1}";
    assert_eq!(
        texts(&["reg.io"], text),
        [
            "reg.io/app:develop-1",
            "reg.io/app:develop-12",
            "reg.io/a/b:v1"
        ]
    );
}

/// (form, registry, image, tag) of each reference `scan_file` finds.
fn structured(prefixes: &[&str], file: &str, text: &str) -> Vec<(Form, String, String, String)> {
    let scan = Scanner::new(prefixes)
        .unwrap()
        .scan_file(Path::new(file), text.as_bytes());
    assert!(
        scan.unmanaged
            .iter()
            .all(|u| u.reason != UnmanagedReason::NotYaml)
    );
    scan.refs
        .into_iter()
        .map(|r| (r.form, r.registry.to_string(), r.image, r.tag))
        .collect()
}

fn row(form: Form, registry: &str, image: &str, tag: &str) -> (Form, String, String, String) {
    (form, registry.into(), image.into(), tag.into())
}

#[test]
fn docker_hub_names_are_managed_in_every_spelling_where_they_are_images() {
    let hub = &["docker.io/library", "docker.io/bitnami", "ghcr.io/acme"];
    let text = "web:\n  image: nginx:1.25\ncache:\n  image: bitnami/redis:7.2\nproxy:\n  image: docker.io/library/haproxy:2.9\n\
                old:\n  image: index.docker.io/library/httpd:2.4\nother:\n  image: quay.io/x/y:1\nnote: redis:7 in free text\n";
    assert_eq!(
        structured(hub, "compose.yaml", text),
        [
            row(Form::ImplicitHub, "docker.io/library", "nginx", "1.25"),
            row(
                Form::ImplicitHub,
                "docker.io/bitnami",
                "bitnami/redis",
                "7.2"
            ),
            row(
                Form::Inline,
                "docker.io/library",
                "docker.io/library/haproxy",
                "2.9"
            ),
            row(
                Form::Inline,
                "docker.io/library",
                "index.docker.io/library/httpd",
                "2.4"
            ),
        ]
    );
    let dockerfile = "FROM golang:1.22 AS build\nFROM gcr.io/distroless/static:nonroot\nCOPY --from=busybox:1.36 /bin/sh /sh\n";
    assert_eq!(
        structured(hub, "Dockerfile", dockerfile),
        [
            row(Form::ImplicitHub, "docker.io/library", "golang", "1.22"),
            row(Form::ImplicitHub, "docker.io/library", "busybox", "1.36"),
        ]
    );
    assert_eq!(
        structured(hub, "main.tf", "image = \"postgres:16\"\n"),
        [row(
            Form::ImplicitHub,
            "docker.io/library",
            "postgres",
            "16"
        )]
    );
    assert!(structured(hub, "notes.txt", "nginx:1.25\n").is_empty());
    assert!(
        structured(&["ghcr.io/acme"], "compose.yaml", text).is_empty(),
        "no hub registry, no implicit names"
    );
}

#[test]
fn hold_comments_are_read_on_the_reference_line_or_a_split_forms_tag_line() {
    let text = "app:\n  image:\n    repository: ghcr.io/acme/app\n    tag: \"1.0\"   # laminar:hold until=2026-12-01\napi: ghcr.io/acme/api:2.0 # laminar:hold\ndb: ghcr.io/acme/db:3.0\n";
    let scan = Scanner::new(["ghcr.io/acme"])
        .unwrap()
        .scan_file(Path::new("values.yaml"), text.as_bytes());
    let holds: Vec<(&str, Option<&str>)> = scan
        .refs
        .iter()
        .map(|r| {
            let until = r.hold.as_ref().map(|h| h.until.as_deref().unwrap_or("-"));
            (r.image.as_str(), until)
        })
        .collect();
    assert_eq!(
        holds,
        [
            ("ghcr.io/acme/app", Some("2026-12-01")),
            ("ghcr.io/acme/api", Some("-")),
            ("ghcr.io/acme/db", None),
        ]
    );
}

#[test]
fn split_and_kustomize_forms_are_located_at_their_tags() {
    let values = "image:\n  registry: ghcr.io\n  repository: acme/app\n  tag: \"1.0\"\nchart:\n  repository: https://charts.example.com\n  version: 1.2.3\nempty:\n  repository: ghcr.io/acme/e\n  tag: \"\"\n";
    let scan = Scanner::new(["ghcr.io/acme"])
        .unwrap()
        .scan_file(Path::new("values.yaml"), values.as_bytes());
    let found = scan.refs;
    assert_eq!(found.len(), 1, "{found:?}");
    let unmanaged: Vec<_> = scan
        .unmanaged
        .iter()
        .map(|u| (u.line, u.written.as_str(), u.reason))
        .collect();
    assert_eq!(
        unmanaged,
        [(10, "ghcr.io/acme/e:", UnmanagedReason::EmptyTag)]
    );
    assert_eq!(
        (
            found[0].form,
            found[0].image.as_str(),
            found[0].tag.as_str()
        ),
        (Form::Helm, "ghcr.io/acme/app", "1.0")
    );
    assert_eq!((found[0].line, found[0].column), (4, 9));
    let kustomization = "images:\n- name: app\n  newName: ghcr.io/acme/app\n  newTag: v2\n";
    assert_eq!(
        structured(&["ghcr.io/acme"], "kustomization.yaml", kustomization),
        [row(
            Form::Kustomize,
            "ghcr.io/acme",
            "ghcr.io/acme/app",
            "v2"
        )]
    );
}

#[test]
fn templated_values_are_reported_and_never_managed() {
    let text = "web:\n  image: \"{{ .Values.web }}\"\napp:\n  repository: ghcr.io/acme/x\n  tag: \"{{ .Chart.AppVersion }}\"\n";
    let scan = Scanner::new(["docker.io", "ghcr.io/acme"])
        .unwrap()
        .scan_file(Path::new("values.yaml"), text.as_bytes());
    assert!(scan.refs.is_empty());
    let reasons: Vec<_> = scan.unmanaged.iter().map(|u| (u.line, u.reason)).collect();
    assert_eq!(
        reasons,
        [
            (2, UnmanagedReason::Templated),
            (5, UnmanagedReason::Templated)
        ]
    );
}

#[test]
fn a_file_that_is_not_yaml_still_gets_its_inline_references() {
    let text = "image: ghcr.io/acme/app:1\nrepository: [\n";
    let scan = Scanner::new(["ghcr.io/acme"])
        .unwrap()
        .scan_file(Path::new("x.yaml"), text.as_bytes());
    assert_eq!(scan.refs.len(), 1);
    assert_eq!(scan.unmanaged[0].reason, UnmanagedReason::NotYaml);
}

#[test]
fn a_name_longer_than_the_spec_allows_is_no_reference() {
    let long = format!("reg.io/{}:1", "a".repeat(250));
    assert!(texts(&["reg.io"], &long).is_empty());
}

#[test]
fn the_longest_prefix_names_the_registry_and_ports_work() {
    let scanner = Scanner::new(["reg.io", "reg.io/team", "localhost:5000"]).unwrap();
    let found = scanner.scan(b"reg.io/team/app:1 reg.io/other:2 localhost:5000/x:3");
    let prefixes: Vec<&str> = found.iter().map(|r| r.registry.prefix()).collect();
    assert_eq!(prefixes, ["reg.io/team", "reg.io", "localhost:5000"]);
}

#[test]
fn a_helm_templates_plain_image_lines_are_found_as_image_keys_would_be() {
    let hub = &["docker.io/library", "ghcr.io/acme"];
    let digest = format!("sha256:{}", "ab".repeat(32));
    let text = format!(
        "{{{{- if .Values.enabled }}}}\nspec:\n  containers:\n  - name: init\n    image: busybox:1.38.0@{digest}\n\
         \x20 - name: app\n    image: \"{{{{ .Values.image }}}}:{{{{ .Values.tag }}}}\"\n\
         \x20 - name: old\n    image: alpine:3.11\n  - image: ghcr.io/acme/api:2.0\n{{{{- end }}}}\n"
    );
    let scan = Scanner::new(hub)
        .unwrap()
        .scan_file(Path::new("templates/deployment.yaml"), text.as_bytes());
    let found: Vec<(Form, String, String, Option<String>)> = scan
        .refs
        .iter()
        .map(|r| (r.form, r.image.clone(), r.tag.clone(), r.digest.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (
                Form::ImplicitHub,
                "busybox".into(),
                "1.38.0".into(),
                Some(digest.clone())
            ),
            (Form::ImplicitHub, "alpine".into(), "3.11".into(), None),
            (Form::Inline, "ghcr.io/acme/api".into(), "2.0".into(), None),
        ]
    );
    // Still said: the file is not YAML as it stands.
    assert!(
        scan.unmanaged
            .iter()
            .any(|u| u.reason == UnmanagedReason::NotYaml)
    );
    // Without a Docker Hub registry, only configured prefixes count, as before.
    let scan = Scanner::new(["ghcr.io/acme"])
        .unwrap()
        .scan_file(Path::new("templates/deployment.yaml"), text.as_bytes());
    assert_eq!(scan.refs.len(), 1);
}
