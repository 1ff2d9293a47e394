#!/usr/bin/env bash
# The guest kit's vsock guest against insula's virtio-vsock (--vsock CID,UDS)
# on /dev/kvm, both directions, checked on the host by vsock_host.py:
#   guest -> host: the guest connects to host port 6000, reaching the
#                  listener on UDS_6000; a line each way, the guest closes;
#   host -> guest: "CONNECT 1234" on UDS reaches the guest's port 1234; "OK",
#                  the guest's greeting, an echo of the host's line; the host closes.
# Usage: virtio_vsock_test.sh INSULA GUEST_ELF
set -uo pipefail
insula=$1 guest=$2 here=$(dirname "$0")
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: /dev/kvm is not available"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
dir=$(mktemp -d)
cleanup() {
  [ -n "${helper:-}" ] && kill "$helper" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
python3 "$here/vsock_host.py" "$dir/v.sock" "$dir/ready" >"$dir/helper.out" 2>&1 &
helper=$!
for _ in $(seq 600); do [ -e "$dir/ready" ] && break; sleep 0.05; done
[ -e "$dir/ready" ] || { echo "FAILED: the host-side helper did not start in 30 s"; cat "$dir/helper.out"; exit 1; }
out=$(timeout 120 "$insula" run --kernel "$guest" --memory 32M --no-rng --vsock "7,$dir/v.sock" \
      --cmdline cid=7 </dev/null 2>&1)
st=$?
out=${out//$'\r'/}  # the serial console ends lines with CR LF
echo "$out"
wait "$helper"; helper=
echo "--- host side"
cat "$dir/helper.out"
fail=0
[ $st = 33 ] || { echo "FAILED: status $st, expected 33 (PASS)"; fail=1; }
grep -qx "PASS: vsock" <<<"$out" || { echo "FAILED: no PASS line"; fail=1; }
for re in "listener got: hello-from-guest-to-host-listener" "listener: guest closed" "connect: OK [0-9]+" \
          "connect got: hello-from-guest-listener" "connect got: echo: ping-from-host"; do
  grep -qxE "$re" "$dir/helper.out" || { echo "FAILED: the host side did not see '$re'"; fail=1; }
done
exit $fail
