"""Pushes test images to an OCI registry over its plain HTTP API (blob uploads and a manifest
PUT), so a script controls each image's tag and creation time.

As a command:  python3 scripts/oci_push.py HOST:PORT REPO TAG [CREATED]
As a module:   from oci_push import push
"""
import hashlib
import json
import sys
import urllib.request


def _call(method, url, body=None, ctype=None):
    request = urllib.request.Request(url, data=body, method=method)
    if ctype:
        request.add_header("Content-Type", ctype)
    with urllib.request.urlopen(request) as response:
        return response.headers


def _blob(base, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = _call("POST", f"{base}/v2/{repo}/blobs/uploads/")["Location"]
    location = location if location.startswith("http") else base + location
    separator = "&" if "?" in location else "?"
    _call("PUT", f"{location}{separator}digest={digest}", data, "application/octet-stream")
    return {"digest": digest, "size": len(data)}


def push(registry, repo, tag, created="2024-01-01T00:00:00Z", annotated=False):
    """Pushes REPO:TAG whose image config says it was created at CREATED (RFC 3339); with
    ANNOTATED, the manifest says so too (org.opencontainers.image.created)."""
    base = f"http://{registry}"
    config = json.dumps({
        "created": created, "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"repo": repo, "tag": tag}}, "rootfs": {"type": "layers", "diff_ids": []},
    }).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(_blob(base, repo, config), mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(_blob(base, repo, b"layer"), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }
    if annotated:
        manifest["annotations"] = {"org.opencontainers.image.created": created}
    _call("PUT", f"{base}/v2/{repo}/manifests/{tag}", json.dumps(manifest).encode(),
          "application/vnd.oci.image.manifest.v1+json")


if __name__ == "__main__":
    push(*sys.argv[1:5])


def digest_of(registry, repo, reference):
    """The manifest digest REPO:REFERENCE names."""
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{reference}", method="HEAD")
    request.add_header("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
    with urllib.request.urlopen(request) as response:
        return response.headers["Docker-Content-Digest"]


def attach_bundles(registry, repo, digest, bundles):
    """Attaches sigstore bundles to DIGEST as cosign 3 does on a registry without the referrers
    API: an artifact manifest per bundle, listed by an index tagged sha256-<hex>."""
    base = f"http://{registry}"
    kind = "application/vnd.dev.sigstore.bundle.v0.3+json"
    empty = dict(_blob(base, repo, b"{}"), mediaType="application/vnd.oci.empty.v1+json")
    listed = []
    for bundle in bundles:
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": kind, "config": empty,
            "layers": [dict(_blob(base, repo, json.dumps(bundle).encode()), mediaType=kind)],
        }).encode()
        at = "sha256:" + hashlib.sha256(manifest).hexdigest()
        _call("PUT", f"{base}/v2/{repo}/manifests/{at}", manifest, "application/vnd.oci.image.manifest.v1+json")
        listed.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": at,
                       "size": len(manifest), "artifactType": kind})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": listed}).encode()
    _call("PUT", f"{base}/v2/{repo}/manifests/{digest.replace(':', '-')}", index,
          "application/vnd.oci.image.index.v1+json")
