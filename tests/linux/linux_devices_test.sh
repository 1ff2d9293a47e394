#!/usr/bin/env bash
# The Linux-guest device tier: the appliance uses insula's virtio devices
# (blk with ext4, rng, net over a tap, hvc0, vsock) inside the emulated-hardware
# test host. Stores CHECK lines for check.sh. Usage: linux_devices_test.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
appliance=$root/.cache/appliance
[ -f "$appliance/vmlinux" ] || "$root/scripts/prepare.d/30-appliance.sh" >&2 || { echo "cannot build the appliance"; exit 1; }
# An ext4 image with 3 MiB of random data; its checksum computed here.
mkdir -p "$work/fs"
head -c $((3 << 20)) /dev/urandom >"$work/fs/data.bin"
sha256sum "$work/fs/data.bin" | cut -d' ' -f1 >"$work/data.sha256"
truncate -s 64M "$work/disk.img"
mkfs.ext4 -q -F -d "$work/fs" "$work/disk.img" || { echo "mkfs.ext4 failed"; exit 1; }
# The guest's vsock peer, added to the appliance as a second cpio archive.
mkdir -p "$work/extra/bin"
cp "$build/tests/linux/vsock_echo" "$work/extra/bin/"
(cd "$work/extra" && find . | cpio -o -H newc --quiet) >"$work/extra.cpio"
"$here/run_inner.sh" "$build" device_checks.txt inner_devices.sh --timeout 900 \
  --file "$work/disk.img:/disk.img" --file "$work/data.sha256:/data.sha256" \
  --file "$build/tests/linux/vsock_echo:/vsock_echo" --file "$work/extra.cpio:/extra.cpio" \
  --file /sbin/debugfs:/sbin/debugfs --file /sbin/ip:/sbin/ip
