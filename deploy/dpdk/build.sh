#!/usr/bin/env bash
# Builds the DPDK that vio4wd-dataplane links statically: Debian's own
# source package of the installed DPDK release (Debian's patches applied),
# with room for 64 relays (max_ethports, see below), only the drivers and
# libraries a relay needs, no apps, tests or docs. Installed into a private
# prefix under the cache, keyed by the release and these options: built once
# per machine, rebuilt only when either changes.
#
#   deploy/dpdk/build.sh            build if needed; print the prefix
#   VIO4WD_DPDK_CACHE=DIR           where builds are kept (default /var/cache/vio4wd/dpdk,
#                                   or ~/.cache/vio4wd/dpdk where that is not writable)
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '== dpdk: %s\n' "$*" >&2; }

if [ -n "${VIO4WD_DPDK_CACHE:-}" ]; then CACHE=$VIO4WD_DPDK_CACHE
elif mkdir -p /var/cache/vio4wd/dpdk 2>/dev/null && [ -w /var/cache/vio4wd/dpdk ]; then CACHE=/var/cache/vio4wd/dpdk
else CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/vio4wd/dpdk; fi

# One relay is a VF port; a bond is its members plus the bonding port (2 to
# 8 members). 64 relays of 8-member bonds are 64 x 9 = 576 ports: 1024 holds
# that with room. The cost: 6 KiB of shared port data a port (6 MiB of
# hugepages, taken when the first port is attached; measured: one net_null
# relay takes 15 2M pages in all, within the pre-flight's 8 + 12) and 16 KiB
# of process-private port table a port (untouched pages for unused ports).
MAX_ETHPORTS=1024

DRIVERS=(bus/pci bus/vdev mempool/ring common/iavf
  net/virtio net/memif net/tap net/af_packet net/null net/ring net/bonding
  # SR-IOV VF drivers: Intel (iavf, i40e, ice, ixgbe's ixgbevf, e1000's
  # igbvf), Netronome/Corigine (nfp), Broadcom (bnxt), Cisco (enic).
  net/iavf net/i40e net/ice net/ixgbe net/e1000 net/nfp net/bnxt net/enic)
# What neither the relay nor the drivers above use.
DISABLED_LIBS=(acl bbdev bitratestats bpf cfgfile compressdev distributor efd eventdev fib
  flow_classify gpudev graph gro ipsec jobstats kni latencystats lpm member metrics node
  pcapng pdump pipeline port power rawdev regexdev reorder rib stack table)

version=$(dpkg-query -W -f='${Version}' libdpdk-dev 2>/dev/null || true)
[ -n "$version" ] || { echo "deploy/dpdk/build.sh: libdpdk-dev is not installed (deploy/setup.sh installs it)" >&2; exit 1; }
join() { local IFS=,; echo "$*"; }
options=(-Ddefault_library=static -Dplatform=generic -Dmax_ethports=$MAX_ETHPORTS
  -Denable_drivers="$(join "${DRIVERS[@]}")" -Ddisable_libs="$(join "${DISABLED_LIBS[@]}")"
  -Ddisable_apps='*' -Dtests=false -Denable_docs=false -Denable_kmods=false -Dbuildtype=release)
# Bump when the way the build is made changes (not for comments).
BUILD_REVISION=1
key=$(printf '%s\n' "$version" "${options[@]}" "revision $BUILD_REVISION" | sha256sum | cut -c1-16)
prefix="$CACHE/$version-$key"

if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

work=$(mktemp -d /tmp/vio4wd-dpdk-XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
log "building DPDK $version (max_ethports=$MAX_ETHPORTS, static) into $prefix"

# Debian's source of exactly the installed release, through a private
# sources list (the host's own lists are not touched).
mkdir -p "$work/lists/partial"
cat > "$work/sources.list" <<EOF
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
apt_src=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$work/lists")
apt-get "${apt_src[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_src[@]}" source --download-only -qq "dpdk=$version" >&2 2>/dev/null)
dpkg-source -x "$work"/dpdk_*.dsc "$work/src" >&2

meson setup "$work/build" "$work/src" --prefix="$prefix" --libdir=lib "${options[@]}" >"$work/meson.log" 2>&1 ||
  { cat "$work/meson.log" >&2; exit 1; }
ninja -C "$work/build" >"$work/ninja.log" 2>&1 || { tail -50 "$work/ninja.log" >&2; exit 1; }
rm -rf "$prefix"
ninja -C "$work/build" install >/dev/null
# Only the static libraries, headers and pkg-config files are needed.
rm -rf "$prefix/share" "$prefix/bin"
printf '%s\n' "$version" "${options[@]}" > "$prefix/.complete"
log "built in $((SECONDS - start)) s"
echo "$prefix"
