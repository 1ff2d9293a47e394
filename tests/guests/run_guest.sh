#!/usr/bin/env bash
# Boots one guest-kit guest under a VMM and checks what it printed and how it
# exited. Used by the ctest tests in this folder; also handy by hand:
#
#   run_guest.sh --vmm qemu --kernel build/guests/hello-pvh.elf --expect 'PASS: hello'
#
# Options (insula-style; for QEMU --cpus/--memory become -smp/-m):
#   --vmm CMD           "qemu" (reference: QEMU with KVM, machine from --machine;
#                       "qemu:MACHINE" forces the machine),
#                       or a command taking insula-run options, e.g. "build/insula run".
#                       The env var INSULA_GUEST_VMM overrides it.
#   --machine M         QEMU machine type (default pc)
#   --kernel F --initrd F --cmdline S --cpus N --memory SIZE
#   --status N          expected exit status (default 33: debug-exit 0x10, PASS);
#                       "running": the guest must still be running once 5
#                       --increasing lines appeared; it is then stopped (SIGTERM)
#   --timeout S         seconds before the VMM is killed (default 60)
#   --expect REGEX      a line (extended regex, whole line) that must appear; repeatable
#   --increasing PREFIX lines "PREFIX<number>" must appear at least 3 times, increasing
# No "FAIL" line may appear. Exit 0 on success, 1 on failure, 77 to skip.
set -uo pipefail

vmm=${INSULA_GUEST_VMM:-}
machine=pc kernel= initrd= cmdline= cpus= memory= status=33 timeout_s=60 increasing=
expects=()
while [ $# -gt 0 ]; do
  case $1 in
    --vmm) [ -z "${INSULA_GUEST_VMM:-}" ] && vmm=$2; shift 2 ;;
    --machine) machine=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --cmdline) cmdline=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --status) status=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --expect) expects+=("$2"); shift 2 ;;
    --increasing) increasing=$2; shift 2 ;;
    *) echo "run_guest.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$vmm" ] || { echo "run_guest.sh: no --vmm given" >&2; exit 2; }
[ -f "$kernel" ] || { echo "run_guest.sh: guest $kernel not built" >&2; exit 1; }
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "SKIP: /dev/kvm is absent or not accessible; guest-kit tests need KVM"
  exit 77
fi

if [ "${vmm%%:*}" = qemu ]; then
  [ "$vmm" != qemu ] && machine=${vmm#qemu:}
  qemu=$(command -v qemu-system-x86_64) || { echo "SKIP: qemu-system-x86_64 is not installed (package qemu-system-x86)"; exit 77; }
  cmd=("$qemu" -accel kvm -M "$machine" -nodefaults -nographic -no-reboot
       -device isa-debug-exit,iobase=0xf4,iosize=4 -serial stdio -kernel "$kernel")
  [ -n "$cmdline" ] && cmd+=(-append "$cmdline")
  [ -n "$initrd" ] && cmd+=(-initrd "$initrd")
  [ -n "$cpus" ] && cmd+=(-smp "$cpus")
  [ -n "$memory" ] && cmd+=(-m "$memory")
else
  read -r -a cmd <<<"$vmm"
  if ! command -v "${cmd[0]}" >/dev/null; then
    echo "FAILED: VMM command '${cmd[0]}' not found (build the insula target, or set INSULA_GUEST_VMM)"
    exit 1
  fi
  cmd+=(--kernel "$kernel")
  [ -n "$cmdline" ] && cmd+=(--cmdline "$cmdline")
  [ -n "$initrd" ] && cmd+=(--initrd "$initrd")
  [ -n "$cpus" ] && cmd+=(--cpus "$cpus")
  [ -n "$memory" ] && cmd+=(--memory "$memory")
fi

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
echo "+ ${cmd[*]}"
start=$(date +%s.%N)
stopped=0
if [ "$status" = running ]; then
  [ -n "$increasing" ] || { echo "run_guest.sh: --status running needs --increasing" >&2; exit 2; }
  timeout -s KILL "$timeout_s" "${cmd[@]}" </dev/null >"$out" 2>"$err" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(grep -c "^${increasing}" "$out")" -ge 5 ]; then
      kill -TERM "$pid" # timeout(1) passes it on to the VMM
      stopped=1
      break
    fi
    sleep 0.2
  done
  wait "$pid"
  rc=$?
else
  timeout -s KILL "$timeout_s" "${cmd[@]}" </dev/null >"$out" 2>"$err"
  rc=$?
fi
end=$(date +%s.%N)
tr -d '\r' <"$out" >"$out.lf" && mv "$out.lf" "$out"
echo "--- guest output (exit status $rc, $(awk "BEGIN{printf \"%.2f\", $end-$start}") s)"
cat "$out"
if [ -s "$err" ]; then echo "--- VMM stderr"; cat "$err"; fi
echo "---"

bad=0
if [ "$status" = running ]; then
  [ "$stopped" -eq 1 ] || { echo "FAILED: the guest was expected to keep running, but the VMM exited with $rc before 5 '${increasing}' lines"; bad=1; }
elif [ "$rc" -ne "$status" ]; then
  [ "$rc" -eq 137 ] && echo "FAILED: the VMM was killed after ${timeout_s}s" \
    || echo "FAILED: exit status $rc, expected $status"
  bad=1
fi
for re in "${expects[@]}"; do
  grep -Eq "^($re)\$" "$out" || { echo "FAILED: no output line matches /^($re)\$/"; bad=1; }
done
if grep -q '^FAIL' "$out"; then echo "FAILED: the guest reported failures"; bad=1; fi
if [ -n "$increasing" ]; then
  if ! grep -E "^${increasing}[0-9]+\$" "$out" | sed -E "s/^${increasing}//" |
      awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1; n++ } END { exit !(n >= 3 && !bad) }'; then
    echo "FAILED: fewer than 3 consecutive increasing '${increasing}N' lines"; bad=1
  fi
fi
[ "$bad" -eq 0 ] && echo "OK"
exit "$bad"
