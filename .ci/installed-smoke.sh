#!/usr/bin/env bash
# CI: the installed services as systemd would run them: /usr/bin/virtio-forwarder
# with a NOTIFY_SOCKET, READY=1 once it serves, the installed CLIs plug and
# read a relay; /usr/bin/vio4wd_core_scheduler beside it, READY=1 (through
# the barrier helper) once it polls, the pinner and load monitor read the
# map; SIGTERM stops each with exit 0. Each service runs with its unit's
# user, groups, capability bounding set and no_new_privs (unit-exec.sh).
set -euo pipefail
dir=$(mktemp -d /tmp/v4-inst-XXXX)
# The scheduler runs as a user of its own: it reads the config, and reaches
# the endpoints through their group.
chmod 0755 "$dir"
as_unit() { exec bash "$(dirname "$0")/unit-exec.sh" "/lib/systemd/system/$1" "${@:2}"; }
fwd_pid=; listener_pid=; sched_pid=
cleanup() {
  [ -n "$sched_pid" ] && kill -9 "$sched_pid" 2>/dev/null || true
  [ -n "$fwd_pid" ] && kill -9 "$fwd_pid" 2>/dev/null || true
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null || true
  rm -rf "$dir" "/var/run/dpdk/vio4wd-inst-$$"
}
trap cleanup EXIT
fail() { echo "installed smoke: $*" >&2; [ -f "$dir/log" ] && cat "$dir/log" >&2; exit 1; }

cat > "$dir/cfg" <<CFG
VIRTIOFWD_CPU_MASK=1
VIRTIOFWD_VHOST_CLIENT=false
VIRTIOFWD_DYNAMIC_SOCKETS=true
VIRTIOFWD_SOCKET_DIR=$dir/vhost
VIO4WD_VHOST_SOCKET_DIRS=($dir)
VIRTIOFWD_ZMQ_PORT_CONTROL_EP=ipc://$dir/port_control
VIRTIOFWD_ZMQ_STATS_EP=ipc://$dir/stats
VIRTIOFWD_PID_DIR=$dir
VIO4WD_STATE_DIR=$dir/state
VIO4WD_CONTROL_SOCKET=$dir/dataplane.sock
VIO4WD_NO_HUGE=true
VIO4WD_EAL_FILE_PREFIX=vio4wd-inst-$$
VIRTIOFWD_DEVICE_ALIASES=(0000:ff:00.1=net_null0 0000:ff:00.2=net_null1)
VIO4WD_CORE_SCHED_ENABLE=true
VIRTIOFWD_ZMQ_CORE_SCHED_EP=ipc://$dir/core_sched
VIO4WD_CORE_SCHED_POLL_INTERVAL=0.5
CFG

# The service manager's end of NOTIFY_SOCKET.
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
open(sys.argv[2], "w").write(s.recv(4096).decode())' "$dir/notify" "$dir/notified" &
listener_pid=$!
for _ in $(seq 50); do [ -S "$dir/notify" ] && break; sleep 0.1; done

NOTIFY_SOCKET=$dir/notify as_unit virtio-forwarder.service /usr/bin/virtio-forwarder --config "$dir/cfg" >"$dir/log" 2>&1 &
fwd_pid=$!
for _ in $(seq 300); do [ -s "$dir/notified" ] && break; kill -0 "$fwd_pid" 2>/dev/null || fail "exited before READY=1"; sleep 0.1; done
grep -q '^READY=1$' "$dir/notified" || fail "no READY=1 within 30 s"
echo "installed smoke: node $(/usr/bin/node --version)"
# The unit's credentials hold, in the supervisor and in the dataplane it started.
for pid in "$fwd_pid" "$(pgrep -P "$fwd_pid" -f vio4wd-dataplane)"; do
  creds=$(grep -E '^(Uid|CapBnd|CapEff|NoNewPrivs):' "/proc/$pid/status" | tr -s '\t ' ' ' | tr '\n' ' ')
  # CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_IPC_LOCK
  [ "$creds" = "Uid: 0 0 0 0 CapEff: 0000000000004003 CapBnd: 0000000000004003 NoNewPrivs: 1 " ] || fail "forwarder pid $pid runs with $creds"
done
echo "installed smoke: forwarder and dataplane: root, capabilities chown dac_override ipc_lock only, no_new_privs"
echo "installed smoke: $(tr '\n' ' ' < "$dir/notified")"
[ "$(cat "$dir/virtio-forwarder.pid")" = "$fwd_pid" ] || fail "PID file does not name the service"

vio4wd-portctl add --virtio-id=1 --pci-addr=0000:ff:00.1 --zmq_ep "ipc://$dir/port_control" || fail "add failed"
[ -S "$dir/vhost/virtio-forwarder1.sock" ] || fail "no vhost-user socket for virtio id 1"
vio4wd-stats --json --delay=200 --zmq_ep "ipc://$dir/stats" > "$dir/stats.json" || fail "stats failed"
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["relay"]
assert [x["id"] for x in r] == [1], r
assert r[0]["vf_to_vm"]["pkt_rate_rx_from_vf"] > 0, r[0]["vf_to_vm"]
print("installed smoke: relay 1 reading %.0f pps from its VF" % r[0]["vf_to_vm"]["pkt_rate_rx_from_vf"])' "$dir/stats.json" || fail "unexpected stats"

# The original's entry point, as OpenStack's os-vif runs it (only the exit code counts).
for d in /usr/lib /usr/lib64; do
  pc=$d/virtio-forwarder/virtioforwarder_port_control.py
  "$pc" add_sock --vhost-path="$dir/osvif.sock" --pci-addr=0000:ff:00.2 --zmq_ep "ipc://$dir/port_control" || fail "$pc add_sock: exit $?"
  [ -S "$dir/osvif.sock" ] || fail "$pc add_sock made no socket"
  "$pc" remove_sock --vhost-path="$dir/osvif.sock" --pci-addr=0000:ff:00.2 --zmq_ep "ipc://$dir/port_control" || fail "$pc remove_sock: exit $?"
  rc=0; "$pc" remove_sock --vhost-path="$dir/osvif.sock" --pci-addr=0000:ff:00.2 --zmq_ep "ipc://$dir/port_control" 2>/dev/null || rc=$?
  [ "$rc" -eq 1 ] || fail "$pc: removing it again: exit $rc, not 1"
  rc=0; "$pc" add_sock --vhost-path="$dir/x.sock" --pci-addr=0000:ff:00.2 --zmq_ep "ipc://$dir/nobody" 2>/dev/null || rc=$?
  [ "$rc" -eq 1 ] || fail "$pc: no daemon: exit $rc, not 1 (the original's code)"
done
echo "installed smoke: virtioforwarder_port_control.py in /usr/lib and /usr/lib64: add_sock 0, remove_sock 0, refused 1, no daemon 1"

# The original's stats entry point: its flags, its flat and text outputs, its exit codes.
for d in /usr/lib /usr/lib64; do
  st=$d/virtio-forwarder/virtioforwarder_stats.py
  out=$("$st" --stats-ep "ipc://$dir/stats" --include-inactive --delay 100) || fail "$st: exit $?"
  grep -Eqx 'relay_1\.active=(True|False)' <<<"$out" || fail "$st: no relay_1.active line in: $out"
  grep -Eqx 'relay_1\.vf_to_vm\.cpu_1\.pkt_rate_rx_from_vf=[0-9][0-9.e+]*' <<<"$out" || fail "$st: no VF rate line in: $out"
  "$st" --stats-ep "ipc://$dir/stats" --include-inactive --delay 0 --output-format protobuf | grep -qx 'status: OK' || fail "$st: no text format"
  rc=0; "$st" --stats-ep "ipc://$dir/nobody" --delay 0 2>/dev/null || rc=$?
  [ "$rc" -eq 1 ] || fail "$st: no daemon: exit $rc, not 1"
  rc=0; "$st" --output-format=xml 2>/dev/null || rc=$?
  [ "$rc" -eq 2 ] || fail "$st: bad usage: exit $rc, not 2"
done
echo "installed smoke: virtioforwarder_stats.py in /usr/lib and /usr/lib64: $(wc -l <<<"$out") flat lines, text format, no daemon 1, bad usage 2"

# The core scheduler, as its unit runs it. Its service manager end reads
# READY=1 and then the barrier (whose pipe it closes, as systemd does).
/usr/bin/python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)  # like the service manager socket: any service user may send
got = [s.recv(4096).decode() for _ in range(2)]
open(sys.argv[2], "w").write("\n".join(got))' "$dir/notify2" "$dir/notified2" &
for _ in $(seq 50); do [ -S "$dir/notify2" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$dir/notify2 as_unit vio4wd_core_scheduler.service /usr/bin/vio4wd_core_scheduler --config "$dir/cfg" >"$dir/sched.log" 2>&1 &
sched_pid=$!
for _ in $(seq 100); do [ -s "$dir/notified2" ] && break; kill -0 "$sched_pid" 2>/dev/null || { cat "$dir/sched.log" >&2; fail "scheduler exited before READY=1"; }; sleep 0.1; done
grep -q '^READY=1$' "$dir/notified2" || { cat "$dir/sched.log" >&2; fail "no READY=1 from the scheduler within 10 s"; }
grep -q '^BARRIER=1$' "$dir/notified2" || fail "the scheduler's helper sent no barrier"
echo "installed smoke: scheduler: $(tr '\n' ' ' < "$dir/notified2")"
creds=$(grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs):' "/proc/$sched_pid/status" | tr -s '\t ' ' ' | tr '\n' ' ')
[[ "$creds" =~ ^Uid:\ ([1-9][0-9]*)\ .*CapEff:\ 0000000000000000\ CapBnd:\ 0000000000000000\ NoNewPrivs:\ 1\ $ ]] || fail "scheduler runs with $creds"
echo "installed smoke: scheduler: uid ${BASH_REMATCH[1]}, no capabilities, no_new_privs"
grep -q 'balancing worker CPUs 1 of' "$dir/sched.log" || { cat "$dir/sched.log" >&2; fail "scheduler did not reach the forwarder"; }
[ "$(vio4wd-pinner --config "$dir/cfg")" = "CPU 1: VM->VF 1  VF->VM 1" ] || fail "pinner map: $(vio4wd-pinner --config "$dir/cfg" 2>&1)"
vio4wd-load --config "$dir/cfg" --once --interval 0.3 | grep -Eq '^CPU   1 \[[#.]+\] +[0-9]+%  VM->VF 1  VF->VM 1$' || fail "load monitor: $(vio4wd-load --config "$dir/cfg" --once 2>&1)"
for d in /usr/lib /usr/lib64; do
  eps=(--stats-ep "ipc://$dir/stats" --sched-ep "ipc://$dir/core_sched")
  # --print-core-map prints and pins nothing, as the original's.
  [ "$("$d/virtio-forwarder/virtioforwarder_core_pinner.py" "${eps[@]}" --print-core-map --virtio-cpu=1:5)" = "CPU 1: VM->VF 1  VF->VM 1" ] \
    || fail "$d: core pinner map"
  "$d/virtio-forwarder/virtioforwarder_monitor_load.py" "${eps[@]}" --poll-interval 0.3 --once | grep -Eq '^CPU   1 \[[#.]+\] +[0-9]+%  VM->VF 1  VF->VM 1$' \
    || fail "$d: monitor load"
done
echo "installed smoke: virtioforwarder_core_pinner.py --print-core-map and virtioforwarder_monitor_load.py --poll-interval in /usr/lib and /usr/lib64"
kill -TERM "$sched_pid"
rc=0; wait "$sched_pid" || rc=$?
sched_pid=
[ "$rc" -eq 0 ] || { cat "$dir/sched.log" >&2; fail "scheduler exit code $rc after SIGTERM"; }
grep -E '^<[0-3]>' "$dir/sched.log" && fail "the scheduler logged errors"
echo "installed smoke: scheduler: $(grep -c . "$dir/sched.log") log lines, stopped with 0"

kill -TERM "$fwd_pid"
rc=0; wait "$fwd_pid" || rc=$?
fwd_pid=
[ "$rc" -eq 0 ] || fail "exit code $rc after SIGTERM"
[ ! -e "$dir/virtio-forwarder.pid" ] || fail "PID file left behind"
echo "installed smoke: ok"
