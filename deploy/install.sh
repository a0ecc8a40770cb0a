#!/usr/bin/env bash
# Installs a built vio4wd tree on this host: /usr/lib/vio4wd (services and
# CLIs), /usr/libexec/vio4wd/vio4wd-dataplane, commands in /usr/bin, the
# systemd unit, and /etc/default/virtioforwarder (kept if it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
[ -x build/dataplane/vio4wd-dataplane ] || { echo "build first: bash deploy/setup.sh" >&2; exit 1; }

install -D -m 0755 build/dataplane/vio4wd-dataplane /usr/libexec/vio4wd/vio4wd-dataplane
rm -rf /usr/lib/vio4wd
mkdir -p /usr/lib/vio4wd
cp -a package.json package-lock.json /usr/lib/vio4wd/
for p in packages/*; do
  mkdir -p "/usr/lib/vio4wd/$p"
  cp -a "$p/package.json" "$p/dist" "/usr/lib/vio4wd/$p/"
  [ -d "$p/proto" ] && cp -a "$p/proto" "/usr/lib/vio4wd/$p/"
done
(cd /usr/lib/vio4wd && npm ci --omit=dev --no-audit --no-fund >/dev/null)

# The node this tree was built with (Debian's, or one installed elsewhere).
node_bin=$(command -v node)
for cmd in forwarder:virtio-forwarder portctl:vio4wd-portctl stats:vio4wd-stats; do
  pkg=${cmd%%:*} name=${cmd##*:}
  printf '#!/bin/sh\nexec %s /usr/lib/vio4wd/packages/%s/dist/bin.js "$@"\n' "$node_bin" "$pkg" > "/usr/bin/$name"
  chmod 0755 "/usr/bin/$name"
done
install -D -m 0644 deploy/systemd/virtio-forwarder.service /etc/systemd/system/virtio-forwarder.service
[ -e /etc/default/virtioforwarder ] || install -D -m 0644 deploy/virtioforwarder.default /etc/default/virtioforwarder
# Only where systemd is the init system (not in a bare container).
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
echo "installed; edit /etc/default/virtioforwarder, then: systemctl start virtio-forwarder"
