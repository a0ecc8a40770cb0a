#!/usr/bin/env bash
# Installs what vio4wd needs on Debian 12 and builds it. Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(dpdk dpdk-dev libdpdk-dev meson ninja-build pkg-config gcc
  iproute2 iputils-ping procps coreutils python3 nodejs npm
  python3-protobuf python3-zmq protobuf-compiler systemd
  dpkg-dev python3-pyelftools libnuma-dev xz-utils)

log() { printf '== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy/setup.sh must run as root (it installs packages)" >&2
  exit 1
fi

# shellcheck source=deploy/apt-ensure.sh
. deploy/apt-ensure.sh
wanted=()
for p in "${APT_PACKAGES[@]}"; do
  # node and npm may come from elsewhere than Debian's packages: accept them.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  wanted+=("$p")
done
apt_ensure "${wanted[@]}"

# The tests' Prometheus and promtool: Debian's, unpacked into the cache (not
# installed: no prometheus.service is started on this machine).
log "Prometheus for the tests: $(bash deploy/prometheus-tools.sh)"
# The bench's third contestant (npm run bench): Debian's OVS-DPDK, unpacked
# into the cache (not installed: no openvswitch-switch.service).
log "OVS-DPDK for the bench: $(bash deploy/ovs-tools.sh)"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi

log "building"
npm run --silent build
