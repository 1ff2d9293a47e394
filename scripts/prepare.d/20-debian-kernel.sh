#!/usr/bin/env bash
# Fetches the Debian kernel (the package linux-image-amd64 depends on) and unpacks
# it into .cache/kernel/: vmlinuz (bzImage), vmlinux (the ELF inside vmlinuz's xz
# payload; it carries a PVH note) and lib/modules/<version>/. Nothing here is
# committed: the Debian package is the source. Fast no-op once done.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/.cache/kernel
stamp=$out/.done

if [ -f "$stamp" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/vmlinux" ]; then
  exit 0
fi

# The versioned image package, e.g. linux-image-6.1.0-56-amd64.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
  echo "20-debian-kernel: cannot find the linux-image package linux-image-amd64 depends on;" \
       "run 'apt-get update' (the Debian package index may be missing)" >&2
  exit 1
fi

work=$(mktemp -d)
# apt-get download writes the file as the unprivileged user _apt.
chown _apt "$work" 2>/dev/null || chmod 777 "$work"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$pkg" >/dev/null) || {
  echo "20-debian-kernel: 'apt-get download $pkg' failed; check the apt sources and network" >&2
  exit 1
}
deb=$(ls "$work"/*.deb)
mkdir -p "$work/x"
dpkg-deb -x "$deb" "$work/x"

version=$(ls "$work/x/lib/modules" | head -1)
rm -rf "$out.new"
mkdir -p "$out.new/lib/modules"
cp "$work/x/boot/vmlinuz-$version" "$out.new/vmlinuz"
cp "$work/x/boot/config-$version" "$out.new/config"
cp "$work/x/boot/System.map-$version" "$out.new/System.map" 2>/dev/null || true
mv "$work/x/lib/modules/$version" "$out.new/lib/modules/"
# The package ships no modules.dep (its postinst makes it): make it here.
depmod -b "$out.new" "$version"
"$root/scripts/prepare.d/lib/extract-vmlinux" "$out.new/vmlinuz" >"$out.new/vmlinux"
echo "$version" >"$out.new/version"
echo "$pkg $(dpkg-deb -f "$deb" Version)" >"$out.new/package"

rm -rf "$out"
mv "$out.new" "$out"
touch "$stamp"
echo "20-debian-kernel: $pkg ($version) in $out"
