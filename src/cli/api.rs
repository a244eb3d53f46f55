//! Commands that ask a running daemon over its API: `laminar status`, `laminar deploy`,
//! `laminar hold`, `laminar release` and `laminar holds`, for shells and CI jobs.

use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use super::CliError;
use crate::image::reference::Reference;
use crate::secret::SecretSource;

/// Where the daemon is, and the token its API wants.
#[derive(Debug, Args)]
pub struct Daemon {
    /// The daemon's address
    #[arg(long, env = "LAMINAR_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A file holding the API token [default: the LAMINAR_API_TOKEN variable]
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The image and the exact tag to set, e.g. registry.example.com/acme/app:1.3.2
    pub image: String,
    /// Only in this repo (repeatable) [default: every repo that references the image]
    #[arg(long = "repo", value_name = "NAME")]
    pub repos: Vec<String>,
    /// Only references in this file or under this directory (repeatable)
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<String>,
    /// Why: goes into the commit message
    #[arg(long)]
    pub reason: Option<String>,
    /// Wait until the commit is pushed (or the request fails) and say how it went
    #[arg(long)]
    pub wait: bool,
    /// Set the tag even where the rule's pattern would never pick it (held until the rule
    /// finds a tag newer than its newest now)
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub daemon: Daemon,
}

#[derive(Debug, Args)]
pub struct HoldArgs {
    /// The image to hold, e.g. registry.example.com/acme/app
    pub image: String,
    /// Only in this repo
    #[arg(long)]
    pub repo: Option<String>,
    /// The hold ends by itself then: a date (2026-12-01) or an RFC 3339 time
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub daemon: Daemon,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The image whose holds end (every kind, a rollback's too), or a hold's id
    pub hold: String,
    /// Only the holds of this repo
    #[arg(long)]
    pub repo: Option<String>,
    #[command(flatten)]
    pub daemon: Daemon,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this repo
    #[arg(long)]
    pub repo: Option<String>,
    /// The status as the API gives it
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub daemon: Daemon,
}

#[derive(Debug, Args)]
pub struct ChainsArgs {
    /// The chains as the API gives them
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub daemon: Daemon,
}

/// Each promotion chain: which tag is in which environment, and what waits and why.
pub(super) fn chains(args: &ChainsArgs) -> Result<(), CliError> {
    let answer = call(&args.daemon, Method::GET, "/api/v1/chains", None)?;
    if args.json {
        println!("{answer:#}");
        return Ok(());
    }
    let views: Vec<crate::chains::ChainView> = serde_json::from_value(answer["chains"].clone())
        .map_err(|e| CliError::Usage(format!("unexpected answer from the daemon: {e}")))?;
    print!("{}", crate::chains::render(&views));
    Ok(())
}

#[derive(Debug, Args)]
pub struct HoldsArgs {
    #[command(flatten)]
    pub daemon: Daemon,
}

/// Every repo's last cycle and references, and the holds: the status page in a terminal.
pub(super) fn status(args: &StatusArgs) -> Result<(), CliError> {
    let mut answer = call(&args.daemon, Method::GET, "/api/v1/status", None)?;
    if let Some(repo) = &args.repo {
        let Some(one) = answer["repos"].get(repo).cloned() else {
            return Err(CliError::Usage(format!("no repo named {repo:?}")));
        };
        answer["repos"] = json!({ repo: one });
    }
    if args.json {
        println!("{answer:#}");
        return Ok(());
    }
    let text = |value: &Value| value.as_str().unwrap_or("–").to_string();
    for (name, repo) in answer["repos"].as_object().into_iter().flatten() {
        if repo["unserved"] == true {
            println!("{name}: unserved: shard {} did not answer", repo["shard"]);
            continue;
        }
        println!(
            "{name}: {} at {} ({} cycles), next {}",
            text(&repo["result"]),
            text(&repo["last_cycle"]),
            repo["cycles"],
            text(&repo["next_cycle"])
        );
        if let Some(error) = repo["error"].as_str() {
            println!("  error: {error}");
        }
        for pull in repo["pull_requests"].as_array().into_iter().flatten() {
            println!("  pull request #{} {}", pull["number"], text(&pull["url"]));
        }
        for r in repo["references"].as_array().into_iter().flatten() {
            let state = match r["kept"].as_str() {
                Some(kept) => kept.to_string(),
                None => format!("moving to {}", text(&r["newest"])),
            };
            println!(
                "  {}:{} {}:{} [{}] {state}",
                text(&r["file"]),
                r["line"],
                text(&r["image"]),
                text(&r["tag"]),
                text(&r["rule"])
            );
        }
    }
    for shard in answer["shards"].as_array().into_iter().flatten() {
        match shard["answered"] == true {
            true => println!(
                "shard {} ({}): {} repos",
                shard["shard"],
                text(&shard["url"]),
                shard["repos"]
            ),
            false => println!(
                "shard {} ({}): did not answer: {}",
                shard["shard"],
                text(&shard["url"]),
                text(&shard["error"])
            ),
        }
    }
    let holds = answer["holds"].as_array().cloned().unwrap_or_default();
    if args.repo.is_none() && !holds.is_empty() {
        println!("holds:");
        for hold in &holds {
            println!("  {}", describe(hold));
        }
    }
    Ok(())
}

pub(super) fn deploy(args: &DeployArgs) -> Result<(), CliError> {
    let (image, tag) = split_tag(&args.image)?;
    let body = json!({
        "image": image,
        "tag": tag,
        "repos": args.repos,
        "files": args.files,
        "reason": args.reason,
        "force": args.force,
    });
    let path = match args.wait {
        true => "/api/v1/deploy?wait=true",
        false => "/api/v1/deploy",
    };
    let answer = call(&args.daemon, Method::POST, path, Some(body))?;
    let id = answer["id"].as_str().unwrap_or("?");
    println!(
        "deploy {id}: {image}:{tag} ({})",
        answer["state"].as_str().unwrap_or("?")
    );
    let mut failed = false;
    for (repo, outcome) in answer["repos"].as_object().into_iter().flatten() {
        let state = outcome["state"].as_str().unwrap_or("?");
        failed |= matches!(state, "refused" | "failed");
        let text = |key: &str| outcome[key].as_str();
        match (text("commit"), text("pull_request"), text("error")) {
            (Some(commit), _, _) => println!("  {repo}: pushed {commit}"),
            (_, Some(url), _) => println!("  {repo}: proposed {url}"),
            (_, _, Some(error)) => println!("  {repo}: {state}: {error}"),
            _ => println!("  {repo}: {state}"),
        }
        for change in outcome["changes"].as_array().into_iter().flatten() {
            println!(
                "    {}:{} {} → {}",
                change["file"].as_str().unwrap_or("?"),
                change["line"],
                change["from"].as_str().unwrap_or("?"),
                change["to"].as_str().unwrap_or("?")
            );
        }
    }
    match failed {
        true => Err(CliError::Serve("the deploy did not land everywhere".into())),
        false => Ok(()),
    }
}

pub(super) fn hold(args: &HoldArgs) -> Result<(), CliError> {
    let body = json!({
        "image": args.image,
        "repo": args.repo,
        "until": args.until,
        "reason": args.reason,
    });
    let hold = call(&args.daemon, Method::POST, "/api/v1/holds", Some(body))?;
    println!("{}", describe(&hold));
    Ok(())
}

pub(super) fn release(args: &ReleaseArgs) -> Result<(), CliError> {
    // An id is hex; an image name has a slash or is a Docker Hub name, never only hex digits
    // of this length.
    let by_id = args.hold.len() == 8 && args.hold.bytes().all(|b| b.is_ascii_hexdigit());
    let path = match by_id {
        true => format!("/api/v1/holds/{}", args.hold),
        false => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("image", &args.hold);
            if let Some(repo) = &args.repo {
                query.append_pair("repo", repo);
            }
            format!("/api/v1/holds?{}", query.finish())
        }
    };
    let answer = call(&args.daemon, Method::DELETE, &path, None)?;
    for hold in answer["released"].as_array().into_iter().flatten() {
        println!("released {}", describe(hold));
    }
    Ok(())
}

pub(super) fn holds(args: &HoldsArgs) -> Result<(), CliError> {
    let answer = call(&args.daemon, Method::GET, "/api/v1/holds", None)?;
    for hold in answer["holds"].as_array().into_iter().flatten() {
        println!("{}", describe(hold));
    }
    Ok(())
}

/// `IMAGE:TAG` split in two, read by the reference grammar (a registry's port is no tag).
fn split_tag(reference: &str) -> Result<(&str, &str), CliError> {
    match Reference::parse(reference) {
        Some(Reference {
            tag: Some(tag),
            digest: None,
            ..
        }) => {
            let image = &reference[..reference.len() - tag.len() - 1];
            Ok((image, &reference[image.len() + 1..]))
        }
        _ => Err(CliError::Usage(format!("{reference:?} is not IMAGE:TAG"))),
    }
}

/// One line per hold: id, kind, image, where and why.
fn describe(hold: &Value) -> String {
    let text = |key: &str| hold[key].as_str().map(str::to_string);
    let mut line = format!(
        "{} {} {}",
        text("id").unwrap_or_default(),
        text("kind").unwrap_or_default(),
        text("image").unwrap_or_default()
    );
    for (key, label) in [
        ("repo", "repo"),
        ("file", "file"),
        ("tag", "at"),
        ("releaseAfter", "until newer than"),
        ("until", "until"),
        ("reason", "reason"),
    ] {
        if let Some(value) = text(key) {
            line.push_str(&format!(" {label}={value:?}"));
        }
    }
    line
}

/// One API call; an answer other than 2xx is an error carrying the daemon's message.
fn call(
    daemon: &Daemon,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, CliError> {
    let source = match &daemon.token_file {
        Some(file) => SecretSource::File(file.clone()),
        None => SecretSource::Env("LAMINAR_API_TOKEN".into()),
    };
    let token = source.read().map_err(|e| CliError::Usage(e.to_string()))?;
    let url = format!("{}{path}", daemon.url.trim_end_matches('/'));
    super::block_on(async move {
        let client = reqwest::Client::builder()
            .user_agent(crate::http::USER_AGENT)
            // A waiting deploy answers within ten minutes.
            .timeout(Duration::from_secs(660))
            .build()
            .map_err(|e| CliError::Serve(e.to_string()))?;
        let mut request = client.request(method, &url).bearer_auth(token.expose());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CliError::Serve(format!("cannot reach laminar at {url}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CliError::Serve(e.to_string()))?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let message = answer["error"].as_str().map(str::to_string);
        // A finished deploy that changed nothing or was refused still says what happened.
        if answer["repos"].is_object() {
            return Ok(answer);
        }
        Err(CliError::Serve(format!(
            "laminar answered {status}: {}",
            message.unwrap_or(text)
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_not_a_tag() {
        assert_eq!(
            split_tag("127.0.0.1:5000/acme/app:1.3.2").unwrap(),
            ("127.0.0.1:5000/acme/app", "1.3.2")
        );
        assert_eq!(split_tag("nginx:1.27").unwrap(), ("nginx", "1.27"));
        assert!(split_tag("127.0.0.1:5000/acme/app").is_err());
    }
}
