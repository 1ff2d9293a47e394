#!/usr/bin/env bash
# The guest kit's blkbench (bench/devices' kit rows) runs to the end under
# insula and, when installed, under QEMU with a modern-only virtio-blk-pci
# (BAR 4 instead of insula's BAR 0): every row prints a result. secs=0 keeps
# it to one burst per row. insula runs it twice: on the page cache, and with
# cache=direct, where the kit's aligned reads take the io_uring path. The
# disk lives in the working directory (the build tree), not /tmp, which may
# be a tmpfs without O_DIRECT. Usage: blkbench_guest_test.sh INSULA GUEST_ELF
set -uo pipefail
insula=$1 guest=$2
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: /dev/kvm is not available"; exit 77; }
disk=$(mktemp -p .)
trap 'rm -f "$disk"' EXIT
truncate -s 4M "$disk"
fail=0
check() {  # check VMM OUTPUT STATUS
  echo "$2"
  [ "$3" = 33 ] || { echo "FAILED ($1): status $3, expected 33 (PASS)"; fail=1; }
  for row in randread-qd1 randread-qd32 seqread; do
    grep -Eq "^BLKKIT $row [0-9]+ [0-9]+" <<<"$2" || { echo "FAILED ($1): no $row result"; fail=1; }
  done
}
out=$(timeout 120 "$insula" run --kernel "$guest" --memory 64M --disk "$disk" --cmdline secs=0 </dev/null 2>&1)
check insula "$out" $?
out=$(timeout 120 "$insula" run --kernel "$guest" --memory 64M --disk "$disk",cache=direct --cmdline secs=0 </dev/null 2>&1)
check insula-direct "$out" $?
if command -v qemu-system-x86_64 >/dev/null; then
  out=$(timeout 120 qemu-system-x86_64 -accel kvm -M q35 -m 64 -nodefaults -no-user-config -display none \
    -monitor none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$guest" \
    -append secs=0 -drive file="$disk",if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0,disable-legacy=on \
    </dev/null 2>&1)
  check qemu "$out" $?
fi
exit $fail
