#!/usr/bin/env bash
# The project's one test command: installs the real components the tests run against, then
# formatting, lints, a small run of the scan benchmark that cross-checks laminar's reference
# count against ripgrep's, the one-command demo, and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
RUNS=1 scripts/bench-scan.sh 400 4 10
demo_log=$(mktemp)
if ! scripts/demo.sh >"$demo_log" 2>&1; then
  cat "$demo_log"
  echo "the demo failed" >&2
  exit 1
fi
rm -f "$demo_log"
echo "demo: ok"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
