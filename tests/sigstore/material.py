#!/usr/bin/env python3
"""Signing material for laminar's trust tests, written from sigstore's published formats.

No sigstore service is reachable from the tests, so this stands in for them: a test CA in
Fulcio's place (short-lived certificates with the OIDC issuer extensions and an embedded SCT),
a test CT log key, a test Rekor key signing entry timestamps and checkpoints, and a
`trusted_root.json` naming them.

    material.py root DIR
        keys, CA and trusted_root.json under DIR (kept if already there)
    material.py sign DIR DIGEST [--identity URI --issuer URL | --key NAME] [--format legacy|bundle]
                [--payload-digest D] [--tamper] [--expired]
        a cosign signature of the image DIGEST, as JSON on stdout: the `.sig` layer's parts
        (legacy, cosign 2) or a sigstore bundle v0.3 with an inclusion proof (bundle, cosign 3)
    material.py attest DIR DIGEST --predicate-type T --predicate JSON [identity options]
        an in-toto statement about DIGEST in a DSSE envelope, as a bundle on stdout
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

OIDC_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
LOG_NAME = "rekor.laminar.test"
LOG_ORIGIN = LOG_NAME + " - 1"
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def b64(data):
    return base64.b64encode(data).decode()


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pem_public(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def new_key(path):
    key = ec.generate_private_key(ec.SECP256R1())
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(path[: -len(".key")] + ".pub", "wb") as f:
        f.write(pem_public(key))
    return key


def root(directory):
    if os.path.exists(os.path.join(directory, "trusted_root.json")):
        return
    os.makedirs(directory, exist_ok=True)
    ca_key = new_key(os.path.join(directory, "fulcio.key"))
    rekor_key = new_key(os.path.join(directory, "rekor.key"))
    ct_key = new_key(os.path.join(directory, "ctlog.key"))
    for name in ("cosign", "other"):
        new_key(os.path.join(directory, name + ".key"))
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "laminar.test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "test fulcio"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=365))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA384())
    )
    with open(os.path.join(directory, "fulcio.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    start = (NOW - datetime.timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    trusted = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.laminar.test",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki(rekor_key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": b64(hashlib.sha256(spki(rekor_key)).digest())},
            }
        ],
        "certificateAuthorities": [
            {
                "subject": {"organization": "laminar.test", "commonName": "test fulcio"},
                "uri": "https://fulcio.laminar.test",
                "certChain": {
                    "certificates": [
                        {"rawBytes": b64(ca.public_bytes(serialization.Encoding.DER))}
                    ]
                },
                "validFor": {"start": start},
            }
        ],
        "ctlogs": [
            {
                "baseUrl": "https://ctfe.laminar.test",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki(ct_key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": b64(hashlib.sha256(spki(ct_key)).digest())},
            }
        ],
        "timestampAuthorities": [],
    }
    with open(os.path.join(directory, "trusted_root.json"), "w") as f:
        json.dump(trusted, f, indent=2)


def leaf(directory, identity, issuer, expired):
    """A short-lived signing certificate for `identity`, as Fulcio issues them."""
    ca_key = load_key(os.path.join(directory, "fulcio.key"))
    with open(os.path.join(directory, "fulcio.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    issued = NOW - datetime.timedelta(days=2 if expired else 0, minutes=1)
    san = (
        x509.RFC822Name(identity)
        if "@" in identity and "://" not in identity
        else x509.UniformResourceIdentifier(identity)
    )
    issuer_der = bytes([0x0C, len(issuer)]) + issuer.encode()
    precert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued)
        .not_valid_after(issued + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V1, issuer.encode()), critical=False)
        .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V2, issuer_der), critical=False)
    )
    # The certificate without its SCT list is what the CT log signs (RFC 6962's precertificate
    # TBS, the poison extension taken out); the SCT list is then added last.
    tbs = precert.sign(ca_key, hashes.SHA384()).tbs_certificate_bytes
    sct = signed_certificate_timestamp(directory, ca_key, tbs, issued)
    scts = len(sct).to_bytes(2, "big") + sct
    scts = len(scts).to_bytes(2, "big") + scts
    cert = precert.add_extension(
        x509.UnrecognizedExtension(SCT_LIST, der_octet_string(scts)), critical=False
    ).sign(ca_key, hashes.SHA384())
    return key, cert, issued


def signed_certificate_timestamp(directory, ca_key, tbs, at):
    """An RFC 6962 SCT (v1) over the precertificate `tbs`, from the test CT log."""
    ct_key = load_key(os.path.join(directory, "ctlog.key"))
    millis = int(at.timestamp() * 1000)
    issuer_key_hash = hashlib.sha256(spki(ca_key)).digest()
    signed = (
        bytes([0, 0])  # v1, certificate_timestamp
        + millis.to_bytes(8, "big")
        + (1).to_bytes(2, "big")  # precert_entry
        + issuer_key_hash
        + len(tbs).to_bytes(3, "big")
        + tbs
        + (0).to_bytes(2, "big")  # no extensions
    )
    signature = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    return (
        bytes([0])
        + hashlib.sha256(spki(ct_key)).digest()
        + millis.to_bytes(8, "big")
        + (0).to_bytes(2, "big")
        + bytes([4, 3])  # sha256, ecdsa
        + len(signature).to_bytes(2, "big")
        + signature
    )


def der_octet_string(data):
    if len(data) < 128:
        return bytes([0x04, len(data)]) + data
    size = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
    return bytes([0x04, 0x80 | len(size)]) + size + data


def signer(directory, options):
    """The signing key, the PEM the log records as its verifier, and the signing time."""
    if options.key:
        key = load_key(os.path.join(directory, options.key + ".key"))
        return key, pem_public(key), None, NOW - datetime.timedelta(minutes=1)
    key, cert, issued = leaf(directory, options.identity, options.issuer, options.expired)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    # An expired certificate's signature is logged only now, after the certificate ended.
    signed_at = NOW if options.expired else issued + datetime.timedelta(seconds=30)
    return key, pem, cert, signed_at


def log_entry(directory, body, kind, integrated):
    """A Rekor v1 entry for `body`: its signed entry timestamp and an inclusion proof in a
    one-leaf tree, with a checkpoint the log key signs."""
    rekor_key = load_key(os.path.join(directory, "rekor.key"))
    log_id = hashlib.sha256(spki(rekor_key)).digest()
    body_bytes = canonical(body)
    timestamp = int(integrated.timestamp())
    promise = rekor_key.sign(
        canonical(
            {"body": b64(body_bytes), "integratedTime": timestamp, "logID": log_id.hex(), "logIndex": 0}
        ),
        ec.ECDSA(hashes.SHA256()),
    )
    leaf_hash = hashlib.sha256(b"\x00" + body_bytes).digest()
    note = f"{LOG_ORIGIN}\n1\n{b64(leaf_hash)}\n"
    note_sig = rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
    checkpoint = f"{note}\n\u2014 {LOG_NAME} {b64(log_id[:4] + note_sig)}\n"
    return {
        "logIndex": "0",
        "logId": {"keyId": b64(log_id)},
        "kindVersion": {"kind": kind, "version": "0.0.1"},
        "integratedTime": str(timestamp),
        "inclusionPromise": {"signedEntryTimestamp": b64(promise)},
        "inclusionProof": {
            "logIndex": "0",
            "rootHash": b64(leaf_hash),
            "treeSize": "1",
            "hashes": [],
            "checkpoint": {"envelope": checkpoint},
        },
        "canonicalizedBody": b64(body_bytes),
    }, {
        "SignedEntryTimestamp": b64(promise),
        "Payload": {
            "body": b64(body_bytes),
            "integratedTime": timestamp,
            "logIndex": 0,
            "logID": log_id.hex(),
        },
    }


def material(cert, key_pem):
    if cert is None:
        return {"publicKey": {"hint": b64(hashlib.sha256(key_pem).digest())}}
    return {"certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))}}


def sign(directory, digest, options):
    """The `.sig` layer's parts (cosign 2), or a bundle (cosign 3: a DSSE statement)."""
    if options.format == "bundle":
        options.predicate_type = "https://sigstore.dev/cosign/sign/v1"
        options.predicate = "{}"
        return attest(directory, digest, options)
    signed = options.payload_digest or digest
    payload = canonical(
        {
            "critical": {
                "identity": {"docker-reference": "laminar.test/app"},
                "image": {"docker-manifest-digest": signed},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    )
    key, verifier, cert, signed_at = signer(directory, options)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    body = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(verifier)}},
        },
    }
    if options.tamper:
        payload = payload.replace(b"laminar.test/app", b"laminar.test/evil")
    _, legacy_bundle = log_entry(directory, body, "hashedrekord", signed_at)
    out = {"payload": b64(payload), "signature": b64(signature), "bundle": legacy_bundle}
    if cert is not None:
        out["certificate"] = verifier.decode()
    return out


def attest(directory, digest, options):
    algorithm, hexdigest = (options.payload_digest or digest).split(":", 1)
    statement = canonical(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "laminar.test/app", "digest": {algorithm: hexdigest}}],
            "predicateType": options.predicate_type,
            "predicate": json.loads(options.predicate),
        }
    )
    payload_type = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(statement), statement)
    key, verifier, cert, signed_at = signer(directory, options)
    signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))
    signed = statement
    if options.tamper:
        statement = statement.replace(b"laminar.test/app", b"laminar.test/evil")
    envelope = {
        "payload": b64(statement),
        "payloadType": payload_type,
        "signatures": [{"sig": b64(signature)}],
    }
    body = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(canonical(envelope)).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(signed).hexdigest()},
            "signatures": [{"signature": b64(signature), "verifier": b64(verifier)}],
        },
    }
    entry, _ = log_entry(directory, body, "dsse", signed_at)
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {**material(cert, verifier), "tlogEntries": [entry]},
        "dsseEnvelope": envelope,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["root", "sign", "attest"])
    parser.add_argument("dir")
    parser.add_argument("digest", nargs="?")
    parser.add_argument("--identity", default="https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main")
    parser.add_argument("--issuer", default="https://token.actions.githubusercontent.com")
    parser.add_argument("--key")
    parser.add_argument("--format", choices=["legacy", "bundle"], default="legacy")
    parser.add_argument("--payload-digest")
    parser.add_argument("--tamper", action="store_true")
    parser.add_argument("--expired", action="store_true")
    parser.add_argument("--predicate-type", default="https://slsa.dev/provenance/v1")
    parser.add_argument("--predicate", default="{}")
    options = parser.parse_args()
    if options.command == "root":
        root(options.dir)
        return
    made = sign if options.command == "sign" else attest
    json.dump(made(options.dir, options.digest, options), sys.stdout)


if __name__ == "__main__":
    main()
