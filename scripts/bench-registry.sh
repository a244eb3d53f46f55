#!/usr/bin/env bash
# Registry cost of a time-ordered rule over many images: a local registry gets IMAGES images ×
# TAGS tags (default 200 × 50) with distinct creation times; laminar runs one cold and one warm
# cycle over all images (requests counted by kind), and a sequential `skopeo list-tags` loop
# over the same images is timed for comparison. Prints ratio=laminar/skopeo for each cycle.
# (c): trust verdicts on signed images, cold and warm, with requests per tag, against
# sigstore-python verifying the same bundles offline.
#
#   scripts/bench-registry.sh [IMAGES] [TAGS]
set -euo pipefail
images=${1:-200}
tags=${2:-50}
cd "$(dirname "$0")/.."
scripts/install-deps.sh

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
work=$(mktemp -d)
start_registry "$work"
addr=$registry
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT

echo "pushing $images images × $tags tags to $addr…"
PYTHONPATH=scripts python3 - "$addr" "$images" "$tags" <<'PY'
import sys
from concurrent.futures import ThreadPoolExecutor
from oci_push import push
addr, images, tags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def push_image(i, prefix="bench", annotated=False):
    for j in range(tags):
        push(addr, f"{prefix}/app-{i}", f"develop-{j}", f"2024-01-{1 + j // 24:02d}T{j % 24:02d}:00:00Z", annotated)
with ThreadPoolExecutor(16) as pool:
    list(pool.map(push_image, range(images)))
    # A tenth as many images whose manifests carry the creation annotation.
    list(pool.map(lambda i: push_image(i, "annotated", True), range(max(1, images // 10))))
PY

out=$(REGISTRY_ADDR=$addr IMAGES=$images cargo bench --quiet --bench registry_cycle 2>/dev/null)
echo "$out"

start=$(python3 -c 'import time; print(time.perf_counter())')
for i in $(seq 0 $((images - 1))); do
  skopeo list-tags --tls-verify=false "docker://$addr/bench/app-$i" >/dev/null
done
skopeo_s=$(python3 -c "import time; print(f'{time.perf_counter() - $start:.3f}')")
echo "skopeo_list_tags_loop_seconds=$skopeo_s images=$images"
for cycle in cold warm; do
  s=$(echo "$out" | sed -n "s/^laminar_${cycle}_seconds=\([0-9.]*\).*/\1/p")
  awk -v a="$s" -v b="$skopeo_s" -v c="$cycle" 'BEGIN {printf "%s: laminar=%ss skopeo=%ss ratio=%.3f\n", c, a, b, a / b}'
done
echo "(a) plain OCI registry: manifest+blob requests per new tag, cold (target ≤ 2): $(echo "$out" | sed -n 's/^laminar_cold.*per_tag=\([0-9.]*\).*/\1/p')"
annotated_out=$(REGISTRY_ADDR=$addr IMAGES=$((images / 10 > 0 ? images / 10 : 1)) REPO_PREFIX=annotated cargo bench --quiet --bench registry_cycle 2>/dev/null)
echo "$annotated_out"
echo "(a) with the creation annotation: requests per new tag, cold (target ≤ 1): $(echo "$annotated_out" | sed -n 's/^laminar_cold.*per_tag=\([0-9.]*\).*/\1/p')"

# (c) Trust verdicts: images of their own (signing attaches tags, which would change the
# figures above), each tag signed the cosign 3 way by tests/sigstore/material.py's stand-in
# Fulcio and Rekor; the newest 3 of each judged cold and warm.
signed=$((images < 40 ? images : 40))
PYTHONPATH=scripts python3 - "$addr" "$signed" <<'PY'
import sys
from oci_push import push
addr, signed = sys.argv[1], int(sys.argv[2])
for i in range(signed):
    for j in range(3):
        push(addr, f"signed/app-{i}", f"release-{j}", f"2024-02-01T0{j}:00:00Z")
PY
mkdir -p "$work/trust" "$work/bundles"
PYTHONPATH=scripts:tests/sigstore python3 - "$addr" "$signed" "$work/trust" "$work/bundles" <<'PY'
import argparse, json, sys
import material
from oci_push import attach_bundles, digest_of
addr, signed, trust, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
material.root(trust)
options = argparse.Namespace(
    identity="https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
    issuer="https://token.actions.githubusercontent.com", key=None, format="bundle",
    payload_digest=None, tamper=False, expired=False, predicate_type=None, predicate=None)
for i in range(signed):
    for j in range(3):
        digest = digest_of(addr, f"signed/app-{i}", f"release-{j}")
        bundle = material.sign(trust, digest, options)
        attach_bundles(addr, f"signed/app-{i}", digest, [bundle])
        with open(f"{out}/{i}-{j}.json", "w") as f:
            json.dump({"digest": digest, "bundle": bundle}, f)
PY

trust_out=$(REGISTRY_ADDR=$addr IMAGES=$signed REPO_PREFIX=signed TRUST_ROOT=$work/trust/trusted_root.json \
  SIGNED_IMAGES=$signed VERIFY_TAGS=3 BUNDLES_DIR=$work/bundles cargo bench --quiet --bench registry_cycle 2>/dev/null)
echo "$trust_out" | grep '^laminar_verify'
# The same verdicts from sigstore-python, offline (bundles already in hand), against laminar's
# own offline verification of the same files.
python_s=$(python3 - "$work/trust/trusted_root.json" "$work/bundles" <<'PY'
import glob, json, sys, time
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import policy
from sigstore.verify.verifier import Verifier
verifier = Verifier(trusted_root=TrustedRoot.from_file(sys.argv[1]))
wanted = policy.Identity(identity="https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
                         issuer="https://token.actions.githubusercontent.com")
files = sorted(glob.glob(sys.argv[2] + "/*.json"))
start = time.perf_counter()
for name in files:
    verifier.verify_dsse(Bundle.from_json(json.dumps(json.load(open(name))["bundle"])), wanted)
print(f"{time.perf_counter() - start:.3f}")
PY
)
verify_offline=$(echo "$trust_out" | sed -n 's/^laminar_verify_offline_seconds=\([0-9.]*\).*/\1/p')
awk -v a="$verify_offline" -v b="$python_s" 'BEGIN {printf "(c) verifying the same bundles offline: laminar=%ss sigstore-python=%ss ratio=%.3f\n", a, b, a / b}'
echo "(c) requests per verified tag, cold and warm (target warm 0): $(echo "$trust_out" | sed -n 's/^laminar_verify_\([a-z]*\).*per_tag=\([0-9.]*\).*/\1=\2/p' | tr '\n' ' ')"

# (b) The same images behind a Docker-Hub-shaped API (docs.docker.com, "List repository
# tags"): 100 tags a page with digests and push times.
hub_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$hub_port" "$tags" <<'PY' &
import http.server, json, re, sys
port, tags = int(sys.argv[1]), int(sys.argv[2])
def pushed(j):
    return f"2024-01-{1 + j // 24:02d}T{j % 24:02d}:00:00Z"
class Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        m = re.match(r"/v2/namespaces/([^/]+)/repositories/([^/]+)/tags\?(.*)", self.path)
        if not m:
            self.send_response(404); self.end_headers(); return
        query = dict(p.split("=", 1) for p in m.group(3).split("&") if "=" in p)
        size, page = int(query.get("page_size", 10)), int(query.get("page", 1))
        # Ten times as many tags in the namespace "deep"; newest first, as ordering=last_updated asks.
        count = tags * 10 if m.group(1) == "deep" else tags
        numbered = list(reversed(range(count)))[(page - 1) * size: page * size]
        more = page * size < count
        body = json.dumps({
            "count": count,
            "next": f"http://127.0.0.1:{port}/v2/namespaces/{m.group(1)}/repositories/{m.group(2)}/tags?page_size={size}&page={page + 1}" if more else None,
            "previous": None,
            "results": [{"name": f"develop-{j}", "digest": "sha256:" + format(j, "064x"), "tag_last_pushed": pushed(j), "last_updated": pushed(j)} for j in numbered],
        }).encode()
        self.send_response(200); self.send_header("content-type", "application/json"); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Hub).serve_forever()
PY
hub_pid=$!
trap 'kill $registry_pid $hub_pid 2>/dev/null; rm -rf "$work"' EXIT
python3 - "$hub_port" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); break
    except OSError:
        time.sleep(0.05)
PY
hub_out=$(REGISTRY_ADDR=127.0.0.1:$hub_port IMAGES=$images HUB_API=1 cargo bench --quiet --bench registry_cycle 2>/dev/null)
echo "$hub_out"
echo "(b) Docker Hub API: listing pages per 100 tags and manifest reads, cold (target ≤ 1 and 0); requests per image, warm (target 1): see tags= and manifest= above"
deep_out=$(REGISTRY_ADDR=127.0.0.1:$hub_port IMAGES=$images HUB_API=1 REPO_PREFIX=deep cargo bench --quiet --bench registry_cycle 2>/dev/null)
echo "$deep_out"
echo "(b) Docker Hub API, $((tags * 10)) tags per image: the warm listing stops at the first known tag (target 1 request per image): see tags= above"

