//! `webhooks:`: registries (and CI) that tell laminar about pushed images, each received at
//! `POST /api/v1/webhooks/{name}`.

use super::decode::{repo_name, secret};
use super::fields::{Decoder, Keyword};
use super::yaml::Node;
use super::{Environment, SecretSource};

/// One receiver of push events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// The last path segment of its URL, and its metrics label.
    pub name: String,
    pub kind: WebhookKind,
    /// The shared token, or the key the sender signs with.
    pub secret: SecretSource,
    /// The registry host the manifests write for the images the events name, when it is not
    /// the one the event names (a registry reached under another name, a mirror).
    pub host: Option<String>,
    /// `ecr` over SNS: where subscription confirmations may be fetched from besides
    /// `https://sns.<region>.amazonaws.com` (a VPC endpoint).
    pub sns_endpoint: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    /// CNCF distribution notifications (the Debian `docker-registry`, a self-managed GitLab's
    /// registry, Harbor's embedded registry): `Authorization: Bearer <secret>`.
    Distribution,
    /// Docker Hub repository webhooks: `?token=<secret>` (Hub sets no headers).
    Dockerhub,
    /// GitHub `package` / `registry_package` events, signed (`X-Hub-Signature-256`).
    Github,
    /// A self-managed GitLab's container registry notifications (distribution format);
    /// GitLab.com sends no registry events.
    Gitlab,
    /// Quay repository notifications (webhook method): `?token=<secret>`.
    Quay,
    /// Harbor webhook policies (`PUSH_ARTIFACT`): the policy's auth header.
    Harbor,
    /// EventBridge "ECR Image Action", through an API destination or an SNS HTTPS
    /// subscription (confirmed automatically).
    Ecr,
    /// `{"image": …, "tag": …}` signed like laminar's own webhook notifications.
    Generic,
}

impl Keyword for WebhookKind {
    const ALL: &'static [(&'static str, WebhookKind)] = &[
        ("distribution", WebhookKind::Distribution),
        ("dockerhub", WebhookKind::Dockerhub),
        ("github", WebhookKind::Github),
        ("gitlab", WebhookKind::Gitlab),
        ("quay", WebhookKind::Quay),
        ("harbor", WebhookKind::Harbor),
        ("ecr", WebhookKind::Ecr),
        ("generic", WebhookKind::Generic),
    ];
}

pub(super) fn decode(d: &mut Decoder, node: &Node, env: &Environment) -> Option<Webhook> {
    let mut f = d.fields(node)?;
    let name = f.require(d, "name", &[]).and_then(|n| repo_name(d, n));
    let kind: Option<WebhookKind> = f
        .require(d, "kind", &[])
        .and_then(|n| d.keyword(n, "webhook kind"));
    let secret = secret(d, &mut f, env, "secretEnv", "secretFile");
    let host = f.get(d, "host", &[]).and_then(|n| {
        let host = d.text(n)?;
        let plain = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if !plain {
            d.error(
                n.pos,
                format!("invalid host {host:?}: a registry host, as images name it"),
            );
        }
        Some(host.to_ascii_lowercase())
    });
    let sns_endpoint = f.get(d, "snsEndpoint", &[]).and_then(|n| {
        let url = d.text(n)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            d.error(n.pos, "snsEndpoint must be an http:// or https:// URL");
        }
        Some(url.trim_end_matches('/').to_string())
    });
    f.finish(d);
    let Some(secret) = secret else {
        d.error(
            node.pos,
            "a webhook is authenticated: give secretEnv or secretFile",
        );
        return None;
    };
    let kind = kind?;
    if sns_endpoint.is_some() && kind != WebhookKind::Ecr {
        d.error(node.pos, "snsEndpoint is for kind ecr");
    }
    Some(Webhook {
        name: name?,
        kind,
        secret,
        host,
        sns_endpoint,
    })
}
