#!/bin/sh
# Runs inside the emulated-hardware test host: a Linux guest (the appliance,
# 2 vCPUs, virtio-rng, a 64 MiB qcow2 disk with ext2 on it) runs a shell
# loop printing a tick and 4 bytes from /dev/hwrng every second; each tick
# it also reads /mnt/f from the disk (page cache dropped first, so what it
# prints is what the disk holds) and writes its tick there. `insula vm
# snapshot` saves it while it runs and `insula vm restore` resumes it: the
# guest must continue at the next tick and read back from the disk the tick
# it wrote just before the snapshot (the snapshot's disk part), not a later
# one. Prints "CHECK <name> PASS|FAIL <detail>".
I=/insula
A=/appliance
export INSULA_STATE_DIR=/tmp/insula-state
. /inner_lib.sh  # check, b64, vm_boot
ticks() { $I vm logs lx | tr -d '\r' | sed -n 's/^tick=\([0-9]*\) .*/\1/p'; }
wait_ticks() {  # N TIMEOUT: until the log holds at least N tick lines
  i=0 size=0 still=0
  while [ "$(ticks | wc -l)" -lt "$1" ] && [ $i -lt "$2" ]; do
    sleep 1; i=$((i + 1))
    now=$($I vm logs lx 2>/dev/null | wc -c)
    if [ "$now" = "$size" ]; then still=$((still + 1)); else size=$now still=0; fi
    [ $still -ge 60 ] && break  # the console stopped growing
    [ $((i % 5)) = 0 ] && stopped && break
  done
}
stopped() { $I vm info lx 2>/dev/null | grep -q "^state: *stopped"; }

LOOP='mke2fs -F /dev/vda >/dev/null 2>&1; mount -t ext4 /dev/vda /mnt || echo "mount failed"
i=0; while :; do i=$((i + 1)); r=$(head -c 4 /dev/hwrng 2>/dev/null | od -An -tx1 | tr -d " \n")
sync; echo 3 >/proc/sys/vm/drop_caches; p=$(cat /mnt/f 2>/dev/null); echo "tick=$i" >/mnt/f; sync
echo "tick=$i rng=$r file=$p"; sleep 1; done'
$I vm create lx --kernel $A/vmlinux --initrd $A/initramfs.cpio.gz --cpus 2 --memory 512M --blank-disk 64M \
  --cmdline "console=ttyS0 panic=-1 insula.run=$(b64 "$LOOP")" >/dev/null
# Up to its third tick (started once more if nested KVM kills or stalls it
# before: inner_lib.sh).
vm_boot "$I vm" $INSULA_STATE_DIR lx '^tick=3 '
n=$(ticks | wc -l)
check linux_snapshot_guest_runs $([ "$n" -ge 3 ]; echo $?) "ticks before the snapshot: $n$retried"
if [ "$n" -lt 3 ]; then  # what the VM and its VMM said, for the log
  $I vm list
  tail -5 $INSULA_STATE_DIR/vms/lx/vmm.log 2>/dev/null | sed 's/^/vmm.log: /'
  { $I vm logs lx | tr -d '\r' | tail -15; echo; } | sed 's/^/console: /'
fi

$I vm snapshot lx s1 --keep-paused; st=$?
check linux_snapshot_created $([ $st = 0 ]; echo $?) "status=$st"
sleep 1
at=$(ticks | tail -1)
# The guest goes on writing ticks to its disk past the snapshot.
$I vm resume lx >/dev/null
wait_ticks $(($(ticks | wc -l) + 3)) 60
# Paused first: the running VM printed one or two more ticks between the
# count and the restore stopping it (CI, 2026-12-02: "after restore: 9 .. 6"
# and "10 .. 7"), which are not the restored guest's.
$I vm pause lx >/dev/null
before=$(ticks | wc -l)

$I vm restore lx s1; st=$?
check linux_restore_started $([ $st = 0 ]; echo $?) "status=$st"
wait_ticks $((before + 3)) 60
first=$(ticks | sed -n "$((before + 1))p")
third=$(ticks | sed -n "$((before + 3))p")
check linux_shell_continues $([ -n "$first" ] && [ "$first" = $((at + 1)) ] && [ "$third" = $((at + 3)) ]; echo $?) \
  "last tick before: $at; after restore: $first .. $third"
rng=$($I vm logs lx | tr -d '\r' | sed -n "s/^tick=$((at + 3)) rng=\([0-9a-f]*\) file=.*$/\1/p" | tail -1)
check linux_rng_after_restore $([ ${#rng} = 8 ]; echo $?) "tick $((at + 3)) read '$rng' from /dev/hwrng"
# The guest had written ticks past $at to the disk before the restore; the
# restored disk holds tick $at again, and the guest reads exactly that.
file=$($I vm logs lx | tr -d '\r' | sed -n "s/^tick=$((at + 1)) rng=[0-9a-f]* file=\(.*\)$/\1/p" | tail -1)
check linux_disk_restored $([ "$file" = "tick=$at" ]; echo $?) "tick $((at + 1)) read '$file' from the disk, expected 'tick=$at'"

# A damaged snapshot is refused and the restored guest keeps running.
$I vm snapshot lx s2 >/dev/null
state=$INSULA_STATE_DIR/vms/lx/snapshots/s2/state
truncate -s $(( $(wc -c <"$state") / 2 )) "$state"
$I vm restore lx s2 >/tmp/bad.out 2>&1; st=$?
n=$(ticks | wc -l)
wait_ticks $((n + 2)) 30
m=$(ticks | wc -l)
check linux_bad_snapshot_refused $([ $st != 0 ] && grep -q truncated /tmp/bad.out && [ "$m" -ge $((n + 2)) ]; echo $?) \
  "status=$st: $(head -c 200 /tmp/bad.out); ticks $n -> $m"
if [ "$m" -lt $((n + 2)) ]; then  # the guest stopped ticking: why (seen once, 2026-12-02, console cut mid-line)
  $I vm list
  vm_threads "$I vm" lx
  tail -5 $INSULA_STATE_DIR/vms/lx/vmm.log 2>/dev/null | sed 's/^/vmm.log: /'
  { $I vm logs lx | tr -d '\r' | tail -5; echo; } | sed 's/^/console: /'
fi
$I vm snapshot-rm lx s1 >/dev/null; $I vm snapshot-rm lx s2 >/dev/null
$I vm stop lx >/dev/null
disk=$INSULA_STATE_DIR/vms/lx/blank0.qcow2
$I img check "$disk" >/tmp/check.out 2>&1; st=$?
$I img snapshot -l "$disk" >/tmp/snaps.out 2>&1
check linux_disk_clean $([ $st = 0 ] && ! grep -q ' s[12] ' /tmp/snaps.out; echo $?) \
  "img check status=$st: $(tail -1 /tmp/check.out); snapshots left: $(tr '\n' ' ' </tmp/snaps.out)"
$I vm logs lx | tail -5
echo "INNER DONE"
