#!/usr/bin/env bash
# Boots the guest kit's blkbench N times inside the test host, under insula
# or QEMU, and reports each boot that does not end within 60 s with its
# threads' states and kernel stacks (the kit's own "no completion" check
# fires after ~11.5 s of TSC, so a silent hang means its vCPU stopped
# running its loop). A reproducer for the kit hangs in bench/devices/RESULTS.md
# ("Runs 9-13"), not a test. The log goes to stderr (through the inherited
# descriptor: tee /dev/stderr would reopen a log file at offset 0), the
# number of hung boots to stdout.
#   bench/devices/kit_loop.sh [insula|qemu] [N=14]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
vmm=${1:-insula} n=${2:-14}
kit=$root/build/guests/blkbench-pvh.elf
[ -f "$kit" ] || { echo "no $kit (cmake --build build --target guests)" >&2; exit 2; }
case "$vmm" in
  insula) files=(--file "$root/build/insula:/bin/insula")
    cmd='/bin/insula run --kernel /blk.elf --cpus 2 --memory 512M --disk /tmp/disk.raw --cmdline "secs=2 tsc_khz=$khz"';;
  qemu) files=(--file /usr/bin/qemu-system-x86_64 --file /usr/share/qemu --file /usr/share/seabios)
    cmd='qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 512 -M q35 -nodefaults -no-user-config -display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel /blk.elf -append "secs=2 tsc_khz=$khz" -drive file=/tmp/disk.raw,if=none,id=d0,format=raw,cache=writeback,aio=threads -device virtio-blk-pci,drive=d0,disable-legacy=on';;
  *) echo "usage: $0 [insula|qemu] [N]" >&2; exit 2;;
esac
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat >"$script" <<EOS
dd if=/dev/urandom of=/tmp/disk.raw bs=1M count=64 2>/dev/null
khz=\$(sed -n 's/.*tsc_early_khz=\([0-9]*\).*/\1/p' /proc/cmdline)
for i in \$(seq 1 $n); do
  $cmd </dev/null >/tmp/k.out 2>&1 &
  pid=\$!
  s=0
  while kill -0 \$pid 2>/dev/null && [ \$s -lt 60 ]; do sleep 1; s=\$((s + 1)); done
  if kill -0 \$pid 2>/dev/null; then
    echo "=== boot \$i HUNG after \${s}s; the kit printed:"
    grep -a -E 'blkbench|BLKKIT' /tmp/k.out
    for t in /proc/\$pid/task/*; do
      echo "--- thread \${t##*/} \$(cat \$t/comm) state \$(awk '{print \$3}' \$t/stat) wchan \$(cat \$t/wchan 2>/dev/null)"
      head -6 \$t/stack 2>/dev/null
    done
    kill -9 \$pid; sleep 1
  else
    wait \$pid && st=0 || st=\$?
    echo "=== boot \$i exit \$st, \$(grep -c BLKKIT /tmp/k.out) rows"
    # A boot that did not end through the kit's debug exit (33): its last words.
    [ \$st = 33 ] || grep -a -v -E 'blkbench|BLKKIT' /tmp/k.out | tail -4 | sed 's/^/    /'
  fi
done
echo "LOOP DONE"
EOS
"$root/tests/nested/testhost" run --no-retry --memory 2048 --timeout $((120 + 75 * n)) "${files[@]}" \
  --file "$kit:/blk.elf" --file "$script:/kit_loop.sh" -- sh /kit_loop.sh | tee >(cat >&2) | grep -c HUNG || true
