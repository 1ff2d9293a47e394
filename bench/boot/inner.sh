#!/bin/sh
# Runs inside the test host (see boot_bench.sh): boots the appliance RUNS times
# with each VMM and prints one line per boot:
#   RESULT <name> <ms from process start to the init marker> <ms to process exit>
# Args: APPLIANCE_DIR RUNS [INSULA_BINARY]
a=$1 runs=$2 insula=${3:-}
# insula.run=true: init runs `true` and powers off right after the marker.
args="console=ttyS0 quiet insula.run=dHJ1ZQ=="
# busybox date has no %N: /proc/uptime gives 10 ms steps, enough for boots of seconds.
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

measure() {  # name, command...
  name=$1; shift
  rm -f /tmp/marker
  start=$(now_ms)
  "$@" </dev/null 2>/tmp/stderr | while IFS= read -r line; do
    case "$line" in
      *"insula-appliance: init reached"*) echo $(( $(now_ms) - start )) >/tmp/marker ;;
    esac
  done
  end=$(now_ms)
  if [ -f /tmp/marker ]; then
    echo "RESULT $name $(cat /tmp/marker) $((end - start))"
  else
    echo "FAILED $name: no init marker; stderr:"; head -5 /tmp/stderr
  fi
}

qemu="qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 256 -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot"
i=0
while [ "$i" -lt "$runs" ]; do
  i=$((i + 1))
  measure qemu-microvm-pvh $qemu -M microvm -kernel "$a/vmlinux" -initrd "$a/initramfs.cpio.gz" -append "$args"
  measure qemu-microvm-bzimage $qemu -M microvm -kernel "$a/vmlinuz" -initrd "$a/initramfs.cpio.gz" -append "$args"
  measure qemu-q35-bzimage $qemu -M q35 -kernel "$a/vmlinuz" -initrd "$a/initramfs.cpio.gz" -append "$args"
  if [ -n "$insula" ]; then
    measure insula-pvh "$insula" run --kernel "$a/vmlinux" --initrd "$a/initramfs.cpio.gz" --cmdline "$args" --cpus 2 --memory 256M
    measure insula-bzimage "$insula" run --kernel "$a/vmlinuz" --initrd "$a/initramfs.cpio.gz" --cmdline "$args" --cpus 2 --memory 256M
  fi
done
