#!/usr/bin/env bash
# The guest appliance boots under QEMU with -accel kvm *inside* the test host
# (nested KVM on emulated AMD-V), both as PVH vmlinux and as bzImage, to its init
# marker, runs its insula.run command and powers off: the appliance and the test
# host together are sound before insula boots them.
. "$(dirname "$0")/lib.sh"
out=$(mktemp); trap 'rm -f "$out"' EXIT
a=$appliance
run_cmd=$(b64 'echo "guest cpus=$(nproc)"')
qemu="qemu-system-x86_64 -accel kvm -M microvm -cpu host -smp 2 -m 256 -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot -initrd $a/initramfs.cpio.gz -append 'console=ttyS0 quiet insula.run=$run_cmd'"
status=0
"$testhost" run --timeout 240 \
  "${qemu_files[@]}" "${appliance_files[@]}" -- \
  "echo == pvh; $qemu -kernel $a/vmlinux && echo == bzimage && $qemu -kernel $a/vmlinuz" >"$out" || status=$?
[ "$status" -eq 0 ] || { cat "$out" >&2; fail "the inner QEMU runs failed with status $status"; }
tr -d '\r' <"$out" >"$out.clean"; mv "$out.clean" "$out"
[ "$(grep -c '^insula-appliance: init reached' "$out")" -eq 2 ] || { cat "$out" >&2; fail "expected the init marker from both boots"; }
[ "$(grep -c '^guest cpus=2$' "$out")" -eq 2 ] || { cat "$out" >&2; fail "expected 'guest cpus=2' from both boots"; }
[ "$(grep -c '^insula-appliance: exit=0$' "$out")" -eq 2 ] || { cat "$out" >&2; fail "expected exit=0 from both boots"; }
cat "$out"
echo "PASS: appliance booted (PVH and bzImage) under nested KVM in the test host"
