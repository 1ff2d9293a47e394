#!/bin/sh
# Runs inside the emulated-hardware test host (cgroup_v2_nested_test.sh):
# host-init mounts cgroup2 at /sys/fs/cgroup and nothing else (mounted here if
# it has not), a pure cgroup2 hierarchy with every controller of Debian's
# kernel. One
# container (bundle /ct, limits in its config.json) is checked from this side
# through its cgroup files while it runs. Prints "CHECK <name> PASS|FAIL <detail>".
R="/insula-runc --root /run/insula-runc"
ID=c2
D=/sys/fs/cgroup/insula/$ID

pass() { echo "CHECK $1 PASS ${2:-}"; }
failc() { echo "CHECK $1 FAIL ${2:-}"; }
# expect NAME ACTUAL WANT: exact match.
expect() { if [ "$2" = "$3" ]; then pass "$1" "$2"; else failc "$1" "got '$2', want '$3'"; fi; }
# field FILE KEY: the value after KEY in a flat-keyed cgroup file (memory.events, ...).
field() { awk -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null; }
status() { $R state $ID 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }

grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 none /sys/fs/cgroup ||
  { failc cgv2_mount "mount -t cgroup2 failed"; echo "INNER DONE"; exit 1; }
ctl=$(cat /sys/fs/cgroup/cgroup.controllers)
echo "cgroup2 controllers: $ctl"
missing=
for c in cpuset cpu io memory hugetlb pids; do case " $ctl " in *" $c "*) ;; *) missing="$missing $c" ;; esac; done
if [ -z "$missing" ] && ! grep -q ' - cgroup ' /proc/self/mountinfo; then pass cgv2_mount "$ctl"; else failc cgv2_mount "missing:$missing"; fi

# io.max needs a block device: loop0 (the module creates loop0..7, unbound).
insmod /loop.ko 2>/dev/null
[ -b /dev/loop0 ] || mknod /dev/loop0 b 7 0

# The rootfs's busybox applet links are made here (--file copies follow links).
for a in $(/ct/rootfs/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox /ct/rootfs/bin/$a; done

# The test host's root is the initramfs (rootfs), where pivot_root is refused:
# --no-pivot (as runc on an initramfs).
if $R run --detach --no-pivot --bundle /ct $ID >/tmp/run.log 2>&1; then pass cgv2_run; else failc cgv2_run "$(cat /tmp/run.log)"; fi
pid=$($R state $ID 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
if [ -n "$pid" ] && grep -qx "$pid" $D/cgroup.procs 2>/dev/null; then pass cgv2_init_in_group "$pid"
else failc cgv2_init_in_group "init '$pid' not in $D/cgroup.procs: $(cat $D/cgroup.procs 2>&1)"; fi

# Limits from config.json's linux.resources (see cgroup_v2_nested_test.sh).
expect cgv2_memory_max "$(cat $D/memory.max)" 33554432
expect cgv2_memory_swap_max "$(cat $D/memory.swap.max)" 0
expect cgv2_memory_low "$(cat $D/memory.low)" 16777216
expect cgv2_cpu_max "$(cat $D/cpu.max)" "50000 100000"
expect cgv2_cpu_weight "$(cat $D/cpu.weight)" 100  # runc and crun since 2025: the default shares 1024 -> the default weight
expect cgv2_cpuset_cpus "$(cat $D/cpuset.cpus)" 1
expect cgv2_cpuset_mems "$(cat $D/cpuset.mems)" 0
expect cgv2_pids_max "$(cat $D/pids.max)" 16
expect cgv2_io_weight "$(cat $D/io.weight 2>&1)" "default 4950"  # runc: blkio weight 500 -> 1 + (500 - 10) * 9999 / 990
expect cgv2_io_max "$(cat $D/io.max 2>&1)" "7:0 rbps=1048576 wbps=max riops=max wiops=1000"
expect cgv2_hugetlb_max "$(cat $D/hugetlb.2MB.max 2>&1)" 4194304
expect cgv2_unified_key "$(cat $D/cgroup.max.descendants)" 5

# The device allow-list (an eBPF program on cgroup2): default devices, loop0
# for reading only, loop1 not at all.
$R exec $ID sh -c '(exec 3<>/dev/null) && echo null_rw_ok; (exec 3</dev/loop0) && echo loop0_r_ok
  (exec 3<>/dev/loop0) || echo loop0_w_refused; (exec 3</dev/loop1) || echo loop1_refused' >/tmp/dev.log 2>&1
devlog=$(tr '\n' ' ' </tmp/dev.log)
for w in null_rw_ok loop0_r_ok; do
  if grep -q "^$w" /tmp/dev.log; then pass cgv2_devices_$w; else failc cgv2_devices_$w "$devlog"; fi
done
for w in loop0_w_refused loop1_refused; do
  if grep -q "^$w" /tmp/dev.log && grep -q "can't [a-z]* /dev/${w%%_*}: Operation not permitted" /tmp/dev.log; then pass cgv2_devices_$w
  else failc cgv2_devices_$w "$devlog"; fi
done

# A fork bomb inside hits pids.max: forks fail beyond the limit.
$R exec $ID sh -c 'n=0; while [ $n -lt 40 ]; do sleep 600 & n=$((n+1)); done; echo started $n' >/tmp/bomb.log 2>&1
cur=$(cat $D/pids.current) hits=$(field $D/pids.events max)
if grep -q "can't fork" /tmp/bomb.log && ! grep -q "started 40" /tmp/bomb.log && [ "$cur" -le 16 ] && [ "${hits:-0}" -ge 1 ]; then
  pass cgv2_pids_fork_bomb "pids.current=$cur pids.events max=$hits"
else failc cgv2_pids_fork_bomb "pids.current=$cur max events=$hits: $(tail -2 /tmp/bomb.log)"; fi
for p in $(cat $D/cgroup.procs); do [ "$p" = "$pid" ] || kill -9 "$p"; done
# (the container's init, a shell, reaps the orphans)
n=0; while [ "$(cat $D/pids.current)" -gt 2 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done

# The memory limit is enforced: tail keeps a 64 MiB "line" in memory and is
# OOM-killed in a 32 MiB group without swap.
$R exec $ID sh -c 'dd if=/dev/zero bs=1M count=64 2>/dev/null | tail >/dev/null' >/tmp/oom.log 2>&1
st=$? kills=$(field $D/memory.events oom_kill)
if [ $st -ne 0 ] && [ "${kills:-0}" -ge 1 ]; then pass cgv2_memory_oom_kill "exit $st, memory.events oom_kill=$kills"
else failc cgv2_memory_oom_kill "exit $st, oom_kill=$kills: $(tail -2 /tmp/oom.log)"; fi
if $R exec $ID true; then pass cgv2_alive_after_oom; else failc cgv2_alive_after_oom "exec after the OOM kill failed"; fi

# update --resources on the running container.
if echo '{"memory":{"limit":67108864},"pids":{"limit":24},"cpu":{"quota":20000,"period":100000,"shares":2048}}' |
  $R update --resources - $ID >/tmp/update.log 2>&1; then pass cgv2_update; else failc cgv2_update "$(cat /tmp/update.log)"; fi
expect cgv2_update_memory_max "$(cat $D/memory.max)" 67108864
expect cgv2_update_pids_max "$(cat $D/pids.max)" 24
expect cgv2_update_cpu_max "$(cat $D/cpu.max)" "20000 100000"
expect cgv2_update_cpu_weight "$(cat $D/cpu.weight)" 174  # ceil(10^((11^2 + 125*11)/612 - 7/34))
# swap is memory+swap (v1 semantics); as runc: 0 leaves memory.swap.max alone,
# below the limit is refused.
upd() { echo "$1" | $R update --resources - $ID 2>&1; }
upd '{"memory":{"limit":67108864,"swap":100663296}}'
expect cgv2_update_swap_max "$(cat $D/memory.swap.max)" 33554432
upd '{"memory":{"limit":67108864,"swap":0}}'
expect cgv2_update_swap_zero_unset "$(cat $D/memory.swap.max)" 33554432
msg=$(upd '{"memory":{"limit":67108864,"swap":33554432}}'); st=$? swap=$(cat $D/memory.swap.max)
if [ $st -ne 0 ] && [ "$swap" = 33554432 ] && echo "$msg" | grep -q "must be >= limit"; then pass cgv2_update_swap_below_limit "$msg"
else failc cgv2_update_swap_below_limit "status $st, memory.swap.max $swap: $msg"; fi
upd '{"memory":{"limit":-1,"swap":100663296}}'
expect cgv2_update_swap_unlimited_memory "$(cat $D/memory.max) $(cat $D/memory.swap.max)" "max 100663296"

# pause/resume through cgroup.freeze.
$R pause $ID >/tmp/pause.log 2>&1
ev=$(field $D/cgroup.events frozen)
if [ "$(cat $D/cgroup.freeze)" = 1 ] && [ "$ev" = 1 ] && [ "$(status)" = paused ]; then
  pass cgv2_pause "cgroup.freeze=1 frozen=$ev"
else failc cgv2_pause "freeze=$(cat $D/cgroup.freeze) frozen=$ev status=$(status): $(cat /tmp/pause.log)"; fi
$R resume $ID >/tmp/resume.log 2>&1
ev=$(field $D/cgroup.events frozen)
if [ "$(cat $D/cgroup.freeze)" = 0 ] && [ "$ev" = 0 ] && [ "$(status)" = running ] && $R exec $ID true; then
  pass cgv2_resume "cgroup.freeze=0 frozen=$ev"
else failc cgv2_resume "freeze=$(cat $D/cgroup.freeze) frozen=$ev status=$(status): $(cat /tmp/resume.log)"; fi

# delete removes the group.
$R kill $ID KILL
n=0; while [ "$(status)" != stopped ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
$R delete $ID >/tmp/delete.log 2>&1
if [ ! -d $D ] && [ -z "$($R list -q 2>/dev/null)" ]; then pass cgv2_delete_removes_group
else failc cgv2_delete_removes_group "$D: $(ls $D 2>&1 | head -3) $(cat /tmp/delete.log)"; fi
echo "INNER DONE"
