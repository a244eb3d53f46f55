#!/usr/bin/env bash
# Installs what building and testing laminar needs, when it is missing: Debian's
# docker-registry (OCI registry), apache2-utils (htpasswd), skopeo (an independent registry
# client), ripgrep (scan benchmark), prometheus (promtool), openssh-server (git over SSH), curl,
# openssl (a GitHub App key for the forge tests), chromium (the status page, rendered headless),
# groff and man (the man page is checked with them), tzdata (update windows name IANA zones),
# the libssl-dev and pkg-config that git2 builds against; from PyPI, moto's server (ECR),
# kubernetes-validate and dockerfile-parse (deploy/ and Dockerfile checks), sigstore (signing
# material for the trust tests, and a second verifier of it), pre-commit (the
# hook in .pre-commit-hooks.yaml), check-jsonschema (the example configs against schema/).
set -euo pipefail

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v skopeo >/dev/null || need+=(skopeo)
command -v rg >/dev/null || need+=(ripgrep)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v chromium >/dev/null || need+=(chromium)
command -v groff >/dev/null || need+=(groff-base)
command -v man >/dev/null || need+=(man-db)
[ -e /usr/share/zoneinfo/Europe/Berlin ] || need+=(tzdata)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
py=()
command -v moto_server >/dev/null || py+=('moto[server]==5.2.5')
command -v kubernetes-validate >/dev/null || py+=('kubernetes-validate==1.37.0')
python3 -c 'import dockerfile_parse' 2>/dev/null || py+=('dockerfile-parse==2.0.1')
command -v pre-commit >/dev/null || py+=('pre-commit==4.7.0')
command -v check-jsonschema >/dev/null || py+=('check-jsonschema==0.39.0')
# sigstore: an independent verifier of the signing material, and cryptography (its dependency)
# makes that material (tests/sigstore/material.py).
python3 -c 'import sigstore' 2>/dev/null || py+=('sigstore==4.5.1')
if [ ${#py[@]} -gt 0 ]; then
  echo "installing ${py[*]}…" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${py[@]}"
fi
