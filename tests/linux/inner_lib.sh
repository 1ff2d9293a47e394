# Shared by the tests/linux/inner_*.sh scripts, which source it: run_inner.sh
# copies it into the test host as /inner_lib.sh. POSIX sh (busybox).

# check NAME STATUS DETAIL: one result line for check.sh (status 0 = pass).
check() {
  if [ "$2" = 0 ]; then echo "CHECK $1 PASS $3"; else echo "CHECK $1 FAIL $3"; fi
}
# b64 TEXT: TEXT in base64 on one line (for insula.run= on a kernel cmdline).
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
# field NAME FILE: the value printed by the guest as "NAME=value".
field() { sed -n "s/^$1=\([^[:space:]]*\).*/\1/p" "$2" | tr -d '\r' | head -1; }

# run_bounded SECONDS OUT COMMAND...: runs COMMAND (an `insula run`) with
# stdin from /dev/null and its output in OUT, for at most SECONDS. One still
# running then is shown - its threads, the device state insula logs on
# SIGUSR2 (queues on both sides, requests in flight, interrupts held or
# pending), the output's tail - and killed (status 137). Returns COMMAND's
# status. A guest hung on a device costs its check, not the whole test-host
# run, and says where it stuck (CI, a364163: a read-only mount never ended).
run_bounded() {
  _limit=$1 _out=$2
  shift 2
  "$@" </dev/null >"$_out" 2>&1 &
  _pid=$! _s=0
  while kill -0 $_pid 2>/dev/null && [ $_s -lt "$_limit" ]; do sleep 1; _s=$((_s + 1)); done
  if kill -0 $_pid 2>/dev/null; then
    echo "HUNG: $1 still running after ${_limit}s; its threads, device state and output:"
    pid_threads $_pid
    kill -USR2 $_pid
    sleep 2
    tr -d '\r' <"$_out" | tail -40 | sed 's/^/  out: /'
    kill -9 $_pid
  fi
  wait $_pid
}

# vm_boot VM STATE_DIR NAME PATTERN [SECONDS]: starts the managed VM NAME
# with VM (the `insula vm` command and its options, e.g. "/insula-tools vm
# --state-dir D"; STATE_DIR is that folder, for the VMM log) and waits up to
# SECONDS (240) for a console line matching PATTERN (grep basic regex).
# Nested KVM on the test host's emulated AMD-V now and then kills a guest
# early in its boot (a triple fault or reset) or stops running it (its
# console stops growing); QEMU as the inner VMM shows the same
# (bench/devices/RESULTS.md, kit_loop.sh). A VM that stopped before PATTERN,
# or whose console has not grown for VM_BOOT_STALL (60) s (it is killed), is
# shown (console and VMM log tails) and started once more. Returns 0 once
# PATTERN shows; sets $waited (seconds of the last boot) and $retried (""
# or "; started twice: first boot <why>", for a check's detail).
vm_boot() {
  _vm=$1 _dir=$2 _name=$3 _pattern=$4 _limit=${5:-240}
  retried=""
  for _attempt in 1 2; do
    $_vm start "$_name" >/tmp/"$_name".start 2>&1
    waited=0 _size=0 _still=0 _why="" _stall=""
    while ! $_vm logs "$_name" 2>/dev/null | tr -d '\r' | grep -q "$_pattern" && [ $waited -lt "$_limit" ]; do
      sleep 1; waited=$((waited + 1))
      _now=$($_vm logs "$_name" 2>/dev/null | wc -c)
      if [ "$_now" = "$_size" ]; then _still=$((_still + 1)); else _size=$_now _still=0; fi
      if [ $_still -ge "${VM_BOOT_STALL:-60}" ]; then
        _why="its console did not grow for ${VM_BOOT_STALL:-60} s"
        _stall=$(vm_dump "$_vm" "$_name")
        $_vm kill "$_name" >/dev/null 2>&1
        break
      fi
      [ $((waited % 5)) = 0 ] && $_vm info "$_name" 2>/dev/null | grep -q "^state: *stopped" && { _why="it stopped"; break; }
    done
    $_vm logs "$_name" 2>/dev/null | tr -d '\r' | grep -q "$_pattern" && return 0
    [ -n "$_why" ] || return 1
    [ $_attempt = 2 ] && return 1
    echo "VM $_name: no '$_pattern' after ${waited}s: $_why; starting it once more (known nested-KVM fault). Its console and VMM log:"
    { $_vm logs "$_name" 2>/dev/null | tr -d '\r' | tail -5; echo; } | sed 's/^/  console: /'
    # A stalled VM's VMM was asked for its device state (vm_dump): show it.
    _lines=5; [ -n "$_stall" ] && { echo "$_stall"; _lines=40; }
    { tail -$_lines "$_dir/vms/$_name/vmm.log" 2>/dev/null; echo; } | sed 's/^/  vmm.log: /'
    sleep 2
    retried="; started twice: first boot $_why"
  done
}

# vm_threads VM NAME: the VMM's threads (state, kernel wait channel), to tell
# a guest that nested KVM stopped running (vCPU threads in state R inside
# KVM_RUN, as bench/devices/kit_loop.sh saw) from one its VMM stopped
# running (threads asleep, e.g. in a futex).
vm_threads() {
  _pid=$(vm_pid "$1" "$2")
  [ -n "$_pid" ] || { echo "  threads: VM $2 has no VMM process"; return; }
  pid_threads "$_pid"
}

# vm_pid VM NAME: the pid of the VM's VMM, as `vm list` shows it; nothing
# when it has none.
vm_pid() {
  $1 list 2>/dev/null | awk -v n="$2" '$1 == n && $NF ~ /^[0-9]+$/ {print $NF}'
}

# vm_dump VM NAME: before a stalled VM is killed, its VMM's threads, and its
# device state logged into vmm.log (SIGUSR2 to `insula vmm`; docs/devices.md).
vm_dump() {
  vm_threads "$1" "$2"
  _pid=$(vm_pid "$1" "$2")
  if [ -n "$_pid" ]; then kill -USR2 "$_pid" 2>/dev/null && sleep 2; fi
}

# pid_threads PID: a line per thread of the process: state, kernel wait
# channel and the top of its kernel stack.
pid_threads() {
  for _t in /proc/"$1"/task/*; do
    echo "  thread ${_t##*/}: state $(cut -d' ' -f3 "$_t/stat" 2>/dev/null), wchan $(cat "$_t/wchan" 2>/dev/null)," \
      "stack $(head -3 "$_t/stack" 2>/dev/null | sed 's/^.*\] //' | tr '\n' ' ')"
  done
}
