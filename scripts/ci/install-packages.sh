#!/usr/bin/env bash
# Installs the Debian packages the whole suite needs, when missing: redis-server (tests' private
# Redis and its image), nginx (`npm run stack`, the browser tests' load balancer and its image),
# chromium (browser tests), docker.io + docker-compose (the compose stack), python3 + ffmpeg (the
# Python producer in examples/transcode-python; python3 alone: the Python SDK's tests, sdk/python,
# which run from PYTHONPATH and install nothing), openssl (the edge's local certificate, the
# Redis TLS tests), prometheus (promtool checks deploy/prometheus/rules.yml; a real Prometheus
# scrapes a test stack). Idempotent.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "[install-packages] all present"
  exit 0
fi

echo "[install-packages] installing: ${missing[*]}"
# Packages' own services (nginx on :80, a system dockerd, redis) must not start: the suite runs
# its own, on its own ports. policy-rc.d is Debian's switch for that, removed again afterwards.
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ "$had_policy" = 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
