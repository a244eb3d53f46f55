#!/usr/bin/env bash
# laminar end to end on this machine, from a fresh clone: a local registry with develop-1,
# a git repo whose manifests reference it, a newer tag, `laminar once`, then `laminar run` and
# a trigger after yet another tag — and the commits laminar made. Cleans up after itself; if a
# step fails it says where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "installing what the demo needs (docker-registry, git, …) and building laminar"
scripts/install-deps.sh
cargo build --release --quiet
laminar=$root/target/release/laminar

work=$(mktemp -d /tmp/laminar-demo.XXXXXX)
pids=()
cleanup() {
  status=$?
  for pid in "${pids[@]}" ${registry_pid:-}; do kill "$pid" 2>/dev/null || true; done
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "demo failed; its files are in $work (registry data, remote.git, laminar.yaml, laminar.log)" >&2
  fi
}
trap cleanup EXIT

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
push() { PYTHONPATH=$root/scripts python3 -m oci_push "$registry" demo/app "$1" "$2"; }

say "starting a local OCI registry"
start_registry "$work/registry"
push develop-1 2024-01-01T00:00:00Z
echo "pushed $registry/demo/app:develop-1"

say "creating a git repo whose manifests use develop-1"
git init -q --bare -b main "$work/remote.git"
git clone -q "$work/remote.git" "$work/seed" 2>/dev/null
mkdir -p "$work/seed/dev"
cat > "$work/seed/dev/deployment.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
      - name: app
        image: $registry/demo/app:develop-1   # kept current by laminar
YAML
git -C "$work/seed" add -A
git -C "$work/seed" -c user.name=Demo -c user.email=demo@example.org commit -q -m "app manifests"
git -C "$work/seed" push -q origin main

port=$(free_port)
cat > "$work/laminar.yaml" <<YAML
global:
  gitUser: Laminar
  gitEmail: laminar@example.org
  dataDir: $work/state
  listen: 127.0.0.1:$port
dockerRegistries:
- reg: $registry/demo
  name: local
  insecure: true
git:
- name: demo
  url: $work/remote.git
  branch: main
  pollFreq: 3600
  updates:
  - pattern: "glob:develop-*"
    files: ["dev/"]
YAML

say "a newer build is pushed: develop-2"
push develop-2 2024-01-02T00:00:00Z

say "laminar once --dry-run (shows the plan, changes nothing)"
"$laminar" once --dry-run --config "$work/laminar.yaml"

say "laminar once"
"$laminar" once --config "$work/laminar.yaml"
git -C "$work/remote.git" log -p -1

say "laminar run, then develop-3 and a trigger through the API"
LAMINAR_API_TOKEN=demo-token "$laminar" run --config "$work/laminar.yaml" >"$work/laminar.log" 2>&1 &
pids+=($!)
wait_for curl -fs "http://127.0.0.1:$port/readyz"
push develop-3 2024-01-03T00:00:00Z
before=$(git -C "$work/remote.git" rev-parse main)
curl -fsS -X POST -H "Authorization: Bearer demo-token" "http://127.0.0.1:$port/api/v1/sync/demo"
echo
changed() { [ "$(git -C "$work/remote.git" rev-parse main)" != "$before" ]; }
wait_for changed
git -C "$work/remote.git" log -p -1
curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^laminar_(sync|updates)_total'

say "done: laminar kept demo/app current; the demo cleans up its registry, repo and state"
