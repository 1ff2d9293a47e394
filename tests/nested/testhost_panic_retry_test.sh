#!/usr/bin/env bash
# The harness recognises a panic of the test host's own kernel, says so, retries
# once, and then fails with status 125 (not the command's status, not a hang).
# The panic is forced with sysrq, so both attempts panic.
. "$(dirname "$0")/lib.sh"
out=$(mktemp); err=$(mktemp); trap 'rm -f "$out" "$err"' EXIT
status=0
"$testhost" run --timeout 120 -- 'echo before-panic; echo c >/proc/sysrq-trigger; sleep 30; echo not-reached' \
  >"$out" 2>"$err" || status=$?
cat "$err" >&2
[ "$status" -eq 125 ] || fail "expected status 125 after a host kernel panic, got $status"
[ "$(grep -c 'retrying once' "$err")" -eq 1 ] || fail "the harness did not say it retried exactly once"
grep -q 'Kernel panic' "$err" || fail "the harness did not name the kernel panic"
grep -q 'not-reached' "$out" && fail "the command went on after the panic"
echo "PASS: host kernel panic detected, retried once, reported as status 125"
