use super::*;

/// The image candidates of a YAML text.
fn images(text: &str, kustomization: bool, image_keys: bool) -> Result<Vec<Candidate>, YamlError> {
    let reading = Reading {
        kustomization,
        chart: false,
        image_keys,
    };
    candidates(text, reading).map(|s| s.images)
}

/// (form, name, tag as written at its span, tag editable) of each candidate.
fn found(text: &str, kustomization: bool, image_keys: bool) -> Vec<(Form, String, String, bool)> {
    images(text, kustomization, image_keys)
        .unwrap()
        .into_iter()
        .map(|c| {
            let tag = c.tag.unwrap();
            (c.form, c.name, text[tag.span].to_string(), tag.editable)
        })
        .collect()
}

fn helm(name: &str, tag: &str) -> (Form, String, String, bool) {
    (Form::Helm, name.to_string(), tag.to_string(), true)
}

#[test]
fn chart_values_in_every_style() {
    let text = r#"# values.yaml
image:
  registry: docker.io
  repository: bitnami/redis   # the image
  tag: 7.2.4
  digest: ""
sidecar: &side
  repository: ghcr.io/acme/sidecar
  tag: "1.0.0" # quoted
other: *side
flow: {repository: ghcr.io/acme/flow, tag: '2.0'}
versioned:
  repository: ghcr.io/acme/v
  version: 3.1.0
escaped:
  repository: ghcr.io/acme/e
  tag: "1.\x30"
"#;
    assert_eq!(
        found(text, false, false),
        [
            helm("docker.io/bitnami/redis", "7.2.4"),
            helm("ghcr.io/acme/sidecar", "1.0.0"),
            helm("ghcr.io/acme/flow", "2.0"),
            helm("ghcr.io/acme/v", "3.1.0"),
            (
                Form::Helm,
                "ghcr.io/acme/e".into(),
                "\"1.\\x30\"".into(),
                false
            ),
        ]
    );
}

#[test]
fn a_digest_beside_the_tag_is_part_of_the_reference() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let text =
        format!("image:\n  repository: ghcr.io/acme/app\n  tag: '1.0'\n  digest: \"{digest}\"\n");
    let candidate = images(&text, false, false).unwrap().remove(0);
    let part = candidate.digest.unwrap();
    assert_eq!(&text[part.span], digest);
    assert!(part.editable);
}

#[test]
fn values_nested_in_releases_and_applications_count_in_every_document() {
    let text = r#"apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
spec:
  values:
    image:
      repository: ghcr.io/acme/flux
      tag: 1.0.0
---
apiVersion: argoproj.io/v1alpha1
kind: Application
spec:
  source:
    helm:
      valuesObject:
        image: {repository: ghcr.io/acme/argo, tag: 2.0.0}
      values: |
        image:
          repository: ghcr.io/acme/embedded
          tag: "3.0.0"
"#;
    assert_eq!(
        found(text, false, false),
        [
            helm("ghcr.io/acme/flux", "1.0.0"),
            helm("ghcr.io/acme/argo", "2.0.0"),
            helm("ghcr.io/acme/embedded", "3.0.0"),
        ]
    );
}

#[test]
fn kustomize_images_take_new_name_new_tag_and_digest() {
    let text = r#"resources: [deployment.yaml]
images:
- name: app
  newName: 1122334455.dkr.ecr.eu-west-2.amazonaws.com/acme/app
  newTag: "1.4"
- name: nginx
  newTag: 1.25.3
- name: renamed-only
  newName: ghcr.io/acme/other
"#;
    assert_eq!(
        found(text, true, false),
        [
            (
                Form::Kustomize,
                "1122334455.dkr.ecr.eu-west-2.amazonaws.com/acme/app".into(),
                "1.4".into(),
                true
            ),
            (Form::Kustomize, "nginx".into(), "1.25.3".into(), true),
        ]
    );
    assert!(
        found(text, false, false).is_empty(),
        "only in a kustomization"
    );
}

#[test]
fn image_keys_give_inline_candidates_only_when_asked() {
    let text = "services:\n  web:\n    image: \"nginx:1.25\"\n  cache:\n    image: redis:7-alpine\ninitImage: busybox:1.36\nimages: x:1\nimage: '{{ .Values.image }}'\n";
    let names: Vec<(String, String)> = images(text, false, true)
        .unwrap()
        .into_iter()
        .filter_map(|c| Some((c.name, text[c.tag?.span].to_string())))
        .collect();
    assert_eq!(
        names,
        [
            ("nginx".into(), "1.25".into()),
            ("redis".into(), "7-alpine".into()),
            ("busybox".into(), "1.36".into()),
        ]
    );
    assert!(images(text, false, false).unwrap().is_empty());
}

#[test]
fn text_that_is_not_yaml_is_an_error() {
    let err = images("a: [1, 2\nb: {", false, false).unwrap_err();
    assert!(err.line >= 1, "{err}");
}
