#!/usr/bin/env bash
# Installs everything talecast needs that is missing, at pinned versions; safe to run again.
#   Debian packages: PostgreSQL (when none is installed), espeak-ng + lame (the TTS stand-in's
#                    voice and MP3 encoder), ffmpeg (ffprobe, used by tests to check MP3s)
#   Rust:            the wasm32 target; worker-build and wasm-bindgen-cli into .tools/
#   npm:             package-lock.json (wrangler, Node 22, esbuild, binaryen, Neon's driver)
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
# wasm-bindgen's CLI must equal the library version the crate is built with.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)

say() { echo "setup: $*"; }

apt_missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_missing+=(postgresql)
command -v espeak-ng >/dev/null || apt_missing+=(espeak-ng)
command -v lame >/dev/null || apt_missing+=(lame)
command -v ffprobe >/dev/null || apt_missing+=(ffmpeg)
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
if [ "$(installed_version .tools/bin/worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION into .tools/"
  cargo install --quiet --root .tools --locked worker-build --version "$WORKER_BUILD_VERSION"
fi
if [ "$(installed_version .tools/bin/wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION into .tools/"
  # Not --locked: the CLI's own lock file pins a since-yanked webpki-roots.
  cargo install --quiet --root .tools --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  # Not `npm ci`: the registry here lacks the other platforms' workerd builds, which the lock
  # file cannot list, and `npm ci` refuses such a lock. `install --no-save` still installs
  # exactly what package-lock.json pins.
  npm install --no-audit --no-fund --no-save --loglevel=error
fi
say "ok"
