"""Writes the minimal Worker's Cargo.toml for the bundle benchmark (scripts/bench.sh).

Usage: minimal_worker.py TALECAST_CARGO_TOML TEMPLATE_CARGO_TOML OUT_CARGO_TOML

The template (bench/minimal-worker/Cargo.toml) gets, verbatim from talecast's manifest: the
`worker` and `wasm-bindgen` dependency lines of its wasm32 dependencies, and every
[profile.*] and [package.metadata.*] table (compiler settings; worker-build reads wasm-opt's
from package.metadata.wasm-pack). Verbatim text, so nothing is reinterpreted on the way.
"""
import re
import sys

talecast, template, out = sys.argv[1:4]
lines = open(talecast).read().splitlines()

def tables(lines):
    """(header, body lines) for each [table] of the manifest, in order."""
    name, body, found = None, [], []
    for line in lines:
        m = re.match(r"^\s*\[\[?([^\]]+)\]\]?\s*(#.*)?$", line)
        if m:
            if name is not None:
                found.append((name, body))
            name, body = m.group(1).strip(), [line]
        elif name is not None:
            body.append(line)
    if name is not None:
        found.append((name, body))
    return found

deps, copied = [], []
for name, body in tables(lines):
    if name.startswith("target.") and name.endswith(".dependencies") and "wasm32" in name:
        deps += [l for l in body[1:] if re.match(r"^\s*(worker|wasm-bindgen)\s*=", l)]
    elif name.startswith("profile.") or name.startswith("package.metadata"):
        copied.append("\n".join(body).rstrip())

if not any(re.match(r"^\s*worker\s*=", l) for l in deps):
    sys.exit("minimal_worker.py: no `worker = ...` line among talecast's wasm32 dependencies")

text = open(template).read().rstrip() + "\n\n[dependencies]\n" + "\n".join(deps) + "\n"
text += "\n# Copied from talecast's Cargo.toml by scripts/lib/minimal_worker.py.\n" + "\n\n".join(copied) + "\n"
open(out, "w").write(text)
