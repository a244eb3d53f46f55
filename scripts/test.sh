#!/usr/bin/env bash
# The project's one test command: installs the real components the tests run against, then
# formatting, lints, the test suite, and a small run of the scan benchmark that cross-checks
# laminar's reference count against ripgrep's.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
RUNS=1 scripts/bench-scan.sh 400 4 10
scripts/demo.sh >/dev/null
echo "demo: ok"
