#!/usr/bin/env bash
# The test host boots, kvm_amd is loaded with nested paging, /dev/kvm exists, and
# the harness returns the command's output and its exit status.
. "$(dirname "$0")/lib.sh"
out=$(mktemp); trap 'rm -f "$out"' EXIT
status=0
"$testhost" run --timeout 120 -- \
  'grep -E "^(kvm_amd|kvm|ccp|irqbypass) " /proc/modules; ls -l /dev/kvm; echo "npt=$(cat /sys/module/kvm_amd/parameters/npt)"; echo "cwd=$PWD"; echo "panic_on_rcu_stall=$(cat /proc/sys/kernel/panic_on_rcu_stall)"; exit 7' \
  >"$out" || status=$?
[ "$status" -eq 7 ] || { cat "$out" >&2; fail "expected the command's exit status 7, got $status"; }
expect "$out" '^kvm_amd ' "kvm_amd is not loaded in the test host"
expect "$out" '^irqbypass ' "irqbypass is not loaded in the test host"
expect "$out" '^crw.* 10, *232 .*/dev/kvm$' "/dev/kvm is not the KVM character device"
expect "$out" '^npt=(Y|1)$' "kvm_amd runs without nested paging"
expect "$out" "^cwd=$PWD\$" "the command did not run in the caller's working directory"
expect "$out" '^panic_on_rcu_stall=1$' "an RCU stall would not panic the test host (so no retry)"
echo "PASS: test host has kvm_amd with NPT and /dev/kvm; exit status 7 came back"
