#!/bin/sh
# Runs inside the emulated-hardware test host: a 512 MiB appliance VM with a
# balloon under `insula vm`. The guest dirties 192 MiB and frees it (so those
# pages are resident in the VMM), then prints its MemTotal/MemFree every
# second. The host inflates the balloon to 128 MiB: the guest's MemTotal must
# drop by that much (the balloon has no DEFLATE_ON_OOM, so Linux takes the
# pages out of its total) and the VMM's RSS must not grow (the inflated pages
# are given back to the host); statistics arrive; deflating brings MemTotal
# back. One line per check: CHECK <name> PASS|FAIL <detail>.
T=/insula-tools
A=/appliance
export INSULA_STATE_DIR=/tmp/state
. /inner_lib.sh  # check, b64
# The last "mem total=.. free=.." line of the guest's console log.
last_mem() { $T vm logs b | tr -d '\r' | grep '^mem total=' | tail -1; }
mem_field() { echo "$1" | sed -n "s/.*$2=\([0-9]*\).*/\1/p"; }
json_field() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" | head -1; }
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status; }
# Waits (up to $2 s) until the balloon's actual size is $1 MiB.
wait_actual() {
  i=0
  while [ $i -lt "$2" ]; do
    a=$($T vm balloon-stats b --output json 2>/dev/null | json_field actual_mib)
    [ "$a" = "$1" ] && return 0
    sleep 1; i=$((i + 1))
  done
  return 1
}
# Waits for a mem line printed after the current one.
next_mem() {
  before=$(last_mem); i=0
  while [ "$(last_mem)" = "$before" ] && [ $i -lt 20 ]; do sleep 1; i=$((i + 1)); done
  last_mem
}

G='m() { sed -n "s/^$1: *\([0-9]*\) kB/\1/p" /proc/meminfo; }
dd if=/dev/zero of=/run/fill bs=1M count=192 2>/dev/null; rm -f /run/fill
i=0; while [ $i -lt 900 ]; do echo "mem total=$(m MemTotal) free=$(m MemFree)"; sleep 1; i=$((i + 1)); done'
$T vm create b --kernel $A/vmlinux --initrd $A/initramfs.cpio.gz --memory 512M --balloon 0 --balloon-stats 1 \
  --cmdline "console=ttyS0 panic=-1 insula.run=$(b64 "$G")" || { echo "vm create failed"; exit 1; }
$T vm start b || { echo "vm start failed"; cat /tmp/state/vms/b/vmm.log; exit 1; }
pid=$($T vm info b --output json | json_field pid)
i=0
while [ -z "$(last_mem)" ] && [ $i -lt 240 ]; do sleep 1; i=$((i + 1)); done
m0=$(next_mem); t0=$(mem_field "$m0" total); rss0=$(rss_kb)
echo "booted after ${i}s: $m0, VMM rss ${rss0} kB"

$T vm balloon b 128M
wait_actual 128 120; inflated=$?
m1=$(next_mem); t1=$(mem_field "$m1" total); rss1=$(rss_kb)
drop=$((t0 - t1))
echo "inflated (status $inflated): $m1, VMM rss ${rss1} kB"
# 128 MiB = 131072 kB; allow 4 MiB of slack for the kernel's own accounting.
check balloon_inflate_memtotal $([ $inflated = 0 ] && [ $drop -ge 126976 ] && [ $drop -le 135168 ]; echo $?) \
  "MemTotal ${t0} -> ${t1} kB (drop ${drop} kB for 131072)"
check balloon_inflate_rss $([ $inflated = 0 ] && [ "$rss1" -le $((rss0 + 8192)) ]; echo $?) \
  "VMM RSS ${rss0} -> ${rss1} kB"

i=0
while [ $i -lt 10 ]; do
  s=$($T vm balloon-stats b --output json)
  tm=$(echo "$s" | json_field total_memory); fm=$(echo "$s" | json_field free_memory)
  [ -n "$tm" ] && break
  sleep 1; i=$((i + 1))
done
check balloon_stats $([ -n "$tm" ] && [ -n "$fm" ] && [ "$tm" -gt 0 ]; echo $?) "total_memory=$tm free_memory=$fm"

$T vm balloon b 0
wait_actual 0 120; deflated=$?
m2=$(next_mem); t2=$(mem_field "$m2" total)
check balloon_deflate_memtotal $([ $deflated = 0 ] && [ $((t0 - t2)) -le 1024 ] && [ $((t2 - t0)) -le 1024 ]; echo $?) \
  "MemTotal back to ${t2} kB (was ${t0})"
$T vm stop b
echo "INNER DONE"
