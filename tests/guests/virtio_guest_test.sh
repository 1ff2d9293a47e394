#!/usr/bin/env bash
# The guest kit's virtio driver against insula's PCI/virtio devices on
# /dev/kvm: it enumerates bus 0, moves BAR 0, drives virtio-rng and virtio-blk
# (read a sector the host wrote, write one the host then reads, flush, a read
# past the end). Usage: virtio_guest_test.sh INSULA GUEST_ELF
set -uo pipefail
insula=$1 guest=$2
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: /dev/kvm is not available"; exit 77; }
disk=$(mktemp)
trap 'rm -f "$disk"' EXIT
printf 'insula-sector-0' >"$disk"
truncate -s 1M "$disk"
out=$("$insula" run --kernel "$guest" --memory 64M --disk "$disk" </dev/null 2>&1)
st=$?
echo "$out"
fail=0
[ $st = 33 ] || { echo "FAILED: status $st, expected 33 (PASS)"; fail=1; }
grep -q "^PASS: virtio" <<<"$out" || { echo "FAILED: no PASS line"; fail=1; }
grep -q "virtio-blk: capacity 2048 sectors" <<<"$out" || { echo "FAILED: capacity line"; fail=1; }
# Sector 1 as the guest wrote it: byte i = (i*7+1) mod 256.
want=$(for i in $(seq 0 511); do printf '%02x' $(( (i * 7 + 1) % 256 )); done)
got=$(od -An -tx1 -v -j512 -N512 "$disk" | tr -d ' \n')
[ "$got" = "$want" ] || { echo "FAILED: sector 1 on the host is not what the guest wrote"; fail=1; }
# The guest also boots, and passes its rng checks, with no disk at all.
out=$("$insula" run --kernel "$guest" --memory 64M </dev/null 2>&1)
st=$?
[ $st = 33 ] && grep -q "virtio-blk: none attached" <<<"$out" || { echo "FAILED without a disk: $out"; fail=1; }
exit $fail
