#!/usr/bin/env bash
# Builds insula's default guest appliance into .cache/appliance/: the Debian
# kernel (vmlinuz bzImage and vmlinux PVH ELF) and initramfs.cpio.gz holding
# busybox, the virtio/vsock/ext4 modules with their dependencies, and the init in
# scripts/prepare.d/appliance/init. Fast no-op when up to date.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/scripts/prepare.d
kernel=$root/.cache/kernel
out=$root/.cache/appliance
. "$here/lib/initramfs.sh"

# Modules the appliance loads at boot, in this order (modprobe adds dependencies).
modules="virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio-rng
virtio_balloon vmw_vsock_virtio_transport crc32c-intel crc32c_generic ext4
button evdev"

[ -f "$kernel/.done" ] || "$here/20-debian-kernel.sh"

# Rebuild when the kernel, the init, this script or the helpers changed.
key=$(cat "$kernel/package" "$here/appliance/init" "$0" "$here/lib/initramfs.sh" | sha256sum | cut -c1-16)
if [ -f "$out/.key" ] && [ "$(cat "$out/.key")" = "$key" ]; then
  exit 0
fi

version=$(cat "$kernel/version")
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
initramfs_busybox "$tree"
# shellcheck disable=SC2086
initramfs_modules "$tree" "$kernel" "$version" $modules
echo $modules >"$tree/etc/appliance-modules"
cp "$here/appliance/init" "$tree/init"
chmod 755 "$tree/init"

rm -rf "$out.new"
mkdir -p "$out.new"
initramfs_pack "$tree" "$out.new/initramfs.cpio.gz"
# Hard links: the kernel files are large and never modified in place.
ln "$kernel/vmlinuz" "$out.new/vmlinuz" 2>/dev/null || cp "$kernel/vmlinuz" "$out.new/vmlinuz"
ln "$kernel/vmlinux" "$out.new/vmlinux" 2>/dev/null || cp "$kernel/vmlinux" "$out.new/vmlinux"
echo "$version" >"$out.new/version"
echo "$key" >"$out.new/.key"
rm -rf "$out"
mv "$out.new" "$out"
echo "30-appliance: $out ($(du -h "$out/initramfs.cpio.gz" | cut -f1) initramfs, kernel $version)"
