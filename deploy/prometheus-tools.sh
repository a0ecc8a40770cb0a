#!/usr/bin/env bash
# For the tests: Debian's Prometheus server and promtool, unpacked from the
# package (apt-get download) into the cache rather than installed, so that
# no prometheus.service starts on the machine. Prints the directory whose
# usr/bin has them. Idempotent; needs root (and apt's lists) the first time.
set -euo pipefail
cache=${VIO4WD_CACHE:-/var/cache/vio4wd}
if dir=$(ls -d "$cache"/prometheus-*/ 2>/dev/null | head -1) && [ -x "${dir}usr/bin/prometheus" ] && [ -x "${dir}usr/bin/promtool" ]; then
  echo "${dir%/}"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
(cd "$tmp" && apt-get download -qq prometheus 2>/dev/null) || {
  apt-get update -qq
  (cd "$tmp" && apt-get download -qq prometheus)
}
deb=$(ls "$tmp"/prometheus_*.deb)
version=$(dpkg-deb -f "$deb" Version)
dir="$cache/prometheus-${version//[^A-Za-z0-9.+-]/_}"
mkdir -p "$tmp/x"
dpkg-deb -x "$deb" "$tmp/x"
"$tmp/x/usr/bin/promtool" --version >/dev/null
mkdir -p "$cache"
rm -rf "$dir"
mv "$tmp/x" "$dir"
echo "$dir"
