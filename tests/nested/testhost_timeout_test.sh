#!/usr/bin/env bash
# A --timeout is the command's when the test host's heartbeat is alive (status
# 124, no retry), and the test host's when the heartbeat had stopped for 30 s
# or more (a freeze whose own limit had not come yet: status 125 after the
# retries, here none). CI of 718b2b7 failed on such a freeze taken for a
# command's timeout.
. "$(dirname "$0")/lib.sh"
out=$(mktemp); err=$(mktemp); trap 'rm -f "$out" "$err"' EXIT
status=0
"$testhost" run --timeout 40 -- 'echo slow; sleep 100; echo not-reached' >"$out" 2>"$err" || status=$?
cat "$err" >&2
[ "$status" -eq 124 ] || fail "a slow command on a live test host: expected status 124, got $status"
grep -q 'retrying' "$err" && fail "a slow command on a live test host was retried"
grep -q 'timed out after 40s' "$err" || fail "the harness did not name the timeout"
grep -q '^slow$' "$out" || fail "the command's output before the timeout was lost"

status=0
INSULA_TESTHOST_FREEZE_SECONDS=1000 "$testhost" run --timeout 60 --no-retry -- \
  'echo before-freeze; kill -STOP $(cat /run/testhost-beat.pid); sleep 100; echo not-reached' \
  >"$out" 2>"$err" || status=$?
cat "$err" >&2
[ "$status" -eq 125 ] || fail "a test host without heartbeat at the timeout: expected status 125, got $status"
grep -q 'the test host froze (no heartbeat for [0-9]* s; stopped; insula-testhost: ready' "$err" \
  || fail "the harness did not name the freeze and how far the test host got"
grep -q 'before-freeze' "$out" || fail "the command's output before the freeze was lost"
echo "PASS: a timeout with the heartbeat alive is the command's (124); with it stopped, a freeze (125)"
