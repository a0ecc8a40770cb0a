#!/usr/bin/env bash
# Builds the test guest from Debian's packages and prints its directory:
#   vmlinuz          Debian's kernel (linux-image-amd64's current image)
#   initramfs.gz     busybox-static, ethtool (with its libraries), the virtio
#                    and virtio-net modules of that kernel, and test/vm/init
# Nothing is installed on the host but qemu-system-x86 (to run it): the
# kernel, busybox and ethtool packages are downloaded and unpacked into the
# cache, /var/cache/vio4wd/guest/<kernel>-<key> (the key covers this script
# and test/vm/init), and built once. Run as root on Debian 12.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${VIO4WD_GUEST_CACHE:-/var/cache/vio4wd/guest}
log() { printf '== guest: %s\n' "$*" >&2; }

# shellcheck source=deploy/apt-ensure.sh
. "$here/../../deploy/apt-ensure.sh"
# ethtool: the tests set the host-side peer's offloads.
apt_ensure qemu-system-x86 cpio xz-utils ethtool

# The kernel package linux-image-amd64 points at today.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$kpkg" ] || { apt-get update -qq; kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1); }
[ -n "$kpkg" ] || { echo "guest: no linux-image-amd64 in apt's lists" >&2; exit 1; }
key=$(cat "$0" "$here/init" | sha256sum | cut -c1-12)
out=$CACHE/${kpkg#linux-image-}-$key
if [ -f "$out/initramfs.gz" ] && [ -f "$out/vmlinuz" ]; then
  echo "$out"
  exit 0
fi

log "building $out"
work=$(mktemp -d /tmp/vio4wd-guest-XXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg" busybox-static ethtool libmnl0 >/dev/null)
mkdir -p "$work/x"
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/x"; done
kver=$(ls "$work/x/lib/modules")

root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules,lib64,lib/x86_64-linux-gnu,run}
cp "$work/x/bin/busybox" "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
# ethtool and what it links (from the host's libc, the same Debian release).
cp "$work/x/sbin/ethtool" "$root/sbin/ethtool"
cp -L "$work/x/usr/lib/x86_64-linux-gnu/libmnl.so.0" "$root/lib/x86_64-linux-gnu/" 2>/dev/null \
  || cp -L "$work"/x/lib/x86_64-linux-gnu/libmnl.so.0 "$root/lib/x86_64-linux-gnu/"
for l in $(LD_LIBRARY_PATH="$root/lib/x86_64-linux-gnu" ldd "$root/sbin/ethtool" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}'); do
  case "$l" in *libmnl*) continue ;; esac
  cp -L "$l" "$root$(dirname "$l" | sed 's#^/usr##')/" 2>/dev/null || cp -L "$l" "$root/lib/x86_64-linux-gnu/"
done
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"

# The virtio-net driver and what it needs, in load order (modinfo -F depends);
# button and evdev: the ACPI power button as an input device, for libvirt's
# shutdown and reboot (test/vm/init powers off when it is pressed).
mods=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net button evdev)
for m in "${mods[@]}"; do
  f=$(find "$work/x/lib/modules/$kver" -name "$m.ko*" | head -n 1)
  [ -n "$f" ] || { echo "guest: module $m not in $kpkg" >&2; exit 1; }
  case "$f" in
    *.ko.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
done
printf '%s\n' "${mods[@]}" > "$root/lib/modules/order"
install -m 0755 "$here/init" "$root/init"

mkdir -p "$out"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$out/initramfs.gz.tmp"
cp "$work/x/boot/vmlinuz-$kver" "$out/vmlinuz"
mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
log "kernel $kver, initramfs $(du -k "$out/initramfs.gz" | cut -f1) KiB"
echo "$out"
