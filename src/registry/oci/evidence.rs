//! What a registry holds about one digest for a trust gate: the platforms of its index,
//! cosign's `.sig` signatures, and sigstore bundles attached as referrers (the referrers API,
//! else its `sha256-<hex>` tag fallback).

use reqwest::Method;
use serde::Deserialize;

use super::{OciSource, json};
use crate::registry::counters::RequestKind;
use crate::registry::error::Failure;
use crate::registry::http::Asked;
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
            .filter(|_| super::is_digest(digest))
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
            return Ok(manifest
                .manifests
                .iter()
                .filter_map(|entry| entry.platform.as_ref())
                .map(|p| match &p.variant {
                    Some(variant) => format!("{}/{}/{variant}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                })
                .collect());
        }
        let Some(config) = manifest.config.map(|c| c.digest) else {
            return Ok(Vec::new());
        };
        #[derive(Deserialize)]
        struct Config {
            os: Option<String>,
            architecture: Option<String>,
            variant: Option<String>,
        }
        let fetched = self
            .read(
                RequestKind::Blob,
                image,
                &format!("blobs/{config}"),
                "image config",
            )
            .await?;
        let config: Config = json(&fetched, "image config")?;
        let (Some(os), Some(arch)) = (config.os, config.architecture) else {
            return Ok(Vec::new());
        };
        Ok(vec![match config.variant {
            Some(variant) => format!("{os}/{arch}/{variant}"),
            None => format!("{os}/{arch}"),
        }])
    }

    /// The layers of the `sha256-<hex>.sig` manifest, none when it does not exist.
    async fn legacy_signatures(
        &self,
        image: &ImageName,
        hex: &str,
    ) -> Result<Vec<LegacySignature>, Failure> {
        let path = format!("manifests/sha256-{hex}.sig");
        let fetched = match self
            .read(RequestKind::Manifest, image, &path, "signature manifest")
            .await
        {
            Err(Failure::NotFound) => return Ok(Vec::new()),
            other => other?,
        };
        let manifest: Layers = json(&fetched, "signature manifest")?;
        let mut signatures = Vec::new();
        for layer in manifest
            .layers
            .into_iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING)
            .take(MAX_ARTIFACTS)
        {
            let Some(signature) = layer.annotations.get("dev.cosignproject.cosign/signature")
            else {
                continue;
            };
            let blob = self
                .read(
                    RequestKind::Blob,
                    image,
                    &format!("blobs/{}", layer.digest),
                    "signature payload",
                )
                .await?;
            let annotation = |key: &str| layer.annotations.get(key).cloned();
            signatures.push(LegacySignature {
                payload: blob.body,
                signature: signature.clone(),
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
        let listed = match self
            .read(
                RequestKind::Manifest,
                image,
                &format!("referrers/{digest}"),
                "referrers",
            )
            .await
        {
            Ok(fetched) => fetched,
            Err(Failure::NotFound) => {
                match self
                    .read(
                        RequestKind::Manifest,
                        image,
                        &format!("manifests/sha256-{hex}"),
                        "referrers index",
                    )
                    .await
                {
                    Err(Failure::NotFound) => return Ok(Vec::new()),
                    other => other?,
                }
            }
            Err(failure) => return Err(failure),
        };
        let referrers: Referrers = json(&listed, "referrers")?;
        let mut bundles = Vec::new();
        for referrer in referrers
            .manifests
            .iter()
            .filter(|r| {
                r.artifact_type
                    .as_deref()
                    .is_some_and(|t| t.starts_with(BUNDLE_ARTIFACT_PREFIX))
            })
            .take(MAX_ARTIFACTS)
        {
            if !super::is_digest(&referrer.digest) {
                continue;
            }
            let fetched = self
                .read(
                    RequestKind::Manifest,
                    image,
                    &format!("manifests/{}", referrer.digest),
                    "bundle manifest",
                )
                .await?;
            let manifest: Layers = json(&fetched, "bundle manifest")?;
            let Some(layer) = manifest
                .layers
                .first()
                .filter(|l| super::is_digest(&l.digest))
            else {
                continue;
            };
            let blob = self
                .read(
                    RequestKind::Blob,
                    image,
                    &format!("blobs/{}", layer.digest),
                    "bundle",
                )
                .await?;
            bundles.push(blob.body);
        }
        Ok(bundles)
    }

    /// One GET under the image's repository.
    async fn read(
        &self,
        kind: RequestKind,
        image: &ImageName,
        path: &str,
        what: &'static str,
    ) -> Result<super::Fetched, Failure> {
        let url = self.url(image, path)?;
        let asked = Asked {
            kind,
            method: Method::GET,
            what,
        };
        self.fetch_scoped(asked, image, &url, &image.pull_scope())
            .await
    }
}
