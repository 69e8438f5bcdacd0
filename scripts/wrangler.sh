#!/usr/bin/env bash
# The project's pinned wrangler on a Node it accepts (the pinned Node 22 where it is
# installed, else the system's, checked): `scripts/wrangler.sh deploy --env production`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib/node.sh"
use_node "$ROOT"
exec "$ROOT/node_modules/.bin/wrangler" "$@"
