#!/usr/bin/env bash
# Regenerates docs/status-page.png, the README's picture of the status page: the browser test
# renders a running laminar with a realistic demo (a promotion chain, a repo it updates, one
# whose registry is down) in headless Chromium and leaves its screenshots under
# target/status-page/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo nextest run --test it page::chromium_renders_the_glance
mkdir -p docs
cp target/status-page/demo.png docs/status-page.png
echo "docs/status-page.png updated"
