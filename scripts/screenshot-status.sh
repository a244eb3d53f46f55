#!/usr/bin/env bash
# Regenerates docs/status-page.png, the README's picture of the status page: the browser test
# renders a running laminar in headless Chromium and leaves its screenshots under
# target/status-page/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo nextest run --test it page::chromium_renders
mkdir -p docs
cp target/status-page/desktop.png docs/status-page.png
echo "docs/status-page.png updated"
