#!/usr/bin/env bash
# The guest kit's net guest against insula's virtio-net (--net TAP,mac=M) on
# /dev/kvm, inside a network namespace this test creates (tap 10.0.2.1/24,
# guest 10.0.2.15): the guest checks the MAC in config space, ARPs for the
# tap's address (the kernel answers), sends a UDP datagram to port 9999 and
# waits for the answer. The host side checks what it saw: the datagram
# (a python3 UDP socket that answers it), the guest's MAC in the kernel's
# ARP table (learnt from the guest's request), the tap's rx counter.
# Usage: virtio_net_test.sh INSULA GUEST_ELF
set -uo pipefail
insula=$1 guest=$2
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: /dev/kvm is not available"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: /dev/net/tun is not available"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: ip (iproute2) is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
ns=insula-vnet-$$ tap=ivnet0 mac=52:54:00:12:ab:cd
dir=$(mktemp -d)
cleanup() {
  [ -n "${helper:-}" ] && kill "$helper" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns" 2>/dev/null || { echo "SKIP: cannot create a network namespace (needs root)"; exit 77; }
in_ns() { ip netns exec "$ns" "$@"; }
# No IPv6 chatter (router solicitations, MLD) on the tap: the guest sees only what it asked for.
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
in_ns ip tuntap add dev "$tap" mode tap vnet_hdr || { echo "SKIP: cannot create a tap device"; exit 77; }
in_ns ip addr add 10.0.2.1/24 dev "$tap" && in_ns ip link set "$tap" up || { echo "FAILED: tap set-up"; exit 1; }

# Host side: one UDP datagram in, one answer out.
in_ns python3 - "$dir/ready" >"$dir/helper.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.2.1", 9999))
s.settimeout(120)
open(sys.argv[1], "w").close()
data, addr = s.recvfrom(512)
print(f"host got {data.decode(errors='replace')!r} from {addr[0]}:{addr[1]}", flush=True)
# The ARP entry the guest's request left (gone once insula closes the tap).
for line in open("/proc/net/arp"):
    if line.split()[0] == addr[0]:
        print(f"neighbour {line.split()[0]} lladdr {line.split()[3]}", flush=True)
s.sendto(b"pong-from-host", addr)
PY
helper=$!
for _ in $(seq 600); do [ -e "$dir/ready" ] && break; sleep 0.05; done
[ -e "$dir/ready" ] || { echo "FAILED: the host-side helper did not start in 30 s"; cat "$dir/helper.out"; exit 1; }

out=$(in_ns timeout 120 "$insula" run --kernel "$guest" --memory 32M --no-rng --net "$tap,mac=$mac" \
      --cmdline "mac=$mac ip=10.0.2.15 peer=10.0.2.1" </dev/null 2>&1)
st=$?
out=${out//$'\r'/}  # the serial console ends lines with CR LF
echo "$out"
wait "$helper"; helper=
echo "--- host side"
cat "$dir/helper.out"
rx=$(in_ns cat /sys/class/net/$tap/statistics/rx_packets)
echo "tap rx_packets: $rx"
fail=0
[ $st = 33 ] || { echo "FAILED: status $st, expected 33 (PASS)"; fail=1; }
grep -qx "PASS: net" <<<"$out" || { echo "FAILED: no PASS line"; fail=1; }
grep -qx "net: config MAC $mac, status 0x1" <<<"$out" || { echo "FAILED: config MAC/status line"; fail=1; }
tapmac=$(in_ns cat /sys/class/net/$tap/address)
grep -qx "net: 10.0.2.1 is at $tapmac" <<<"$out" || { echo "FAILED: the guest did not learn the tap's MAC $tapmac"; fail=1; }
grep -qx "net: UDP answer: pong-from-host" <<<"$out" || { echo "FAILED: the guest did not get the UDP answer"; fail=1; }
grep -qx "host got 'ping-from-guest-kit' from 10.0.2.15:7777" "$dir/helper.out" ||
  { echo "FAILED: the host did not receive the guest's datagram"; fail=1; }
grep -qx "neighbour 10.0.2.15 lladdr $mac" "$dir/helper.out" || { echo "FAILED: the guest's MAC is not in the host's neighbour table"; fail=1; }
[ "${rx:-0}" -ge 2 ] || { echo "FAILED: tap rx_packets $rx, expected >= 2 (ARP + UDP)"; fail=1; }
exit $fail
