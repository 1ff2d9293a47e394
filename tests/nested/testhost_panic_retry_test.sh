#!/usr/bin/env bash
# The harness recognises a panic of the test host's own kernel, says so, retries
# twice (the default), and then fails with status 125 (not the command's
# status, not a hang). The panic is forced with sysrq, so every attempt panics.
. "$(dirname "$0")/lib.sh"
out=$(mktemp); err=$(mktemp); trap 'rm -f "$out" "$err"' EXIT
status=0
"$testhost" run --timeout 120 -- 'echo before-panic; echo c >/proc/sysrq-trigger; sleep 30; echo not-reached' \
  >"$out" 2>"$err" || status=$?
cat "$err" >&2
[ "$status" -eq 125 ] || fail "expected status 125 after a host kernel panic, got $status"
[ "$(grep -c 'retrying, attempt [23] of 3' "$err")" -eq 2 ] || fail "the harness did not say it retried exactly twice"
grep -q 'Kernel panic' "$err" || fail "the harness did not name the kernel panic"
grep -q 'not-reached' "$out" && fail "the command went on after the panic"
echo "PASS: host kernel panic detected, retried twice, reported as status 125"
