#!/usr/bin/env bash
# Installs a built vio4wd tree on this host: /usr/lib/vio4wd (services and
# CLIs), /usr/libexec/vio4wd/ (the dataplane and the READY=1 helper),
# commands in /usr/bin, the systemd units of virtio-forwarder and
# vio4wd_core_scheduler, and /etc/default/virtioforwarder (kept if it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
[ -x build/dataplane/vio4wd-dataplane ] || { echo "build first: bash deploy/setup.sh" >&2; exit 1; }

install -D -m 0755 build/dataplane/vio4wd-dataplane /usr/libexec/vio4wd/vio4wd-dataplane
install -D -m 0755 build/dataplane/vio4wd-notify /usr/libexec/vio4wd/vio4wd-notify
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
for cmd in forwarder/bin:virtio-forwarder portctl/bin:vio4wd-portctl stats/bin:vio4wd-stats \
  core-scheduler/bin:vio4wd-core-scheduler core-scheduler/bin:vio4wd_core_scheduler \
  core-scheduler/pinner-bin:vio4wd-pinner core-scheduler/load-bin:vio4wd-load; do
  js=${cmd%%:*} name=${cmd##*:}
  printf '#!/bin/sh\nexec %s /usr/lib/vio4wd/packages/%s.js "$@"\n' "$node_bin" "${js%%/*}/dist/${js##*/}" > "/usr/bin/$name"
  chmod 0755 "/usr/bin/$name"
done
# The original's port control entry point, where existing tools run it.
for d in /usr/lib/virtio-forwarder /usr/lib64/virtio-forwarder; do
  mkdir -p "$d"
  printf '#!/bin/sh\nexec %s /usr/lib/vio4wd/packages/portctl/dist/original-bin.js "$@"\n' "$node_bin" > "$d/virtioforwarder_port_control.py"
  chmod 0755 "$d/virtioforwarder_port_control.py"
done
for unit in virtio-forwarder vio4wd_core_scheduler; do
  install -D -m 0644 "deploy/systemd/$unit.service" "/etc/systemd/system/$unit.service"
done
[ -e /etc/default/virtioforwarder ] || install -D -m 0644 deploy/virtioforwarder.default /etc/default/virtioforwarder
# Only where systemd is the init system (not in a bare container).
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
echo "installed; edit /etc/default/virtioforwarder, then: systemctl start virtio-forwarder vio4wd_core_scheduler"
