#!/usr/bin/env bash
# The README's first command: bundle rkt and actool, then build and check the
# example image with actool as any user would. Reproducible: the same checkout
# gives the same image ID on every machine.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
node dist/actool build --overwrite --owner-root images/hello dist/hello-1.0.0-linux-armv6l.aci
node dist/actool validate dist/hello-1.0.0-linux-armv6l.aci
node dist/actool cat-manifest --pretty-print dist/hello-1.0.0-linux-armv6l.aci
