//! What each sender's payload says was pushed, read as its documentation shows it: CNCF
//! distribution notifications ("Notifications" in the distribution docs), Docker Hub
//! ("Webhooks" example payload), GitHub (`package` / `registry_package` webhook events),
//! Quay (repository notification webhook), Harbor (webhook payload, `PUSH_ARTIFACT`),
//! EventBridge "ECR Image Action" (directly, or inside an SNS notification) and laminar's own
//! generic form. Only pushes of tags count; anything else is acknowledged and ignored.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::config::WebhookKind;
use crate::image::reference::Reference;

/// Events one request may carry; a batch beyond this is refused.
const MAX_EVENTS: usize = 100;

/// A tag pushed to an image, as `host/path` the sender named it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Pushed {
    /// The image, `host/path` (Docker Hub: `docker.io/namespace/name`).
    pub image: String,
    pub tag: Option<String>,
}

/// What a request asks of laminar.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    Pushes(Vec<Pushed>),
    /// A sender checking the receiver (GitHub's `ping`).
    Ping,
    /// SNS asks for the subscription to be confirmed by fetching this URL.
    ConfirmSubscription {
        url: String,
    },
}

/// The payload of a `kind` request; `host` replaces the host events name.
pub(super) fn parse(
    kind: WebhookKind,
    headers: &HeaderMap,
    body: &[u8],
    host: Option<&str>,
) -> Result<Parsed, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let pushes = match kind {
        WebhookKind::Distribution | WebhookKind::Gitlab => distribution(&value)?,
        WebhookKind::Dockerhub => dockerhub(&value)?,
        WebhookKind::Github => match header(headers, "x-github-event") {
            Some("ping") => return Ok(Parsed::Ping),
            Some("package" | "registry_package") => github(&value)?,
            Some(_) => Vec::new(),
            None => return Err("no X-GitHub-Event header".into()),
        },
        WebhookKind::Quay => quay(&value)?,
        WebhookKind::Harbor => harbor(&value)?,
        WebhookKind::Ecr => match value["Type"].as_str() {
            Some("SubscriptionConfirmation") => {
                let url = text(&value["SubscribeURL"], "SubscribeURL")?;
                return Ok(Parsed::ConfirmSubscription { url });
            }
            Some("Notification") => {
                let message = text(&value["Message"], "Message")?;
                let inner: Value = serde_json::from_str(&message)
                    .map_err(|e| format!("the SNS message is not JSON: {e}"))?;
                ecr(&inner)?
            }
            Some(_) => Vec::new(),
            None => ecr(&value)?,
        },
        WebhookKind::Generic => generic(&value)?,
    };
    if pushes.len() > MAX_EVENTS {
        return Err(format!("more than {MAX_EVENTS} events in one request"));
    }
    pushes
        .into_iter()
        .map(|(event_host, path, tag)| pushed(host.unwrap_or(&event_host), &path, tag))
        .collect::<Result<Vec<_>, _>>()
        .map(Parsed::Pushes)
}

type Raw = (String, String, Option<String>);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn text(value: &Value, what: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{what} is missing or not a string"))
}

/// A checked image name and tag: a crafted name or tag never gets further.
fn pushed(host: &str, path: &str, tag: Option<String>) -> Result<Pushed, String> {
    let image = format!("{}/{}", host.to_ascii_lowercase(), path);
    let written = match &tag {
        Some(tag) => format!("{image}:{tag}"),
        None => image.clone(),
    };
    match Reference::parse(&written) {
        Some(reference) if reference.domain.is_some() && reference.digest.is_none() => {
            Ok(Pushed { image, tag })
        }
        _ => Err(format!("{written:?} is not an image reference")),
    }
}

/// `{"events": [{"action": "push", "target": {"repository", "tag"}, "request": {"host"}}]}`:
/// manifest pushes by tag; blob pushes and pulls carry no tag and are skipped.
fn distribution(value: &Value) -> Result<Vec<Raw>, String> {
    let events = value["events"].as_array().ok_or("no events list")?;
    let mut pushes = Vec::new();
    for event in events.iter().take(MAX_EVENTS + 1) {
        let tag = event["target"]["tag"].as_str().filter(|t| !t.is_empty());
        if event["action"] != "push" || tag.is_none() {
            continue;
        }
        let repository = text(&event["target"]["repository"], "target.repository")?;
        let host = text(&event["request"]["host"], "request.host")?;
        pushes.push((host, repository, tag.map(str::to_string)));
    }
    Ok(pushes)
}

/// `{"push_data": {"tag"}, "repository": {"repo_name"}}`; official images are `library/…`.
fn dockerhub(value: &Value) -> Result<Vec<Raw>, String> {
    let name = text(&value["repository"]["repo_name"], "repository.repo_name")?;
    let path = match name.contains('/') {
        true => name,
        false => format!("library/{name}"),
    };
    let tag = value["push_data"]["tag"].as_str().map(str::to_string);
    Ok(vec![("docker.io".into(), path, tag)])
}

/// `{"action": "published", "package": {"name", "package_type": "container", "owner":
/// {"login"}, "package_version": {"container_metadata": {"tag": {"name"}}}}}`, or the same
/// under `registry_package`.
fn github(value: &Value) -> Result<Vec<Raw>, String> {
    let package = match &value["package"] {
        Value::Null => &value["registry_package"],
        package => package,
    };
    let container = package["package_type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("container"));
    if !container || !matches!(value["action"].as_str(), Some("published" | "updated")) {
        return Ok(Vec::new());
    }
    let owner = text(&package["owner"]["login"], "package.owner.login")?.to_ascii_lowercase();
    // Names with a path arrive URL-encoded.
    let name = text(&package["name"], "package.name")?
        .replace("%2F", "/")
        .replace("%2f", "/");
    let tag = package["package_version"]["container_metadata"]["tag"]["name"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let host = package["registry"]["host"]
        .as_str()
        .or(value["registry"]["host"].as_str())
        .unwrap_or("ghcr.io")
        .to_string();
    Ok(vec![(host, format!("{owner}/{name}"), tag)])
}

/// `{"docker_url": "quay.io/acme/app", "updated_tags": ["1.2.3"]}`.
fn quay(value: &Value) -> Result<Vec<Raw>, String> {
    let url = text(&value["docker_url"], "docker_url")?;
    let (host, path) = url
        .split_once('/')
        .ok_or("docker_url names no repository")?;
    let tags = value["updated_tags"].as_array().ok_or("no updated_tags")?;
    Ok(tags
        .iter()
        .take(MAX_EVENTS + 1)
        .filter_map(Value::as_str)
        .map(|tag| (host.to_string(), path.to_string(), Some(tag.to_string())))
        .collect())
}

/// `{"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag", "resource_url":
/// "harbor.example.com/library/app:1.2"}]}}`.
fn harbor(value: &Value) -> Result<Vec<Raw>, String> {
    if value["type"] != "PUSH_ARTIFACT" {
        return Ok(Vec::new());
    }
    let resources = value["event_data"]["resources"]
        .as_array()
        .ok_or("no event_data.resources")?;
    let mut pushes = Vec::new();
    for resource in resources.iter().take(MAX_EVENTS + 1) {
        let url = text(&resource["resource_url"], "resource_url")?;
        let reference =
            Reference::parse(&url).ok_or_else(|| format!("{url:?} is not an image reference"))?;
        let host = reference.domain.ok_or("resource_url names no registry")?;
        let tag = resource["tag"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        pushes.push((host, reference.path, tag.or(reference.tag)));
    }
    Ok(pushes)
}

/// EventBridge: `{"detail-type": "ECR Image Action", "account", "region", "detail":
/// {"action-type": "PUSH", "result": "SUCCESS", "repository-name", "image-tag"}}`.
fn ecr(value: &Value) -> Result<Vec<Raw>, String> {
    let detail = &value["detail"];
    if value["detail-type"] != "ECR Image Action"
        || detail["action-type"] != "PUSH"
        || detail["result"] != "SUCCESS"
    {
        return Ok(Vec::new());
    }
    let account = text(&value["account"], "account")?;
    let region = text(&value["region"], "region")?;
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !plain(&account) || !plain(&region) {
        return Err("account or region holds more than letters, digits and '-'".into());
    }
    let repository = text(&detail["repository-name"], "detail.repository-name")?;
    let tag = detail["image-tag"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let suffix = match region.starts_with("cn-") {
        true => "amazonaws.com.cn",
        false => "amazonaws.com",
    };
    Ok(vec![(
        format!("{account}.dkr.ecr.{region}.{suffix}"),
        repository,
        tag,
    )])
}

/// `{"image": "reg.io/acme/app", "tag": "1.2.3"}`; a Docker Hub image may be written short.
fn generic(value: &Value) -> Result<Vec<Raw>, String> {
    let image = text(&value["image"], "image")?;
    let tag = value["tag"].as_str().map(str::to_string);
    let name = crate::image::hub::canonical(&image).unwrap_or(image);
    let reference =
        Reference::parse(&name).ok_or_else(|| format!("{name:?} is not an image name"))?;
    let (Some(host), None, None) = (reference.domain, reference.tag, reference.digest) else {
        return Err(format!(
            "{name:?}: give the image with its registry, and the tag apart"
        ));
    };
    Ok(vec![(host, reference.path, tag)])
}
