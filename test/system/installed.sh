#!/usr/bin/env bash
# The Debian package as an operator runs it, under a real systemd: a Debian
# 12 root file system (mmdebstrap, cached; test/system/lib.sh) booted by
# systemd-nspawn, the .deb installed with apt (its Depends from Debian,
# Node.js 18 among them; without Recommends, which apt's own Recommends would
# keep after the purge), /etc/default/virtioforwarder edited, both shipped
# units started with systemctl. VMs are dpdk-testpmd virtio_user processes on
# this host, on sockets in a directory bound into the container; VFs are
# net_null aliases (the shipped unit as it is) and af_packet on a veth pair
# (with the drop-in docs/security.md gives operators for such devices).
#
#   bash test/system/installed.sh VIO4WD.deb VIO4WD-HIGHER-VERSION.deb
#
# VIO4WD_SYSTEM_KEEP=1 leaves the container running after a failure.
#
# Shows, in order: both services running under their sandbox (credentials,
# Status=, security scores as systemd rates the loaded units); relays plugged
# through the original's entry point and vio4wd-portctl, traffic counted, the
# scheduler rebalancing skewed relays, the pinner and load monitor; no
# warning in the journal after a clean start, plug and stop, a warning for a
# refused request, err for a dataplane crash; configuration errors not
# restarted; kill -9 of either service, a restart and a stop as systemd
# handles them, pings through a client-mode relay counted; an upgrade to the
# higher version under pings; a purge that leaves nothing behind.
# Ends with "system: N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/system/lib.sh
. "$here/lib.sh"

deb=$(realpath "$1")
deb_new=$(realpath "$2")
[ -f "$deb" ] && [ -f "$deb_new" ] || { echo "usage: $0 OLD.deb NEW.deb" >&2; exit 2; }
version_new=$(dpkg-deb -f "$deb_new" Version)
version_old=$(dpkg-deb -f "$deb" Version)

id=$(( $$ % 100000 ))
tag=v4s$id                      # netns, veth and DPDK prefixes: unique on this host
name=vio4wd-sys-$id
subnet=10.253.$(( $$ % 250 ))
work=$(mktemp -d /tmp/v4sys-XXXX)
root=$work/root
vhost=$work/vhost               # the container's /var/lib/vhost_sockets
sockdir=$work/sockdir           # the container's /tmp/virtio-forwarder (VIRTIOFWD_SOCKET_DIR)
log=$work/log
mkdir -p "$vhost" "$sockdir" "$log"

passed=0
failed=0
pids=()
cleanup() {
  local p
  if [ "${VIO4WD_SYSTEM_KEEP:-}" = 1 ] && [ "$failed" -gt 0 ]; then
    echo "kept for a look (VIO4WD_SYSTEM_KEEP=1): nsenter -t $CT_LEADER -a; work $work; nspawn pid $CT_NSPAWN" >&2
    return
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ct_poweroff
  ip netns del "$tag" 2>/dev/null || true
  ip link del "${tag}v" 2>/dev/null || true
  umount "$work/huge" 2>/dev/null || true
  rm -rf /var/run/dpdk/"$tag"-* "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() {
  failed=$((failed + 1))
  echo "not ok - $*" >&2
  if [ -n "$CT_LEADER" ]; then
    echo "--- journal of both units (last 80 lines)" >&2
    ct journalctl --no-pager -o short-monotonic -u virtio-forwarder -u vio4wd_core_scheduler -n 80 >&2 || true
    ct systemctl --no-pager status virtio-forwarder vio4wd_core_scheduler >&2 || true
  fi
  for f in "$log"/*; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  echo "system: $passed passed, $failed failed"
  exit 1
}
# check DESC CMD...: CMD must succeed.
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# wait_for SECONDS DESC CMD...: CMD succeeds within SECONDS.
wait_for() {
  local t=$1 d=$2 end=$((SECONDS + $1))
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || fail "$d (not within $t s)"
    sleep 0.5
  done
  ok "$d"
}

# --- what an operator does and reads
cfgset() { # VAR VALUE: the line VAR=..., replaced or appended
  ct sed -i -e "/^$1=/d" /etc/default/virtioforwarder
  printf '%s=%s\n' "$1" "$2" | ct tee -a /etc/default/virtioforwarder >/dev/null
}
prop() { ct systemctl show -p "$2" --value "$1"; }
running() { [ "$(prop "$1" ActiveState)/$(prop "$1" SubState)" = active/running ]; }
inactive() { [ "$(prop "$1" ActiveState)" = inactive ]; }
# mark: a point in the journal (the container shares this host's clock): the
# second now, and what follows comes in later seconds.
mark() { date +%s; sleep 1; }
# journal SINCE-MARK [ARGS]: both units' lines since the mark, as text.
# has PATTERN: the input holds a line matching it (reads it all: no SIGPIPE under pipefail, as grep -q gives)
has() { grep -c -- "$1" >/dev/null; }
journal() { local c=$1; shift; ct journalctl --no-pager -q -o cat --since="@$c" -u virtio-forwarder -u vio4wd_core_scheduler "$@"; }
stats_json() { ct vio4wd-stats --json --delay=300; }
# relay_field VHOST-PATH EXPR: a Python expression over relay r of that socket, from vio4wd-stats --json.
relay_field() {
  stats_json | python3 -c '
import json, sys
path, expr = sys.argv[1], sys.argv[2]
rs = [r for r in json.load(sys.stdin)["relay"] if r["vhost"]["vhost_socket_name"] == path]
print(eval(expr, {"r": rs[0]}) if rs else "none")' "$1" "$2"
}
connected() { [ "$(relay_field "$1" 'r["vf_to_vm"]["internal_state"]')" = connected ]; }
cgroup_procs() { # UNIT: the PIDs in the unit's cgroup (the systemd hierarchy of this hybrid host)
  local cg
  cg=$(prop "$1" ControlGroup)
  [ -n "$cg" ] || return 0
  ct sh -c "cat /sys/fs/cgroup/systemd$cg/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/unified$cg/cgroup.procs 2>/dev/null" | sort -n | tr '\n' ' '
}
dataplane_pid() { ct pgrep -f '^/usr/libexec/vio4wd/vio4wd-dataplane' | head -n 1; }
status_line() { ct systemctl --no-pager status "$1" | sed -n 's/^ *Status: //p'; }

# --- VMs and VFs
vm() { # NAME SOCKET MODE [SOCKET2]: a testpmd virtio_user VM listening on its socket(s) (the relay in client mode connects)
  local n=$1 s=$2 mode=$3 s2=${4:-}
  local vdevs=(--vdev "net_virtio_user0,path=$s,server=1,queues=1")
  [ -n "$s2" ] && vdevs+=(--vdev "net_virtio_user1,path=$s2,server=1,queues=1")
  stdbuf -oL dpdk-testpmd --no-huge -m 256 --lcores '(0,1)@0' --no-pci --file-prefix "$tag-$n" "${vdevs[@]}" -- \
    --total-num-mbufs=4096 --forward-mode="$mode" --auto-start --stats-period=3600 >"$log/vm-$n" 2>&1 </dev/null &
  pids+=($!)
  eval "vm_$n=$!"
}
stop_vm() { local p; p=$(eval echo "\$vm_$1"); kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; rm -rf "/var/run/dpdk/$tag-$1"; }
pinger=
ping_start() { # a ping every 10 ms from the VF's peer to the VM (testpmd icmpecho answers any address)
  ip netns exec "$tag" ping -i 0.01 -W 1 "$subnet.2" >"$log/ping" 2>&1 &
  pinger=$!
  pids+=("$pinger")
}
ping_received() { grep -c 'bytes from' "$log/ping" || true; }
replying() { local n; n=$(ping_received); sleep 0.5; [ "$(ping_received)" -gt "$n" ]; }
ping_stop() { # -> "sent lost" (ping's own summary; without one, from its replies and its last sequence number)
  # A pinger that ended by itself is said, not a silent exit of this script (set -e in a
  # process substitution: CI once stopped here without a word).
  kill -INT "$pinger" 2>/dev/null || echo "   (the pinger $pinger had already ended: $(tail -n 2 "$log/ping" | tr '\n' ' '))" >&2
  wait "$pinger" 2>/dev/null || true
  local sum
  sum=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$log/ping")
  if [ -z "$sum" ]; then
    sum="$(grep -o 'icmp_seq=[0-9]*' "$log/ping" | tail -n 1 | cut -d= -f2) $(ping_received)"
  fi
  echo "$sum" | { read -r s r; echo "${s:-0} $(( ${s:-0} - ${r:-0} ))"; }
}

echo "== system: $(basename "$deb") -> $(basename "$deb_new"), in a systemd-nspawn container ($name)"
apt_ensure_host() { . "$here/../../deploy/apt-ensure.sh"; apt_ensure systemd-container mmdebstrap dpdk iproute2 iputils-ping python3; }
apt_ensure_host
cache=$(rootfs_cached)
cp -a "$cache" "$root"
rm -f "$root/.complete"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/root/debs"
cp "$deb" "$deb_new" "$root/root/debs/"

# 2M pages of its own: a hugetlbfs instance for this container, at the
# default VIRTIOFWD_HUGETLBFS_MOUNT_POINT.
free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
if [ "$free" -lt 256 ]; then
  total=$(cat /proc/sys/vm/nr_hugepages)
  echo $((total + 256 - free)) > /proc/sys/vm/nr_hugepages
fi
mkdir -p "$work/huge"
mount -t hugetlbfs -o pagesize=2M nodev "$work/huge"

# The VF stand-in's kernel side: a veth pair, the peer end in a netns of its own.
ip netns add "$tag"
ip link add "${tag}v" type veth peer name peer0 netns "$tag"
ip link set "${tag}v" up
ip -n "$tag" addr add "$subnet.1/24" dev peer0
ip -n "$tag" link set peer0 up

# The host network (no --private-network: apt reaches Debian), with the
# capabilities a host's root has that nspawn keeps by default from its
# containers (IPC_LOCK: the forwarder's bounding set; NET_ADMIN: af_packet).
ct_boot "$name" "$root" --bind="$work/huge:/mnt/huge" --bind="$vhost:/var/lib/vhost_sockets" \
  --bind="$sockdir:/tmp/virtio-forwarder" \
  --capability=CAP_IPC_LOCK,CAP_NET_ADMIN
ok "container booted: systemd $(ct systemctl --version | head -n 1 | cut -d' ' -f2), $(ct systemctl is-system-running || true)"

snapshot() { # the container's files, minus what systemd, apt and the journal change by themselves
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp/systemd-private-\* -o -path ./var/tmp/systemd-private-\* \
      -o -path ./var/log -o -path ./var/cache/apt -o -path ./var/lib/apt -o -path ./var/lib/systemd -o -path ./root/debs \
      -o -path ./var/cache/debconf -o -path ./var/cache/ldconfig \) -prune -o -print) \
    | grep -Ev '^\./var/lib/dpkg/(status|status-old|available|lock|lock-frontend|triggers|updates|diversions|statoverride|cmethopt|parts)|^\./etc/ld\.so\.cache$' \
    | LC_ALL=C sort
}
snapshot > "$work/before"

# ---------------------------------------------------------------- install
ct apt-get update -qq
ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "/root/debs/$(basename "$deb")" >"$log/apt-install" 2>&1 ||
  fail "apt install ./$(basename "$deb")"
ok "apt install ./$(basename "$deb"): $(grep -Eo '[0-9]+ newly installed' "$log/apt-install"), node $(ct node --version)"
check "the package made the kvm group (the scheduler's SupplementaryGroups=): $(ct getent group kvm)" ct getent group kvm
kvm_gid=$(ct getent group kvm | cut -d: -f3)

# The operator's edits: CPUs (three worker lcores sharing CPU 1, so that
# relays can be skewed onto one), dynamic sockets, VF aliases, the scheduler
# on, polling every second; the VMs run as root here (no libvirt).
cfgset VIRTIOFWD_CPU_MASK 1,2,3
cfgset VIO4WD_WORKER_CPUS 1
cfgset VIRTIOFWD_CPU_PINS '(0:1 1:1)'
cfgset VIRTIOFWD_DYNAMIC_SOCKETS true
cfgset VIRTIOFWD_SOCKET_OWNER root
cfgset VIRTIOFWD_DEVICE_ALIASES "(0000:ff:00.1=net_null0 0000:ff:00.2=net_null1 0000:ff:00.3=net_af_packet0,iface=${tag}v)"
cfgset VIO4WD_CORE_SCHED_ENABLE true
cfgset VIO4WD_CORE_SCHED_POLL_INTERVAL 1
cfgset VIO4WD_CORE_SCHED_SUSTAIN 2
cfgset VIO4WD_CORE_SCHED_LOAD_THRESHOLD 0.1
# The metrics endpoints on free ports: the container has the host's network,
# where an installed vio4wd may hold the default ones (19721, 19722).
read -r mport sport < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
cfgset VIO4WD_METRICS_EP "http://127.0.0.1:$mport/metrics"
cfgset VIO4WD_CORE_SCHED_METRICS_EP "http://127.0.0.1:$sport/metrics"
ct cat /etc/default/virtioforwarder | md5sum > "$work/config.md5"

# ------------------------------------------- 1. both running, as the units say
for u in virtio-forwarder:4.0 vio4wd_core_scheduler:2.0; do
  limit=${u#*:}
  u=${u%:*}
  score=$(ct systemd-analyze security "$u.service" --no-pager | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  check "systemd-analyze security $u.service (the loaded unit): $score (at most $limit)" python3 -c "import sys; sys.exit(not float('$score') <= $limit)"
done

c0=$(mark)
started=$SECONDS
ct systemctl start virtio-forwarder vio4wd_core_scheduler || fail "systemctl start virtio-forwarder vio4wd_core_scheduler"
ok "systemctl start virtio-forwarder vio4wd_core_scheduler returned in $((SECONDS - started)) s"

fwd_main=$(prop virtio-forwarder MainPID)
dp=$(dataplane_pid)
creds() { ct grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):' "/proc/$1/status" | tr -s '\t ' ' ' | tr '\n' ' '; }
for p in "$fwd_main" "$dp"; do
  c=$(creds "$p")
  # CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_IPC_LOCK
  check "pid $p ($(ct cat /proc/"$p"/comm)): root, capabilities chown dac_override ipc_lock only, no_new_privs [$c]" \
    grep -Eq '^Uid: 0 0 0 0 .*CapEff: 0000000000004003 CapBnd: 0000000000004003 NoNewPrivs: 1 $' <<<"$c"
done
sched_main=$(prop vio4wd_core_scheduler MainPID)
c=$(creds "$sched_main")
check "scheduler pid $sched_main: a dynamic user in group kvm ($kvm_gid), no capabilities, no_new_privs [$c]" \
  python3 -c '
import re, sys
c, kvm = sys.argv[1], sys.argv[2]
uid = int(re.search(r"Uid: (\d+)", c).group(1))
groups = re.search(r"Groups: ([\d ]*?) CapEff", c).group(1).split()
ok = 61184 <= uid <= 65519 and kvm in groups and "CapEff: 0000000000000000 CapBnd: 0000000000000000 NoNewPrivs: 1" in c
sys.exit(not ok)' "$c" "$kvm_gid"
check "virtio-forwarder Status=\"$(status_line virtio-forwarder)\"" grep -q 'relay(s), vhost-user client mode' <<<"$(status_line virtio-forwarder)"
check "vio4wd_core_scheduler Status=\"$(status_line vio4wd_core_scheduler)\"" test "$(status_line vio4wd_core_scheduler)" = '"polling"'

# ------------------------------------------------------------- 2. traffic
# One VM with two ports (io forwarding between them), listening on a socket
# in VIO4WD_VHOST_SOCKET_DIRS and on virtio id 1's in VIRTIOFWD_SOCKET_DIR.
vm a "$vhost/vm1.sock" io "$sockdir/virtio-forwarder1.sock"
wait_for 30 "VM a listens on /var/lib/vhost_sockets/vm1.sock" test -S "$vhost/vm1.sock"
pc=/usr/lib64/virtio-forwarder/virtioforwarder_port_control.py
check "$pc add_sock --vhost-path=/var/lib/vhost_sockets/vm1.sock --pci-addr=0000:ff:00.1: exit 0" \
  ct "$pc" add_sock --vhost-path=/var/lib/vhost_sockets/vm1.sock --pci-addr=0000:ff:00.1
wait_for 30 "relay of vm1.sock connected" connected /var/lib/vhost_sockets/vm1.sock
wait_for 30 "VM a listens on /tmp/virtio-forwarder/virtio-forwarder1.sock" test -S "$sockdir/virtio-forwarder1.sock"
check "vio4wd-portctl add --virtio-id=1 --pci-addr=0000:ff:00.2: exit 0" ct vio4wd-portctl add --virtio-id=1 --pci-addr=0000:ff:00.2
wait_for 30 "relay of virtio id 1 connected" connected /tmp/virtio-forwarder/virtio-forwarder1.sock
stats_json > "$work/stats.json"
check "vio4wd-stats: both relays forward both ways: $(python3 -c '
import json, sys
print("; ".join("relay %d %s: VF->VM %d pkts to the VM, VM->VF %d pkts to the VF" % (r["id"], r["vhost"]["vhost_socket_name"], r["vf_to_vm"]["pkts_tx_to_vm"], r["vm_to_vf"]["pkts_tx_to_vf"]) for r in json.load(open(sys.argv[1]))["relay"]))' "$work/stats.json")" \
  python3 -c '
import json, sys
rs = json.load(open(sys.argv[1]))["relay"]
sys.exit(not (len(rs) == 2 and all(r["vf_to_vm"]["pkts_tx_to_vm"] > 0 and r["vm_to_vf"]["pkts_tx_to_vf"] > 0 for r in rs)))' "$work/stats.json"
out=$(ct /usr/lib/virtio-forwarder/virtioforwarder_stats.py --delay 100)
check "virtioforwarder_stats.py: the original's flat lines ($(wc -l <<<"$out") lines)" grep -Eq '^relay_0\.vf_to_vm\.cpu_[0-9]+\.pkt_rate_rx_from_vf=[0-9]' <<<"$out"

# The metrics, scraped from outside the container, as Prometheus would: both
# relays forwarding, and what promtool (Debian's prometheus) finds in it.
scrape() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; }
metrics=$(scrape "http://127.0.0.1:$mport/metrics") || fail "scrape of virtio-forwarder's metrics on port $mport"
check "virtio-forwarder's metrics (port $mport): $(grep -c '^vio4wd_relay_received_packets_total' <<<"$metrics") relay direction series, each counting: $(grep '^vio4wd_relay_sent_packets_total' <<<"$metrics" | sed 's/{.*relay="\([0-9]*\)".*direction="\([a-z_]*\)".*} / \1 \2=/' | tr '\n' ' ')" \
  python3 -c '
import re, sys
rows = [l for l in sys.argv[1].splitlines() if l.startswith("vio4wd_relay_sent_packets_total{")]
sys.exit(not (len(rows) == 4 and all(float(l.rsplit(" ", 1)[1]) > 0 for l in rows)))' "$metrics"
promtool=$(bash "$here/../../deploy/prometheus-tools.sh")/usr/bin/promtool
check "promtool check metrics: clean" test -z "$("$promtool" check metrics <<<"$metrics" 2>&1)"
check "the shipped alert rules (/usr/share/vio4wd/prometheus/vio4wd.rules.yml): promtool check rules" "$promtool" check rules "$root/usr/share/vio4wd/prometheus/vio4wd.rules.yml"

polling() { journal "$c0" -u vio4wd_core_scheduler | has 'balancing worker CPUs 1,2,3 of'; }
wait_for 30 "the scheduler polls the forwarder (its journal: balancing worker CPUs 1,2,3)" polling
placement() { stats_json | python3 -c 'import json,sys; print(" ".join("%d:%s,%s" % (r["id"], r["cpu"]["vf_to_vm"], r["cpu"]["vm_to_vf"]) for r in json.load(sys.stdin)["relay"]))'; }
before_move=$(placement)
spread() { [ "$(placement | tr ' ,' '\n\n' | cut -d: -f2 | grep -v '^$' | sort -u | wc -l)" -ge 2 ]; }
moves() { journal "$c0" -u vio4wd_core_scheduler | grep 'moving relay' || true; }
moved() { [ -n "$(moves)" ]; }
wait_for 90 "the scheduler rebalances relays pinned onto one worker ($before_move)" moved
wait_for 30 "relay directions spread over workers: $(placement)" spread
echo "   $(moves | head -n 3 | sed 's/^/   /')"
smetrics=$(scrape "http://127.0.0.1:$sport/metrics") || fail "scrape of vio4wd_core_scheduler's metrics on port $sport (IPAddressAllow=localhost)"
check "vio4wd_core_scheduler's metrics (port $sport, through its IPAddressDeny=any IPAddressAllow=localhost): $(grep -E '^vio4wd_core_sched_(polls|moves)_total|^vio4wd_core_sched_forwarder_reachable' <<<"$smetrics" | tr '\n' ' ')" \
  python3 -c '
import sys
v = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in sys.argv[1].splitlines() if l and not l.startswith("#")}
sys.exit(not (v.get("vio4wd_core_sched_polls_total{result=\"ok\"}", 0) > 0 and v.get("vio4wd_core_sched_moves_total{result=\"applied\"}", 0) > 0
  and v.get("vio4wd_core_sched_forwarder_reachable") == 1))' "$smetrics"
pin=$(ct vio4wd-pinner)
check "vio4wd-pinner reads the map: $(tr '\n' ';' <<<"$pin")" grep -q '^CPU [123]: ' <<<"$pin"
load=$(ct vio4wd-load --once --interval 0.5)
check "vio4wd-load --once: $(grep -c '^CPU' <<<"$load") worker CPU bars" grep -Eq '^CPU +[123] \[[#.]+\] +[0-9]+%' <<<"$load"
check "virtioforwarder_core_pinner.py --print-core-map" ct /usr/lib/virtio-forwarder/virtioforwarder_core_pinner.py --print-core-map

# ------------------------------------------- 3. the journal of a clean run
check "the original's remove_sock: exit 0" ct "$pc" remove_sock --vhost-path=/var/lib/vhost_sockets/vm1.sock --pci-addr=0000:ff:00.1
check "vio4wd-portctl remove --virtio-id=1: exit 0" ct vio4wd-portctl remove --virtio-id=1
ct systemctl stop virtio-forwarder || fail "systemctl stop virtio-forwarder"
both_inactive() { inactive virtio-forwarder && inactive vio4wd_core_scheduler; }
check "systemctl stop virtio-forwarder: both inactive (the scheduler is PartOf= it)" both_inactive
stop_vm a
# systemd in this container (nspawn on a host with hybrid cgroups, read-only
# inside) sometimes cannot use cgroup.kill when a unit stops and says so at
# warning, about our units: the only lines left out, and counted.
NSPAWN_CGROUP_KILL='^[a-z0-9_-]+\.service: Failed to kill control group /system\.slice/[a-z0-9_-]+\.service, ignoring: Input/output error$'
all_warn=$(journal "$c0" -p warning)
warn=$(grep -Ev "$NSPAWN_CGROUP_KILL" <<<"$all_warn" || true)
check "journalctl -p warning -u virtio-forwarder -u vio4wd_core_scheduler: empty after a clean start, plugs, traffic, a rebalance, removals and a stop ($(journal "$c0" | wc -l) lines in all; $(grep -Ec "$NSPAWN_CGROUP_KILL" <<<"$all_warn" || true) of systemd's cgroup.kill in nspawn left out) ${warn:+[$warn]}" test -z "$warn"

# A refused request: warning. A dataplane crash: err or worse.
c1=$(mark)
ct systemctl start virtio-forwarder vio4wd_core_scheduler || fail "systemctl start (again)"
rc=0; ct vio4wd-portctl add_sock --vhost-path=/etc/x.sock --pci-addr=0000:ff:00.1 2>/dev/null || rc=$?
check "add_sock of a socket outside the allowed directories: refused, exit $rc" test "$rc" = 1
refused() { journal "$c1" -p warning -u virtio-forwarder | has 'x.sock'; }
wait_for 10 "the refusal is in the journal at warning" refused
echo "   $(journal "$c1" -p warning -u virtio-forwarder | grep -m1 'x.sock')"
old_dp=$(dataplane_pid)
ct kill -9 "$old_dp"
crashed() { journal "$c1" -p err -u virtio-forwarder | has 'dataplane'; }
wait_for 20 "a dataplane crash (kill -9) is in the journal at err or worse" crashed
echo "   $(journal "$c1" -p err -u virtio-forwarder | grep -m1 dataplane)"
new_dp() { local p; p=$(dataplane_pid); [ -n "$p" ] && [ "$p" != "$old_dp" ]; }
wait_for 30 "the supervisor started a new dataplane" new_dp
check "virtio-forwarder NRestarts=0 after the dataplane crash" test "$(prop virtio-forwarder NRestarts)" = 0
ct systemctl stop virtio-forwarder

# ------------------------------- configuration errors are not retried
ct cp /etc/default/virtioforwarder /root/virtioforwarder.good
cfgset VIO4WD_WORKER_CPUS 7
c2=$(mark)
ct systemctl start virtio-forwarder 2>/dev/null && fail "virtio-forwarder started with VIO4WD_WORKER_CPUS=7 on a 2-CPU host"
sleep 8
check "a CPU the host lacks: virtio-forwarder failed once, exit $(prop virtio-forwarder ExecMainStatus), NRestarts=$(prop virtio-forwarder NRestarts), $(prop virtio-forwarder ActiveState)" \
  test "$(prop virtio-forwarder ExecMainStatus)/$(prop virtio-forwarder NRestarts)/$(prop virtio-forwarder ActiveState)" = 78/0/failed
check "... its journal names the variable, once: $(journal "$c2" -p err -u virtio-forwarder | grep -m1 VIO4WD_WORKER_CPUS || true)" \
  test "$(journal "$c2" -p err -u virtio-forwarder | grep -c VIO4WD_WORKER_CPUS)" = 1
ct cp /root/virtioforwarder.good /etc/default/virtioforwarder
cfgset VIRTIOFWD_SOCKET_GROUP nosuchgroup
ct systemctl start vio4wd_core_scheduler 2>/dev/null && fail "vio4wd_core_scheduler started with VIRTIOFWD_SOCKET_GROUP=nosuchgroup"
sleep 6
check "a socket group the host lacks: vio4wd_core_scheduler failed once, exit $(prop vio4wd_core_scheduler ExecMainStatus), NRestarts=$(prop vio4wd_core_scheduler NRestarts)" \
  test "$(prop vio4wd_core_scheduler ExecMainStatus)/$(prop vio4wd_core_scheduler NRestarts)/$(prop vio4wd_core_scheduler ActiveState)" = 78/0/failed
check "... its journal names the variable and the group, once: $(journal "$c2" -p err -u vio4wd_core_scheduler | grep -m1 nosuchgroup || true)" \
  test "$(journal "$c2" -p err -u vio4wd_core_scheduler | grep -c 'VIRTIOFWD_SOCKET_GROUP=nosuchgroup')" = 1
ct cp /root/virtioforwarder.good /etc/default/virtioforwarder
ct systemctl reset-failed virtio-forwarder vio4wd_core_scheduler
cmp -s <(ct cat /etc/default/virtioforwarder | md5sum) "$work/config.md5" || fail "the configuration was not put back"

# ------------------------------------ 4. faults that systemd handles
# An af_packet VF under the shipped unit (no AF_PACKET, no CAP_NET_RAW):
# refused, naming what it needs and the drop-in.
ct systemctl start virtio-forwarder || fail "systemctl start virtio-forwarder (shipped unit)"
denied=$(ct env -u NODE_EXTRA_CA_CERTS vio4wd-portctl add_sock --vhost-path=/var/lib/vhost_sockets/denied.sock --pci-addr=0000:ff:00.3 2>&1) && fail "af_packet VF added under the shipped unit's sandbox"
check "an af_packet VF under the shipped sandbox is refused with what it needs: $denied" \
  grep -q "sandbox may not allow this device; it needs net_af_packet0 (af_packet): .*RestrictAddressFamilies=AF_PACKET.*docs/security.md" <<<"$denied"
ct systemctl stop virtio-forwarder || fail "systemctl stop virtio-forwarder"

# An af_packet VF on the veth: the drop-in docs/security.md gives for such devices.
ct mkdir -p /etc/systemd/system/virtio-forwarder.service.d
ct tee /etc/systemd/system/virtio-forwarder.service.d/vf-stand-in.conf >/dev/null <<'DROPIN'
[Service]
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
RestrictAddressFamilies=AF_PACKET
DeviceAllow=/dev/net/tun rw
DROPIN
ct systemctl daemon-reload
ct systemctl start virtio-forwarder vio4wd_core_scheduler || fail "systemctl start with the VF drop-in"
vm b "$vhost/ping.sock" icmpecho
wait_for 30 "VM b (icmpecho) listens on /var/lib/vhost_sockets/ping.sock" test -S "$vhost/ping.sock"
check "vio4wd-portctl add_sock --vhost-path=/var/lib/vhost_sockets/ping.sock --pci-addr=0000:ff:00.3 (af_packet on ${tag}v): exit 0" \
  ct vio4wd-portctl add_sock --vhost-path=/var/lib/vhost_sockets/ping.sock --pci-addr=0000:ff:00.3
wait_for 30 "relay of ping.sock connected" connected /var/lib/vhost_sockets/ping.sock
ping_start
wait_for 30 "the VF's peer pings the VM through the relay" replying

# kill -9 of the forwarder's main process.
main=$(prop virtio-forwarder MainPID)
dp=$(dataplane_pid)
sched_main=$(prop vio4wd_core_scheduler MainPID)
ct kill -9 "$main"
restarted() { running virtio-forwarder && [ "$(prop virtio-forwarder MainPID)" != "$main" ] && [ -n "$(dataplane_pid)" ] && [ "$(dataplane_pid)" != "$dp" ]; }
wait_for 60 "kill -9 of virtio-forwarder's main process ($main): systemd restarted it" restarted
check "... NRestarts=1; systemd: $(ct journalctl --no-pager -q -o cat -u virtio-forwarder | grep 'Main process exited' | tail -n 1)" test "$(prop virtio-forwarder NRestarts)" = 1
gone() { ! ct kill -0 "$1" 2>/dev/null; }
check "... the old dataplane ($dp) is gone" gone "$dp"
procs=$(cgroup_procs virtio-forwarder)
check "... the cgroup holds only the new supervisor and dataplane: $procs" test "$procs" = "$(printf '%s\n' "$(prop virtio-forwarder MainPID)" "$(dataplane_pid)" | sort -n | tr '\n' ' ')"
wait_for 30 "... the relay is restored from the state file and connected" connected /var/lib/vhost_sockets/ping.sock
wait_for 30 "... pings come back" replying
read -r sent lost < <(ping_stop)
check "... pings every 10 ms across it: $sent sent, $lost lost (an outage of about $((lost * 10)) ms; bound 20 s)" test "$lost" -lt 2000
echo "   the scheduler across it: MainPID $sched_main -> $(prop vio4wd_core_scheduler MainPID), NRestarts=$(prop vio4wd_core_scheduler NRestarts)"

# kill -9 of the scheduler.
c3=$(mark)
sched_main=$(prop vio4wd_core_scheduler MainPID)
sched_restarts=$(prop vio4wd_core_scheduler NRestarts)
ct kill -9 "$sched_main"
sched_back() { running vio4wd_core_scheduler && [ "$(prop vio4wd_core_scheduler MainPID)" != "$sched_main" ]; }
wait_for 30 "kill -9 of the scheduler ($sched_main): systemd restarted it" sched_back
check "... NRestarts $sched_restarts -> $(prop vio4wd_core_scheduler NRestarts)" test "$(prop vio4wd_core_scheduler NRestarts)" = $((sched_restarts + 1))
polls_again() { journal "$c3" -u vio4wd_core_scheduler | has 'balancing worker CPUs 1,2,3 of'; }
wait_for 30 "... and carries on: balancing worker CPUs 1,2,3" polls_again

# systemctl restart virtio-forwarder: the scheduler with it.
c4=$(mark)
main=$(prop virtio-forwarder MainPID)
sched_main=$(prop vio4wd_core_scheduler MainPID)
ping_start
ct systemctl restart virtio-forwarder || fail "systemctl restart virtio-forwarder"
both_new() { [ "$(prop virtio-forwarder MainPID)" != "$main" ] && [ "$(prop vio4wd_core_scheduler MainPID)" != "$sched_main" ] && running vio4wd_core_scheduler; }
wait_for 30 "systemctl restart virtio-forwarder: a new forwarder and a new scheduler (PartOf=), both running" both_new
echo "   forwarder $main -> $(prop virtio-forwarder MainPID), scheduler $sched_main -> $(prop vio4wd_core_scheduler MainPID)"
polls_after_restart() { journal "$c4" -u vio4wd_core_scheduler | has 'balancing worker CPUs 1,2,3 of'; }
wait_for 30 "... the scheduler carries on" polls_after_restart
wait_for 30 "... the relay connected again" connected /var/lib/vhost_sockets/ping.sock
wait_for 30 "... pings come back" replying
read -r sent lost < <(ping_stop)
check "... pings every 10 ms across it: $sent sent, $lost lost (about $((lost * 10)) ms; bound 20 s)" test "$lost" -lt 2000

# systemctl stop virtio-forwarder: both down, nothing left running.
fwd_cg=$(prop virtio-forwarder ControlGroup)
ct systemctl stop virtio-forwarder || fail "systemctl stop virtio-forwarder"
check "systemctl stop virtio-forwarder: both inactive" both_inactive
check "... both cgroups empty (forwarder: '$(cgroup_procs virtio-forwarder)', scheduler: '$(cgroup_procs vio4wd_core_scheduler)')" \
  test -z "$(cgroup_procs virtio-forwarder)$(cgroup_procs vio4wd_core_scheduler)"
none_running() { ! ct pgrep -f 'vio4wd|virtio-forwarder' >/dev/null; }
check "... no vio4wd process left in the container: '$(ct pgrep -af 'vio4wd|virtio-forwarder' || true)'" none_running
left=$(ct sh -c 'ls -A /var/run/virtio-forwarder; ls /var/run/virtio-forwarder.pid 2>/dev/null; true' | tr '\n' ' ')
check "... endpoints, control socket and PID file gone; the runtime directory keeps only DPDK's (RuntimeDirectoryPreserve=): '$left'" test "$left" = "dpdk "
check "... the relay's state kept for the next start: $(ct cat /var/lib/vio4wd/relays.json | tr -d '\n' | cut -c1-120)" ct grep -q ping.sock /var/lib/vio4wd/relays.json

# ------------------------------------------- 5. upgrade with a VM up
ct systemctl start virtio-forwarder vio4wd_core_scheduler || fail "systemctl start before the upgrade"
wait_for 30 "the relay restored at start and connected" connected /var/lib/vhost_sockets/ping.sock
ping_start
wait_for 30 "pings through the client-mode relay" replying
c5=$(mark)
main=$(prop virtio-forwarder MainPID)
sched_main=$(prop vio4wd_core_scheduler MainPID)
ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "/root/debs/$(basename "$deb_new")" >"$log/apt-upgrade" 2>&1 ||
  fail "apt install ./$(basename "$deb_new") over $version_old"
check "apt install ./$(basename "$deb_new"): vio4wd $(ct dpkg-query -W -f='${Version}' vio4wd)" test "$(ct dpkg-query -W -f='${Version}' vio4wd)" = "$version_new"
upgraded() { journal "$c5" -u virtio-forwarder | has "vio4wd $version_new starting" && journal "$c5" -u vio4wd_core_scheduler | has "vio4wd $version_new starting"; }
wait_for 60 "both services restarted on $version_new (their journals: vio4wd $version_new starting)" upgraded
wait_for 30 "... both running" both_new
echo "   forwarder $main -> $(prop virtio-forwarder MainPID), scheduler $sched_main -> $(prop vio4wd_core_scheduler MainPID)"
wait_for 30 "... the relay connected again" connected /var/lib/vhost_sockets/ping.sock
wait_for 30 "... pings come back" replying
read -r sent lost < <(ping_stop)
check "... pings every 10 ms across the upgrade: $sent sent, $lost lost (about $((lost * 10)) ms; bound 20 s)" test "$lost" -lt 2000
check "... the edited /etc/default/virtioforwarder is kept" cmp -s <(ct cat /etc/default/virtioforwarder | md5sum) "$work/config.md5"
check "... no dpkg prompt or conffile copy: $(ct ls /etc/default/ | grep virtioforwarder | tr '\n' ' ')" test "$(ct ls /etc/default/ | grep -c virtioforwarder)" = 1

# ------------------------------------------------------------- purge
# The operator's own files go first (dpkg leaves a drop-in alone, as it should).
ct rm -rf /etc/systemd/system/virtio-forwarder.service.d /root/virtioforwarder.good
ct env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --autoremove vio4wd >"$log/apt-purge" 2>&1 || fail "apt purge --autoremove vio4wd"
check "apt purge: both units gone ($(ct systemctl list-unit-files 'virtio-forwarder*' 'vio4wd*' --no-legend | wc -l) unit files)" \
  test "$(ct systemctl list-unit-files 'virtio-forwarder*' 'vio4wd*' --no-legend | wc -l)" = 0
check "... nothing of vio4wd runs: '$(ct pgrep -af 'vio4wd|virtio-forwarder' || true)'" none_running
stop_vm b
ct_poweroff
snapshot > "$work/after"
diff "$work/before" "$work/after" > "$work/diff" || true
check "the container's files before the install and after the purge: $(wc -l < "$work/before") and $(wc -l < "$work/after") paths, differing in: '$(tr '\n' ' ' < "$work/diff")'" test ! -s "$work/diff"

echo "system: $passed passed, $failed failed"
