#!/usr/bin/env bash
# Boot-time benchmark: inside one run of the emulated-hardware test host (real
# nested KVM), boots the default guest appliance with QEMU -M microvm (PVH vmlinux
# and bzImage), QEMU -M q35 (bzImage) and, when given, insula; reports the median
# time from process start to the appliance's init marker, and to process exit
# (init runs `true` and powers off), with ratios to QEMU microvm.
#   bench/boot/boot_bench.sh [--runs N] [--insula build/insula]
# Not a test: numbers depend on the load of the machine (TCG uses both cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=3 insula=""
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2;;
    --insula) insula=$(realpath "$2"); shift 2;;
    *) echo "usage: $0 [--runs N] [--insula PATH]" >&2; exit 2;;
  esac
done
"$root/scripts/prepare.d/20-debian-kernel.sh"
"$root/scripts/prepare.d/30-appliance.sh"
a=$root/.cache/appliance
files=(--file /usr/bin/qemu-system-x86_64 --file /usr/share/qemu --file /usr/share/seabios
       --file "$a/vmlinux" --file "$a/vmlinuz" --file "$a/initramfs.cpio.gz" --file "$here/inner.sh")
[ -n "$insula" ] && files+=(--file "$insula")
out=$(mktemp); trap 'rm -f "$out"' EXIT
"$root/tests/nested/testhost" run --timeout 1200 "${files[@]}" -- sh "$here/inner.sh" "$a" "$runs" "$insula" | tee "$out" >&2

# Median per configuration; ratio to QEMU microvm booting the same kernel format.
awk '
  /^RESULT/ { n[$2]++; m[$2, n[$2]] = $3; t[$2, n[$2]] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
  function median(arr, name, cnt,   i, j, v, tmp) {
    for (i = 1; i <= cnt; i++) v[i] = arr[name, i]
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { tmp = v[i]; v[i] = v[j]; v[j] = tmp }
    return v[int((cnt + 1) / 2)]
  }
  END {
    printf "| %-22s | %4s | %16s | %14s | %22s |\n", "VMM (kernel format)", "runs", "to init marker ms", "to exit ms", "marker vs qemu microvm"
    printf "|%s|%s|%s|%s|%s|\n", "------------------------", "------", "-------------------", "----------------", "------------------------"
    for (i = 1; i <= k; i++) { c = order[i]; mm[c] = median(m, c, n[c]); tt[c] = median(t, c, n[c]) }
    for (i = 1; i <= k; i++) {
      c = order[i]; ref = (c ~ /pvh$/) ? "qemu-microvm-pvh" : "qemu-microvm-bzimage"
      printf "| %-22s | %4d | %17d | %14d | %22s |\n", c, n[c], mm[c], tt[c], (ref in mm) ? sprintf("%.2fx", mm[c] / mm[ref]) : "-"
    }
  }' "$out"
grep -q '^FAILED' "$out" && { echo "some boots failed (see above)" >&2; exit 1; }
exit 0
