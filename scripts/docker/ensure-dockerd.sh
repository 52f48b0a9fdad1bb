#!/usr/bin/env bash
# Ensure a Docker daemon is reachable; install/start one if needed (idempotent).
#
# dockerd is started with --bridge=none --iptables=false --ip6tables=false
# --ip-forward=false: Herald's test containers only use host networking, so
# no docker0 bridge (172.17.0.0/16), NAT/iptables rules or IP forwarding are
# created. Consequence: only `--network host` / `--network none` work.
#
# Env: HERALD_DOCKERD_LOG (default /tmp/herald-dockerd.log)
#      HERALD_DOCKERD_TIMEOUT seconds (default 60)
set -euo pipefail

LOG="${HERALD_DOCKERD_LOG:-/tmp/herald-dockerd.log}"
TIMEOUT="${HERALD_DOCKERD_TIMEOUT:-60}"

log() { echo "[ensure-dockerd] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if docker_ok; then
  log "docker daemon already running"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and sudo unavailable; cannot install/start dockerd"
  SUDO="sudo"
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  log "dockerd/docker not found; installing docker.io via apt-get"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update \
    || die "apt-get update failed"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io \
    || die "apt-get install docker.io failed"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd still not on PATH after install"

if pgrep -x dockerd >/dev/null 2>&1; then
  log "a dockerd process exists but 'docker info' fails; waiting for it"
else
  # Stale pid/socket files from a killed daemon make dockerd refuse to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; then
    $SUDO rm -f /var/run/docker.pid
  fi
  log "starting dockerd (log: $LOG)"
  # setsid: its own session, so it outlives the shell (and job group) that started it.
  $SUDO setsid sh -c "nohup dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false \
    >>'$LOG' 2>&1 </dev/null &"
fi

deadline=$((SECONDS + TIMEOUT))
until docker_ok; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "last lines of $LOG:"
    tail -n 30 "$LOG" >&2 2>/dev/null || true
    die "docker daemon did not become ready within ${TIMEOUT}s (see $LOG)"
  fi
  sleep 1
done
log "docker daemon ready ($(docker info --format '{{.ServerVersion}} / {{.Driver}}' 2>/dev/null))"
