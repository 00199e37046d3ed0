#!/usr/bin/env bash
# Runs every test file (Node 20's --test takes no globs). Extra arguments narrow the
# run: `npm test -- test/appc` runs the files under test/appc only.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find "${@:-test}" -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=2 "${files[@]}"
