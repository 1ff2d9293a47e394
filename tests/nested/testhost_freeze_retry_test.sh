#!/usr/bin/env bash
# The harness recognises a frozen test host (its heartbeat stops; here the
# command stops the heartbeat process, as a whole-guest freeze would), says so,
# stops it, retries twice (the default), and then fails with status 125 well before --timeout.
. "$(dirname "$0")/lib.sh"
out=$(mktemp); err=$(mktemp); trap 'rm -f "$out" "$err"' EXIT
status=0
start=$SECONDS
INSULA_TESTHOST_FREEZE_SECONDS=15 "$testhost" run --timeout 280 -- \
  'echo before-freeze; sleep 6; kill -STOP $(cat /run/testhost-beat.pid); sleep 250; echo not-reached' \
  >"$out" 2>"$err" || status=$?
took=$((SECONDS - start))
cat "$err" >&2
[ "$status" -eq 125 ] || fail "expected status 125 after a frozen test host, got $status"
[ "$(grep -c 'retrying, attempt [23] of 3' "$err")" -eq 2 ] || fail "the harness did not say it retried exactly twice"
grep -q 'the test host froze (no heartbeat for' "$err" || fail "the harness did not name the freeze"
grep -q 'before-freeze' "$out" || fail "the command's output before the freeze was lost"
grep -q 'not-reached' "$out" && fail "the command went on after the freeze"
[ "$took" -lt 200 ] || fail "the freeze was found only after ${took}s (limit 15 s per attempt)"
echo "PASS: frozen test host detected in ${took}s, retried twice, reported as status 125"
