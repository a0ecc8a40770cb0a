#!/usr/bin/env bash
# bash deploy/deb/build.sh [OUTDIR]: builds vio4wd_<version>_amd64.deb (into
# build/deb by default) from this tree: the dataplane on our static DPDK,
# every service and CLI with its production node_modules, both systemd units,
# /etc/default/virtioforwarder as a conffile, man pages made from --help, the
# original's entry points in /usr/lib[64]/virtio-forwarder/, and the
# maintainer scripts of deploy/deb/. Runs on Debian 12 as root (it installs
# what it needs: dpkg-dev, help2man). Prints the .deb's path last.
# VERSION=X.Y.Z overrides package.json's version (the upgrade test builds the
# same tree as a higher version).
set -euo pipefail
cd "$(dirname "$0")/../.."
root_dir=$PWD
out=$(realpath -m "${1:-build/deb}")
umask 022

# shellcheck source=deploy/apt-ensure.sh
. deploy/apt-ensure.sh
apt_ensure dpkg-dev help2man

version=${VERSION:-$(node -p 'require("./package.json").version')}
[[ "$version" =~ ^[0-9]+(\.[0-9]+)*(~[a-z0-9.]+)?$ ]] || { echo "deb: version '$version' is not of the form 1.2.3" >&2; exit 2; }
arch=$(dpkg --print-architecture)
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build >/dev/null

work=$(mktemp -d /tmp/vio4wd-deb-XXXX)
trap 'rm -rf "$work"' EXIT
pkg=$work/root
lib=$pkg/usr/lib/vio4wd

# The dataplane and the READY=1 helper, stripped.
install -D -m 0755 build/dataplane/vio4wd-dataplane "$pkg/usr/libexec/vio4wd/vio4wd-dataplane"
install -D -m 0755 build/dataplane/vio4wd-notify "$pkg/usr/libexec/vio4wd/vio4wd-notify"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg"/usr/libexec/vio4wd/*

# Services and CLIs: the compiled packages (no sources, maps or typings) and
# their production dependencies, as npm resolves them from the lock file.
mkdir -p "$lib"
cp package.json package-lock.json "$lib/"
for p in packages/*; do
  mkdir -p "$lib/$p"
  cp "$p/package.json" "$lib/$p/"
  cp -r "$p/dist" "$lib/$p/"
  [ -d "$p/proto" ] && cp -r "$p/proto" "$lib/$p/"
done
find "$lib/packages" \( -name '*.map' -o -name '*.d.ts' -o -name '*.tsbuildinfo' \) -delete
(cd "$lib" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline >/dev/null)
# The services log this release at start-up (productVersion()).
node -e 'const f=process.argv[1]; const p=JSON.parse(require("fs").readFileSync(f)); p.version=process.argv[2]; require("fs").writeFileSync(f, JSON.stringify(p, null, 2)+"\n")' "$lib/package.json" "$version"
nm=$lib/node_modules
# zeromq ships prebuilt addons for every platform: keep this one's (glibc).
case "$arch" in amd64) zarch=x64 ;; arm64) zarch=arm64 ;; *) zarch=$arch ;; esac
find "$nm/zeromq/build" -mindepth 1 -maxdepth 1 ! -name linux ! -name manifest.json -exec rm -rf {} +
find "$nm/zeromq/build/linux" -mindepth 1 -maxdepth 1 ! -name "$zarch" -exec rm -rf {} +
find "$nm/zeromq/build/linux/$zarch/node" -mindepth 1 -maxdepth 1 ! -name 'glibc-*' -exec rm -rf {} +
# What only building the addon or reading the sources needs.
rm -rf "$nm/zeromq/src" "$nm/zeromq/script" "$nm/zeromq/vendor" "$nm/zeromq/node_modules/node-addon-api" "$nm/node-addon-api"
# Command-line scripts of dependencies (nothing here runs them; zeromq needs only cmake-ts's loader).
rm -rf "$nm/which/bin" "$nm/cmake-ts/src" "$nm"/cmake-ts/build/main.*
find "$nm" \( -name '*.md' -o -name '*.markdown' -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
  -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.editorconfig' -o -name '.travis.yml' -o -name 'tsconfig*.json' \
  -o -name '.gitattributes' -o -name '.gitignore' -o -name '.gitmodules' \) -type f -delete
# Our scripts run as `node FILE` from the wrappers: no #! line, plain 0644.
find "$lib/packages" -name '*.js' -type f -exec sed -i '1{/^#!/d}' {} +
find "$nm" -name 'CMakeLists.txt' -type f -delete
find "$nm" -name '*.node' -type f -exec strip --strip-unneeded --remove-section=.comment {} +
find "$lib" -type d -empty -delete
# Plain modes: the wrappers below run every script through node.
find "$lib" -type d -exec chmod 0755 {} +
find "$lib" -type f -exec chmod 0644 {} +

# Commands: Debian's node runs them.
wrapper() { # wrapper FILE JS
  printf '#!/bin/sh\nexec /usr/bin/node /usr/lib/vio4wd/%s "$@"\n' "$2" > "$1"
  chmod 0755 "$1"
}
mkdir -p "$pkg/usr/bin"
commands=(
  virtio-forwarder:packages/forwarder/dist/bin.js:8
  vio4wd_core_scheduler:packages/core-scheduler/dist/bin.js:8
  vio4wd-core-scheduler:packages/core-scheduler/dist/bin.js:8
  vio4wd-portctl:packages/portctl/dist/bin.js:1
  vio4wd-stats:packages/stats/dist/bin.js:1
  vio4wd-pinner:packages/core-scheduler/dist/pinner-bin.js:1
  vio4wd-load:packages/core-scheduler/dist/load-bin.js:1
)
for c in "${commands[@]}"; do
  IFS=: read -r name js _ <<<"$c"
  wrapper "$pkg/usr/bin/$name" "$js"
done
# The original's entry points, where existing tools run them (os-vif:
# /usr/lib64/virtio-forwarder/virtioforwarder_port_control.py).
for d in usr/lib/virtio-forwarder usr/lib64/virtio-forwarder; do
  mkdir -p "$pkg/$d"
  wrapper "$pkg/$d/virtioforwarder_port_control.py" packages/portctl/dist/virtioforwarder-port-control-bin.js
  wrapper "$pkg/$d/virtioforwarder_stats.py" packages/stats/dist/virtioforwarder-stats-bin.js
  wrapper "$pkg/$d/virtioforwarder_core_pinner.py" packages/core-scheduler/dist/pinner-bin.js
  wrapper "$pkg/$d/virtioforwarder_monitor_load.py" packages/core-scheduler/dist/load-bin.js
done

# Units, configuration, documentation.
install -D -m 0644 deploy/systemd/virtio-forwarder.service "$pkg/lib/systemd/system/virtio-forwarder.service"
install -D -m 0644 deploy/systemd/vio4wd_core_scheduler.service "$pkg/lib/systemd/system/vio4wd_core_scheduler.service"
install -D -m 0644 deploy/systemd/virtio-forwarder-bind-vfio.service "$pkg/lib/systemd/system/virtio-forwarder-bind-vfio.service"
install -D -m 0644 deploy/virtioforwarder.default "$pkg/etc/default/virtioforwarder"
install -D -m 0644 deploy/deb/sysusers.conf "$pkg/usr/lib/sysusers.d/vio4wd.conf"
# Alert rules for a Prometheus scraping the services (docs/operations.md).
install -D -m 0644 deploy/prometheus/vio4wd.rules.yml "$pkg/usr/share/vio4wd/prometheus/vio4wd.rules.yml"
doc=$pkg/usr/share/doc/vio4wd
install -D -m 0644 README.md "$doc/README.md"
for f in docs/*.md; do install -m 0644 "$f" "$doc/"; done
install -m 0644 deploy/deb/copyright "$doc/copyright"
install -D -m 0644 deploy/deb/lintian-overrides "$pkg/usr/share/lintian/overrides/vio4wd"
date_rfc=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
{
  printf 'vio4wd (%s) bookworm; urgency=medium\n\n' "$version"
  printf '  * Release %s, built from %s.\n\n' "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree')"
  printf ' -- vio4wd developers <vio4wd@lists.invalid>  %s\n' "$date_rfc"
} | gzip -9n > "$doc/changelog.gz"

# Man pages, from each command's --help.
man_name() {
  case "$1" in
    virtio-forwarder) echo 'relay packets between SR-IOV VFs and vhost-user VMs' ;;
    vio4wd-core-scheduler) echo "balance virtio-forwarder's worker CPUs on measured load" ;;
    vio4wd-portctl) echo 'add and remove virtio-forwarder relays at run time' ;;
    vio4wd-stats) echo 'show virtio-forwarder relay statistics' ;;
    vio4wd-pinner) echo "show or set virtio-forwarder's relay-to-CPU map" ;;
    vio4wd-load) echo "show the load of virtio-forwarder's worker CPUs" ;;
  esac
}
for c in "${commands[@]}"; do
  IFS=: read -r name js sec <<<"$c"
  mandir=$pkg/usr/share/man/man$sec
  mkdir -p "$mandir"
  if [ "$name" = vio4wd_core_scheduler ]; then
    printf '.so man8/vio4wd-core-scheduler.8\n' | gzip -9n > "$mandir/$name.$sec.gz"
    continue
  fi
  printf '#!/bin/sh\nexec node %s/%s "$@"\n' "$root_dir" "$js" > "$work/$name"
  chmod 0755 "$work/$name"
  help2man --no-info --no-discard-stderr --section="$sec" --name="$(man_name "$name")" \
    --version-string="$version" --source=vio4wd "$work/$name" | gzip -9n > "$mandir/$name.$sec.gz"
done

# Control files.
ctl=$pkg/DEBIAN
mkdir -p "$ctl"
mkdir -p "$work/shlibs/debian"
printf 'Source: vio4wd\n\nPackage: vio4wd\nArchitecture: any\n' > "$work/shlibs/debian/control"
elfs=("$pkg"/usr/libexec/vio4wd/*)
while IFS= read -r f; do elfs+=("$f"); done < <(find "$nm" -name '*.node' -type f)
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "${elfs[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
installed_size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS@/$shlibs/" -e "s/@SIZE@/$installed_size/" \
  deploy/deb/control.in > "$ctl/control"
echo /etc/default/virtioforwarder > "$ctl/conffiles"
for s in postinst prerm postrm; do install -m 0755 "deploy/deb/$s" "$ctl/$s"; done
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' md5sum) > "$ctl/md5sums"
chmod 0644 "$ctl/control" "$ctl/conffiles" "$ctl/md5sums"

mkdir -p "$out"
deb=$out/vio4wd_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
