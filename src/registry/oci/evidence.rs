//! What a registry holds about one digest for a trust gate: the platforms of its index,
//! cosign's `.sig` signatures, and sigstore bundles attached as referrers (the referrers API,
//! else its `sha256-<hex>` tag fallback).

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{OciSource, PlatformSpec, is_digest, json};
use crate::registry::counters::RequestKind;
use crate::registry::error::Failure;
use crate::registry::image::ImageName;
use crate::trust::{BUNDLE_ARTIFACT_PREFIX, Evidence, Gate, LegacySignature, SIMPLE_SIGNING};

/// Signatures and bundles read per digest at most: more is an attack on the reader, not a
/// signing practice.
const MAX_ARTIFACTS: usize = 16;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct Layers {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Referrer {
    digest: String,
    artifact_type: Option<String>,
}

#[derive(Deserialize)]
struct Referrers {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

impl OciSource {
    /// What `gate` needs to judge `digest` of `image`.
    pub(in crate::registry) async fn evidence(
        &self,
        image: &ImageName,
        digest: &str,
        gate: &Gate,
    ) -> Result<Evidence, Failure> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|_| is_digest(digest))
            .ok_or_else(|| Failure::Malformed(format!("digest {digest:?}")))?;
        let mut evidence = Evidence::default();
        if !gate.platforms.is_empty() {
            evidence.platforms = self.platforms(image, digest).await?;
        }
        if !gate.signers.is_empty() {
            evidence.legacy = self.legacy_signatures(image, hex).await?;
        }
        if !gate.signers.is_empty() || !gate.attestations.is_empty() {
            evidence.bundles = self.bundles(image, digest, hex).await?;
        }
        Ok(evidence)
    }

    /// `os/architecture[/variant]` of every image the index lists, or of the one image.
    async fn platforms(&self, image: &ImageName, digest: &str) -> Result<Vec<String>, Failure> {
        let manifest = self.manifest(image, digest).await?;
        if manifest.is_index() {
            let listed = manifest
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref());
            return Ok(listed.map(PlatformSpec::name).collect());
        }
        let Some(config) = manifest.config else {
            return Ok(Vec::new());
        };
        let config = self.blob(image, &config.digest, "image config").await?;
        let platform: PlatformSpec = json(&config, "image config")?;
        Ok(vec![platform.name()])
    }

    /// The layers of the `sha256-<hex>.sig` manifest, none when it does not exist.
    async fn legacy_signatures(
        &self,
        image: &ImageName,
        hex: &str,
    ) -> Result<Vec<LegacySignature>, Failure> {
        let path = format!("manifests/sha256-{hex}.sig");
        let Some(manifest) = self
            .optional::<Layers>(image, &path, "signature manifest")
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut signatures = Vec::new();
        let layers = manifest
            .layers
            .into_iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING);
        for layer in layers.take(MAX_ARTIFACTS) {
            let annotation = |key: &str| layer.annotations.get(key).cloned();
            let Some(signature) = annotation("dev.cosignproject.cosign/signature") else {
                continue;
            };
            let payload = self.blob(image, &layer.digest, "signature payload").await?;
            signatures.push(LegacySignature {
                payload: payload.body,
                signature,
                certificate: annotation("dev.sigstore.cosign/certificate"),
                chain: annotation("dev.sigstore.cosign/chain"),
                rekor: annotation("dev.sigstore.cosign/bundle"),
            });
        }
        Ok(signatures)
    }

    /// Sigstore bundles attached to `digest`: listed by the referrers API, or, where the
    /// registry lacks it, by the index tagged `sha256-<hex>`.
    async fn bundles(
        &self,
        image: &ImageName,
        digest: &str,
        hex: &str,
    ) -> Result<Vec<Vec<u8>>, Failure> {
        let api = format!("referrers/{digest}");
        let fallback = format!("manifests/sha256-{hex}");
        let referrers = match self.optional::<Referrers>(image, &api, "referrers").await? {
            Some(listed) => listed,
            None => match self.optional(image, &fallback, "referrers index").await? {
                Some(listed) => listed,
                None => return Ok(Vec::new()),
            },
        };
        let attached = referrers.manifests.into_iter().filter(|r| {
            let kind = r.artifact_type.as_deref().unwrap_or_default();
            kind.starts_with(BUNDLE_ARTIFACT_PREFIX) && is_digest(&r.digest)
        });
        let mut bundles = Vec::new();
        for referrer in attached.take(MAX_ARTIFACTS) {
            let path = format!("manifests/{}", referrer.digest);
            let Some(manifest) = self
                .optional::<Layers>(image, &path, "bundle manifest")
                .await?
            else {
                continue;
            };
            if let Some(layer) = manifest.layers.first() {
                bundles.push(self.blob(image, &layer.digest, "bundle").await?.body);
            }
        }
        Ok(bundles)
    }

    /// The JSON document at `path` under the image's repository; `None` when there is none.
    async fn optional<T: DeserializeOwned>(
        &self,
        image: &ImageName,
        path: &str,
        what: &'static str,
    ) -> Result<Option<T>, Failure> {
        let url = self.url(image, path)?;
        match self
            .fetch(RequestKind::Manifest, image, &url, Method::GET, what)
            .await
        {
            Ok(fetched) => json(&fetched, what).map(Some),
            Err(Failure::NotFound) => Ok(None),
            Err(failure) => Err(failure),
        }
    }

    /// The blob `digest` names; the digest is checked first, since it comes from the registry.
    async fn blob(
        &self,
        image: &ImageName,
        digest: &str,
        what: &'static str,
    ) -> Result<super::Fetched, Failure> {
        if !is_digest(digest) {
            return Err(Failure::Malformed(format!("{what} digest {digest:?}")));
        }
        let url = self.url(image, &format!("blobs/{digest}"))?;
        self.fetch(RequestKind::Blob, image, &url, Method::GET, what)
            .await
    }
}
