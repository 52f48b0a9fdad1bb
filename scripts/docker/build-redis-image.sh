#!/usr/bin/env bash
# Build the local Docker image `herald-redis:local` from the HOST's redis-server
# and redis-cli binaries, without any registry access (idempotent). redis-cli is
# there for docker-compose.redis-cluster.yml, which joins its nodes with it.
#
# Usage: build-redis-image.sh [--force] [--verify] [--no-verify]
#   --force      rebuild even if the image exists and matches the host binary
#   --verify     run the smoke test even when the build is skipped
#   --no-verify  skip the smoke test after a build
# Env: HERALD_REDIS_IMAGE (default herald-redis:local)
#      HERALD_REDIS_VERIFY_PORT (default 6391; must be free on 127.0.0.1)
#
# The image is rootfs = redis-server + the libraries ldd lists + the dynamic
# loader, /etc/passwd, /etc/group, /tmp, /data. ENTRYPOINT is redis-server and
# there is no CMD, so always pass args (at least --port: containers are meant
# to run with --network host, and the default 6379 may be taken).
# The image records the host binary's sha256 in ENV HERALD_REDIS_BINARY_SHA256;
# if the host redis-server changes, the image is rebuilt automatically.
set -euo pipefail

IMAGE="${HERALD_REDIS_IMAGE:-herald-redis:local}"
VERIFY_PORT="${HERALD_REDIS_VERIFY_PORT:-6391}"
FORCE=0
VERIFY=auto

for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --verify) VERIFY=1 ;;
    --no-verify) VERIFY=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[build-redis-image] $*" >&2; }
ROOTFS=""
VERIFY_NAME="herald-redis-verify-$$"
cleanup() {
  [ -n "$ROOTFS" ] && rm -rf "$ROOTFS"
  docker rm -f "$VERIFY_NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
die() { log "ERROR: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found (run scripts/docker/ensure-dockerd.sh)"
docker info >/dev/null 2>&1 || die "docker daemon not reachable (run scripts/docker/ensure-dockerd.sh)"

REDIS_LINK="$(command -v redis-server || true)"
[ -n "$REDIS_LINK" ] || die "redis-server not found on PATH"
# On Debian redis-server is a symlink to redis-check-rdb; redis picks its mode
# from argv[0], so the binary must be named redis-server inside the image.
REDIS_BIN="$(readlink -f "$REDIS_LINK")"
CLI_LINK="$(command -v redis-cli || true)"
[ -n "$CLI_LINK" ] || die "redis-cli not found on PATH"
CLI_BIN="$(readlink -f "$CLI_LINK")"
# One fingerprint for both binaries: either changing rebuilds the image.
REDIS_SHA="$(cat "$REDIS_BIN" "$CLI_BIN" | sha256sum | cut -d' ' -f1)"

verify() {
  local name="$VERIFY_NAME" ok mode out

  for mode in plain aof; do
    local args=(--port "$VERIFY_PORT" --save '')
    [ "$mode" = aof ] && args+=(--appendonly yes --dir /data)
    log "verify ($mode): docker run --network host $IMAGE ${args[*]}"
    docker rm -f "$name" >/dev/null 2>&1 || true
    # No --rm: keep the container (and its logs) until cleanup, so failures are debuggable.
    # (stderr filtered: with --ip-forward=false docker warns "IPv4 forwarding is disabled",
    # irrelevant for --network host.)
    docker run -d --name "$name" --network host "$IMAGE" "${args[@]}" \
      2> >(grep -v 'IPv4 forwarding is disabled' >&2) >/dev/null \
      || die "verify ($mode): docker run failed"
    ok=0 out=""
    for _ in $(seq 1 100); do
      # capture, then grep (grep -q in a pipe + pipefail = spurious SIGPIPE failures)
      out="$(docker logs "$name" 2>&1 || true)"
      if grep -q 'Ready to accept connections' <<<"$out"; then ok=1; break; fi
      [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
      sleep 0.1
    done
    if [ "$ok" != 1 ]; then
      out="$(docker logs "$name" 2>&1 || true)"
      tail -n 20 <<<"$out" >&2
      die "verify ($mode): redis did not print 'Ready to accept connections' (port $VERIFY_PORT free?)"
    fi
    if [ "$mode" = aof ] && ! grep -q 'Creating AOF' <<<"$out"; then
      tail -n 20 <<<"$out" >&2
      die "verify (aof): redis did not create its AOF files under /data"
    fi
    docker rm -f "$name" >/dev/null 2>&1 || true
    log "verify ($mode): OK"
  done
}

existing_sha="$(docker image inspect "$IMAGE" \
  --format '{{range .Config.Env}}{{println .}}{{end}}' 2>/dev/null \
  | sed -n 's/^HERALD_REDIS_BINARY_SHA256=//p' || true)"

if [ "$FORCE" = 0 ] && [ -n "$existing_sha" ] && [ "$existing_sha" = "$REDIS_SHA" ]; then
  log "$IMAGE already exists and matches host redis-server; skipping build (use --force to rebuild)"
  [ "$VERIFY" = 1 ] && verify
  exit 0
fi
if [ "$FORCE" = 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE exists but was built from a different redis-server binary; rebuilding"
fi

command -v ldd >/dev/null 2>&1 || die "ldd not found"

ROOTFS="$(mktemp -d /tmp/herald-redis-rootfs.XXXXXX)"

# merged-/usr layout like Debian 12: /lib, /lib64, /bin are symlinks into /usr.
mkdir -p "$ROOTFS"/usr/{bin,lib,lib64} "$ROOTFS"/{etc,data,tmp}
ln -s usr/bin "$ROOTFS/bin"
ln -s usr/lib "$ROOTFS/lib"
ln -s usr/lib64 "$ROOTFS/lib64"
chmod 1777 "$ROOTFS/tmp"
chmod 0777 "$ROOTFS/data"

install -m 0755 "$REDIS_BIN" "$ROOTFS/usr/bin/redis-server"
install -m 0755 "$CLI_BIN" "$ROOTFS/usr/bin/redis-cli"

# Every absolute path ldd prints: "libx.so => /path (0x..)" and the loader line
# "/lib64/ld-linux-x86-64.so.2 (0x..)". Each is copied (symlinks dereferenced)
# to the same path in the rootfs, keeping the listed (SONAME) file name.
mapfile -t libs < <({ ldd "$REDIS_BIN"; ldd "$CLI_BIN"; } | sort -u | awk '
  $2 == "=>" && $3 ~ /^\// { print $3; next }
  $1 ~ /^\// { print $1 }')
[ "${#libs[@]}" -gt 0 ] || die "ldd listed no libraries for $REDIS_BIN"
for lib in "${libs[@]}"; do
  [ -e "$lib" ] || die "library listed by ldd not found: $lib"
  dest="$ROOTFS$lib"
  mkdir -p "$(dirname "$dest")"
  cp -L "$lib" "$dest"
done

cat > "$ROOTFS/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
redis:x:999:999:redis:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat > "$ROOTFS/etc/group" <<'GROUP'
root:x:0:
redis:x:999:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' > "$ROOTFS/etc/nsswitch.conf"

OLD_ID="$(docker image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null || true)"
REDIS_VERSION="$("$REDIS_LINK" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
log "building $IMAGE from $REDIS_BIN (redis $REDIS_VERSION, ${#libs[@]} libs)"
tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 -c . \
  | docker import \
      --change 'ENTRYPOINT ["/usr/bin/redis-server"]' \
      --change 'WORKDIR /data' \
      --change "ENV HERALD_REDIS_VERSION=$REDIS_VERSION" \
      --change "ENV HERALD_REDIS_BINARY_SHA256=$REDIS_SHA" \
      --message "herald-redis from host redis-server $REDIS_VERSION" \
      - "$IMAGE" >/dev/null \
  || die "docker import failed"
NEW_ID="$(docker image inspect "$IMAGE" --format '{{.Id}}')"
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
  # drop the now-untagged previous build (fails harmlessly if a container still uses it)
  docker rmi "$OLD_ID" >/dev/null 2>&1 || true
fi
log "built $IMAGE ($(docker image inspect "$IMAGE" --format '{{.Size}}') bytes)"

[ "$VERIFY" != 0 ] && verify
exit 0
