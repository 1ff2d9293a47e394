# Shell functions shared by the scripts that build initramfs images from the
# Debian kernel in .cache/kernel (the guest appliance, the nested test host).
# Source it; it defines functions only.

# initramfs_busybox TREE: a static busybox at TREE/bin/busybox with every applet
# linked in /bin (busybox-static is a Debian package, deps/nested.txt).
initramfs_busybox() {
  local tree=$1
  mkdir -p "$tree"/{bin,sbin,dev,proc,sys,tmp,run,root,etc,mnt,usr/lib,usr/lib64,usr/bin,usr/sbin}
  # Merged /usr like Debian 12, so host files keep their paths (ldd names /lib/...).
  ln -s usr/lib "$tree/lib"
  ln -s usr/lib64 "$tree/lib64"
  cp /bin/busybox "$tree/bin/busybox"
  if readelf -l "$tree/bin/busybox" 2>/dev/null | grep -q INTERP; then
    echo "initramfs: /bin/busybox is not static; install busybox-static" >&2
    return 1
  fi
  local a
  for a in $("$tree/bin/busybox" --list); do
    [ -e "$tree/bin/$a" ] || ln -s busybox "$tree/bin/$a"
  done
}

# initramfs_modules TREE KROOT VERSION MODULE...: copies the modules and
# everything they depend on from KROOT/lib/modules/VERSION into TREE, then runs
# depmod there so that modprobe inside the guest resolves dependencies itself.
initramfs_modules() {
  local tree=$1 kroot=$2 version=$3
  shift 3
  local src=$kroot/lib/modules/$version m path
  mkdir -p "$tree/lib/modules/$version"
  cp "$src"/modules.{order,builtin,builtin.modinfo} "$tree/lib/modules/$version/" 2>/dev/null || true
  for m in "$@"; do
    modprobe -d "$kroot" -S "$version" --show-depends "$m" >/dev/null || {
      echo "initramfs: module $m not found in $src" >&2
      return 1
    }
    modprobe -d "$kroot" -S "$version" --show-depends "$m" | while read -r _ path _; do
      # "builtin X" lines name modules compiled into the kernel: nothing to copy.
      [ -f "$path" ] || continue
      mkdir -p "$tree/$(dirname "${path#"$kroot"}")"
      cp "$path" "$tree/${path#"$kroot"}"
    done
  done
  depmod -b "$tree" "$version"
}

# initramfs_pack TREE OUT.cpio.gz: newc cpio, owned by root, gzip'd, zero-padded
# to a multiple of 512 bytes so that another archive appended to it (tests add
# files that way) starts 4-byte aligned, as the kernel requires; it skips the
# zeros between archives.
initramfs_pack() {
  local tree=$1 out=$2
  (cd "$tree" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 >"$out.tmp"
  local size
  size=$(stat -c %s "$out.tmp")
  head -c $(( (512 - size % 512) % 512 )) /dev/zero >>"$out.tmp"
  mv "$out.tmp" "$out"
}
