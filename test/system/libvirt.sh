#!/usr/bin/env bash
# VMs as the user guide runs them: started by libvirt, on relays of the
# installed package, each "host" a Debian 12 container booted by a real
# systemd (systemd-nspawn) with the .deb and Debian's libvirt 9.0 and QEMU
# 7.2, both services from their shipped units. The VM is the test guest
# (test/vm: Debian's kernel, busybox), booted directly by libvirt under TCG;
# its console is the domain's <serial type='unix'>. The VF is af_packet on a
# veth whose far end is on a bridge in a "peer" namespace (10.x.y.1): the
# guest pings it and receives TCP streams from it.
#
#   bash test/system/libvirt.sh VIO4WD.deb
#
# The domains' XML is in test/system/libvirt/ (docs/libvirt.md shows the
# same files: test/unit/deploy/libvirt-docs checks that they agree). What it
# shows, with figures:
#  1. host A, relays in server mode (QEMU mode='client'): a domain with 2 MiB
#     hugepages from /dev/hugepages/libvirt (the guide's set-up), VirtIO 1.0
#     with packed virtqueues and 4 queues: pings, a TCP stream intact, the
#     socket's owner and group, ethtool -L eth0 combined 4 and traffic on
#     >= 2 queues each way;
#     virsh destroy + start (the relay takes the new QEMU), virsh reboot,
#     virsh shutdown;
#  2. host A, relays in client mode (the default; QEMU mode='server'): a
#     memfd domain, legacy virtio: the socket directory as the service makes
#     it (root:kvm 2770) and the socket QEMU makes there (libvirt-qemu:kvm);
#     pings, a stream; systemctl restart virtio-forwarder under a 10 ms ping
#     (the outage);
#  3. hosts A and B (two containers in two network namespaces, libvirt's TCP
#     transport between them), relays in server mode, the domain's socket a
#     symlink to a different relay socket on each host: virsh migrate --live
#     A -> B and back under a 10 ms ping and a TCP stream: time, pings lost,
#     the stream intact, which relay carries the traffic after;
#  4. B without vio4wd: virsh migrate --live --xml with the vhostuser
#     interface turned into a libvirt network's bridge (the guide's
#     procedure), and back to A with the vhostuser interface again.
# Ends with "libvirt: N passed, N failed". VIO4WD_SYSTEM_KEEP=1 keeps the
# work directory after a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/system/lib.sh
. "$here/lib.sh"
# shellcheck source=deploy/apt-ensure.sh
. "$here/../../deploy/apt-ensure.sh"
apt_ensure systemd-container mmdebstrap iproute2 iputils-ping python3 ethtool

deb=$(realpath "$1")
[ -f "$deb" ] || { echo "usage: $0 VIO4WD.deb" >&2; exit 2; }
phases=${VIO4WD_LIBVIRT_PHASES:-1 2 3 4}
guest=$(bash "$here/../vm/build-guest.sh")

id=$(( $$ % 100000 ))
tag=v4lv$id
net=10.253.$(( $$ % 250 ))
mig=10.254.$(( $$ % 250 ))
work=$(mktemp -d /tmp/v4lv-XXXX)
passed=0
failed=0
declare -A LEADER NSPAWN

# ---------------------------------------------------------------- the image
# A host: the system tests' Debian 12 plus libvirt and QEMU as an operator
# installs them (no recommends) and the package's Depends; cached, keyed by
# this list and the Depends. The package itself goes in fresh each run.
HOST_REV=1
HOST_PACKAGES="libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu qemu-system-x86"
host_image() { rootfs_with libvirt-host "$HOST_REV" "$HOST_PACKAGES" "$deb"; }

# ------------------------------------------------------------------ helpers
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() {
  failed=$((failed + 1))
  echo "not ok - $*" >&2
  local h
  for h in "${!LEADER[@]}"; do
    echo "--- host $h: journal of virtio-forwarder and libvirtd (last 40 lines)" >&2
    on "$h" journalctl --no-pager -o short-monotonic -u virtio-forwarder -u libvirtd -n 40 >&2 || true
    on "$h" sh -c 'tail -n 15 /var/log/libvirt/qemu/*.log' >&2 || true
  done
  echo "libvirt: $passed passed, $failed failed"
  exit 1
}
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
wait_for() { # SECONDS DESC CMD...
  local t=$1 end=$((SECONDS + $1)) d=$2
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || fail "$d (not within $t s)"
    sleep 0.5
  done
}

# on HOST CMD...: runs CMD in that host's container.
# (Not this machine's environment: NODE_EXTRA_CA_CERTS names a file the container lacks.)
on() { local h=$1; shift; nsenter -t "${LEADER[$h]}" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

# boot HOST: a copy of the image with the package, booted; its VF link in.
boot() {
  local h=$1 r=$work/$1
  rm -rf "$r"
  cp -a "$image" "$r"
  cp "$deb" "$r/root/vio4wd.deb"
  systemd-nspawn -q --register=no --keep-unit --machine="$tag-$h-inst" -D "$r" sh -c \
    'DEBIAN_FRONTEND=noninteractive dpkg -i /root/vio4wd.deb >/dev/null && rm /root/vio4wd.deb' || fail "host $h: dpkg -i"
  # The guest's kernel and initramfs, where libvirt's QEMU (libvirt-qemu) may read them.
  cp "$guest/vmlinuz" "$guest/initramfs.gz" "$r/var/lib/libvirt/images/"
  # Containers only: this host's cgroups (hybrid v1) are read-only inside
  # nspawn, and libvirt would fail to make its v1 controllers.
  echo 'cgroup_controllers = [ ]' >> "$r/etc/libvirt/qemu.conf"
  # A hugetlbfs of its own for each host (two libvirts in one would share
  # /dev/hugepages/libvirt/qemu/<id>-<name>).
  mkdir -p "$work/huge-$h"
  mount -t hugetlbfs -o pagesize=2M nodev "$work/huge-$h"
  printf '%s %s\n' "$mig.1" "${tag}a" "$mig.2" "${tag}b" >> "$r/etc/hosts"
  ip netns del "$tag$h" 2>/dev/null || true
  ip netns add "$tag$h"
  setsid systemd-nspawn -q --register=no --keep-unit --console=passive -D "$r" -b \
    --machine="$tag-$h" --hostname="$tag$h" --network-namespace-path="/run/netns/$tag$h" \
    --capability=CAP_IPC_LOCK,CAP_NET_ADMIN --bind="$work/huge-$h:/dev/hugepages" --bind=/dev/net/tun \
    >"$work/$h.console" 2>&1 </dev/null &
  NSPAWN[$h]=$!
  local i state
  for i in $(seq 300); do
    LEADER[$h]=$(pgrep -P "${NSPAWN[$h]}" | head -n 1) || true
    if [ -n "${LEADER[$h]}" ]; then
      state=$(on "$h" systemctl is-system-running 2>/dev/null) || true
      case "$state" in running|degraded) host_links "$h"; return 0 ;; esac
    fi
    kill -0 "${NSPAWN[$h]}" 2>/dev/null || { cat "$work/$h.console" >&2; fail "host $h: systemd-nspawn exited"; }
    sleep 0.2
  done
  fail "host $h: not booted within 60 s (state: ${state:-none})"
}

poweroff_host() {
  local h=$1 i
  [ -n "${NSPAWN[$h]:-}" ] || return 0
  if kill -0 "${NSPAWN[$h]}" 2>/dev/null; then
    on "$h" virsh -q destroy vm >/dev/null 2>&1 || true
    on "$h" systemctl poweroff >/dev/null 2>&1 || true
    for i in $(seq 150); do kill -0 "${NSPAWN[$h]}" 2>/dev/null || break; sleep 0.2; done
    kill -9 "${NSPAWN[$h]}" 2>/dev/null || true
  fi
  wait "${NSPAWN[$h]}" 2>/dev/null || true
  umount "$work/huge-$h" 2>/dev/null || true
  unset "NSPAWN[$h]" "LEADER[$h]"
}

cleanup() {
  local h
  for h in "${!NSPAWN[@]}"; do poweroff_host "$h"; done
  for n in a b p; do ip netns del "$tag$n" 2>/dev/null || true; done
  if [ "${VIO4WD_SYSTEM_KEEP:-}" = 1 ] && [ "$failed" -gt 0 ]; then
    echo "kept for a look (VIO4WD_SYSTEM_KEEP=1): $work" >&2
    return
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# gsh HOST TIMEOUT CMD: runs CMD in the domain's guest through its console
# socket (test/vm/init runs each line it reads), prints its output, returns
# its status. Output between commands is not kept: run long ones in the
# background with their output in a file.
gsh() {
  local h=$1 t=$2
  shift 2
  python3 - "$work/$h/var/lib/libvirt/qemu/vm.console" "$t" "$*" <<'PY'
import socket, sys, time, random
path, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3]
n = random.randrange(1 << 30)
s = socket.socket(socket.AF_UNIX)
s.settimeout(timeout)
s.connect(path)
# The markers are assembled by printf, never echoed literally.
s.sendall(f"printf '@@%s%d\\n' B {n}; {{ {cmd} ; }} 2>&1; printf '@@%s%d %d\\n' E {n} $?\n".encode())
buf, end, deadline = b"", f"@@E{n} ".encode(), time.time() + timeout
while True:
    i = buf.find(end)
    if i >= 0 and buf.find(b"\n", i) >= 0:
        break
    if time.time() > deadline:
        sys.stderr.write(f"guest: no answer to {cmd!r} within {timeout} s\n"); sys.exit(124)
    d = s.recv(65536)
    if not d:
        sys.stderr.write("guest: console closed\n"); sys.exit(125)
    buf += d
text = buf.decode(errors="replace").replace("\r", "")
b = text.find(f"@@B{n}\n")
e = text.find(f"@@E{n} ")
sys.stdout.write(text[b + len(f"@@B{n}\n") if b >= 0 else 0:e])
sys.exit(int(text[e + len(f"@@E{n} "):].split("\n")[0]))
PY
}
# guest_up HOST: the guest answers on its console.
guest_up() { gsh "$1" 5 true >/dev/null 2>&1; }

# The domain's XML from a file of test/system/libvirt/, with this run's values.
domain_xml() { # FILE SOCKET-PATH
  sed -e "s#@KERNEL@#/var/lib/libvirt/images/vmlinuz#; s#@INITRD@#/var/lib/libvirt/images/initramfs.gz#" \
      -e "s#@GUEST_IP@#$net.2/24#; s#@SOCKET@#$2#" "$here/libvirt/$1"
}

# pings HOST N: N pings from the guest to the peer; prints "answered/N".
pings() {
  local out got
  out=$(gsh "$1" 120 "ping -c $2 -i 0.2 -W 2 $net.1" || true)
  got=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
  echo "${got:-0}/$2"
}
# send_stream PAUSE: from the peer, $work/stream.bin to the guest's port
# 5001 (retrying until it listens), PAUSE seconds after each 256 KiB.
send_stream() {
  ip netns exec "${tag}p" python3 - "$net.2" "$work/stream.bin" "$1" <<'PY'
import socket, sys, time
for i in range(100):
    try:
        c = socket.create_connection((sys.argv[1], 5001), timeout=120)
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("no connection to the guest")
data, pause = open(sys.argv[2], "rb").read(), float(sys.argv[3])
for o in range(0, len(data), 1 << 18):
    c.sendall(data[o:o + (1 << 18)])
    time.sleep(pause)
c.close()
PY
}
# stream HOST BYTES: random bytes from the peer to the guest over TCP; prints
# "sent SIZE HASH, received SIZE HASH" and succeeds when they agree.
stream() {
  local h=$1 bytes=$2 sent got
  head -c "$bytes" /dev/urandom > "$work/stream.bin"
  sent="$bytes $(sha256sum < "$work/stream.bin" | cut -d' ' -f1)"
  gsh "$h" 30 "rm -f /tmp/rx; printf '#!/bin/sh\\nexec cat > /tmp/rx\\n' > /tmp/recv; chmod +x /tmp/recv; nc -l -p 5001 -e /tmp/recv < /dev/null & echo listening" >/dev/null
  send_stream 0 || return 1
  gsh "$h" 240 wait >/dev/null
  got=$(gsh "$h" 60 'echo "$(wc -c < /tmp/rx) $(sha256sum /tmp/rx | cut -d" " -f1)"')
  echo "sent $sent, received $got"
  [ "$got" = "$sent" ]
}
# relay_pkts HOST SOCKET: "VF->VM VM->VF" packets of the relay on that socket.
relay_pkts() {
  on "$1" vio4wd-stats --json --delay=0 | python3 -c '
import json, sys
rs = [r for r in json.load(sys.stdin)["relay"] if r["vhost"]["vhost_socket_name"] == sys.argv[1]]
print(" ".join(str(x) for x in ((rs[0]["vf_to_vm"]["pkts_tx_to_vm"], rs[0]["vm_to_vf"]["pkts_tx_to_vf"]) if rs else ("none", "none"))))' "$2"
}
disconnected() { ! connected "$@"; }
connected() { on "$1" vio4wd-stats --json --delay=0 | python3 -c '
import json, sys
sys.exit(not any(r["vhost"]["vhost_socket_name"] == sys.argv[1] and r["vf_to_vm"]["internal_state"] == "connected" for r in json.load(sys.stdin)["relay"]))' "$2"; }

# --------------------------------------------------------------- the network
# Namespace p holds the peer: a bridge with each host's VF veth on it, and
# the address the guest pings. Each host is a container in a network
# namespace of its own (ours: --private-network's would also give it a
# sysfs without /sys/module, and DPDK's VFIO set-up fails there); its links
# are moved in once it is up.
ip netns add "${tag}p"
ip -n "${tag}p" link add br0 type bridge
ip -n "${tag}p" addr add "$net.1/24" dev br0
ip -n "${tag}p" link set br0 up
ip -n "${tag}p" link set lo up
# The peer's stack leaves TCP checksums to the device (veth: never done);
# af_packet hands the frames on as they are, and the guest would drop them.
# (A VF's wire carries whole checksums.)
ip netns exec "${tag}p" ethtool -K br0 tx off >/dev/null

# host_links HOST: its VF stand-in, a veth to the peer's bridge.
host_links() {
  local h=$1
  ip -n "${tag}p" link del "p$h" 2>/dev/null || true # (of a host booted before)
  ip link add "${tag}v$h" type veth peer name "p$h" netns "${tag}p"
  ip -n "${tag}p" link set "p$h" master br0 up
  ip netns exec "${tag}p" ethtool -K "p$h" tx off >/dev/null
  ip link set "${tag}v$h" netns "${LEADER[$h]}"
  on "$h" ip link set "${tag}v$h" up
}
# migration_link: hosts a and b joined by a veth pair, $mig.1 and $mig.2.
migration_link() {
  ip link add "${tag}ma" type veth peer name "${tag}mb"
  ip link set "${tag}ma" netns "${LEADER[a]}"
  ip link set "${tag}mb" netns "${LEADER[b]}"
  on a ip addr add "$mig.1/24" dev "${tag}ma"
  on b ip addr add "$mig.2/24" dev "${tag}mb"
  on a ip link set "${tag}ma" up
  on b ip link set "${tag}mb" up
}

t0=$SECONDS
image=$(host_image) || exit 1
echo "host image: $image ($((SECONDS - t0)) s)"

# configure HOST MODE: the operator's edits to /etc/default/virtioforwarder
# (MODE: server or client), the VF drop-in docs/security.md gives for
# af_packet, the guide's hugepage directory for libvirt; then both services
# and libvirtd started.
configure() {
  local h=$1 mode=$2 r=$work/$1
  cat >> "$r/etc/default/virtioforwarder" <<EOF

# libvirt.sh
VIRTIOFWD_CPU_MASK=1
VIRTIOFWD_MASTER_LCORE=0
VIRTIOFWD_HUGETLBFS_MOUNT_POINT=/dev/hugepages
VIRTIOFWD_VHOST_CLIENT=$([ "$mode" = client ] && echo true || echo false)
VIRTIOFWD_DYNAMIC_SOCKETS=true
VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_af_packet0,iface=${tag}v$h)
VIO4WD_IDLE_SLEEP_US=100
EOF
  mkdir -p "$r/etc/systemd/system/virtio-forwarder.service.d"
  cat > "$r/etc/systemd/system/virtio-forwarder.service.d/af-packet.conf" <<'EOF'
[Service]
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
RestrictAddressFamilies=AF_PACKET
EOF
  on "$h" systemctl daemon-reload
  on "$h" sh -c 'mkdir -p /dev/hugepages/libvirt && chown libvirt-qemu:kvm -R /dev/hugepages/libvirt'
  on "$h" systemctl restart libvirtd || fail "host $h: systemctl restart libvirtd"
  on "$h" systemctl start virtio-forwarder || fail "host $h: systemctl start virtio-forwarder"
}

# start_domain HOST XMLFILE SOCKET: defines and starts domain "vm"; waits for its guest.
start_domain() {
  local h=$1 t=$SECONDS
  domain_xml "$2" "$3" > "$work/$h/root/vm.xml"
  on "$h" virsh -q define /root/vm.xml >/dev/null || fail "host $h: virsh define ($2)"
  on "$h" timeout 120 virsh -q start vm >/dev/null || fail "host $h: virsh start vm ($2)"
  wait_for 180 "host $h: the guest of $2 answers on its console" guest_up "$h"
  echo "   $2: virsh start -> guest answers: $((SECONDS - t)) s"
}

# reboot_domain HOST: virsh reboot (ACPI): the guest comes back (its /tmp is new) and pings.
reboot_domain() {
  local h=$1 t=$SECONDS p
  gsh "$h" 10 'touch /tmp/before-reboot' >/dev/null
  on "$h" virsh -q reboot vm >/dev/null || fail "host $h: virsh reboot"
  rebooted() { gsh "$h" 5 '[ ! -e /tmp/before-reboot ]' >/dev/null 2>&1; }
  wait_for 180 "host $h: the guest rebooted (virsh reboot)" rebooted
  p=$(pings "$h" 10)
  check "virsh reboot: the guest is back in $((SECONDS - t)) s; pings $p" test "${p%%/*}" -ge 9
}
# shutdown_domain HOST: virsh shutdown (ACPI) and undefine.
shutdown_domain() {
  local h=$1 t=$SECONDS
  on "$h" virsh -q shutdown vm >/dev/null || fail "host $h: virsh shutdown"
  off() { [ "$(on "$h" virsh domstate vm 2>/dev/null)" = "shut off" ]; }
  wait_for 120 "host $h: virsh shutdown: the domain shuts off" off
  ok "virsh shutdown: shut off in $((SECONDS - t)) s"
  on "$h" virsh -q undefine vm >/dev/null
}
# ping_summary: busybox ping's output in, "sent N, received N, longest gap N ms" out (10 ms a request).
ping_summary() {
  python3 -c '
import re, sys
log = sys.stdin.read()
seqs = sorted({int(m) for m in re.findall(r"seq=(\d+) ", log)})
m = re.search(r"(\d+) packets transmitted, (\d+) packets received", log)
sent = int(m.group(1)) if m else 0
gap, prev = 0, -1
for q in seqs + [sent]:
    gap = max(gap, q - prev - 1)
    prev = q
print("sent %d, received %d, longest gap %d ms" % (sent, int(m.group(2)) if m else 0, gap * 10))'
}

# ------------------------------------------ 1. server mode, hugepages, 4 queues
if [[ " $phases " == *" 1 "* ]]; then
  boot a
  configure a server
  sock=/tmp/virtio-forwarder/vm1.sock
  # No relay yet: QEMU (mode='client', no <reconnect>) cannot connect, and virsh start says so.
  domain_xml server-hugepages-mq.xml "$sock" > "$work/a/root/vm.xml"
  on a virsh -q define /root/vm.xml >/dev/null || fail "host a: virsh define"
  if err=$(on a timeout 120 virsh -q start vm 2>&1); then fail "virsh start with no relay on $sock succeeded"; fi
  check "virsh start with no relay plugged fails at once, naming the socket: $(grep -m1 -o 'Failed to connect[^"]*' <<<"$err" || echo "$err")" \
    grep -q "Failed to connect to '$sock'" <<<"$err"
  on a virsh -q undefine vm >/dev/null
  check "host a: vio4wd-portctl add_sock --vhost-path=$sock --pci-addr=0000:ff:00.1 (relay in server mode)" \
    on a vio4wd-portctl add_sock --vhost-path="$sock" --pci-addr=0000:ff:00.1
  check "the relay's socket is libvirt-qemu:kvm 0660 (VIRTIOFWD_SOCKET_OWNER/GROUP): $(on a stat -c '%U:%G %a' "$sock")" \
    test "$(on a stat -c '%U:%G %a' "$sock")" = "libvirt-qemu:kvm 660"
  start_domain a server-hugepages-mq.xml "$sock"
  check "the domain's memory is 2 MiB hugepages under /dev/hugepages/libvirt: $(on a sh -c 'ls -d /dev/hugepages/libvirt/qemu/*' | tr '\n' ' ')" \
    on a sh -c 'ls /dev/hugepages/libvirt/qemu/*vm* >/dev/null 2>&1 || grep -q "hugepages/libvirt" /proc/$(pgrep -f qemu-system | head -n 1)/maps'
  wait_for 60 "relay of $sock connected" connected a "$sock"
  feat=$(gsh a 10 'cat /sys/bus/virtio/devices/*/features' | head -n 1)
  check "VirtIO 1.0 with packed virtqueues negotiated (feature bits 32 VERSION_1: ${feat:32:1}, 34 RING_PACKED: ${feat:34:1})" \
    test "${feat:32:1}${feat:34:1}" = 11
  p=$(pings a 20)
  check "server mode, 4 queues: pings answered $p" test "${p%%/*}" -ge 18
  s=$(stream a $((8 << 20))) && ok "server mode: 8 MiB TCP stream intact: $s" || fail "server mode: TCP stream: $s"
  check "ethtool -L eth0 combined 4 in the guest" gsh a 30 'ethtool -L eth0 combined 4'
  for i in 1 2 3 4; do stream a $((2 << 20)) >/dev/null || fail "stream $i after ethtool -L"; done
  qs=$(gsh a 10 'ethtool -S eth0' | tr -d ' ' | grep -E '^(rx|tx)_queue_[0-9]+_packets:')
  used() { grep -E "^$1_queue_[0-9]+_packets:" <<<"$qs" | awk -F: '$2 > 20' | wc -l; }
  echo "   queues: $(tr '\n' ' ' <<<"$qs")"
  check "traffic on >= 2 queues each way (more than 20 packets: rx on $(used rx), tx on $(used tx))" test "$(used rx)" -ge 2 -a "$(used tx)" -ge 2

  # Lifecycle through libvirt.
  t=$SECONDS
  on a virsh -q destroy vm >/dev/null || fail "virsh destroy"
  wait_for 30 "the relay sees the VM go" disconnected a "$sock"
  on a timeout 120 virsh -q start vm >/dev/null || fail "virsh start after destroy"
  wait_for 180 "guest back after destroy + start" guest_up a
  wait_for 60 "relay reconnected after destroy + start" connected a "$sock"
  p=$(pings a 10)
  check "virsh destroy + start: the relay takes the new QEMU ($((SECONDS - t)) s): pings $p" test "${p%%/*}" -ge 9
  reboot_domain a
  shutdown_domain a
  on a vio4wd-portctl remove_sock --vhost-path="$sock" || fail "remove_sock"
  poweroff_host a
fi

# ------------------------------------------- 2. client mode (the default), memfd, legacy
if [[ " $phases " == *" 2 "* ]]; then
  boot a
  configure a client
  dir=/tmp/virtio-forwarder
  check "VIRTIOFWD_SOCKET_DIR as the service made it, for QEMU to create sockets in: $(on a stat -c '%U:%G %a' $dir)" \
    test "$(on a stat -c '%U:%G %a' $dir)" = "root:kvm 2770"
  sock=$dir/virtio-forwarder1.sock
  c=$(on a date +%s)
  check "host a: vio4wd-portctl add --virtio-id=1 --pci-addr=0000:ff:00.1 (relay in client mode: it waits for the VM)" \
    on a vio4wd-portctl add --virtio-id=1 --pci-addr=0000:ff:00.1
  start_domain a client-memfd-legacy.xml "$sock"
  check "the socket QEMU made (libvirt-qemu, setgid directory): $(on a stat -c '%U:%G %a' "$sock")" \
    test "$(on a stat -c '%U:%G' "$sock")" = "libvirt-qemu:kvm"
  wait_for 60 "relay of $sock connected" connected a "$sock"
  j=$(on a journalctl --no-pager -q -o cat --since="@$c" -u virtio-forwarder)
  check "the journal says, once, at info, what the relay waits for: $(grep -m1 'waiting for the VM' <<<"$j")" \
    test "$(on a journalctl --no-pager -q -o cat -p info --since="@$c" -u virtio-forwarder | grep -c "waiting for the VM: no socket at $sock yet")" = 1
  check "... and no descriptor path, no 'failed to connect' ($(grep -c . <<<"$j") lines)" bash -c '! grep -Eq "/proc/self/fd|failed to connect" <<<"$1"' _ "$j"
  echo "   $(grep -m1 "answered after" <<<"$j" || true)"
  feat=$(gsh a 10 'cat /sys/bus/virtio/devices/*/features' | head -n 1)
  check "legacy virtio (feature bit 32 VERSION_1 not negotiated: ${feat:32:1})" test "${feat:32:1}" = 0
  p=$(pings a 20)
  check "client mode: pings answered $p" test "${p%%/*}" -ge 18
  s=$(stream a $((8 << 20))) && ok "client mode: 8 MiB TCP stream intact: $s" || fail "client mode: TCP stream: $s"
  # systemctl restart virtio-forwarder with the VM running: the relay
  # connects to QEMU's socket again by itself.
  gsh a 10 "ping -i 0.01 -c 2000 -W 1 $net.1 > /tmp/ping.log 2>&1 & echo started" >/dev/null
  sleep 3
  t=$SECONDS
  check "systemctl restart virtio-forwarder with the domain running" on a systemctl restart virtio-forwarder
  wait_for 60 "relay connected again after the restart" connected a "$sock"
  echo "   restart -> connected: $((SECONDS - t)) s"
  gsh a 120 wait >/dev/null
  r=$(gsh a 10 'cat /tmp/ping.log' | ping_summary)
  check "systemctl restart under a 10 ms ping: $r" bash -c '[[ $1 =~ received\ ([0-9]+).*longest\ gap\ ([0-9]+)\ ms ]] && [ "${BASH_REMATCH[1]}" -ge 1000 ] && [ "${BASH_REMATCH[2]}" -le 20000 ]' _ "$r"
  p=$(pings a 10)
  check "pings after the restart: $p" test "${p%%/*}" -ge 9
  shutdown_domain a
  poweroff_host a
fi

# ------------------------------------------------ 3. and 4. live migration
# libvirt's TCP transport, as for two hosts on a trusted management
# network (auth_tcp none; a distinct host UUID each).
tcp_transport() {
  local h=$1 r=$work/$1
  printf 'auth_tcp = "none"\nhost_uuid = "%s"\n' "$(cat /proc/sys/kernel/random/uuid)" >> "$r/etc/libvirt/libvirtd.conf"
  # (Socket-activated: the sockets stop with the service, and the TCP one joins them.)
  local socks="libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket"
  on "$h" systemctl stop libvirtd.service $socks
  on "$h" systemctl start $socks libvirtd-tcp.socket libvirtd.service || fail "host $h: libvirtd with libvirtd-tcp.socket"
}
# migrate FROM TO [ARGS]: virsh migrate --live under a 10 ms ping from the
# guest and a TCP stream into it; prints what was seen; fails unless the
# stream arrived intact and pings flow on TO.
migrate() {
  local from=$1 to=$2 t s r
  shift 2
  local addr=$mig.1
  [ "$to" = b ] && addr=$mig.2
  head -c $((16 << 20)) /dev/urandom > "$work/stream.bin"
  s="$((16 << 20)) $(sha256sum < "$work/stream.bin" | cut -d' ' -f1)"
  gsh "$from" 30 "rm -f /tmp/rx; printf '#!/bin/sh\\nexec cat > /tmp/rx\\n' > /tmp/recv; chmod +x /tmp/recv; nc -l -p 5001 -e /tmp/recv < /dev/null & ping -i 0.01 -c 3000 -W 1 $net.1 > /tmp/ping.log 2>&1 & echo started" >/dev/null
  # The stream paced over ~20 s, so that it is under way while the guest moves.
  send_stream 0.3 > "$work/sender.log" 2>&1 &
  local sender=$!
  sleep 4
  t=$(date +%s.%N)
  on "$from" timeout 300 virsh -q migrate --live --persistent --undefinesource "$@" vm "qemu+tcp://$tag$to/system" --migrateuri "tcp://$addr" \
    || fail "virsh migrate $from -> $to $*"
  MIGRATE_S=$(python3 -c "import time; print('%.1f' % (time.time() - $t))")
  wait "$sender" || fail "the stream's sender: $(cat "$work/sender.log")"
  gsh "$to" 240 wait >/dev/null || fail "host $to: the guest's ping and nc did not end"
  r=$(gsh "$to" 10 'cat /tmp/ping.log' | ping_summary)
  MIGRATE_PINGS=$r
  MIGRATE_STREAM=$(gsh "$to" 60 'echo "$(wc -c < /tmp/rx) $(sha256sum /tmp/rx | cut -d" " -f1)"')
  echo "   migrate $from -> $to: $MIGRATE_S s; 10 ms ping: $r; stream sent $s, received $MIGRATE_STREAM"
  [ "$MIGRATE_STREAM" = "$s" ] || fail "migrate $from -> $to: the stream arrived changed or short"
  [ "$(on "$from" virsh list --all --name | grep -c '^vm$')" = 0 ] || fail "migrate $from -> $to: vm still defined on $from (--undefinesource)"
  [ "$(on "$to" virsh domstate vm)" = running ] || fail "migrate $from -> $to: vm not running on $to"
}
# lost_ok: at most 5 pings lost (goal 0), from MIGRATE_PINGS.
lost() { [[ $MIGRATE_PINGS =~ sent\ ([0-9]+),\ received\ ([0-9]+) ]] && echo $(( BASH_REMATCH[1] - BASH_REMATCH[2] )); }

if [[ " $phases " == *" 3 "* || " $phases " == *" 4 "* ]]; then
  boot a
  boot b
  migration_link
  for h in a b; do configure "$h" server; tcp_transport "$h"; done
  on a vio4wd-portctl add --virtio-id=1 --pci-addr=0000:ff:00.1 || fail "host a: add --virtio-id=1"
  on b vio4wd-portctl add --virtio-id=13 --pci-addr=0000:ff:00.1 || fail "host b: add --virtio-id=13"
  on a ln -s /tmp/virtio-forwarder/virtio-forwarder1.sock /tmp/vm_abc.sock
  on b ln -s /tmp/virtio-forwarder/virtio-forwarder13.sock /tmp/vm_abc.sock
  ok "both hosts: a relay; /tmp/vm_abc.sock -> $(on a readlink /tmp/vm_abc.sock) on a, -> $(on b readlink /tmp/vm_abc.sock) on b"
  start_domain a migrate.xml /tmp/vm_abc.sock
  wait_for 60 "host a: relay 1 connected" connected a /tmp/virtio-forwarder/virtio-forwarder1.sock
  p=$(pings a 10)
  check "host a: pings before migrating $p" test "${p%%/*}" -ge 9
fi
if [[ " $phases " == *" 3 "* ]]; then
  migrate a b
  check "virsh migrate --live a -> b: $MIGRATE_S s, pings lost $(lost) (at most 5), the stream intact" test "$(lost)" -le 5
  wait_for 30 "host b: relay 13 connected" connected b /tmp/virtio-forwarder/virtio-forwarder13.sock
  before_a=$(relay_pkts a /tmp/virtio-forwarder/virtio-forwarder1.sock); before_b=$(relay_pkts b /tmp/virtio-forwarder/virtio-forwarder13.sock)
  p=$(pings b 10)
  after_a=$(relay_pkts a /tmp/virtio-forwarder/virtio-forwarder1.sock); after_b=$(relay_pkts b /tmp/virtio-forwarder/virtio-forwarder13.sock)
  check "after: 10 pings ($p) crossed b's relay ($before_b -> $after_b), not a's ($before_a -> $after_a)" \
    test "${p%%/*}" -ge 9 -a "$after_a" = "$before_a" -a "${after_b% *}" -ge $(( ${before_b% *} + 9 ))
  check "host a's relay waits for a VM again (not connected)" disconnected a /tmp/virtio-forwarder/virtio-forwarder1.sock
  migrate b a
  check "virsh migrate --live b -> a: $MIGRATE_S s, pings lost $(lost) (at most 5), the stream intact" test "$(lost)" -le 5
  wait_for 30 "host a: relay 1 connected again" connected a /tmp/virtio-forwarder/virtio-forwarder1.sock
fi
if [[ " $phases " == *" 4 "* ]]; then
  # B without vio4wd: the service stopped, B's link to the peer on the
  # bridge of a libvirt network.
  on b systemctl stop virtio-forwarder
  cp "$here/libvirt/migrate-network.xml" "$work/b/root/"
  # (Containers only: nspawn leaves /proc/sys read-only, and starting a
  # network writes the bridge's /proc/sys/net/ipv6 settings. Per network
  # namespace, so the container's own.)
  nsenter -t "${LEADER[b]}" -m -- sh -c 'mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net' \
    || fail "host b: /proc/sys/net writable"
  on b virsh -q net-define /root/migrate-network.xml >/dev/null && on b virsh -q net-start migrate >/dev/null || fail "host b: the libvirt network 'migrate'"
  on b ip link set "${tag}vb" master migratebr0
  # The guide's --xml: the domain's XML with its vhostuser interface turned into one on the network.
  on a virsh dumpxml --migratable vm > "$work/a.xml"
  # (virsh reads --xml where it runs: on the source.)
  python3 "$here/libvirt/to-network.py" migrate < "$work/a.xml" > "$work/a/root/to-b.xml"
  migrate a b --xml /root/to-b.xml
  check "virsh migrate --live --xml (vhostuser -> bridged) a -> b: $MIGRATE_S s, pings lost $(lost) (at most 5), the stream intact" test "$(lost)" -le 5
  check "on b the interface is on the network's bridge: $(on b virsh domiflist vm | awk 'NR > 2 && NF { print $2, $3 }')" \
    bash -c '[[ $1 == *"network migrate"* ]]' _ "$(on b virsh domiflist vm | awk 'NR > 2 && NF { print $2, $3 }')"
  # And back, with the vhostuser interface again.
  on b virsh dumpxml --migratable vm > "$work/b.xml"
  python3 "$here/libvirt/to-vhostuser.py" /tmp/vm_abc.sock < "$work/b.xml" > "$work/b/root/to-a.xml"
  migrate b a --xml /root/to-a.xml
  check "virsh migrate --live --xml (bridged -> vhostuser) b -> a: $MIGRATE_S s, pings lost $(lost) (at most 5), the stream intact" test "$(lost)" -le 5
  wait_for 30 "host a: relay 1 connected again" connected a /tmp/virtio-forwarder/virtio-forwarder1.sock
fi
if [[ " $phases " == *" 3 "* || " $phases " == *" 4 "* ]]; then
  shutdown_domain a
  poweroff_host a
  poweroff_host b
fi

echo "libvirt: $passed passed, $failed failed (whole run $SECONDS s)"
[ "$failed" -eq 0 ]
