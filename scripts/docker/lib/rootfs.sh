# Helpers to turn host binaries into a minimal image root filesystem (sourced, not run).
# No registry is reachable on our CI machines, so base images are assembled from what the host
# already has: a binary, the libraries ldd lists, a few files, then `docker import`.

rootfs_new() { # -> prints the new rootfs dir (Debian 12's merged-/usr layout)
  local dir
  dir="$(mktemp -d /tmp/herald-rootfs.XXXXXX)"
  mkdir -p "$dir"/usr/{bin,lib,lib64,local/bin} "$dir"/{etc,tmp,data}
  ln -s usr/bin "$dir/bin"
  ln -s usr/lib "$dir/lib"
  ln -s usr/lib64 "$dir/lib64"
  chmod 1777 "$dir/tmp"
  cat > "$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
node:x:1000:1000:node:/home/node:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
  cat > "$dir/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
  echo 'hosts: files dns' > "$dir/etc/nsswitch.conf"
  mkdir -p "$dir/home/node" && chown 1000:1000 "$dir/home/node"
  echo "$dir"
}

rootfs_add_libs() { # rootfs binary: the shared libraries and loader ldd lists, same paths
  local rootfs="$1" bin="$2" lib
  while read -r lib; do
    [ -e "$lib" ] || { echo "library listed by ldd not found: $lib" >&2; return 1; }
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }')
}

rootfs_add_binary() { # rootfs host-binary dest-path: the binary (symlinks resolved) and its libs
  local rootfs="$1" src dest="$3"
  src="$(readlink -f "$2")"
  mkdir -p "$rootfs$(dirname "$dest")"
  install -m 0755 "$src" "$rootfs$dest"
  rootfs_add_libs "$rootfs" "$src"
}

rootfs_add_ca_bundle() { # rootfs: the host's CA bundle (it includes any CA the host's network needs)
  mkdir -p "$1/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
}

rootfs_import() { # rootfs image [--change ...]: replaces the image, drops the previous one
  local rootfs="$1" image="$2" old new
  shift 2
  old="$(docker image inspect "$image" --format '{{.Id}}' 2>/dev/null || true)"
  tar -C "$rootfs" --numeric-owner -c . | docker import "$@" - "$image" >/dev/null
  new="$(docker image inspect "$image" --format '{{.Id}}')"
  if [ -n "$old" ] && [ "$old" != "$new" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
  echo "[base-images] built $image ($(docker image inspect "$image" --format '{{.Size}}') bytes)" >&2
}
