#!/bin/sh
# Runs inside the emulated-hardware test host (tests/nested/testhost): boots
# the guest appliance under insula several ways and prints one line per check:
#   CHECK <name> PASS|FAIL <detail>
# linux_boot_test.sh collects them; each check is one ctest test.
I=/insula
A=/appliance
. /inner_lib.sh  # check, b64, field

GUEST_PROBE='echo "nproc=$(nproc)"; echo "cpuinfo=$(grep -c ^processor /proc/cpuinfo)";
echo "memtotal=$(sed -n "s/MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo)";
echo "date=$(date +%s)";
echo "acpierrors=$(dmesg | grep -ciE "ACPI (BIOS )?Error|APIC.*(error|fail)|No local APIC|IRQ.*mismatch")";
echo "highram=$(grep -c "^1[0-9a-f]\{8\}-.* : System RAM" /proc/iomem)";
echo "clockevent=$(cat /sys/devices/system/clockevents/clockevent0/current_device)"'

# 1. PVH vmlinux, 2 vCPUs, 512 MiB, power-off.
t0=$(date +%s)
$I run --kernel $A/vmlinux --initrd $A/initramfs.cpio.gz --cpus 2 --memory 512M \
  --cmdline "console=ttyS0 panic=-1 insula.run=$(b64 "$GUEST_PROBE")" </dev/null >/tmp/pvh.out 2>&1
st=$?
t1=$(date +%s)
grep -q "insula-appliance: init reached" /tmp/pvh.out; check pvh_boots_to_init $? "PVH vmlinux"
check pvh_poweroff_status $([ $st = 0 ]; echo $?) "status=$st (poweroff -f: expect 0)"
n=$(field nproc /tmp/pvh.out); c=$(field cpuinfo /tmp/pvh.out)
check two_vcpus_online $([ "$n" = 2 ] && [ "$c" = 2 ]; echo $?) "nproc=$n cpuinfo=$c"
m=$(field memtotal /tmp/pvh.out)
# 512 MiB = 524288 kB; the kernel keeps its image and reserved areas out of MemTotal.
check memtotal_512m $([ -n "$m" ] && [ "$m" -gt 440000 ] && [ "$m" -le 524288 ]; echo $?) "MemTotal=${m}kB"
d=$(field date /tmp/pvh.out)
check guest_clock $([ -n "$d" ] && [ "$d" -ge $((t0 - 3)) ] && [ "$d" -le $((t1 + 3)) ]; echo $?) "guest=$d host=[$t0,$t1]"
e=$(field acpierrors /tmp/pvh.out)
check no_acpi_apic_errors $([ "$e" = 0 ]; echo $?) "matching dmesg lines: $e"
# KVM here has KVM_CAP_TSC_DEADLINE_TIMER: the CPUID offers it, as QEMU's does.
ce=$(field clockevent /tmp/pvh.out)
check tsc_deadline_timer $([ "$ce" = lapic-deadline ]; echo $?) "CPU 0's clock event device: $ce"
grep -q "Linux version" /tmp/pvh.out; check kernel_log_on_ttyS0 $? "boot messages on the serial console"
[ -f /tmp/pvh.out ] && sed -n '/ACPI.*[Ee]rror\|APIC.*error/p' /tmp/pvh.out | head -5

# 2. bzImage, 1 vCPU, 3.5 GiB (RAM above the 4 GiB hole), reboot.
$I run --kernel $A/vmlinuz --initrd $A/initramfs.cpio.gz --cpus 1 --memory 3584M \
  --cmdline "console=ttyS0 panic=-1 insula.reboot=1 insula.run=$(b64 "$GUEST_PROBE")" </dev/null >/tmp/bz.out 2>&1
st=$?
grep -q "insula-appliance: init reached" /tmp/bz.out; check bzimage_boots_to_init $? "bzImage"
check bzimage_reboot_status $([ $st = 2 ]; echo $?) "status=$st (reboot -f: expect 2)"
n=$(field nproc /tmp/bz.out)
check one_vcpu_online $([ "$n" = 1 ]; echo $?) "nproc=$n"
m=$(field memtotal /tmp/bz.out); h=$(field highram /tmp/bz.out)
check memtotal_3584m_above_4g $([ -n "$m" ] && [ "$m" -gt 3400000 ] && [ "$m" -le 3670016 ] && [ "$h" -ge 1 ]; echo $?) \
  "MemTotal=${m}kB ranges-above-4GiB=$h"

# 3. The console both ways: type into the appliance's shell, read the answer.
rm -f /tmp/con.in; mkfifo /tmp/con.in
# No --kernel: the default guest, which is the appliance on hardware KVM.
exec 3<>/tmp/con.in
INSULA_APPLIANCE_DIR=$A $I run </tmp/con.in >/tmp/con.out 2>&1 &
pid=$!
i=0
while ! grep -q "insula-appliance: init reached" /tmp/con.out && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
sleep 2
echo 'echo typed-$((6 * 7))' >&3
i=0
while ! grep -q "typed-42" /tmp/con.out && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
echo 'poweroff -f' >&3
wait $pid
st=$?
exec 3>&-
grep -q "typed-42" /tmp/con.out; check console_both_ways $? "default appliance, stdin -> shell -> stdout"
check console_poweroff_status $([ $st = 0 ]; echo $?) "status=$st"

# 4. A kernel panic with panic=-1 reboots at once: insula ends with status 2.
$I run --kernel $A/vmlinuz --initrd $A/initramfs.cpio.gz --memory 256M \
  --cmdline "console=ttyS0 panic=-1 insula.run=$(b64 'echo c > /proc/sysrq-trigger')" </dev/null >/tmp/panic.out 2>&1
st=$?
grep -q "Kernel panic" /tmp/panic.out; p=$?
check panic_ends_run $([ $p = 0 ] && [ $st = 2 ]; echo $?) "panic seen=$([ $p = 0 ] && echo yes || echo no) status=$st"
echo "INNER DONE"
