#!/usr/bin/env bash
# The Linux-guest tier: boots Debian's kernel (the guest appliance) under insula
# inside the emulated-hardware test host, once, and stores the CHECK lines for
# the per-check tests (check.sh). Usage: linux_boot_test.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
out=$build/tests/linux/checks.txt
mkdir -p "$(dirname "$out")"
rm -f "$out"
appliance=$root/.cache/appliance
if [ ! -f "$appliance/vmlinux" ]; then
  "$root/scripts/prepare.d/30-appliance.sh" >&2 || { echo "cannot build the appliance"; exit 1; }
fi
"$root/tests/nested/testhost" run --timeout 900 --memory 5120 \
  --file "$build/insula:/insula" --file "$appliance:/appliance" --file "$here/inner.sh:/inner.sh" \
  -- sh /inner.sh >"$out.log" 2>&1
st=$?
grep '^CHECK ' "$out.log" | tr -d '\r' >"$out"
cat "$out.log" | grep -v '^CHECK ' | tail -40
cat "$out"
grep -q "INNER DONE" "$out.log" || { echo "the test host run did not complete (status $st)"; exit 1; }
exit 0
