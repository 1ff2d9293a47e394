#!/usr/bin/env bash
# The guest kit's balloon guest against insula's virtio-balloon (--balloon)
# on /dev/kvm: num_pages 0 at boot, a few pages inflated by the guest itself
# (plus one page frame outside RAM, which must be ignored), `actual` written
# and read back, the pages deflated and found zero-filled: the host dropped
# them (guest RAM is anonymous memory); then a buffer outside RAM, which must
# set NEEDS_RESET (one warning from insula) until the guest resets the device
# and uses it again. The guest reports through its exit
# status and output; no host-driven inflation here (that needs the API).
# Usage: virtio_balloon_test.sh INSULA GUEST_ELF
set -uo pipefail
insula=$1 guest=$2
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: /dev/kvm is not available"; exit 77; }
out=$(timeout 120 "$insula" run --kernel "$guest" --memory 32M --no-rng --balloon </dev/null 2>&1)
st=$?
out=${out//$'\r'/}  # the serial console ends lines with CR LF
echo "$out"
fail=0
[ $st = 33 ] || { echo "FAILED: status $st, expected 33 (PASS)"; fail=1; }
for line in "PASS: balloon" "balloon: num_pages 0, actual 0" "balloon: inflated and deflated 4 pages" \
            "balloon: recovered from a bad buffer by a reset"; do
  grep -qxF "$line" <<<"$out" || { echo "FAILED: no line '$line'"; fail=1; }
done
# Exactly one device error: the guest's deliberate buffer outside RAM.
n=$(grep -c "balloon: guest error: .*not in guest memory.*device needs reset" <<<"$out")
[ "$n" = 1 ] || { echo "FAILED: $n device-error warnings, expected 1 (the bad buffer)"; fail=1; }
exit $fail
