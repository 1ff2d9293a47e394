#!/usr/bin/env bash
# The guest kit's console guest against insula's virtio-console (--console
# hvc) on /dev/kvm: a line through emerg_wr and one on transmitq0 must reach
# insula's stdout; a line the test writes on insula's stdin must come back
# from the guest on transmitq0 ("hvc-echo: ..."). The guest's own report goes
# to COM1 and never repeats the hvc texts.
# Usage: virtio_console_test.sh INSULA GUEST_ELF
set -uo pipefail
insula=$1 guest=$2
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: /dev/kvm is not available"; exit 77; }
out=$(printf 'ping-from-host-stdin\n' | timeout 120 "$insula" run --kernel "$guest" --memory 32M --no-rng --console hvc 2>&1)
st=$?
out=${out//$'\r'/}  # the serial console ends lines with CR LF
echo "$out"
fail=0
[ $st = 33 ] || { echo "FAILED: status $st, expected 33 (PASS)"; fail=1; }
for line in "PASS: console" "hvc-emerg: ok" "hvc-tx: hello from the guest kit over virtio-console" \
            "hvc-echo: ping-from-host-stdin"; do
  grep -qxF "$line" <<<"$out" || { echo "FAILED: no line '$line' on stdout"; fail=1; }
done
exit $fail
