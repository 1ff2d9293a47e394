#!/usr/bin/env bash
# The Linux-guest balloon tier: the appliance runs as a named VM under the
# managed VMM (`insula vm`) inside the emulated-hardware test host; the host
# inflates and deflates its balloon through the API. Stores CHECK lines for
# check.sh. Usage: linux_balloon_test.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
out=$build/tests/linux/balloon_checks.txt
mkdir -p "$(dirname "$out")"
rm -f "$out"
appliance=$root/.cache/appliance
[ -f "$appliance/vmlinux" ] || "$root/scripts/prepare.d/30-appliance.sh" >&2 || { echo "cannot build the appliance"; exit 1; }
"$root/tests/nested/testhost" run --timeout 600 \
  --file "$build/insula-tools:/insula-tools" --file "$appliance:/appliance" --file "$here/inner_balloon.sh:/inner.sh" \
  -- sh /inner.sh >"$out.log" 2>&1
st=$?
grep '^CHECK ' "$out.log" | tr -d '\r' >"$out"
grep -v '^CHECK ' "$out.log" | tail -40
cat "$out"
grep -q "INNER DONE" "$out.log" || { echo "the test host run did not complete (status $st)"; exit 1; }
