//! Three `laminar run` processes as shards 0–2 of one config (`global.shards.peers`), over 30
//! bare repos and the real `docker-registry`: each repo has one writer, any process answers
//! triggers, webhooks, deploy requests, holds and the status, and a stopped shard's repos are
//! marked unserved until it is back.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::daemon::{Daemon, TOKEN};
use crate::fixtures::git::{BareRepo, git};
use crate::fixtures::registry::{RegistryServer, free_port};
use crate::util::{Dir, eventually, signed_generic};

const REPOS: usize = 30;
const SHARDS: usize = 3;
const HOOK_SECRET: &str = "shard-hook-secret";

fn name(n: usize) -> String {
    format!("r{n:02}")
}

/// The shard laminar gives repo `name` among `shards`.
fn owner(name: &str, shards: usize) -> usize {
    laminar::shards::owner_of(name, shards)
}

/// The config of shard `me`: the same repos and peers for all, its own listen address and
/// commit author (so a commit names the process that made it).
fn config(me: usize, ports: &[u16], registry: &str, remotes: &[BareRepo]) -> String {
    let peers: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut text = format!(
        "global:\n  dataDir: state\n  listen: 127.0.0.1:{port}\n  gitUser: shard-{me}\n  gitEmail: shard-{me}@example.org\n  shards:\n    peers: [{peers}]\n\
         dockerRegistries:\n- reg: {registry}/acme\n  insecure: true\n  rateLimit: 1000\n\
         webhooks:\n- name: ci\n  kind: generic\n  secretFile: hook-secret\ngit:\n",
        port = ports[me],
        peers = peers.join(", "),
    );
    for (n, remote) in remotes.iter().enumerate() {
        text.push_str(&format!(
            "- name: {}\n  url: {}\n  branch: main\n  pollFreq: 3600\n  updates:\n  - pattern: semver:^1\n    files: [app.yaml]\n",
            name(n),
            remote.bare.display()
        ));
    }
    text
}

fn authors(remote: &BareRepo) -> Vec<String> {
    let log = git(&remote.bare, &["log", "--format=%an", "main"]);
    log.lines().map(str::to_string).collect()
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    answered(request.send().await.unwrap()).await
}

/// The status and the JSON body of an answer.
async fn answered(answer: reqwest::Response) -> (u16, Value) {
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A generic push event for `image:tag`, signed as the `generic` kind wants.
async fn push_event(base: &str, image: &str, tag: &str) -> (u16, Value) {
    let body = json!({ "image": image, "tag": tag }).to_string();
    let post = reqwest::Client::new().post(format!("{base}/api/v1/webhooks/ci"));
    answered(
        signed_generic(post, HOOK_SECRET, body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn every_shard_answered(status: &Value) -> bool {
    let shards = status["shards"].as_array().unwrap();
    shards.len() == SHARDS && shards.iter().all(|s| s["answered"] == true)
}

fn shard_dir(dirs: &[Dir], me: usize) -> &Path {
    dirs[me].path()
}

#[tokio::test]
async fn three_shards_share_thirty_repos_with_one_writer_each_and_any_of_them_answers() {
    let registry = RegistryServer::start().await;
    for tag in ["1.0.0", "1.1.0"] {
        registry.push("acme/app", tag, "2024-01-01T00:00:00Z").await;
    }
    let image = format!("{}/acme/app", registry.addr);
    let remotes: Vec<BareRepo> = (0..REPOS)
        .map(|_| BareRepo::new(&[("app.yaml", &format!("image: {image}:1.0.0\n"))]))
        .collect();
    let ports: Vec<u16> = (0..SHARDS).map(|_| free_port()).collect();
    let dirs: Vec<Dir> = (0..SHARDS).map(|_| Dir::new()).collect();
    for (me, dir) in dirs.iter().enumerate() {
        dir.write("laminar.yaml", config(me, &ports, &registry.addr, &remotes));
        dir.write("hook-secret", HOOK_SECRET);
    }
    let mut daemons: Vec<Daemon> = (0..SHARDS)
        .map(|me| Daemon::spawn_shard(shard_dir(&dirs, me), TOKEN, me))
        .collect();
    for daemon in &daemons {
        daemon.wait_ready().await;
        daemon.wait_idle().await;
    }

    // Every repo moved once, by the shard that owns it, and by no other.
    let owners: Vec<usize> = (0..REPOS).map(|n| owner(&name(n), SHARDS)).collect();
    for shard in 0..SHARDS {
        assert!(
            owners.contains(&shard),
            "each shard owns some of the 30 repos"
        );
    }
    for (n, remote) in remotes.iter().enumerate() {
        assert_eq!(remote.show("app.yaml"), format!("image: {image}:1.1.0"));
        let authors = authors(remote);
        assert_eq!(authors.len(), 2, "{}: {authors:?}", name(n));
        assert_eq!(authors[0], format!("shard-{}", owners[n]), "{}", name(n));
    }
    let mut listings = 0.0;
    for (me, daemon) in daemons.iter().enumerate() {
        let metrics = daemon.get("/metrics").await.unwrap().text().await.unwrap();
        listings += metrics
            .lines()
            .filter(|l| {
                l.starts_with("laminar_registry_requests_total{") && l.contains("kind=\"tags\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        for (n, owner) in owners.iter().enumerate() {
            let series = format!("repo=\"{}\"", name(n));
            assert_eq!(
                metrics.contains(&series),
                *owner == me,
                "shard {me}, {}",
                name(n)
            );
        }
        assert!(metrics.contains(&format!("shard=\"{me}\"")), "{metrics}");
        assert!(metrics.contains("laminar_shards{"), "{metrics}");
    }

    // One listing of the image per shard for the first round (one replica: one).
    assert_eq!(listings, SHARDS as f64);

    // Any shard's status lists all 30, and every shard as answering.
    let status = daemons[1].status().await;
    assert_eq!(status["repos"].as_object().unwrap().len(), REPOS);
    assert!(every_shard_answered(&status), "{status}");

    // So does the status page of any of them.
    let page = daemons[2].get("/").await.unwrap().text().await.unwrap();
    for n in 0..REPOS {
        assert!(
            page.contains(&format!("/repos/{}\"", name(n))),
            "{}",
            name(n)
        );
    }

    // A repo's page and an image's, through a shard that does not own the repo.
    let foreign = (0..REPOS).find(|n| owners[*n] != 0).unwrap();
    let repo_page = daemons[0]
        .get(&format!("/repos/{}", name(foreign)))
        .await
        .unwrap();
    assert_eq!(repo_page.status(), 200);
    let repo_page = repo_page.text().await.unwrap();
    assert!(repo_page.contains("app.yaml"), "{repo_page}");
    let image_page = daemons[0]
        .get(&format!("/images/{image}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for n in 0..REPOS {
        assert!(
            image_page.contains(&format!("/repos/{}\"", name(n))),
            "{}",
            name(n)
        );
    }

    // A trigger for a repo another shard owns is handed to it.
    let path = format!("/api/v1/sync/{}", name(foreign));
    let (code, answer) = call(daemons[0].base(), reqwest::Method::POST, &path, None).await;
    assert_eq!(
        (code, answer["triggered"][0].as_str()),
        (202, Some(name(foreign).as_str()))
    );
    let (code, answer) = call(
        daemons[0].base(),
        reqwest::Method::POST,
        "/api/v1/sync",
        None,
    )
    .await;
    assert_eq!(code, 202);
    assert_eq!(answer["triggered"].as_array().unwrap().len(), REPOS);
    for daemon in &daemons {
        daemon.wait_idle().await;
    }

    // A hold made through one shard is kept by every shard, in its own dataDir.
    let (code, hold) = call(
        daemons[2].base(),
        reqwest::Method::POST,
        "/api/v1/holds",
        Some(json!({ "image": image, "reason": "freeze" })),
    )
    .await;
    assert_eq!(code, 201, "{hold}");
    let id = hold["id"].as_str().unwrap().to_string();
    for me in 0..SHARDS {
        let kept = std::fs::read_to_string(shard_dir(&dirs, me).join("state/holds.json")).unwrap();
        assert!(kept.contains(&id), "shard {me}: {kept}");
    }
    // A push event to any shard wakes the repos of every shard; the hold keeps them.
    registry
        .push("acme/app", "1.2.0", "2024-01-02T00:00:00Z")
        .await;
    let (code, woken) = push_event(daemons[1].base(), &image, "1.2.0").await;
    assert_eq!(code, 202, "{woken}");
    assert_eq!(woken["woken"].as_array().unwrap().len(), REPOS, "{woken}");
    for daemon in &daemons {
        daemon.wait_idle().await;
    }
    assert!(
        remotes
            .iter()
            .all(|r| r.show("app.yaml").ends_with(":1.1.0"))
    );
    // Released through another shard: every shard lets its repos move.
    let path = format!("/api/v1/holds/{id}");
    let (code, released) = call(daemons[0].base(), reqwest::Method::DELETE, &path, None).await;
    assert_eq!(code, 200, "{released}");
    eventually(Duration::from_secs(60), || async {
        remotes
            .iter()
            .all(|r| r.show("app.yaml").ends_with(":1.2.0"))
    })
    .await;

    // A deploy request through one shard reaches every repo, wherever it runs.
    let (code, deployed) = call(
        daemons[1].base(),
        reqwest::Method::POST,
        "/api/v1/deploy?wait=true",
        Some(json!({ "image": image, "tag": "1.0.0", "reason": "roll back" })),
    )
    .await;
    assert_eq!(code, 200, "{deployed}");
    assert_eq!(
        deployed["repos"].as_object().unwrap().len(),
        REPOS,
        "{deployed}"
    );
    assert!(
        remotes
            .iter()
            .all(|r| r.show("app.yaml").ends_with(":1.0.0"))
    );
    let path = format!("/api/v1/deploy/{}", deployed["id"].as_str().unwrap());
    let (code, state) = call(daemons[2].base(), reqwest::Method::GET, &path, None).await;
    assert_eq!((code, state["state"].as_str()), (200, Some("done")));

    // Shard 2 stops: its repos are marked unserved, the others' are as they were.
    daemons[2].terminate();
    let status = daemons[0].status().await;
    let repos = status["repos"].as_object().unwrap();
    assert_eq!(repos.len(), REPOS);
    for (n, owner) in owners.iter().enumerate() {
        let unserved = repos[&name(n)]["unserved"] == true;
        assert_eq!(unserved, *owner == 2, "{}", name(n));
    }
    assert_eq!(status["shards"][2]["answered"], false, "{status}");
    let page = daemons[1].get("/").await.unwrap().text().await.unwrap();
    assert!(page.contains("unserved: shard 2 did not answer"), "{page}");
    // A hold made, or ended, while a shard is down says it is not everywhere.
    let (code, partial) = call(
        daemons[0].base(),
        reqwest::Method::POST,
        "/api/v1/holds",
        Some(json!({ "image": image })),
    )
    .await;
    assert_eq!(code, 503, "{partial}");
    assert_eq!(partial["missing"][0]["shard"], 2, "{partial}");
    let path = format!("/api/v1/holds/{}", partial["hold"]["id"].as_str().unwrap());
    let (code, ended) = call(daemons[1].base(), reqwest::Method::DELETE, &path, None).await;
    assert_eq!(code, 503, "{ended}");
    // Ended on both answering shards (one hold, one id), their repos woken.
    assert_eq!(ended["released"].as_array().unwrap().len(), 1, "{ended}");
    let served = owners.iter().filter(|o| **o != 2).count();
    assert_eq!(ended["woken"].as_array().unwrap().len(), served, "{ended}");
    assert_eq!(ended["unreached"][0]["shard"], 2, "{ended}");
    // The other shards' repos are still handed their triggers.
    let running = (0..REPOS).find(|n| owners[*n] == 1).unwrap();
    let path = format!("/api/v1/sync/{}", name(running));
    let (code, _) = call(daemons[0].base(), reqwest::Method::POST, &path, None).await;
    assert_eq!(code, 202);
    let out = dirs[0]
        .laminar()
        .args(["status", "--url", daemons[0].base()])
        .env("LAMINAR_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    let stopped = (0..REPOS).find(|n| owners[*n] == 2).unwrap();
    assert!(
        printed.contains(&format!(
            "{}: unserved: shard 2 did not answer",
            name(stopped)
        )),
        "{printed}"
    );
    // Back again: it resumes its repos.
    daemons[2] = Daemon::spawn_shard(shard_dir(&dirs, 2), TOKEN, 2);
    daemons[2].wait_ready().await;
    let status = daemons[0].status().await;
    assert!(every_shard_answered(&status), "{status}");

    // A fourth shard would take over only what it wins.
    let moved = (0..REPOS)
        .filter(|n| owner(&name(*n), 4) != owners[*n])
        .count();
    assert!(moved * 100 <= 30 * REPOS, "{moved} of {REPOS} would move");
}
