#!/usr/bin/env bash
# The kvm tier's gtest binaries (ctest -L kvm: Machine, `insula run`,
# `insula vm`, the VMM's API) inside the test host, for a build machine with no
# usable /dev/kvm of its own (a PVM guest whose kvm_pvm did not bind, say, or
# CI's), where each of them skips. One test host boot runs them all; every
# binary, and insula with its tools and the guests they boot, sits at its build
# path, stripped of debug info. Skips (77) where this machine's /dev/kvm runs
# the tier directly (INSULA_KVM_TIER_FORCE=1 runs it anyway). ctest:
# nested_kvm_tier (~5 min).
#
#   tests/nested/kvm_tier_in_testhost.sh BUILD_DIR
#
# It was by hand only until the test host held a VM open (kvm_hold.c): before,
# machine_snapshot_test froze the whole test host in 4 of 8 boots
# (docs/testing.md, "The kvm tier in the test host").
. "$(dirname "$0")/lib.sh"
build=$(cd "${1:?usage: kvm_tier_in_testhost.sh BUILD_DIR}" && pwd)
if [ -z "${INSULA_KVM_TIER_FORCE:-}" ] && [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  skip "this machine's /dev/kvm runs the kvm tier directly (ctest -L kvm)"
fi

# The tier's gtest binaries, as ctest knows them (its shell tests need bash,
# python3 and QEMU: not in the test host).
mapfile -t bins < <(ctest --test-dir "$build" --show-only=json-v1 -L kvm 2>/dev/null | python3 -c '
import json, sys
seen = []
for t in json.load(sys.stdin)["tests"]:
    c = t.get("command") or [""]
    if not c[0].endswith(".sh") and c[0] not in seen:
        seen.append(c[0])
print("\n".join(seen))')
[ "${#bins[@]}" -gt 0 ] && [ -n "${bins[0]}" ] || fail "ctest lists no kvm-tier binaries in $build"

stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
files=()
add() {  # a file at its own path in the test host, stripped when it is ELF
  local f=$1 s
  s=$stage/$(printf '%s' "$f" | sha1sum | cut -c1-12)
  if objcopy --strip-debug "$f" "$s" 2>/dev/null; then files+=(--file "$s:$f"); else files+=(--file "$f"); fi
}
for b in "${bins[@]}" "$build/insula" "$build/insula-tools"; do add "$b"; done
for g in "$build"/guests/*.elf "$build"/tests/kvm/*.elf; do add "$g"; done
# What some tests read or run besides insula, as the build machine has them:
# busybox has no env, its setpriv has no --reuid, its timeout exits with the
# command's status rather than 124; the OpenAPI test reads the document from
# the source tree.
src=$(cd "$(dirname "$0")/../.." && pwd)
files+=(--file /usr/bin/env --file /usr/bin/setpriv --file /usr/bin/timeout --file /usr/bin/qemu-img
        --file "$src/docs/api/openapi.yaml")

# Inside: each binary in turn, its summary kept; the last line counts them.
script=$stage/run.sh
{
  echo 'export TMPDIR=/tmp; mkdir -p /tmp; p=0; f=0'
  for b in "${bins[@]}"; do
    cat <<EOF
echo "== $b"
if "$b" >/tmp/out 2>&1; then p=\$((p+1)); grep -E '^\[  (PASSED|SKIPPED) |Skipped|not available' /tmp/out; else f=\$((f+1)); cat /tmp/out; echo "FAILED BINARY: $b"; fi
EOF
  done
  echo 'echo "kvm tier in the test host: $p binaries passed, $f failed"; [ "$f" = 0 ]'
} >"$script"

out=$stage/out
status=0
# 4 GiB: RunCommand.MemoryAboveTheHoleIsAccepted boots a 3.5 GiB guest.
"$testhost" run --timeout 900 --memory 4096 "${files[@]}" --file "$script:/kvm_tier.sh" -- sh /kvm_tier.sh \
  >"$out" 2>&1 || status=$?
cat "$out"
[ "$status" -eq 0 ] || fail "the kvm tier failed in the test host (status $status)"
expect "$out" "^kvm tier in the test host: ${#bins[@]} binaries passed, 0 failed$" "not every binary ran"
# A binary whose tests skipped passes too: the tier must really have run.
if grep -q '/dev/kvm is not available' "$out"; then fail "tests skipped for want of /dev/kvm inside the test host"; fi
echo "PASS: ${#bins[@]} kvm-tier binaries passed in the test host"
