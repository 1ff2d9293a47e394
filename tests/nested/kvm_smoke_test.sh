#!/usr/bin/env bash
# kvm_smoke (argument 1: its path) runs real-mode guest code on the nested KVM
# inside the test host.
. "$(dirname "$0")/lib.sh"
smoke=$1
out=$(mktemp); trap 'rm -f "$out"' EXIT
status=0
"$testhost" run --timeout 120 --file "$smoke" -- "$smoke" >"$out" || status=$?
[ "$status" -eq 0 ] || { cat "$out" >&2; fail "kvm_smoke exited $status inside the test host"; }
expect "$out" '^kvm_smoke: ok' "kvm_smoke did not report success"
cat "$out"
