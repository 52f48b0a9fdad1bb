#!/usr/bin/env bash
# Builds the local base images Herald's Dockerfiles and docker-compose.yml use on a machine
# without an image registry (see DEVELOPERS.md), from binaries already on this host:
#   herald-node:local          node + npm + sh: the Dockerfiles' build stage (NODE_IMAGE)
#   herald-node-runtime:local  node alone: their final stage (NODE_RUNTIME_IMAGE)
#   herald-nginx:local         Debian's nginx: the load balancer (NGINX_IMAGE)
# (herald-redis:local comes from build-redis-image.sh.) Node is the one scripts/ensure-node.sh
# provides, so the images run the version the tests run. Idempotent: rebuilds each time (~5 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/docker/lib/rootfs.sh

NODE_BIN="$(readlink -f "$(sh scripts/ensure-node.sh)/node")"
NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
NGINX_BIN="$(command -v nginx || true)"
[ -n "$NGINX_BIN" ] || { echo "nginx not found: apt-get install -y nginx" >&2; exit 1; }
node_version="$("$NODE_BIN" --version)"

cleanup_dirs=()
trap 'rm -rf "${cleanup_dirs[@]}"' EXIT

# node alone, CA bundle included (rediss:// and any HTTPS the app makes trust what the host trusts).
runtime="$(rootfs_new)"; cleanup_dirs+=("$runtime")
rootfs_add_binary "$runtime" "$NODE_BIN" /usr/local/bin/node
rootfs_add_ca_bundle "$runtime"
rootfs_import "$runtime" herald-node-runtime:local \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]'

# The build stage also needs npm (and the sh and env its scripts expect), configured like the
# host's: the same CA file, so it reaches the registry the way the host does.
build="$(rootfs_new)"; cleanup_dirs+=("$build")
rootfs_add_binary "$build" "$NODE_BIN" /usr/local/bin/node
rootfs_add_binary "$build" /bin/dash /usr/bin/sh
rootfs_add_binary "$build" /usr/bin/env /usr/bin/env
rootfs_add_ca_bundle "$build"
mkdir -p "$build/usr/local/lib/node_modules" "$build/usr/local/etc"
cp -a "$NPM_DIR" "$build/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$build/usr/local/bin/npm"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\nfund=false\naudit=false\n' \
  > "$build/usr/local/etc/npmrc"
rootfs_import "$build" herald-node:local \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]'

# nginx runs unprivileged (the config listens above 1024 and keeps its files in /tmp).
lb="$(rootfs_new)"; cleanup_dirs+=("$lb")
rootfs_add_binary "$lb" "$NGINX_BIN" /usr/sbin/nginx
mkdir -p "$lb/etc/nginx" "$lb/var/log/nginx" "$lb/var/lib/nginx"
cp /etc/nginx/mime.types "$lb/etc/nginx/"
rootfs_import "$lb" herald-nginx:local \
  --change 'USER 65534:65534' \
  --change 'ENTRYPOINT ["/usr/sbin/nginx", "-g", "daemon off;"]' \
  --change 'CMD ["-c", "/etc/nginx/nginx.conf"]'
