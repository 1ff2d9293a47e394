#!/bin/sh
# Runs inside the emulated-hardware test host (see run.sh): device benchmarks of
# insula and QEMU, interleaved, each VMM booting the same appliance with the
# same disk file / tap device. One line per measurement:
#   RESULT <row> <vmm> <value>        (vmm: insula, qemu, qemu-vhost, host)
# Args: APPLIANCE_DIR INSULA TOOLS_LIST RUNTIME_S DISK_MIB ROUNDS [GUESTKIT_ELF|- [ROWS [BRD_KO]]]
# (ROWS: which groups run, comma-separated, default blk,net,kit; kit needs
# GUESTKIT_ELF; direct, the cache=none rows, needs BRD_KO, the kernel's
# RAM-disk module)
# Environment: INSULA_B=PATH: every row also boots this second insula
# binary (vmm "insula-b": before/after a change, in the same run; the three
# boots of a row take turns in every slot, so use a multiple of 3 rounds);
# ROUND0=N: the rounds are numbered from N + 1 (run.sh runs one round per
# test-host boot; the number sets the order of the VMMs);
# NET_PROFILE=1 (needs perf in the test host): a system-wide profile, KVM
# exit counts and the tap's packet counts while each net iperf3 runs,
# printed as "# prof ..." lines.
a=$1 insula=$2 list=$3 rt=$4 mib=$5 rounds=$6 kit=${7:-} rows=$(echo "${8:-blk,net,kit}" | tr , ' ') brd=${9:-}
[ "$kit" = - ] && kit=
want() { case " $rows " in *" $1 "*) return 0;; esac; return 1; }
boot_timeout=$((120 + 12 * rt * 4))
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
# bounded COMMAND...: runs it with output to /tmp/out for at most boot_timeout
# seconds; one still running then gets its threads' states and kernel stacks
# printed ("# hung ..." lines), and insula its device state ("# hung dump"),
# before it is killed (status 137).
bounded() {
  "$@" </dev/null >/tmp/out 2>&1 &
  bpid=$! s=0
  while kill -0 $bpid 2>/dev/null && [ $s -lt "$boot_timeout" ]; do sleep 1; s=$((s + 1)); done
  if kill -0 $bpid 2>/dev/null; then
    for p in $bpid $(cat /proc/$bpid/task/*/children 2>/dev/null); do
      for t in /proc/$p/task/*; do
        echo "# hung thread ${t##*/} $(cat $t/comm) state $(awk '{print $3}' $t/stat) wchan $(cat $t/wchan 2>/dev/null)"
        head -8 $t/stack 2>/dev/null | sed 's/^/# hung   /'
      done
    done
    # insula logs its devices' state on SIGUSR2 (queue indices on both
    # sides, requests in flight, interrupts held or pending) and runs on.
    case "$(cat /proc/$bpid/comm 2>/dev/null)" in insula*) kill -USR2 $bpid; sleep 2;; esac
    tr -d '\r' </tmp/out | grep 'insula: warning: virtio-' | sed 's/^/# hung dump: /'
    tr -d '\r' </tmp/out | grep -v 'insula: warning: virtio-' | tail -15 | sed 's/^/# hung out: /'
    kill -9 $bpid
  fi
  wait $bpid
}
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# fio and iperf3 (with their libraries, copied in by testhost) go into the
# guest as a second, uncompressed cpio appended to the appliance's initramfs.
(cd / && cpio -o -H newc -L <"$list" >/tmp/tools.cpio 2>/dev/null)
# The kernel wants the appended archive 4-byte aligned and skips zero padding.
cp "$a/initramfs.cpio.gz" /tmp/initrd
pad=$(( (512 - $(wc -c </tmp/initrd) % 512) % 512 ))
head -c "$pad" /dev/zero >>/tmp/initrd
cat /tmp/tools.cpio >>/tmp/initrd
echo "guest initrd: $(($(wc -c </tmp/initrd) >> 20)) MiB"

# The disk: DISK_MIB of random data in the test host's tmpfs (its page cache
# is the backing store, like a well-cached host disk), and a fully allocated
# qcow2 copy of it.
dd if=/dev/urandom of=/tmp/disk.raw bs=1M count="$mib" 2>/dev/null
qemu-img convert -f raw -O qcow2 /tmp/disk.raw /tmp/disk.qcow2

# fio inside the guest: direct I/O on /dev/vda, libaio, time-based. The same
# text runs in the test host for the limit rows (F, E, D set differently).
# Prints "FIO job bw_KiB/s iops" per job (terse v3: read 7/8, write 48/49).
fio_jobs=$(cat <<'EOS'
for j in seqwrite:write:1M:8 seqread:read:1M:8 randread-qd1:randread:4k:1 randread-qd32:randread:4k:32; do
  IFS=: read n rw bs qd <<E
$j
E
  [ -n "$IRQ" ] && i0=$(irqs)
  /usr/bin/fio --name=$n --filename=$F --rw=$rw --bs=$bs --iodepth=$qd --ioengine=$E --direct=$D --runtime=$RT \
    --ramp_time=1 --time_based --size=${MIB}M --minimal 2>&1 |
    awk -F';' -v n=$n '/^3;/ { print "FIO", n, n == "seqwrite" ? $48 : $7, n == "seqwrite" ? $49 : $8; next } { print }'
  [ -n "$IRQ" ] && echo "IRQ $n $(irqs)" "$i0"
done
EOS
)
# In the guest, interrupts per request too (IRQ=1): the guest's virtio
# interrupts and its IPIs (function call, reschedule) over each job, from
# /proc/interrupts; printed as "IRQ job virtio ipi" after and before.
guest_blk="F=/dev/vda E=libaio D=1 RT=$rt MIB=$mib IRQ=1
irqs() { awk '/virtio/ { for (i = 2; i <= NF; i++) if (\$i ~ /^[0-9]+\$/) v += \$i } /^ *(CAL|RES):/ { for (i = 2; i <= NF; i++) if (\$i ~ /^[0-9]+\$/) p += \$i } END { print v + 0, p + 0 }' /proc/interrupts; }
$fio_jobs"
guest_net='ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || exit 1
read up idle </proc/uptime; echo "GUEST up $up s before iperf3"
for d in tx rx; do
  [ $d = rx ] && r=-R || r=
  /usr/bin/iperf3 -c 10.0.2.1 -t '"$rt"' -O 1 -f m $r | awk -v d=$d '"'"'/receiver/ { for (i = 1; i < NF; i++) if ($(i+1) == "Mbits/sec") print "NET", d, $i } /error/ { print }'"'"'
done'

cmdline="console=ttyS0 quiet panic=-1"
qemu="qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 512 -M q35 -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot -kernel $a/vmlinuz -initrd /tmp/initrd"
run_args="run --kernel $a/vmlinuz --initrd /tmp/initrd --cpus 2 --memory 512M"

# boot ROW_PREFIX VMM GUEST_SCRIPT COMMAND...: runs COMMAND with insula.run=GUEST_SCRIPT
# appended to the command line, turns the guest's FIO/NET lines into RESULT lines.
boot() {
  prefix=$1 vmm=$2 g=$3; shift 3
  start=$(now_ms)
  # A hung boot (seen once: the test host's kernel stalled) costs one row, not the run.
  bounded "$@" "$cmdline insula.run=$(b64 "$g")"
  st=$?
  echo "# $prefix $vmm: $(( $(now_ms) - start )) ms, status $st"
  # QEMU (-no-reboot) exits 0 after a guest reset or triple fault: the
  # guest's missing power-off says so, for either VMM.
  grep -q 'reboot: Power down' /tmp/out || echo "# $prefix $vmm: the guest did not power off (crash, reset or hang)"
  tr -d '\r' </tmp/out | awk -v p="$prefix" -v v="$vmm" -v rt="$rt" '
    /^FIO / && $3 != "" { if ($2 ~ /^seq/) print "RESULT", p "-" $2 "-MiB/s", v, $3 / 1024; else print "RESULT", p "-" $2 "-IOPS", v, $4; ok = 1; iops[$2] = $4 }
    # IRQ job virtio ipi virtio0 ipi0: per request over the ramp second and the runtime.
    /^IRQ / && iops[$2] > 0 { r = iops[$2] * (rt + 1); print "RESULT", p "-" $2 "-irq/req", v, ($3 - $5) / r; print "RESULT", p "-" $2 "-ipi/req", v, ($4 - $6) / r }
    /^NET / && $3 != "" { print "RESULT", p "-" $2 "-Mbit/s", v, $3; ok = 1 }
    /^GUEST / || /virtio-(net|blk) stats/ { print "#", v, $0 }
    END { if (!ok) print "FAILED", p, v }' | tee /tmp/res
  grep -q FAILED /tmp/res && tr -d '\r' </tmp/out | tail -15
}

# kit_boot ROW_PREFIX VMM COMMAND...: boots the guest kit's blkbench (guests/src/
# blkbench.c: polled virtio-blk requests timed with the TSC, no guest kernel)
# and turns its "BLKKIT row IOPS MiB/s" lines into RESULT lines.
kit_boot() {
  prefix=$1 vmm=$2; shift 2
  start=$(now_ms)
  bounded "$@"
  st=$?
  echo "# $prefix $vmm: $(( $(now_ms) - start )) ms, status $st"
  tr -d '\r' </tmp/out | awk -v p="$prefix" -v v="$vmm" '
    /^blkbench: [0-9]/ { print "#", v, $0 }
    /^BLKKIT / && $3 != "" { if ($2 ~ /^seq/) print "RESULT", p "-" $2 "-MiB/s", v, $4; else print "RESULT", p "-" $2 "-IOPS", v, $3; ok = 1 }
    END { if (!ok) print "FAILED", p, v }' | tee /tmp/res
  grep -q FAILED /tmp/res && tr -d '\r' </tmp/out | tail -15
}

# The limit rows: the test host's own reads and writes of the same file
# (buffered: tmpfs has no O_DIRECT in this kernel; io_uring at the same depth).
host_limit() {
  F=/tmp/disk.raw E=io_uring D=0 RT=$rt MIB=$mib sh -c "$fio_jobs" | awk '/^FIO / { if ($2 ~ /^seq/) print "RESULT", "blk-raw-" $2 "-MiB/s", "host", $3 / 1024; else print "RESULT", "blk-raw-" $2 "-IOPS", "host", $4 }'
}

# cache=none needs O_DIRECT, which tmpfs lacks: a RAM disk (brd) holding a
# copy of the raw disk is a block device that has it. Its limit rows: the
# test host's own fio on it with direct I/O (libaio at the same depth).
if want direct && [ -n "$brd" ]; then
  if insmod "$brd" rd_nr=1 rd_size=$((mib * 1024)) && dd if=/tmp/disk.raw of=/dev/ram0 bs=1M 2>/dev/null; then
    echo "direct rows on /dev/ram0 ($mib MiB)"
  else
    echo "no RAM disk: no direct rows"; brd=
  fi
fi
host_limit_direct() {
  F=/dev/ram0 E=libaio D=1 RT=$rt MIB=$mib sh -c "$fio_jobs" | awk '/^FIO / { if ($2 ~ /^seq/) print "RESULT", "blk-direct-" $2 "-MiB/s", "host", $3 / 1024; else print "RESULT", "blk-direct-" $2 "-IOPS", "host", $4 }'
}

# busybox ip has no tuntap: iproute2's ip is copied in.
/sbin/ip tuntap add dev tap0 mode tap && ip addr add 10.0.2.1/24 dev tap0 && ip link set tap0 up
# A fresh iperf3 server for every net boot: a guest that dies in the middle
# of a transfer leaves the old one busy with it ("the server is busy").
iperf3_server() {
  [ -f /tmp/iperf3.pid ] && kill "$(cat /tmp/iperf3.pid)" 2>/dev/null && sleep 1
  rm -f /tmp/iperf3.pid
  iperf3 -s -D -I /tmp/iperf3.pid
}
iperf3_server
echo "vhost-net: $(ls -l /dev/vhost-net 2>&1)"

# NET_PROFILE=1: watches for the guest's iperf3 connection to tap0's address
# (port 5201 = 0x1451 in /proc/net/tcp6, state 01 = established) and, in a
# window of RUNTIME/2 s inside each of the two transfers, records the whole
# test host with perf (cpu-clock samples and every syscall entry) and takes
# the difference of KVM's exit counters (debugfs, per VM), tap0's packet
# counters and the VMM's per-thread CPU time and context switches. Runs in
# the background during one boot; the reports are printed after it
# (net_profile_end) so they do not load the next boot. A profiled boot's
# throughput is not a result.
cat >/tmp/snap.sh <<'EOS'
read up idle </proc/uptime; echo "uptime_ms ${up%.*}${up#*.}0"
for f in /sys/kernel/debug/kvm/*/exits /sys/kernel/debug/kvm/*/halt_exits /sys/kernel/debug/kvm/*/io_exits \
         /sys/kernel/debug/kvm/*/mmio_exits /sys/kernel/debug/kvm/*/irq_exits /sys/kernel/debug/kvm/*/irq_injections \
         /sys/kernel/debug/kvm/*/halt_wakeup /sys/kernel/debug/kvm/*/signal_exits /sys/kernel/debug/kvm/*/request_irq_exits; do
  [ -f "$f" ] && echo "kvm_$(basename "$(dirname "$f")")_$(basename "$f") $(cat "$f")"
done 2>/dev/null
for f in rx_packets tx_packets rx_bytes tx_bytes rx_dropped tx_dropped; do echo "tap0_$f $(cat /sys/class/net/tap0/statistics/$f)"; done
for p in /proc/[0-9]*; do
  case "$(cat $p/comm 2>/dev/null)" in insula*|qemu-system*) ;; *) continue;; esac
  for t in $p/task/*; do
    c=$(tr ' ' _ <$t/comm)
    awk -v k="thread_${t##*/}_$c" '{ print k "_cpu_ticks", $14 + $15 }' $t/stat
    awk -v k="thread_${t##*/}_$c" '/^(non)?voluntary_ctxt_switches/ { sub(":", "", $1); print k "_" $1, $2 }' $t/status
  done
done
EOS
connected() { cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':1451 [0-9A-F]*:[0-9A-F]* 01'; }
mounted() { grep -q " $1 " /proc/mounts; }
nap() { sleep 0.1 2>/dev/null || sleep 1; }
net_profile() {
  [ "${NET_PROFILE:-}" = 1 ] || return 0
  vmm=$1
  rm -f /tmp/boot.done /tmp/kt.* /tmp/perf.*
  mounted /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
  mounted /sys/kernel/tracing || mount -t tracefs none /sys/kernel/tracing 2>/dev/null
  (
    for d in tx rx; do
      until connected; do [ -e /tmp/boot.done ] && exit 0; nap; done
      sleep 1  # past iperf3's omitted first second (-O 1)
      perf record -q -a -e 'cpu-clock/freq=499/,raw_syscalls:sys_enter' -c 1 -o /tmp/perf.$d -- \
        sh -c "sh /tmp/snap.sh >/tmp/kt.$d.0; sleep $((rt / 2)); sh /tmp/snap.sh >/tmp/kt.$d.1" 2>/dev/null
      while connected && [ ! -e /tmp/boot.done ]; do nap; done
    done
  ) &
  prof_pid=$!
}
net_profile_end() {
  [ "${NET_PROFILE:-}" = 1 ] || return 0
  touch /tmp/boot.done
  wait "$prof_pid"
  for d in tx rx; do
    [ -e /tmp/kt.$d.1 ] || { echo "# prof $vmm $d: no transfer seen"; continue; }
    echo "# prof $vmm $d: counter deltas over the window"
    awk 'NR == FNR { v[$1] = $2; next } !seen[$1]++ && $2 - v[$1] > 0 { printf "# prof   %s %d\n", $1, $2 - v[$1] }' /tmp/kt.$d.0 /tmp/kt.$d.1
    echo "# prof $vmm $d: cpu-clock samples by thread"
    perf report -i /tmp/perf.$d --stdio --sort pid 2>/dev/null | awk '/^# Samples/ { s++ } s == 1 && /%/' | head -20 | sed 's/^/# prof   /'
    echo "# prof $vmm $d: cpu-clock samples by symbol"
    perf report -i /tmp/perf.$d --stdio --sort comm,dso,sym 2>/dev/null | awk '/^# Samples/ { s++ } s == 1 && /%/' | head -60 | sed 's/^/# prof   /'
    echo "# prof $vmm $d: syscalls by thread and number (whole perf run)"
    perf script -i /tmp/perf.$d -F comm,tid,event,trace 2>/dev/null | awk '/sys_enter/ { for (i = 1; i <= NF; i++) if ($i == "NR") c[$1 " " $2 " " $(i + 1)]++ }
      END { for (k in c) print c[k], k }' | grep -E 'insula|qemu|iperf3' | sort -rn | head -25 | sed 's/^/# prof   /'
  done
  rm -f /tmp/perf.* /tmp/kt.*
}

# insula_of VMM: the binary an insula VMM (insula, insula-b) runs.
insula_of() { if [ "$1" = insula-b ]; then echo "$INSULA_B"; else echo "$insula"; fi; }
i=${ROUND0:-0} last=$((${ROUND0:-0} + rounds))
while [ "$i" -lt "$last" ]; do
  i=$((i + 1))
  echo "# round $i, load $(cat /proc/loadavg)"
  # Odd rounds start with insula, even rounds with QEMU, row by row. With a
  # second insula binary the three take turns in every slot (the last boot
  # of a round did worse in runs 27-28 whichever binary it was).
  order="insula qemu"; [ $((i % 2)) = 0 ] && order="qemu insula"
  if [ -n "${INSULA_B:-}" ]; then
    case $((i % 3)) in 1) order="insula qemu insula-b";; 2) order="qemu insula-b insula";; 0) order="insula-b insula qemu";; esac
  fi
  want blk && host_limit
  # INSULA_BLK_STATS=1: virtio-blk's own counters at exit (one log line:
  # requests, kicks, mean depth at each pop, interrupts by cause).
  want blk && for fmt in raw qcow2; do
    for vmm in $order; do
      if [ $vmm != qemu ]; then boot blk-$fmt $vmm "$guest_blk" env INSULA_BLK_STATS=1 $(insula_of $vmm) $run_args --disk /tmp/disk.$fmt --cmdline
      else boot blk-$fmt qemu "$guest_blk" $qemu -drive file=/tmp/disk.$fmt,if=none,id=d0,format=$fmt,cache=writeback,aio=threads -device virtio-blk-pci,drive=d0 -append
      fi
    done
  done
  # The guest kit's own virtio-blk driver (QEMU: modern-only virtio-blk-pci,
  # where its BAR is 4; the kit finds it from the capabilities).
  # cache=none: insula opens the disk O_DIRECT (--disk ...,cache=direct),
  # QEMU with cache=none,aio=native (its fastest O_DIRECT mode).
  if want direct && [ -n "$brd" ]; then
    host_limit_direct
    for vmm in $order; do
      if [ $vmm != qemu ]; then boot blk-direct $vmm "$guest_blk" env INSULA_BLK_STATS=1 $(insula_of $vmm) $run_args --disk /dev/ram0,cache=direct --cmdline
      else boot blk-direct qemu "$guest_blk" $qemu -drive file=/dev/ram0,if=none,id=d0,format=raw,cache=none,aio=native -device virtio-blk-pci,drive=d0 -append
      fi
    done
  fi
  # The test host's TSC rate (testhost passes it to its kernel) is the kit
  # guest's too (KVM keeps the rate); else the kit calibrates with the PIT.
  khz=$(sed -n 's/.*tsc_early_khz=\([0-9]*\).*/\1/p' /proc/cmdline)
  kitargs="secs=$rt${khz:+ tsc_khz=$khz}"
  [ -n "$kit" ] && want kit && for vmm in $order; do
    if [ $vmm != qemu ]; then kit_boot kit-raw $vmm $(insula_of $vmm) run --kernel "$kit" --cpus 2 --memory 512M --disk /tmp/disk.raw --cmdline "$kitargs"
    else kit_boot kit-raw qemu ${qemu%% -kernel*} -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$kit" -append "$kitargs" -drive file=/tmp/disk.raw,if=none,id=d0,format=raw,cache=writeback,aio=threads -device virtio-blk-pci,drive=d0,disable-legacy=on
    fi
  done
  want net && for vmm in $order; do
    iperf3_server
    net_profile $vmm
    # INSULA_NET_STATS=1: virtio-net's own counters at exit (one log line).
    if [ $vmm != qemu ]; then boot net $vmm "$guest_net" env INSULA_NET_STATS=1 $(insula_of $vmm) $run_args --net tap0 --cmdline
    else boot net qemu "$guest_net" $qemu -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off -device virtio-net-pci,netdev=n0,romfile= -append
    fi
    net_profile_end
  done
  if want net; then
    iperf3_server
    net_profile qemu-vhost
    boot net qemu-vhost "$guest_net" $qemu -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=on -device virtio-net-pci,netdev=n0,romfile= -append
    net_profile_end
  fi
  # Reference for the net rows: the test host talking to itself over loopback.
  want net && iperf3 -c 127.0.0.1 -t "$rt" -O 1 -f m | awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i+1) == "Mbits/sec") print "RESULT net-tx-Mbit/s host", $i }'
done
echo "INNER DONE"
