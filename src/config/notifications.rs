//! The `notifications:` section: where finished cycles' events go, and which.

use std::collections::HashSet;

use super::decode::{repo_name, secret};
use super::fields::Decoder;
use super::yaml::Node;
use super::{Environment, EventKind, Notification, NotificationKind, SecretSource};

/// One `notifications:` entry; `repos` names must be configured repos.
pub(super) fn decode(
    d: &mut Decoder,
    node: &Node,
    env: &Environment,
    known_repos: &HashSet<&str>,
) -> Option<Notification> {
    let mut f = d.fields(node)?;
    let name = f.require(d, "name", &[]).and_then(|n| repo_name(d, n));
    let kind: Option<NotificationKind> = f
        .require(d, "kind", &[])
        .and_then(|n| d.keyword(n, "notification kind"));
    let inline = f.get(d, "url", &[]).and_then(|n| {
        let url = d.text(n)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            d.error(n.pos, "url must be an http:// or https:// URL");
        }
        Some(SecretSource::Inline(crate::secret::Secret::new(url)))
    });
    let from_secret = secret(d, &mut f, env, "urlEnv", "urlFile");
    let secret_key = secret(d, &mut f, env, "secretEnv", "secretFile");
    let repos = f.get(d, "repos", &[]).map(|n| {
        let names = d.strings(n);
        if let Some(unknown) = names.iter().find(|r| !known_repos.contains(r.as_str())) {
            d.error(n.pos, format!("no repo named {unknown:?} in git:"));
        }
        names
    });
    let events = match f.get(d, "events", &[]) {
        None => EventKind::ALL.to_vec(),
        Some(n) => d
            .strings(n)
            .iter()
            .filter_map(|e| match EventKind::ALL.into_iter().find(|k| k.name() == e) {
                Some(kind) => Some(kind),
                None => {
                    d.error(
                        n.pos,
                        format!("unknown event {e:?}: expected updated, failed, recovered, push-gave-up or rolled-back"),
                    );
                    None
                }
            })
            .collect(),
    };
    f.finish(d);
    let url = match (inline, from_secret) {
        (Some(url), None) | (None, Some(url)) => url,
        _ => {
            d.error(node.pos, "give exactly one of url, urlEnv and urlFile");
            return None;
        }
    };
    let kind = kind?;
    match (kind, &secret_key) {
        (NotificationKind::Webhook, None) => d.error(
            node.pos,
            "a webhook notification is signed: give secretEnv or secretFile",
        ),
        (NotificationKind::Webhook, Some(_)) | (_, None) => {}
        (_, Some(_)) => d.error(
            node.pos,
            "secretEnv/secretFile sign webhook notifications only (the URL is the secret for the others)",
        ),
    }
    Some(Notification {
        name: name?,
        kind,
        url,
        secret: secret_key,
        repos,
        events,
    })
}
