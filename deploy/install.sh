#!/usr/bin/env bash
# Builds the Debian package from this tree (deploy/deb/build.sh) and installs
# it with apt, which brings in its dependencies from Debian: the services,
# CLIs, units and /etc/default/virtioforwarder (a conffile: an edited one is
# kept). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
deb=$(bash deploy/deb/build.sh | tail -n 1)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "$deb" >/dev/null
echo "installed $(dpkg-query -W -f='${Package} ${Version}' vio4wd); edit /etc/default/virtioforwarder, then: systemctl enable --now virtio-forwarder vio4wd_core_scheduler"
