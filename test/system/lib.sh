# Sourced by the system tests: a Debian 12 root file system from Debian's
# packages (cached), booted by a real systemd in a systemd-nspawn container,
# and commands run inside it through nsenter.
#   rootfs_cached            -> prints the cached root file system's path
#   rootfs_with NAME REV PACKAGES DEB -> the same plus PACKAGES and DEB's
#                               Depends (cached), its path
#   ct_boot NAME DIR [ARGS]  boots DIR (extra systemd-nspawn ARGS); sets CT_LEADER
#   ct CMD...                runs CMD in the booted container
#   ct_poweroff              stops it (and waits)

ROOTFS_SUITE=bookworm
# What the container has before the package: systemd as PID 1 and the tools
# the tests call. The package's own Depends (nodejs, ...) come from apt at install.
ROOTFS_PACKAGES=systemd,systemd-sysv,dbus,iproute2,procps,iputils-ping,kmod
# Bump when the way the root file system is made changes.
ROOTFS_REV=1
ROOTFS_CACHE=${VIO4WD_ROOTFS_CACHE:-/var/cache/vio4wd/rootfs}

rootfs_cached() {
  local key dir tmp
  key=$(printf '%s %s %s' "$ROOTFS_SUITE" "$ROOTFS_PACKAGES" "$ROOTFS_REV" | sha256sum | cut -c1-16)
  dir=$ROOTFS_CACHE/$ROOTFS_SUITE-$key
  if [ ! -e "$dir/.complete" ]; then
    echo "== rootfs: mmdebstrap $ROOTFS_SUITE ($ROOTFS_PACKAGES) into $dir" >&2
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$ROOTFS_CACHE"
    tmp=$dir.tmp
    # (Each step checked: callers run this in $(...), where set -e does not
    # reach, and a failed mmdebstrap must not be cached as complete.)
    mmdebstrap --quiet --variant=apt --include="$ROOTFS_PACKAGES" "$ROOTFS_SUITE" "$tmp" >&2 \
      || { rm -rf "$tmp"; echo "rootfs: mmdebstrap $ROOTFS_SUITE failed" >&2; return 1; }
    # No getty on the console (nothing reads it), no time wasted on what a
    # container has no use for.
    ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service" && mv "$tmp" "$dir" && touch "$dir/.complete" \
      || { echo "rootfs: cannot finish $dir" >&2; return 1; }
  fi
  echo "$dir"
}

# rootfs_with NAME REV "PACKAGES" DEB: the cached root file system with
# PACKAGES and the package DEB's Depends installed from Debian's archive (not
# DEB itself: tests put it in fresh each run), cached under NAME-<key>, the
# key covering REV, PACKAGES and the Depends. Prints its path.
rootfs_with() {
  local name=$1 rev=$2 packages=$3 deb=$4 deps key dir base
  deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ')
  key=$(printf '%s|%s|%s' "$rev" "$packages" "$deps" | sha256sum | cut -c1-16)
  dir=$ROOTFS_CACHE/$name-$key
  if [ ! -e "$dir/.complete" ]; then
    base=$(rootfs_cached) || return 1
    echo "== $name: building the image $dir ($packages $deps)" >&2
    rm -rf "$dir"
    mkdir -p "$dir" && cp -a "$base" "$dir/rootfs" && cp /etc/resolv.conf "$dir/rootfs/etc/resolv.conf" \
      || { echo "$name: cannot copy $base into $dir" >&2; return 1; }
    systemd-nspawn -q --register=no --keep-unit --machine="$name-img-$$" -D "$dir/rootfs" sh -c \
      "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages $deps >/dev/null && apt-get clean" >&2 \
      || { echo "$name: installing into the image failed" >&2; return 1; }
    rm -f "$dir/rootfs/etc/resolv.conf"
    touch "$dir/.complete"
  fi
  echo "$dir/rootfs"
}

CT_LEADER=
CT_NSPAWN=
CT_LOG=
ct_boot() {
  local name=$1 dir=$2
  shift 2
  CT_LOG=$dir.console
  setsid systemd-nspawn -q --register=no --keep-unit --console=passive -D "$dir" -b \
    --machine="$name" --hostname="$name" "$@" >"$CT_LOG" 2>&1 </dev/null &
  CT_NSPAWN=$!
  local i state
  for i in $(seq 300); do
    CT_LEADER=$(pgrep -P "$CT_NSPAWN" | head -n 1) || true
    if [ -n "$CT_LEADER" ]; then
      state=$(ct systemctl is-system-running 2>/dev/null) || true
      case "$state" in running|degraded) return 0 ;; esac
    fi
    kill -0 "$CT_NSPAWN" 2>/dev/null || { cat "$CT_LOG" >&2; echo "container $name: systemd-nspawn exited" >&2; return 1; }
    sleep 0.2
  done
  echo "container $name: not booted within 60 s (state: ${state:-none})" >&2
  return 1
}

ct() { nsenter -t "$CT_LEADER" -a -- "$@"; }

ct_poweroff() {
  [ -n "$CT_NSPAWN" ] || return 0
  if kill -0 "$CT_NSPAWN" 2>/dev/null; then
    ct systemctl poweroff >/dev/null 2>&1 || true
    local i
    for i in $(seq 150); do kill -0 "$CT_NSPAWN" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$CT_NSPAWN" 2>/dev/null || true
  fi
  wait "$CT_NSPAWN" 2>/dev/null || true
  CT_NSPAWN=
}
