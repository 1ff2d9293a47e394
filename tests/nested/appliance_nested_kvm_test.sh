#!/usr/bin/env bash
# The guest appliance boots under QEMU with -accel kvm *inside* the test host
# (nested KVM on emulated AMD-V), both as PVH vmlinux and as bzImage, to its init
# marker, runs its insula.run command and powers off: the appliance and the test
# host together are sound before insula boots them.
#
# Each boot takes ~10 s. Nested KVM on the test host's emulated AMD-V now and
# then stops running the L2 vCPU for good (seen under QEMU and insula alike:
# bench/devices/kit_loop.sh, bench/devices/RESULTS.md), so a boot that is still
# running after 90 s is stopped and tried once more, and the output says so; a
# second stall fails the test.
. "$(dirname "$0")/lib.sh"
out=$(mktemp); trap 'rm -f "$out"' EXIT
a=$appliance
run_cmd=$(b64 'echo "guest cpus=$(nproc)"')
qemu="qemu-system-x86_64 -accel kvm -M microvm -cpu host -smp 2 -m 256 -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot -initrd $a/initramfs.cpio.gz -append 'console=ttyS0 quiet insula.run=$run_cmd'"
stall=90
# Only the last attempt's output is shown: a stalled boot that had printed its
# init marker would otherwise count as a third boot.
boot="boot() {
  timeout -s KILL $stall $qemu -kernel \$1 >/tmp/boot.out; st=\$?
  if [ \$st -eq 137 ]; then
    echo \"== the \$1 boot stalled for $stall s (known nested-KVM stall); retrying once\"
    timeout -s KILL $stall $qemu -kernel \$1 >/tmp/boot.out; st=\$?
  fi
  cat /tmp/boot.out; return \$st
}"
status=0
"$testhost" run --timeout 300 \
  "${qemu_files[@]}" "${appliance_files[@]}" -- \
  "$boot; echo == pvh; boot $a/vmlinux && echo == bzimage && boot $a/vmlinuz" >"$out" || status=$?
[ "$status" -eq 0 ] || { cat "$out" >&2; fail "the inner QEMU runs failed with status $status"; }
tr -d '\r' <"$out" >"$out.clean"; mv "$out.clean" "$out"
[ "$(grep -c '^insula-appliance: init reached' "$out")" -eq 2 ] || { cat "$out" >&2; fail "expected the init marker from both boots"; }
[ "$(grep -c '^guest cpus=2$' "$out")" -eq 2 ] || { cat "$out" >&2; fail "expected 'guest cpus=2' from both boots"; }
[ "$(grep -c '^insula-appliance: exit=0$' "$out")" -eq 2 ] || { cat "$out" >&2; fail "expected exit=0 from both boots"; }
cat "$out"
echo "PASS: appliance booted (PVH and bzImage) under nested KVM in the test host"
