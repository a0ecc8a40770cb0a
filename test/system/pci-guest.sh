#!/usr/bin/env bash
# The production path for real: a PCI NIC bound to vfio-pci and relayed by
# its address. This host has no IOMMU, so the "compute node" is a QEMU (TCG)
# guest with an emulated intel-iommu and an e1000e NIC on a PCIe root port,
# booted from a Debian 12 root file system with the .deb installed and
# virtio-forwarder under its own systemd. The NIC's host side is a tap in a
# network namespace of this test; the VM side, inside the guest, is Debian's
# dpdk-testpmd on the relay's vhost-user socket (virtio_user,
# --forward-mode=icmpecho: it answers ARP and pings for any address), so
# pings sent from the namespace cross the real device both ways.
#
#   bash test/system/pci-guest.sh VIO4WD.deb
#
# Shows, with figures (boot time, plug time, pings sent/answered per phase):
#  1. VIRTIOFWD_BIND_VFIO_PCI binds the NIC as the service starts
#     (virtio-forwarder-bind-vfio.service),
#     VIRTIOFWD_STATIC_VFS relays it; pings answered;
#  2. kill -9 of the dataplane: systemd's service restarts it, the device is
#     probed again, pings resume; the outage;
#  3. the NIC hot-unplugged under the running relay (QEMU device_del): the
#     dataplane lets it go on DPDK's device-removal event and lives on, the
#     journal warns, vio4wd-stats says "VF removed"; device_add brings it
#     back on the kernel's driver, and systemctl restart binds it again and
#     plugs the relay again (not automatic: a new device is on e1000e, and
#     the service may not bind from inside its sandbox); pings;
#  4. a second run with no static VF: the original's entry point
#     (virtioforwarder_port_control.py add_sock --pci-addr) plugs it; pings;
#  5. remove_sock releases it (DPDK detaches it; it stays on vfio-pci, as
#     the original leaves it); no pings answered; add_sock again; pings;
#  6. a bad VIRTIOFWD_BIND_VFIO_PCI entry: the service exits 78, naming it,
#     and systemd does not restart it.
# Ends with "pci-guest: N passed, N failed". VIO4WD_SYSTEM_KEEP=1 keeps the
# work directory after a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/system/lib.sh
. "$here/lib.sh"
# shellcheck source=deploy/apt-ensure.sh
. "$here/../../deploy/apt-ensure.sh"
apt_ensure qemu-system-x86 e2fsprogs systemd-container mmdebstrap iproute2 iputils-ping

deb=$(realpath "$1")
[ -f "$deb" ] || { echo "usage: $0 VIO4WD.deb" >&2; exit 2; }

id=$(( $$ % 100000 ))
ns=v4pci$id
tap=v4pt$id
net=10.252.$(( $$ % 250 ))
work=$(mktemp -d /tmp/v4pci-XXXX)
passed=0
failed=0
qemu_pid=

# ---------------------------------------------------------------- the image
# The guest's root file system: the system tests' Debian 12 (systemd, kmod,
# ...) plus Debian's kernel with its modules and initramfs (vfio-pci,
# e1000e, virtio_blk), dpdk-dev (for dpdk-testpmd) and the package's
# Depends; cached, keyed by this list and the Depends. The package itself
# goes in fresh each run (dpkg -i, offline).
GUEST_REV=1
GUEST_PACKAGES="linux-image-amd64 initramfs-tools dpdk-dev"
guest_base() {
  local r
  r=$(rootfs_with pci-guest "$GUEST_REV" "$GUEST_PACKAGES" "$deb") || return 1
  ls "$r"/boot/initrd.img-* >/dev/null || { echo "pci-guest: the guest image has no initramfs" >&2; return 1; }
  echo "$r"
}

# ------------------------------------------------------------ the guest's shell
# A service in the guest reads commands from its second serial port and
# answers each with its output and "V4END <n> <status>"; the port is a pair
# of FIFOs on this side (QEMU's pipe chardev), fds 7 (to) and 8 (from).
make_rootfs() {
  local r=$1
  cat > "$r/usr/local/sbin/v4-shell" <<'EOF'
#!/bin/bash
stty -F /dev/ttyS1 raw -echo
exec </dev/ttyS1 >/dev/ttyS1 2>&1
echo "V4SHELL READY $(cut -d' ' -f1 /proc/uptime)"
while IFS= read -r line; do
  n=${line%% *}
  out=$(bash -c "${line#* }" 2>&1 </dev/null); rc=$?
  [ -z "$out" ] || printf '%s\n' "$out"
  echo "V4END $n $rc"
done
EOF
  chmod 0755 "$r/usr/local/sbin/v4-shell"
  cat > "$r/etc/systemd/system/v4-shell.service" <<'EOF'
[Unit]
Description=vio4wd test: commands from the host on ttyS1
After=basic.target
[Service]
ExecStart=/usr/local/sbin/v4-shell
Restart=always
[Install]
WantedBy=multi-user.target
EOF
  ln -sf ../v4-shell.service "$r/etc/systemd/system/multi-user.target.wants/v4-shell.service"
  echo pci-guest > "$r/etc/hostname"
}

seq=0
# g TIMEOUT_S CMD: runs CMD in the guest, prints its output, returns its status.
g() {
  local t=$1 line rc=
  shift
  seq=$((seq + 1))
  printf '%s %s\n' "$seq" "$*" >&7
  while IFS= read -r -t "$t" -u 8 line; do
    if [[ $line == "V4END $seq "* ]]; then rc=${line##* }; break; fi
    printf '%s\n' "$line"
  done
  [ -n "$rc" ] || { echo "pci-guest: no answer to '$*' within $t s" >&2; return 124; }
  return "$rc"
}
# mon CMD: a QEMU monitor command.
mon() { printf '%s\n' "$*" >&9; sleep 1; }

cleanup() {
  if [ "${VIO4WD_SYSTEM_KEEP:-}" = 1 ] && [ "$failed" -gt 0 ]; then
    echo "kept for a look (VIO4WD_SYSTEM_KEEP=1): $work" >&2
    return
  fi
  [ -z "$qemu_pid" ] || { kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; }
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() {
  failed=$((failed + 1))
  echo "not ok - $*" >&2
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    echo "--- the guest's journal of virtio-forwarder (last 60 lines)" >&2
    g 120 journalctl --no-pager -o short-monotonic -u virtio-forwarder-bind-vfio -u virtio-forwarder -n 60 >&2 || true
    echo "--- the VM side's output (last 15 lines)" >&2
    g 60 tail -n 15 /tmp/vm.log >&2 || true
  fi
  echo "--- console (last 30 lines)" >&2
  tail -n 30 "$work/console.log" >&2 || true
  echo "pci-guest: $passed passed, $failed failed"
  exit 1
}
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }

# pings N: N pings from the namespace to the relay's far side; prints "answered/sent"
# and the longest gap between replies; succeeds when any was answered.
pings() {
  local n=$1 out got
  out=$(ip netns exec "$ns" ping -D -n -c "$n" -i 0.2 -W 2 "$net.2" 2>&1 || true)
  got=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  echo "${got:-0}/$n $(printf '%s\n' "$out" | awk -F'[][]' '/bytes from/ { if (p) { g = $2 - p; if (g > m) m = g } p = $2 } END { printf "longest gap %.1f s", m }')"
  [ "${got:-0}" -gt 0 ]
}

# --------------------------------------------------------------------- run
base=$(guest_base) || exit 1
r=$work/rootfs
t0=$SECONDS
cp -a "$base" "$r"
cp "$deb" "$r/root/vio4wd.deb"
systemd-nspawn -q --register=no --keep-unit --machine="v4pci-$id" -D "$r" sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /root/vio4wd.deb >/dev/null && rm /root/vio4wd.deb'
make_rootfs "$r"
# The NIC behind the root port is 0000:01:00.0; the VM side's socket is where the static relay's is.
cat >> "$r/etc/default/virtioforwarder" <<EOF

# pci-guest.sh
VIRTIOFWD_CPU_MASK=1
VIRTIOFWD_MASTER_LCORE=0
VIRTIOFWD_HUGETLBFS_MOUNT_POINT=/dev/hugepages
VIRTIOFWD_DYNAMIC_SOCKETS=true
VIRTIOFWD_VHOST_CLIENT=true
VIRTIOFWD_BIND_VFIO_PCI=01:00.0
VIRTIOFWD_STATIC_VFS=0000:01:00.0=1
# Two vCPUs under TCG, shared with the VM side's poller: the worker sleeps when idle.
VIO4WD_IDLE_SLEEP_US=100
EOF
kver=$(ls "$r/lib/modules" | head -n 1)
cp "$r/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$r/boot/initrd.img-$kver" "$work/initrd.img"
mke2fs -q -t ext4 -d "$r" -F "$work/disk.img" 4G
rm -rf "$r"
echo "image: kernel $kver, disk built in $((SECONDS - t0)) s"

ip netns add "$ns"
ip -n "$ns" tuntap add "$tap" mode tap
ip -n "$ns" addr add "$net.1/24" dev "$tap"
ip -n "$ns" link set "$tap" up
mkfifo "$work/ctl.in" "$work/ctl.out" "$work/mon.in" "$work/mon.out"
exec 7<>"$work/ctl.in" 8<>"$work/ctl.out" 9<>"$work/mon.in"
cat "$work/mon.out" > "$work/monitor.log" &

t0=$SECONDS
ip netns exec "$ns" qemu-system-x86_64 -nodefaults -machine q35 -accel tcg,thread=multi -cpu max -m 2048 -smp 2 \
  -device intel-iommu,aw-bits=48 \
  -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
  -append 'root=/dev/vda rootfstype=ext4 rw console=ttyS0 intel_iommu=on hugepagesz=2M hugepages=256 systemd.mask=serial-getty@ttyS0.service systemd.mask=serial-getty@ttyS1.service systemd.mask=getty@tty1.service' \
  -drive file="$work/disk.img",if=virtio,format=raw \
  -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3 \
  -device e1000e,id=nic1,netdev=n1,bus=rp1,mac=52:54:00:4f:70:01 -netdev tap,id=n1,ifname="$tap",script=no,downscript=no \
  -chardev pipe,id=ctl,path="$work/ctl" -chardev pipe,id=mon,path="$work/mon" -mon chardev=mon,mode=readline \
  -serial file:"$work/console.log" -serial chardev:ctl \
  -display none -no-reboot &
qemu_pid=$!
ready=
while IFS= read -r -t 600 -u 8 line; do
  if [[ $line == "V4SHELL READY"* ]]; then ready=${line##* }; break; fi
done
[ -n "$ready" ] || fail "the guest booted (no shell within 600 s)"
ok "the guest booted in $((SECONDS - t0)) s (its shell up $ready s after the kernel started)"
g 60 'dmesg | grep -E "DMAR: IOMMU enabled|DMAR: Intel\(R\) Virtualization"' | head -n 2
g 60 'echo "NIC: $(basename $(readlink /sys/bus/pci/devices/0000:01:00.0/driver)), IOMMU group $(basename $(readlink /sys/bus/pci/devices/0000:01:00.0/iommu_group))"'

# 1. Bound and relayed at start.
t1=$SECONDS
check "systemctl start virtio-forwarder (VIRTIOFWD_BIND_VFIO_PCI=01:00.0, VIRTIOFWD_STATIC_VFS=0000:01:00.0=1)" g 300 systemctl start virtio-forwarder
echo "started in $((SECONDS - t1)) s"
g 60 'journalctl --no-pager -o cat -u virtio-forwarder-bind-vfio -u virtio-forwarder | grep -E "VIRTIOFWD_BIND_VFIO_PCI|Probe PCI driver|static relay"'
check "the NIC is on vfio-pci, /dev/vfio/<group> exists" g 60 \
  'd=$(basename $(readlink /sys/bus/pci/devices/0000:01:00.0/driver)); grp=$(basename $(readlink /sys/bus/pci/devices/0000:01:00.0/iommu_group)); echo "driver $d, /dev/vfio/$grp"; [ "$d" = vfio-pci ] && [ -e /dev/vfio/$grp ]'
g 60 journalctl --no-pager -o short-monotonic -u virtio-forwarder > "$work/journal1"
# (short-monotonic: "[  49.29] host unit[pid]: message")
since() { awk -v from="$1" -v to="$2" -v what="$3" '{ t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t) }
  index($0, from) && p == "" { p = t } index($0, to) && p != "" { printf "%s: %.1f s\n", what, t - p; exit }' "$4"; }
since 'Probe PCI driver: net_e1000_em' 'static relay 1 plugged' 'plug time (probe -> relay added)' "$work/journal1"
check "the VM side (testpmd virtio_user, icmpecho) on the relay's socket" g 120 \
  'systemd-run -q --unit v4-vm -p Nice=10 -p StandardOutput=truncate:/tmp/vm.log -p StandardError=truncate:/tmp/vm.log stdbuf -oL dpdk-testpmd --no-huge -m 256 -l 0,1 --no-pci --file-prefix vm --vdev net_virtio_user0,path=/tmp/virtio-forwarder/virtio-forwarder1.sock,server=1 -- --total-num-mbufs=16384 --forward-mode=icmpecho --auto-start --stats-period 3600'
for i in $(seq 60); do g 30 'journalctl --no-pager -o cat -u virtio-forwarder | grep -q "VM connected on"' && break; sleep 2; done
sleep 3
p=$(pings 20) || true
echo "phase 1 (bound at start, static relay): pings answered $p"
check "phase 1: pings through the PCI NIC answered" [ "${p%%/*}" -ge 15 ]

# 2. kill -9 of the dataplane.
ip netns exec "$ns" ping -D -n -c 300 -i 0.2 -W 2 "$net.2" > "$work/ping2.log" 2>&1 &
pinger=$!
sleep 5
check "kill -9 of the dataplane" g 60 'pkill -9 -f ^/usr/libexec/vio4wd/vio4wd-dataplane'
wait "$pinger" || true
p2=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$work/ping2.log")
gap=$(awk -F'[][]' '/bytes from/ { if (p) { g = $2 - p; if (g > m) m = g } p = $2 } END { printf "%.1f", m }' "$work/ping2.log")
echo "phase 2 (kill -9): pings answered ${p2:-0}/300, outage (longest gap between replies) $gap s"
g 60 'journalctl --no-pager -o cat -u virtio-forwarder | grep -E "dataplane (pid|exited|killed)|Probe PCI driver|relay 1 plugged" | tail -n 6'
check "phase 2: pings answered again after the restart" [ "$(tail -n 20 "$work/ping2.log" | grep -c 'bytes from')" -ge 5 ]
check "the service is still active (the supervisor restarted its dataplane)" g 60 systemctl is-active virtio-forwarder

# 3. The NIC hot-unplugged from under the running relay (QEMU's device_del on
#    its PCIe root port): vfio-pci relays the kernel's request, DPDK raises
#    the device-removal event, the dataplane lets the device go and lives on.
dp=$(g 60 pgrep -f ^/usr/libexec/vio4wd/vio4wd-dataplane)
t6=$SECONDS
mon device_del nic1
gone=
for i in $(seq 60); do
  if g 30 '[ ! -e /sys/bus/pci/devices/0000:01:00.0 ]'; then gone=$((SECONDS - t6)); break; fi
  sleep 2
done
[ -n "$gone" ] || fail "phase 3: the NIC was not removed from the guest within 120 s"
ok "phase 3: device_del: the NIC left the guest in $gone s (the dataplane let it go)"
g 60 'journalctl --no-pager -o cat -u virtio-forwarder | grep -E "was removed from the system|Releasing PCI mapped" | tail -n 2; dmesg | grep -E "Relaying device request|Removing from iommu group" | tail -n 2'
check "phase 3: the journal warns that relay 1's VF was removed (priority warning)" g 60 \
  'journalctl --no-pager -o cat -p warning -u virtio-forwarder | grep -q "relay 1: VF 0000:01:00.0 was removed from the system (hot-unplug)"'
check "phase 3: the dataplane survived (pid $dp) and the service is active" g 60 "[ \"\$(pgrep -f ^/usr/libexec/vio4wd/vio4wd-dataplane)\" = '$dp' ] && systemctl is-active -q virtio-forwarder"
check "phase 3: vio4wd-stats reports relay 1 without its VF" g 300 'vio4wd-stats --json --delay=0 | grep -q "VF removed (hot-unplugged)"'
p=$(pings 10) || true
echo "phase 3 (NIC removed): pings answered $p"
check "phase 3: no ping answered while the NIC is away" [ "${p%%/*}" -eq 0 ]
mon device_add e1000e,id=nic1,netdev=n1,bus=rp1,mac=52:54:00:4f:70:01
back=
for i in $(seq 60); do
  if g 30 '[ "$(basename "$(readlink /sys/bus/pci/devices/0000:01:00.0/driver)")" = e1000e ]'; then back=1; break; fi
  sleep 2
done
[ -n "$back" ] || fail "phase 3: device_add: the NIC did not come back on e1000e within 120 s"
ok "phase 3: device_add: the NIC is back, on the kernel's e1000e (a new device: not on vfio-pci)"
t7=$SECONDS
check "phase 3: systemctl restart virtio-forwarder binds it again and plugs relay 1 again" g 300 systemctl restart virtio-forwarder
echo "restart took $((SECONDS - t7)) s"
sleep 5
p=$(pings 20) || true
echo "phase 3 (NIC back, after systemctl restart): pings answered $p"
check "phase 3: pings answered again" [ "${p%%/*}" -ge 15 ]

# 4. A second run: plugged at run time through the original's entry point.
check "systemctl stop virtio-forwarder" g 120 systemctl stop virtio-forwarder
g 60 "sed -i 's/^VIRTIOFWD_STATIC_VFS=0000:01:00.0=1$/VIRTIOFWD_STATIC_VFS=/' /etc/default/virtioforwarder; rm -f /var/lib/vio4wd/relays.json"
check "systemctl start virtio-forwarder (no static VF; the NIC on vfio-pci already)" g 300 systemctl start virtio-forwarder
sock=/tmp/virtio-forwarder/virtio-forwarder1.sock
t3=$SECONDS
check "virtioforwarder_port_control.py add_sock --pci-addr=0000:01:00.0" g 300 \
  "/usr/lib64/virtio-forwarder/virtioforwarder_port_control.py add_sock --vhost-path=$sock --pci-addr=0000:01:00.0"
echo "add_sock answered in $((SECONDS - t3)) s"
sleep 5
p=$(pings 20) || true
echo "phase 4 (add_sock through the original's entry point): pings answered $p"
check "phase 4: pings answered" [ "${p%%/*}" -ge 15 ]

# 5. remove_sock and add_sock again.
check "remove_sock" g 300 "/usr/lib64/virtio-forwarder/virtioforwarder_port_control.py remove_sock --vhost-path=$sock"
g 60 'journalctl --no-pager -o cat -u virtio-forwarder | grep -E "relay 1 removed|detach|Releasing PCI" | tail -n 3; echo "NIC driver after remove_sock: $(basename $(readlink /sys/bus/pci/devices/0000:01:00.0/driver))"'
p=$(pings 10) || true
echo "phase 5a (removed): pings answered $p"
check "phase 5a: no ping answered while the relay is removed" [ "${p%%/*}" -eq 0 ]
check "add_sock again" g 300 "/usr/lib64/virtio-forwarder/virtioforwarder_port_control.py add_sock --vhost-path=$sock --pci-addr=0000:01:00.0"
sleep 5
p=$(pings 20) || true
echo "phase 5b (added again): pings answered $p"
check "phase 5b: pings answered again" [ "${p%%/*}" -ge 15 ]

# 6. A bad entry: exit 78, named, not restarted.
g 120 systemctl stop virtio-forwarder v4-vm >/dev/null || true
g 60 "sed -i 's/^VIRTIOFWD_BIND_VFIO_PCI=01:00.0$/VIRTIOFWD_BIND_VFIO_PCI=(01:00.0 0000:00:1f.7 nosuch0:2)/' /etc/default/virtioforwarder"
g 300 systemctl start virtio-forwarder >/dev/null && fail "phase 6: the service started with a bad VIRTIOFWD_BIND_VFIO_PCI"
sleep 5
g 60 'journalctl --no-pager -o cat -u virtio-forwarder-bind-vfio -u virtio-forwarder -n 40 | grep -E "pre-flight|nothing bound"'
check "phase 6: the journal names both bad entries" g 60 \
  'journalctl --no-pager -o cat -u virtio-forwarder -n 30 | grep -q "0000:00:1f.7: there is no PCI device" && journalctl --no-pager -o cat -u virtio-forwarder -n 30 | grep -q "nosuch0:2: there is no network device nosuch0"'
check "phase 6: exit status 78, not restarted" g 60 \
  '[ "$(systemctl show -p ExecMainStatus --value virtio-forwarder)" = 78 ] && [ "$(systemctl show -p NRestarts --value virtio-forwarder)" = 0 ] && ! systemctl is-active -q virtio-forwarder'

echo "pci-guest: $passed passed, $failed failed (whole run $SECONDS s)"
[ "$failed" -eq 0 ]
