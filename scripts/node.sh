#!/bin/sh
# Runs node (^22.22 || ^24 || >= 26, see ensure-node.sh) on Herald's TypeScript, which Node runs directly
# with type stripping. Child processes (vitest workers, spawned replicas) find the same node.
set -e
bin=$(sh "$(dirname "$0")/ensure-node.sh")
PATH="$bin:$PATH"
export PATH
exec node --disable-warning=ExperimentalWarning "$@"
