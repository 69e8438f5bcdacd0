#!/usr/bin/env bash
# Builds the Worker (release, wasm-opt -Oz) into build/ with the project's own tools, and
# prints the bundle size. wrangler runs this as its [build] command.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${TALECAST_SKIP_BUILD:-}" = 1 ] && [ -f build/index.js ]; then exit 0; fi

source scripts/lib/worker_build.sh
worker_build "$PWD"

# The page (web/, served as static assets; not web/api/, the OpenAPI document): what a first visit transfers, each file gzipped
# as a server would send it (_headers is configuration, not sent).
page_gz=0
while IFS= read -r f; do page_gz=$((page_gz + $(gzip -9 -n -c "$f" | wc -c))); done < <(find web -type f ! -name _headers ! -path 'web/api/*')
echo "build: page web/ $(find web -type f ! -name _headers ! -path 'web/api/*' | wc -l) files, $page_gz bytes gzip" >&2
