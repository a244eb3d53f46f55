//! cosign's `sha256-<hex>.sig` signatures (cosign ≤ 2): each layer of that manifest is a
//! simple-signing payload naming the image digest; its annotations carry the signature, the
//! signing certificate and the Rekor entry (`bundle`: the signed entry timestamp and what it
//! signs). Together they are a sigstore bundle v0.1, which is how they are verified.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;
use sigstore_verify::types::Bundle;

use super::Gate;

/// One layer of a `.sig` manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacySignature {
    /// The simple-signing payload (the layer's blob).
    pub payload: Vec<u8>,
    /// `dev.cosignproject.cosign/signature`: base64.
    pub signature: String,
    /// `dev.sigstore.cosign/certificate`: PEM, for keyless signatures.
    pub certificate: Option<String>,
    /// `dev.sigstore.cosign/chain`: PEM.
    pub chain: Option<String>,
    /// `dev.sigstore.cosign/bundle`: the Rekor entry, JSON.
    pub rekor: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundle {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
struct BodyKind {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

impl LegacySignature {
    /// Its signer under `gate`, or why it is not good for `digest`.
    pub(super) fn verify(&self, gate: &Gate, digest: &str) -> Result<String, String> {
        let payload: Payload = serde_json::from_slice(&self.payload)
            .map_err(|_| "bad signature: unreadable payload".to_string())?;
        if payload.critical.kind != "cosign container image signature" {
            return Err(format!(
                "bad signature: payload of type {:?}",
                payload.critical.kind
            ));
        }
        if payload.critical.image.digest != digest {
            return Err("signature names another digest".into());
        }
        let bundle = self
            .bundle()
            .ok_or_else(|| "signature without a readable transparency log entry".to_string())?;
        gate.verify(self.payload.as_slice(), &bundle, &gate.signers)
    }

    /// The sigstore bundle v0.1 these annotations amount to.
    fn bundle(&self) -> Option<Bundle> {
        let rekor: RekorBundle = serde_json::from_str(self.rekor.as_deref()?).ok()?;
        let body = STANDARD.decode(&rekor.payload.body).ok()?;
        let kind: BodyKind = serde_json::from_slice(&body).ok()?;
        let log_id = hex::decode(&rekor.payload.log_id).ok()?;
        let material = match &self.certificate {
            Some(leaf) => {
                // The leaf first, then its chain (the `chain` annotation).
                let leaf = pem::parse_many(leaf).ok()?.into_iter().next();
                let chain = pem::parse_many(self.chain.as_deref().unwrap_or_default()).ok()?;
                let certificates: Vec<_> = leaf
                    .into_iter()
                    .chain(chain)
                    .filter(|block| block.tag() == "CERTIFICATE")
                    .map(|block| json!({"rawBytes": STANDARD.encode(block.contents())}))
                    .collect();
                json!({"x509CertificateChain": {"certificates": certificates}})
            }
            None => json!({"publicKey": {"hint": ""}}),
        };
        let digest = {
            use sha2::Digest;
            STANDARD.encode(sha2::Sha256::digest(&self.payload))
        };
        let mut material = material;
        material["tlogEntries"] = json!([{
            "logIndex": rekor.payload.log_index.to_string(),
            "logId": {"keyId": STANDARD.encode(log_id)},
            "kindVersion": {"kind": kind.kind, "version": kind.api_version},
            "integratedTime": rekor.payload.integrated_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": rekor.signed_entry_timestamp},
            "canonicalizedBody": rekor.payload.body,
        }]);
        let bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": material,
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": digest},
                "signature": self.signature,
            },
        });
        Bundle::from_json(&bundle.to_string()).ok()
    }
}
