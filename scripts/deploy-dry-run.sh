#!/usr/bin/env bash
# Checks the production configuration as `wrangler deploy --env production` would, without a
# Cloudflare account: wrangler validates wrangler.toml's production environment, bundles the
# built Worker into target/deploy-dry-run and lists its bindings, then stops. Any warning
# fails it too: wrangler only warns about a misspelt field or a binding that the top level
# has and the environment lacks (bindings are not inherited), which would deploy broken.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/node.sh
use_node "$PWD"

out=target/deploy-dry-run
rm -rf "$out"; mkdir -p "$out"
# The Worker is built already (scripts/test.sh builds first); build.sh builds it if not.
if ! TALECAST_SKIP_BUILD=1 node_modules/.bin/wrangler deploy --dry-run --env production --outdir "$out/bundle" \
  > "$out/wrangler.log" 2>&1; then
  cat "$out/wrangler.log" >&2
  echo "deploy-dry-run: wrangler deploy --dry-run --env production failed" >&2
  exit 1
fi
if grep -q 'WARNING\|ERROR' "$out/wrangler.log"; then
  cat "$out/wrangler.log" >&2
  echo "deploy-dry-run: wrangler warned about the production configuration" >&2
  exit 1
fi
echo "deploy-dry-run: ok (wrangler's output: $out/wrangler.log)"
