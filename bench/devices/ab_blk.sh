#!/bin/sh
# By-hand A/B of the virtio-blk rows (RESULTS.md run 37): two insula binaries
# (A, B) and QEMU, each booting the appliance with the bench's four fio jobs
# on the cache=none RAM disk, the raw file and the qcow2 file, in rotating
# order, ROUNDS rounds. Prints "R row vmm value" lines. Runs inside the test
# host; from the repository root, e.g.:
#   a=$PWD/.cache/appliance; tests/nested/testhost run --no-retry --memory 3072 --timeout 3500 \
#     --file /usr/bin/qemu-system-x86_64 --file /usr/share/qemu --file /usr/share/seabios --file /usr/bin/qemu-img \
#     --file /usr/bin/fio --file A --file B --file $a/vmlinuz --file $a/initramfs.cpio.gz \
#     --file $PWD/bench/devices/ab_blk.sh --file TOOLS_LIST --file BRD_KO:/brd.ko -- \
#     sh $PWD/bench/devices/ab_blk.sh $a A B TOOLS_LIST 3
# (A, B: absolute paths of the binaries; TOOLS_LIST: fio and its libraries,
# made as run.sh makes its tools.list; BRD_KO: brd.ko of .cache/kernel.)
# Not yet folded into run.sh/inner.sh (whose --insula-b covers the net rows).
# Args: APPLIANCE INSULA_A INSULA_B TOOLS_LIST ROUNDS DISKS
a=$1 ia=$2 ib=$3 list=$4 rounds=$5 disks=${6:-"direct raw qcow2"} rt=4
(cd / && cpio -o -H newc -L <"$list" >/tmp/tools.cpio 2>/dev/null)
cp "$a/initramfs.cpio.gz" /tmp/initrd
pad=$(( (512 - $(wc -c </tmp/initrd) % 512) % 512 )); head -c "$pad" /dev/zero >>/tmp/initrd; cat /tmp/tools.cpio >>/tmp/initrd
dd if=/dev/urandom of=/tmp/disk.raw bs=1M count=64 2>/dev/null
qemu-img convert -f raw -O qcow2 /tmp/disk.raw /tmp/disk.qcow2
insmod /brd.ko rd_nr=1 rd_size=65536 && dd if=/tmp/disk.raw of=/dev/ram0 bs=1M 2>/dev/null
g='irq() { awk "/virtio/ { for (i = 2; i <= NF; i++) if (\$i ~ /^[0-9]+\$/) v += \$i } END { print v + 0 }" /proc/interrupts; }
for j in seqwrite:write:1M:8 seqread:read:1M:8 qd1:randread:4k:1 qd32:randread:4k:32; do
  IFS=: read n rw bs qd <<E
$j
E
  i0=$(irq)
  /usr/bin/fio --name=$n --filename=/dev/vda --rw=$rw --bs=$bs --iodepth=$qd --ioengine=libaio --direct=1 --runtime='$rt' --ramp_time=1 --time_based --size=64M --minimal 2>&1 | awk -F";" -v n=$n "/^3;/ { print \"FIO\", n, (n == \"seqwrite\" ? \$48 / 1024 : n == \"seqread\" ? \$7 / 1024 : \$8), (n == \"seqwrite\" ? \$49 : \$8) }"
  echo "IRQ $n $(irq) $i0"
done'
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
cmdline="console=ttyS0 quiet panic=-1 insula.run=$(b64 "$g")"
qemu="qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 512 -M q35 -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot -kernel $a/vmlinuz -initrd /tmp/initrd"
boot() {
  vmm=$1 d=$2; shift 2
  rm -f /tmp/out; timeout 300 "$@" "$cmdline" </dev/null >/tmp/out 2>&1; st=$?
  grep -q 'reboot: Power down' /tmp/out || echo "# $d $vmm: no power off (status $st)"
  tr -d '\r' </tmp/out | awk -v v=$vmm -v d=$d '/^FIO / { print "R", d "-" $2, v, $3; iops[$2] = $4 } /^IRQ / && iops[$2] > 0 { printf "R %s-%s-irq/req %s %.3f\n", d, $2, v, ($3 - $4) / (iops[$2] * 5) }'
}
run() {
  vmm=$1 d=$2
  case $d in direct) f=/dev/ram0 ;; raw) f=/tmp/disk.raw ;; qcow2) f=/tmp/disk.qcow2 ;; esac
  fmt=raw; [ $d = qcow2 ] && fmt=qcow2
  case $vmm in
    A|B) bin=$ia; [ $vmm = B ] && bin=$ib
       opt=; [ $d = direct ] && opt=,cache=direct
       boot $vmm $d $bin run --kernel $a/vmlinuz --initrd /tmp/initrd --cpus 2 --memory 512M --disk $f$opt --cmdline ;;
    qemu) c="cache=writeback,aio=threads"; [ $d = direct ] && c="cache=none,aio=native"
       boot qemu $d $qemu -drive file=$f,if=none,id=d0,format=$fmt,$c -device virtio-blk-pci,drive=d0 -append ;;
  esac
}
i=0
while [ $i -lt $rounds ]; do i=$((i+1))
  case $((i % 3)) in 1) o="A B qemu";; 2) o="B qemu A";; 0) o="qemu A B";; esac
  echo "# round $i ($o) load $(cat /proc/loadavg)"
  for d in $disks; do for v in $o; do run $v $d; done; done
done
echo INNER DONE
