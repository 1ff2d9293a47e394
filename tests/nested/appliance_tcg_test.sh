#!/usr/bin/env bash
# The guest appliance boots its bzImage directly in QEMU TCG (no nesting) to its
# init marker, loads the virtio drivers (a virtio-blk disk with ext4 and a
# virtio-rng device are found), and runs a command given through insula.run=,
# reporting its exit status, then powers off.
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
echo "hello-from-ext4" >"$work/src/greeting"
truncate -s 16M "$work/disk.img"
mkfs.ext4 -q -d "$work/src" "$work/disk.img" || fail "mkfs.ext4 failed (e2fsprogs)"
cmd='mount -t ext4 /dev/vda /mnt && cat /mnt/greeting; cat /sys/devices/virtual/misc/hw_random/rng_current; echo "two words"; exit 3'
status=0
timeout 120 qemu-system-x86_64 -accel tcg,thread=multi -M microvm,pcie=on -cpu EPYC -smp 2 -m 512 \
  -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot \
  -kernel "$appliance/vmlinuz" -initrd "$appliance/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet $tcg_args insula.run=$(b64 "$cmd")" \
  -drive "file=$work/disk.img,if=none,id=d,format=raw" -device virtio-blk-pci,drive=d -device virtio-rng-pci \
  </dev/null >"$work/out" 2>"$work/err" || status=$?
[ "$status" -eq 0 ] || { cat "$work/out" "$work/err" >&2; fail "qemu exited $status (124: timeout)"; }
expect "$work/out" '^insula-appliance: init reached' "the appliance's init did not start"
expect "$work/out" '^hello-from-ext4' "virtio-blk + ext4: the file on the disk was not read"
expect "$work/out" '^virtio_rng' "virtio-rng is not the guest's hardware RNG"
expect "$work/out" '^two words$' "the insula.run command's output is missing"
expect "$work/out" '^insula-appliance: exit=3$' "the insula.run command's exit status was not reported"
expect "$work/out" 'reboot: Power down' "the appliance did not power off"
echo "PASS: appliance booted in TCG, read ext4 on virtio-blk, ran the insula.run command"
