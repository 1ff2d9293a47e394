#!/usr/bin/env bash
# A Linux-guest tier under the managed VMM (`insula vm`): runs INNER (a
# script in tests/linux) inside the emulated-hardware test host with the
# appliance and insula-tools, in one test-host run, and stores its CHECK
# lines in CHECKS for check.sh. Used by linux.balloon and linux.install.
# Usage: linux_vm_test.sh BUILD_DIR INNER CHECKS
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
out=$build/tests/linux/$3
mkdir -p "$(dirname "$out")"
rm -f "$out"
appliance=$root/.cache/appliance
[ -f "$appliance/vmlinux" ] || "$root/scripts/prepare.d/30-appliance.sh" >&2 || { echo "cannot build the appliance"; exit 1; }
"$root/tests/nested/testhost" run --timeout 600 \
  --file "$build/insula-tools:/insula-tools" --file "$appliance:/appliance" --file "$here/$2:/inner.sh" \
  -- sh /inner.sh >"$out.log" 2>&1
st=$?
grep '^CHECK ' "$out.log" | tr -d '\r' >"$out"
grep -v '^CHECK ' "$out.log" | tail -40
cat "$out"
grep -q "INNER DONE" "$out.log" || { echo "the test host run did not complete (status $st)"; exit 1; }
