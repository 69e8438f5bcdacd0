#!/usr/bin/env bash
# Installs everything talecast needs that is missing, at pinned versions; safe to run again.
#   Debian packages: PostgreSQL (when none is installed), espeak-ng + lame (the TTS stand-in's
#                    voice and MP3 encoder), ffmpeg (ffprobe, used by tests to check MP3s),
#                    chromium (the browser tests of the page, driven by playwright-core)
#   Rust:            the wasm32 target; worker-build and wasm-bindgen-cli, built once per
#                    machine under ~/.cache/talecast/tools and linked into .tools/bin
#   PyPI:            schemathesis (the API fuzzer, tests/api/fuzz.rs) in the virtualenv .tools/venv
#   npm:             package-lock.json (wrangler, Node 22, esbuild, binaryen, Neon's driver,
#                    playwright-core and axe-core for the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
SCHEMATHESIS_VERSION=4.32.5
# wasm-bindgen's CLI must equal the library version the crate is built with.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)

say() { echo "setup: $*"; }

apt_missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_missing+=(postgresql)
command -v espeak-ng >/dev/null || apt_missing+=(espeak-ng)
command -v lame >/dev/null || apt_missing+=(lame)
command -v ffprobe >/dev/null || apt_missing+=(ffmpeg)
command -v chromium >/dev/null || apt_missing+=(chromium)
command -v python3 >/dev/null || apt_missing+=(python3)
# Debian's python3 makes virtualenvs only with python3-venv (ensurepip).
command -v python3 >/dev/null && python3 -c 'import ensurepip' 2>/dev/null || apt_missing+=(python3-venv)
if [ ${#apt_missing[@]} -gt 0 ]; then
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

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  # Not `npm ci`: the registry here lacks the other platforms' workerd builds, which the lock
  # file cannot list, and `npm ci` refuses such a lock. `install --no-save` still installs
  # exactly what package-lock.json pins.
  npm install --no-audit --no-fund --no-save --loglevel=error
fi
# The fuzzer lives in a project-local virtualenv, pinned, apart from any system Python packages.
if [ "$(.tools/venv/bin/schemathesis --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into .tools/venv"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
say "ok"
