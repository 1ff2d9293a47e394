#!/bin/sh
# vm_boot (inner_lib.sh) on the host, against a fake `insula vm`: a boot that
# reaches the pattern, one that stalls (killed, started again), one that stops
# before it (started again), and one that fails twice (no third start). The
# real thing fires only when nested KVM misbehaves, so this is what keeps the
# retry honest. Also vm_threads and vm_dump (the VMM's threads and device
# state, for a stalled guest) and
# run_bounded (an `insula run` that does not end is shown and killed).
# Prints "N passed, N failed"; exits 1 on a failure.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/inner_lib.sh"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# The fake: boot K of VM x follows the script in $work/plan (one word per
# boot: ok, stall, stop); each start appends to the console what that boot
# prints, over a second or two, from a background process.
cat >"$work/vm" <<'FAKE'
#!/bin/sh
w=$(dirname "$0"); cmd=$1 name=$2
case $cmd in
start)
  n=$(($(cat "$w/starts" 2>/dev/null || echo 0) + 1)); echo $n >"$w/starts"
  what=$(sed -n "${n}p" "$w/plan"); echo running >"$w/state"
  (echo "boot $n: early" >>"$w/console"; sleep 1
   case $what in
   ok) echo "boot $n: init reached" >>"$w/console";;
   stall) : ;;  # prints nothing more
   stop) echo "boot $n: triple fault" >>"$w/console"; echo stopped >"$w/state";;
   esac) >/dev/null 2>&1 &
  ;;
logs) cat "$w/console" 2>/dev/null;;
list) echo "NAME STATE CPUS MEMORY PID"; echo "x running 1 64 MiB $(cat "$w/pid" 2>/dev/null || echo -)";;
info) echo "state:    $(cat "$w/state")";;
kill) echo killed >>"$w/kills"; echo stopped >"$w/state";;
esac
FAKE
chmod +x "$work/vm"
mkdir -p "$work/vms/x"; echo "vmm said something" >"$work/vms/x/vmm.log"
pass=0 fail=0
expect() {  # name, condition status, detail
  if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "PASS $1"; else fail=$((fail + 1)); echo "FAIL $1: $3"; fi
}
run() {  # stall limit, plan words...: runs vm_boot
  stall=$1; shift
  rm -f "$work/console" "$work/starts" "$work/kills" "$work/state"
  printf '%s\n' "$@" >"$work/plan"
  VM_BOOT_STALL=$stall vm_boot "$work/vm" "$work" x "init reached" 30 >"$work/out" 2>&1
  st=$?
  starts=$(cat "$work/starts"); kills=0
  [ -f "$work/kills" ] && kills=$(wc -l <"$work/kills")
}
run 3 ok
expect first_boot $([ $st = 0 ] && [ "$starts" = 1 ] && [ -z "$retried" ]; echo $?) "st=$st starts=$starts retried='$retried'"
run 3 stall ok
expect stall_then_ok $([ $st = 0 ] && [ "$starts" = 2 ] && [ "$kills" = 1 ] && echo "$retried" | grep -q "did not grow for 3 s" &&
  grep -q "console: boot 1: early" "$work/out" && grep -q "vmm.log: vmm said something" "$work/out"; echo $?) \
  "st=$st starts=$starts kills=$kills retried='$retried' out: $(cat "$work/out")"
# A stalled VM's VMM is asked for its device state before the kill: its
# threads and what SIGUSR2 made it log come out with the retry.
cat >"$work/vmm" <<'VMM'
#!/bin/sh
trap 'echo "device state dump" >>"$1"' USR2
while :; do sleep 1; done
VMM
chmod +x "$work/vmm"
"$work/vmm" "$work/vms/x/vmm.log" & echo $! >"$work/pid"
run 3 stall ok
expect stall_dumps_state $([ $st = 0 ] && grep -q "^  thread $(cat "$work/pid"): state" "$work/out" &&
  grep -q "vmm.log: device state dump" "$work/out"; echo $?) "st=$st out: $(cat "$work/out")"
kill "$(cat "$work/pid")"; rm -f "$work/pid"
run 8 stop ok  # a stop shows at the 5-s poll of `vm info`
expect stop_then_ok $([ $st = 0 ] && [ "$starts" = 2 ] && [ "$kills" = 0 ] && echo "$retried" | grep -q "it stopped"; echo $?) \
  "st=$st starts=$starts kills=$kills retried='$retried'"
run 3 stall stop ok
expect gives_up_after_two $([ $st != 0 ] && [ "$starts" = 2 ]; echo $?) "st=$st starts=$starts"
# vm_threads: one line per thread of the VMM process, with its state.
sleep 30 & echo $! >"$work/pid"
vm_threads "$work/vm" x >"$work/out" 2>&1
expect threads_listed $(grep -q "^  thread $(cat "$work/pid"): state S" "$work/out"; echo $?) "out: $(cat "$work/out")"
kill "$(cat "$work/pid")"; rm -f "$work/pid"
vm_threads "$work/vm" x >"$work/out" 2>&1
expect threads_no_vmm $(grep -q "has no VMM process" "$work/out"; echo $?) "out: $(cat "$work/out")"
# run_bounded: a command that ends gives its status and output; one that
# hangs is shown (threads, its SIGUSR2 dump, output) and killed (137).
cat >"$work/cmd" <<'CMD'
#!/bin/sh
trap 'echo "device dump"' USR2
echo "started"; [ "$1" = hang ] || exit 3
while :; do sleep 1; done
CMD
chmod +x "$work/cmd"
run_bounded 5 "$work/cmd.out" "$work/cmd" >"$work/out" 2>&1
st=$?
expect bounded_ends $([ $st = 3 ] && grep -q "^started" "$work/cmd.out" && [ ! -s "$work/out" ]; echo $?) \
  "st=$st out: $(cat "$work/out")"
run_bounded 2 "$work/cmd.out" "$work/cmd" hang >"$work/out" 2>&1
st=$?
expect bounded_hang $([ $st = 137 ] && grep -q "^HUNG: $work/cmd still running after 2s" "$work/out" &&
  grep -q "^  thread [0-9]*: state S" "$work/out" && grep -q "^  out: device dump" "$work/out"; echo $?) \
  "st=$st out: $(cat "$work/out")"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
