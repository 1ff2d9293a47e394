#!/usr/bin/env bash
# Device benchmarks, insula vs QEMU, side by side in one run of the
# emulated-hardware test host (real nested KVM; tests/nested/testhost):
# virtio-blk (fio in the guest, direct I/O: 1 MiB sequential write/read, 4 KiB
# random read at queue depth 1 and 32) on a raw and a qcow2 file, with the test
# host's own fio on the same file as the limit; virtio-net (iperf3 over a tap,
# guest->host and host->guest) against QEMU without vhost (and with it, for
# reference). Both VMMs boot the same appliance kernel and initramfs.
#   bench/devices/run.sh [--insula build/insula] [--runtime S=4] [--disk-mib N=64] [--rounds N=1]
#                        [--kit build/guests/blkbench-pvh.elf] [--rows "blk net kit"]
#                        [--net-profile] [--insula-b PATH] [--first-round N=1] [--log FILE]
#   bench/devices/run.sh --summary LOG...   (the table of saved --log files, together)
# (kit: the guest kit's blkbench, polled virtio-blk timed in the guest; its
# rows are skipped when the ELF is missing. Add "direct" to --rows for the
# cache=none rows: the raw disk on a RAM disk (brd), opened with O_DIRECT.)
# Each cell is the median over rounds; with several rounds the spread
# (min..max per VMM) follows the table. --net-profile: perf, KVM exit and tap
# counters while each iperf3 runs (see inner.sh); its throughput is perturbed.
# --insula-b: a second insula binary booted for every row (before/after a
# change); the three boots of a row rotate, so use a multiple of 3 rounds.
# Each round runs in its own test-host boot; one whose test host dies
# (panic, reset, stall) is run again once (ROUND_RETRIES=N for more), and the
# output says RETRIED. Odd rounds boot insula first, even ones QEMU (net
# rows favour the first boot): use an even number of rounds, or continue a
# run with --first-round N and combine the --log files with --summary.
# Not a test: numbers depend on the machine's load (TCG uses both cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
insula=$root/build/insula runtime=4 mib=64 rounds=1 kit=$root/build/guests/blkbench-pvh.elf rows="blk net kit"
net_profile=0 insula_b= first=1 log= summary=
while (($#)); do
  case "$1" in
    --insula) insula=$2; shift 2;;
    --runtime) runtime=$2; shift 2;;
    --disk-mib) mib=$2; shift 2;;
    --rounds) rounds=$2; shift 2;;
    --kit) kit=$2; shift 2;;
    --rows) rows=$2; shift 2;;
    --net-profile) net_profile=1; shift;;
    --insula-b) insula_b=$(realpath "$2"); shift 2;;
    --first-round) first=$2; shift 2;;
    --log) log=$2; shift 2;;
    --summary) shift; summary=1; break;;
    *) echo "usage: $0 [--insula PATH] [--runtime S] [--disk-mib N] [--rounds N] [--kit ELF] [--rows 'blk net kit direct'] [--net-profile] [--insula-b PATH] [--first-round N] [--log FILE] | --summary LOG..." >&2; exit 2;;
  esac
done
# The table: one row per measurement, the median over rounds per VMM;
# ratios to QEMU and to the limit; the spread over rounds after it.
summarise() {
  awk '
    /^# round [0-9]/ { rnd = FILENAME ":" $3 }
    /^RESULT/ { n[$2, $3]++; x[$2, $3, n[$2, $3]] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 }
                if ($3 == "insula") ins_r[$2, rnd] = $4; if ($3 == "qemu") q_r[$2, rnd] = $4; rounds_seen[rnd] = 1 }
    # The median over rounds of insula / QEMU within each round (both VMMs
    # booted minutes apart): steadier than the ratio of medians when the
    # speed of the machine drifts between rounds.
    function paired(r,   c, i, j, t, rr) {
      c = 0
      for (rr in rounds_seen) if ((r, rr) in ins_r && (r, rr) in q_r && q_r[r, rr] > 0) z[++c] = ins_r[r, rr] / q_r[r, rr]
      if (!c) return "-"
      for (i = 2; i <= c; i++) for (j = i; j > 1 && z[j - 1] > z[j]; j--) { t = z[j]; z[j] = z[j - 1]; z[j - 1] = t }
      return sprintf("%.2f (%d)", c % 2 ? z[(c + 1) / 2] : (z[c / 2] + z[c / 2 + 1]) / 2, c)
    }
    function v(r, m,   i, j, t, c) {
      c = n[r, m]; if (!c) return ""
      for (i = 1; i <= c; i++) y[i] = x[r, m, i]
      for (i = 2; i <= c; i++) for (j = i; j > 1 && y[j - 1] > y[j]; j--) { t = y[j]; y[j] = y[j - 1]; y[j - 1] = t }
      lo[r, m] = y[1]; hi[r, m] = y[c]
      return c % 2 ? y[(c + 1) / 2] : (y[c / 2] + y[c / 2 + 1]) / 2
    }
    BEGIN { vmms["insula"]; vmms["insula-b"]; vmms["qemu"]; vmms["qemu-vhost"]; vmms["host"] }
    function f(x) { return x == "" ? "-" : (x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x)) }
    function ratio(x, y) { return (x == "" || y == "" || y == 0) ? "-" : sprintf("%.2f", x / y) }
    END {
      printf "| %-28s | %9s | %9s | %13s | %12s | %12s | %12s | %13s |\n", "row", "insula", "QEMU", "insula / QEMU", "paired (n)", "QEMU vhost", "host limit", "insula / limit"
      print "|------------------------------|-----------|-----------|---------------|--------------|--------------|--------------|----------------|"
      for (i = 1; i <= k; i++) {
        r = order[i]; ins = v(r, "insula"); q = v(r, "qemu"); qv = v(r, "qemu-vhost"); h = v(r, "host")
        if (ins == "" && q == "") continue
        if (h == "" && r ~ /^blk-qcow2-/) { hr = r; sub(/qcow2/, "raw", hr); h = v(hr, "host") }
        if (h == "" && r ~ /^kit-raw-/) { hr = r; sub(/^kit-/, "blk-", hr); h = v(hr, "host") }
        printf "| %-28s | %9s | %9s | %13s | %12s | %12s | %12s | %14s |\n", r, f(ins), f(q), ratio(ins, q), paired(r), f(qv), f(h), ratio(ins, h)
      }
      for (i = 1; i <= k; i++) if (n[order[i], "insula-b"]) {
        r = order[i]; b = v(r, "insula-b")
        printf "  %s: insula %s, insula-b %s, insula / insula-b %s\n", r, f(v(r, "insula")), f(b), ratio(v(r, "insula"), b)
      }
      for (i = 1; i <= k; i++) for (m in vmms) if (n[order[i], m] > 1) {
        if (!hdr++) print "\nspread over rounds (min..max, n):"
        printf "  %-28s %-10s %s..%s (%d)\n", order[i], m, f(lo[order[i], m]), f(hi[order[i], m]), n[order[i], m]
      }
    }' "$@"
}
[ -n "$summary" ] && { summarise "$@"; exit 0; }
[ "$rows" = all ] && rows="blk net kit direct"
insula=$(realpath "$insula")
[ -x "$insula" ] || { echo "no insula binary at $insula (build it: cmake --build build --target insula)" >&2; exit 2; }
for t in fio iperf3 qemu-img qemu-system-x86_64; do
  command -v "$t" >/dev/null || { echo "$t is missing: scripts/install-deps.sh (deps/bench.txt, deps/nested.txt)" >&2; exit 2; }
done
"$root/scripts/prepare.d/20-debian-kernel.sh"
"$root/scripts/prepare.d/30-appliance.sh"
a=$root/.cache/appliance
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The files the guest needs for fio and iperf3, as the test host holds them
# (testhost copies each executable's libraries to their resolved directories):
# the list, parents first, for the test host's `cpio -o`.
{
  for exe in /usr/bin/fio /usr/bin/iperf3; do
    echo "${exe#/}"
    ldd "$exe" | sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' |
      while read -r lib; do echo "$(realpath "$(dirname "$lib")" | cut -c2-)/$(basename "$lib")"; done
  done
} | sort -u >"$work/files"
{
  sed 's,/[^/]*$,,' "$work/files" | sort -u | while read -r d; do
    p=; IFS=/; for c in $d; do p=${p:+$p/}$c; echo "$p"; done; unset IFS
  done | sort -u
  cat "$work/files"
} >"$work/tools.list"
files=(--file /usr/bin/qemu-system-x86_64 --file /usr/share/qemu --file /usr/share/seabios --file /usr/bin/qemu-img
       --file /usr/bin/fio --file /usr/bin/iperf3 --file /sbin/ip:/sbin/ip --file "$insula"
       --file "$a/vmlinuz" --file "$a/initramfs.cpio.gz" --file "$here/inner.sh" --file "$work/tools.list")
# testhost joins the command's words with spaces: no empty or spaced words.
kit_args=()
if [ -f "$kit" ]; then kit=$(realpath "$kit"); files+=(--file "$kit"); kit_args=("$kit" "${rows// /,}")
else echo "no guest-kit blkbench at $kit (cmake --build build --target guests): no kit rows" >&2; kit_args=(- "${rows// /,}"); fi
brd=$(find "$root/.cache/kernel/lib/modules" -name brd.ko 2>/dev/null | head -1)
[ -n "$brd" ] && files+=(--file "$brd:/brd.ko") && kit_args+=(/brd.ko)
[ -n "$insula_b" ] && files+=(--file "$insula_b")
if [ "$net_profile" = 1 ]; then
  command -v perf >/dev/null || { echo "--net-profile needs perf (linux-perf)" >&2; exit 2; }
  files+=(--file "$(command -v perf)")
fi
out=$work/out
: >"$out"
echo "machine load before: $(cat /proc/loadavg) ($(date -u +%H:%M) UTC)" >&2
# Watchdog: the nested KVM of the test host (TCG-emulated AMD-V) has been
# seen to stall for good in the middle of a boot (either VMM; RESULTS.md,
# runs 8, 10, 11). When the test host's live output (its serial file in the
# /tmp/testhost.* directory this run creates; testhost prints it only at the
# end) has not grown for $stall_s s (a boot takes under a minute), the test
# host is stopped.
stall_s=${STALL_SECONDS:-420}
watch_testhost() {
  before=$(ls -d /tmp/testhost.* 2>/dev/null || true)
  (
    last=$(date +%s)
    while sleep 30; do
      live=$(ls -td /tmp/testhost.* 2>/dev/null | grep -vxF "$before" | head -1 || true)
      [ -n "$live" ] && [ -f "$live/out" ] && last=$(( $(stat -c %Y "$live/out") > last ? $(stat -c %Y "$live/out") : last ))
      [ $(( $(date +%s) - last )) -lt "$stall_s" ] && continue
      echo "WATCHDOG: no output from the test host for ${stall_s}s: stopping it (nested KVM stall)" | tee -a "$work/round" >&2
      pkill -f "qemu-system-x86_64 -accel tcg,thread=multi -M microvm" || true
      exit 0
    done
  ) &
  watchdog=$!
}
# One test-host boot per round: a test host that dies (its kernel panics, or
# the watchdog stops it: runs 27, 34, 35 lost every later round that way)
# costs that round, which is run once more (said in the output as RETRIED).
retries=${ROUND_RETRIES:-1}
r=$((first - 1)) lost=0
while [ "$r" -lt $((first - 1 + rounds)) ]; do
  : >"$work/round"
  watch_testhost
  "$root/tests/nested/testhost" run --no-retry --memory 3072 --timeout 3000 "${files[@]}" -- \
    ROUND0=$r NET_PROFILE=$net_profile ${insula_b:+INSULA_B=$insula_b} sh "$here/inner.sh" "$a" "$insula" "$work/tools.list" "$runtime" "$mib" 1 "${kit_args[@]}" |
    tee -a "$work/round" >&2 || true
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  if ! grep -q 'INNER DONE' "$work/round" && [ "$lost" -lt "$retries" ]; then
    lost=$((lost + 1))
    echo "RETRIED: round $((r + 1)): the test host did not finish it (panic, reset or stall); its rows are dropped and the round runs again" | tee -a "$out" >&2
    continue
  fi
  cat "$work/round" >>"$out"
  [ -n "$log" ] && grep -E '^(RESULT|FAILED|WATCHDOG|INNER DONE|# round [0-9])' "$work/round" >>"$log"
  r=$((r + 1))
done
echo "machine load after: $(cat /proc/loadavg) ($(date -u +%H:%M) UTC)" >&2

summarise "$out"
grep -q '^FAILED' "$out" && { echo "some runs failed (see above)" >&2; exit 1; }
grep -q '^WATCHDOG' "$out" && { echo "the test host stalled: the table holds the rows measured before it" >&2; exit 1; }
[ "$(grep -c 'INNER DONE' "$out")" = "$rounds" ] || { echo "a test-host run did not finish: the table lacks its round" >&2; exit 1; }
exit 0
