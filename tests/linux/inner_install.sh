#!/bin/sh
# Runs inside the emulated-hardware test host: installs the appliance's
# userland onto a blank disk and boots from it, under `insula vm`.
#  1. VM "inst": the appliance kernel+initramfs as the installer, with a fresh
#     64 MiB qcow2 (--blank-disk). Its insula.run script formats the disk
#     (busybox mke2fs; the appliance's ext4 module mounts ext2), copies its
#     own userland (busybox, /init, /etc, the modules) onto it, writes a token
#     only this install knows, and powers off.
#  2. VM "os": cloned from inst (`vm create --from`: its disk is a qcow2
#     overlay over the installed one) with root=/dev/vda. The appliance kernel
#     has virtio_blk and ext4 as modules, so, as a distribution's initramfs
#     does, the initramfs loads them, mounts the root device and enters the
#     disk's userland (chroot: insula.run is not PID 1, so not switch_root);
#     the disk's own /bin/sh runs the disk's /installed.sh, which prints the token.
# One line per check: CHECK <name> PASS|FAIL <detail>.
T=/insula-tools
A=/appliance
export INSULA_STATE_DIR=/tmp/state
. /inner_lib.sh  # check, b64
# Waits (up to 240 s) for VM $1 to stop by itself.
wait_stopped() {
  i=0
  while [ $i -lt 240 ]; do
    $T vm info "$1" --output json | grep -q '"state": "stopped"' && return 0
    sleep 1; i=$((i + 1))
  done
  return 1
}

INSTALL='set -e
mke2fs -F /dev/vda >/dev/null
mount -t ext4 /dev/vda /mnt
cp -a /bin /sbin /etc /init /mnt/
mkdir -p /mnt/usr /mnt/proc /mnt/sys /mnt/dev /mnt/run /mnt/tmp /mnt/mnt
cp -a /usr/lib /mnt/usr/
token=$(cat /proc/sys/kernel/random/uuid)
echo "$token" >/mnt/etc/install-token
cat >/mnt/installed.sh <<"X"
#!/bin/sh
echo "disk-root token=$(cat /etc/install-token) end"
X
umount /mnt
echo "installed token=$token"'
$T vm create inst --kernel $A/vmlinux --initrd $A/initramfs.cpio.gz --memory 256M --blank-disk 64M \
  --cmdline "console=ttyS0 panic=-1 insula.run=$(b64 "$INSTALL")" || { echo "vm create inst failed"; exit 1; }
$T vm start inst || { echo "vm start inst failed"; cat /tmp/state/vms/inst/vmm.log; exit 1; }
wait_stopped inst; st=$?
token=$($T vm logs inst | tr -d '\r' | sed -n 's/^installed token=//p')
$T vm logs inst | tr -d '\r' | tail -5
check install_blank_disk $([ $st = 0 ] && [ -n "$token" ]; echo $?) "installer stopped=$st token=$token"

BOOT='root=$(sed -n "s/.*root=\([^ ]*\).*/\1/p" /proc/cmdline)
mount -t ext4 "$root" /mnt && chroot /mnt /bin/sh /installed.sh'
$T vm create os --from inst --cmdline "console=ttyS0 panic=-1 root=/dev/vda insula.run=$(b64 "$BOOT")" \
  || { echo "vm create os failed"; exit 1; }
$T vm info os --output json | grep path_on_host
$T vm start os || { echo "vm start os failed"; cat /tmp/state/vms/os/vmm.log; exit 1; }
wait_stopped os; st=$?
line=$($T vm logs os | tr -d '\r' | grep '^disk-root token=')
$T vm logs os | tr -d '\r' | tail -5
check boot_from_disk $([ $st = 0 ] && [ -n "$token" ] && [ "$line" = "disk-root token=$token end" ]; echo $?) "$line"
# The installer's disk is the clone's base now: starting inst writable is refused.
$T vm start inst 2>/tmp/err; st=$?
check install_base_protected $([ $st != 0 ] && grep -q "read-only base of clone os" /tmp/err; echo $?) "$(cat /tmp/err)"
echo "INNER DONE"
