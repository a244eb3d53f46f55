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
def push_image(i):
    for j in range(tags):
        push(addr, f"bench/app-{i}", f"develop-{j}", f"2024-01-{1 + j // 24:02d}T{j % 24:02d}:00:00Z")
with ThreadPoolExecutor(16) as pool:
    list(pool.map(push_image, range(images)))
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
