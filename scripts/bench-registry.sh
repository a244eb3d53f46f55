#!/usr/bin/env bash
# Registry cost of a time-ordered rule over many images: a local registry gets IMAGES images ×
# TAGS tags (default 200 × 50) with distinct creation times; laminar runs one cold and one warm
# cycle over all images (requests counted by kind), and a sequential `skopeo list-tags` loop
# over the same images is timed for comparison. Prints ratio=laminar/skopeo for each cycle.
#
#   scripts/bench-registry.sh [IMAGES] [TAGS]
set -euo pipefail
images=${1:-200}
tags=${2:-50}
cd "$(dirname "$0")/.."
scripts/install-deps.sh

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
cat > "$work/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/data
http:
  addr: $addr
YAML
docker-registry serve "$work/config.yml" >/dev/null 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://$addr/v2/" >/dev/null && break; sleep 0.1; done

echo "pushing $images images × $tags tags to $addr…"
python3 - "$addr" "$images" "$tags" <<'PY'
import hashlib, json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
addr, images, tags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = f"http://{addr}"
def call(method, url, body=None, ctype=None):
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req) as r:
        return r.headers
def blob(repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = call("POST", f"{base}/v2/{repo}/blobs/uploads/")["Location"]
    loc = loc if loc.startswith("http") else base + loc
    call("PUT", f"{loc}{'&' if '?' in loc else '?'}digest={digest}", data, "application/octet-stream")
    return {"digest": digest, "size": len(data)}
def push(i):
    repo = f"bench/app-{i}"
    layer = dict(blob(repo, b"bench layer"), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
    for j in range(tags):
        created = f"2024-01-{1 + j // 24:02d}T{j % 24:02d}:00:00Z"
        config = json.dumps({"created": created, "architecture": "amd64", "os": "linux",
                             "config": {"Labels": {"n": str(j)}}, "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": dict(blob(repo, config), mediaType="application/vnd.oci.image.config.v1+json"),
                    "layers": [layer]}
        call("PUT", f"{base}/v2/{repo}/manifests/develop-{j}", json.dumps(manifest).encode(),
             "application/vnd.oci.image.manifest.v1+json")
with ThreadPoolExecutor(16) as pool:
    list(pool.map(push, range(images)))
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
