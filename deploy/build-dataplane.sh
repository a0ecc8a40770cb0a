#!/usr/bin/env bash
# npm run build:dataplane: our static DPDK (built once, cached: deploy/dpdk/build.sh),
# then vio4wd-dataplane and its tools against it (meson, in build/).
# VIO4WD_DPDK=system links Debian's shared DPDK instead (at most 32 VF ports).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${VIO4WD_DPDK:-static}" = system ]; then
  want="system"
  opts=(-Ddpdk_static=false)
else
  prefix=$(bash deploy/dpdk/build.sh)
  want="$prefix"
  opts=(-Ddpdk_static=true -Dpkg_config_path="$prefix/lib/pkgconfig")
fi
# Reconfigure from scratch when the DPDK it was configured against changed.
if [ ! -f build/build.ninja ] || [ "$(cat build/.vio4wd-dpdk 2>/dev/null)" != "$want" ]; then
  rm -rf build
  meson setup build "${opts[@]}" >/dev/null
  echo "$want" > build/.vio4wd-dpdk
fi
ninja -C build
