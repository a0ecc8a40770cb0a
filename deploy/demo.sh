#!/usr/bin/env bash
# vio4wd demo: a relay between a tap "VF" and a testpmd "VM", no SR-IOV NIC.
#
#   netns vio4wd-demo            host                               "VM"
#   ping 10.250.0.2 -> v4demo0 (net_tap VF) <-> vio4wd relay 0 <-> dpdk-testpmd
#      10.250.0.1                                 vhost-user      virtio_user, icmpecho
#
# The kernel pings through the relay; testpmd's icmpecho engine answers ARP
# and ICMP as a VM would. With --qemu the VM is a real one instead: QEMU
# (TCG) booting Debian's kernel with Linux's virtio-net driver (the test
# guest, test/vm/build-guest.sh; built once). Live relay statistics are
# printed until Ctrl-C (or for --duration seconds), then everything is
# stopped and removed. Options: --qemu, --duration N, --no-setup.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --no-setup) NO_SETUP=1; shift ;;
    --qemu) QEMU=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (DPDK, tap devices, network namespaces)" >&2; exit 1; }
[ -n "${NO_SETUP:-}" ] || bash deploy/setup.sh

RUN=/run/vio4wd-demo
NS=vio4wd-demo
TAP=v4demo0
PCI=0000:ff:00.1      # a PCI-looking name the config aliases to the tap vdev
SOCK=$RUN/vhost/vm0.sock
PIDS=()

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "== stopping"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${FWD_PID:-}" ]; then
    kill -TERM "$FWD_PID" 2>/dev/null || true
    wait "$FWD_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf /var/run/dpdk/vio4wd-demo /var/run/dpdk/vio4wd-demo-vm "$RUN"
  echo "== stopped; forwarder log was printed above with <N> syslog priorities"
}
trap cleanup INT TERM EXIT

rm -rf "$RUN"; mkdir -p "$RUN"
ip netns del "$NS" 2>/dev/null || true
cat > "$RUN/virtioforwarder" <<CONF
# Demo configuration: one worker on CPU 1, no hugepages needed.
VIRTIOFWD_CPU_MASK=1
VIRTIOFWD_MASTER_LCORE=0
VIRTIOFWD_LOG_LEVEL=6
VIRTIOFWD_DYNAMIC_SOCKETS=true
VIRTIOFWD_VHOST_CLIENT=false
VIRTIOFWD_SOCKET_DIR=$RUN/vhost
VIRTIOFWD_ZMQ_PORT_CONTROL_EP=ipc://$RUN/port_control
VIRTIOFWD_ZMQ_STATS_EP=ipc://$RUN/stats
VIRTIOFWD_PID_DIR=$RUN
VIRTIOFWD_BINARY=$ROOT/build/dataplane/vio4wd-dataplane
VIO4WD_CONTROL_SOCKET=$RUN/dataplane.sock
VIO4WD_STATE_DIR=$RUN/state
VIO4WD_NO_HUGE=true
VIO4WD_MEMORY_MB=512
VIO4WD_EAL_FILE_PREFIX=vio4wd-demo
VIO4WD_IDLE_SLEEP_US=50
# Its Prometheus metrics on a socket of the demo's own (not the default
# port 19721, which an installed vio4wd may hold).
VIO4WD_METRICS_EP=unix:$RUN/metrics.sock
VIRTIOFWD_DEVICE_ALIASES=($PCI=net_tap0,iface=$TAP)
CONF

echo "== starting virtio-forwarder (config $RUN/virtioforwarder)"
node packages/forwarder/dist/bin.js --config "$RUN/virtioforwarder" &
FWD_PID=$!
for _ in $(seq 100); do [ -S "$RUN/stats" ] && break; sleep 0.2; done
[ -S "$RUN/stats" ] || { echo "virtio-forwarder did not start" >&2; exit 1; }

PORTCTL=(node packages/portctl/dist/bin.js --zmq_ep "ipc://$RUN/port_control")
STATS=(node packages/stats/dist/bin.js --zmq_ep "ipc://$RUN/stats")

echo "== plugging the VF into a relay: vio4wd-portctl add_sock --vhost-path=$SOCK --pci-addr=$PCI"
"${PORTCTL[@]}" add_sock --vhost-path="$SOCK" --pci-addr="$PCI"

echo "== moving the VF's kernel side ($TAP) into netns $NS as 10.250.0.1/24"
ip netns add "$NS"
ip link set "$TAP" netns "$NS"
ip -n "$NS" addr add 10.250.0.1/24 dev "$TAP"
ip -n "$NS" link set "$TAP" up
ip -n "$NS" link set lo up

if [ -n "${QEMU:-}" ]; then
  GUEST=$(bash test/vm/build-guest.sh)
  echo "== starting the VM: QEMU (TCG), Linux virtio-net on $SOCK (vhost-user client, reconnect=1), 10.250.0.2/24"
  # vectors=0: QEMU 7.2 under TCG crashes with MSI-X (docs: TEST-HARNESS). The
  # console goes to $RUN/vm-console.log; nothing types into it.
  qemu-system-x86_64 -machine q35,accel=tcg,memory-backend=mem0 -m 256M -smp 1 \
    -object memory-backend-memfd,id=mem0,size=256M,share=on \
    -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 v4.ip=10.250.0.2/24" \
    -nodefaults -no-user-config -display none -no-reboot \
    -chardev "socket,id=s0,path=$RUN/console.sock,server=on,wait=off,logfile=$RUN/vm-console.log" -serial chardev:s0 \
    -chardev "socket,id=c0,path=$SOCK,reconnect=1" -netdev type=vhost-user,id=n0,chardev=c0 \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02,vectors=0 </dev/null >"$RUN/vm.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 600); do grep -q V4-READY "$RUN/vm-console.log" 2>/dev/null && break; sleep 0.2; done
  grep -q V4-READY "$RUN/vm-console.log" 2>/dev/null || { echo "the guest did not boot within 120 s: see $RUN/vm.log" >&2; exit 1; }
  echo "== the guest is up: $(grep -m1 V4-READY "$RUN/vm-console.log")"
else
  echo "== starting the VM: dpdk-testpmd, virtio_user on $SOCK, icmpecho"
  # --stats-period keeps testpmd running without reading stdin, until a signal.
  dpdk-testpmd --no-huge -m 256 -l 0,1 --no-pci --file-prefix vio4wd-demo-vm \
    --vdev "net_virtio_user0,path=$SOCK,mac=52:54:00:00:00:02" -- \
    --total-num-mbufs=4096 --forward-mode=icmpecho --auto-start --stats-period=3600 \
    </dev/null >"$RUN/vm.log" 2>&1 &
  PIDS+=($!)
fi

echo "== pinging 10.250.0.2 (the VM) from netns $NS"
ip netns exec "$NS" ping -i 0.2 10.250.0.2 >"$RUN/ping.log" 2>&1 &
PIDS+=($!)

start=$SECONDS
while :; do
  sleep 2
  echo "---- $(date +%T)  ping: $(grep -c 'bytes from' "$RUN/ping.log" || true) replies  $(tail -n 1 "$RUN/ping.log")"
  "${STATS[@]}" --delay 1000 || true
  if [ "$DURATION" -gt 0 ] && [ $((SECONDS - start)) -ge "$DURATION" ]; then
    replies=$(grep -c 'bytes from' "$RUN/ping.log" || true)
    echo "== demo ran ${DURATION}s: $replies ping replies came back through the relay"
    echo "== its metrics (VIO4WD_METRICS_EP=unix:$RUN/metrics.sock), the relay's packet counters:"
    node -e 'require("http").get({ socketPath: process.argv[1], path: "/metrics" }, (r) => { let t = ""; r.on("data", (d) => (t += d)); r.on("end", () => console.log(t.split("\n").filter((l) => /^vio4wd_relay_(received|sent)_packets_total/.test(l)).join("\n"))); })' "$RUN/metrics.sock" || true
    [ "$replies" -gt 0 ] || { echo "no ping replies: the relay did not forward" >&2; exit 1; }
    exit 0
  fi
done
