#!/usr/bin/env bash
# For the benchmark's third contestant: Debian's Open vSwitch with DPDK
# (openvswitch-switch-dpdk 3.1, on the same DPDK 22.11 as ours), unpacked
# from the packages (apt-get download) into the cache rather than
# installed, so that no openvswitch-switch.service is enabled or started on
# the machine: the bench runs its own ovsdb-server and ovs-vswitchd on a
# private database, run and log directory. Only the shared libraries the
# binaries link are installed as packages (libraries start nothing).
# Prints the directory that holds usr/. Idempotent; needs root (and apt's
# lists) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${VIO4WD_CACHE:-/var/cache/vio4wd}
vswitchd=usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
if dir=$(ls -d "$cache"/ovs-*/ 2>/dev/null | head -1) && [ -x "$dir$vswitchd" ] && [ -x "${dir}usr/sbin/ovsdb-server" ]; then
  echo "${dir%/}"
  exit 0
fi
# shellcheck source=deploy/apt-ensure.sh
. deploy/apt-ensure.sh
# What openvswitch-common/-switch/-switch-dpdk depend on for their binaries
# (librte-* come with dpdk, which the tests' peers already need).
apt_ensure dpdk libbpf1 libcap-ng0 libnuma1 libssl3 libunbound8 libxdp1 >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
pkgs=(openvswitch-common openvswitch-switch openvswitch-switch-dpdk)
(cd "$tmp" && apt-get download -qq "${pkgs[@]}" 2>/dev/null) || {
  apt-get update -qq
  (cd "$tmp" && apt-get download -qq "${pkgs[@]}")
}
version=$(dpkg-deb -f "$(ls "$tmp"/openvswitch-switch-dpdk_*.deb)" Version)
dir="$cache/ovs-${version//[^A-Za-z0-9.+-]/_}"
mkdir -p "$tmp/x"
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
# Every library it links is there (a missing one would only show when the bench starts it).
if ldd "$tmp/x/$vswitchd" "$tmp/x/usr/sbin/ovsdb-server" | grep -q 'not found'; then
  ldd "$tmp/x/$vswitchd" "$tmp/x/usr/sbin/ovsdb-server" | grep 'not found' >&2
  exit 1
fi
"$tmp/x/$vswitchd" --version >/dev/null
mkdir -p "$cache"
rm -rf "$dir"
mv "$tmp/x" "$dir"
echo "$dir"
