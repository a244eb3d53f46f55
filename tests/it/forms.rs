//! Every way a repo writes an image, end to end: `laminar once` against a real registry that
//! stands in for Docker Hub through `endpoint:`, checked with the git CLI.

use crate::fixtures::git::{BareRepo, git};
use crate::fixtures::registry::RegistryServer;
use crate::util::Dir;

fn values(addr: &str, redis: &str, app: &str) -> String {
    format!(
        "# chart values\nimage:\n  registry: docker.io\n  repository: bitnami/redis   # the cache\n  tag: {redis}\n  digest: \"\"\napp: &app\n  repository: {addr}/acme/app\n  tag: \"{app}\"  # pinned by CI\ncopy: *app\nempty:\n  repository: {addr}/acme/app\n  tag: \"\"\n"
    )
}

fn kustomization(addr: &str, app: &str, nginx: &str) -> String {
    format!(
        "resources: [../base]\nimages:\n- name: app\n  newName: {addr}/acme/app\n  newTag: \"{app}\"\n- name: nginx\n  newTag: {nginx}\n"
    )
}

fn dockerfile(golang: &str, nginx: &str) -> String {
    format!(
        "FROM golang:{golang} AS build\nRUN make\nFROM nginx:{nginx}\nCOPY --from=build /app /app\n"
    )
}

fn compose(nginx: &str) -> String {
    format!(
        "services:\n  web:\n    image: docker.io/library/nginx:{nginx}\n  other:\n    image: quay.io/x/y:1\n"
    )
}

const NOTES: &str = "try nginx:1.25.3 locally\n";

#[tokio::test]
async fn once_keeps_every_form_current_and_says_what_it_leaves_alone() {
    let registry = RegistryServer::start().await;
    let addr = registry.addr.clone();
    for (image, tags) in [
        ("library/nginx", &["1.25.3", "1.26.0"][..]),
        ("library/golang", &["1.22.0", "1.23.1"]),
        ("bitnami/redis", &["7.2.4", "7.2.5"]),
        ("acme/app", &["1.0.0", "1.1.0"]),
    ] {
        for tag in tags {
            registry.push(image, tag, "2024-01-01T00:00:00Z").await;
        }
    }
    let remote = BareRepo::new(&[
        ("deploy/values.yaml", &values(&addr, "7.2.4", "1.0.0")),
        (
            "deploy/overlay/kustomization.yaml",
            &kustomization(&addr, "1.0.0", "1.25.3"),
        ),
        ("deploy/Dockerfile", &dockerfile("1.22.0", "1.25.3")),
        ("deploy/compose.yaml", &compose("1.25.3")),
        ("deploy/notes.txt", NOTES),
    ]);
    let dir = Dir::new();
    dir.write(
        "laminar.yaml",
        format!(
            "global:\n  dataDir: state\ndockerRegistries:\n- reg: docker.io\n  endpoint: http://{addr}\n  insecure: true\n- reg: {addr}/acme\n  insecure: true\n\
             git:\n- name: forms\n  url: {url}\n  branch: main\n  updates:\n  - pattern: semver:^1\n    files: [deploy/]\n  - pattern: semver:^7\n    files: [deploy/]\n",
            url = remote.bare.display()
        ),
    );

    let dry = dir.laminar().args(["once", "--dry-run"]).output().unwrap();
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        out.starts_with("forms: would change 7 reference(s)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "deploy/values.yaml:13:9: {addr}/acme/app: (helm) not managed: empty tag"
        )),
        "{out}"
    );

    let once = dir.laminar().arg("once").output().unwrap();
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    let show = |path: &str| {
        format!(
            "{}\n",
            git(&remote.bare, &["show", &format!("main:{path}")])
        )
    };
    assert_eq!(show("deploy/values.yaml"), values(&addr, "7.2.5", "1.1.0"));
    assert_eq!(
        show("deploy/overlay/kustomization.yaml"),
        kustomization(&addr, "1.1.0", "1.26.0")
    );
    assert_eq!(show("deploy/Dockerfile"), dockerfile("1.23.1", "1.26.0"));
    assert_eq!(show("deploy/compose.yaml"), compose("1.26.0"));
    assert_eq!(
        show("deploy/notes.txt"),
        NOTES,
        "free text is never an image"
    );

    let again = dir.laminar().arg("once").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("forms: up to date"));
}

#[test]
fn scan_names_each_form_and_lists_what_it_does_not_manage() {
    let dir = Dir::new();
    dir.write(
        "values.yaml",
        "image:\n  repository: bitnami/redis\n  tag: 7.2.4\n",
    );
    dir.write("Dockerfile", "FROM nginx:1.25\n");
    dir.write(
        "compose.yaml",
        "services:\n  x:\n    image: quay.io/x/y:1\n",
    );
    let out = dir
        .laminar()
        .args(["scan", ".", "--registry", "docker.io/bitnami", "--all"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "Dockerfile:1:6: nginx:1.25 (implicit-hub) not managed: no configured registry covers it\n\
         compose.yaml:3:12: quay.io/x/y:1 (inline) not managed: no configured registry covers it\n\
         values.yaml:3:8: bitnami/redis:7.2.4 (helm)\n"
    );
    let json = dir
        .laminar()
        .args(["scan", ".", "--registry", "docker.io/bitnami", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&json.stdout),
        "{\"file\":\"values.yaml\",\"line\":3,\"column\":8,\"image\":\"bitnami/redis\",\"tag\":\"7.2.4\",\"digest\":null,\"rule\":null,\"form\":\"helm\"}\n"
    );
    let bad = dir
        .laminar()
        .args(["scan", ".", "--registry", "Docker.io/x:1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid registry prefix"));
}
