#!/usr/bin/env bash
# Side-by-side benchmark: `insula img bench|convert` against `qemu-img` on the
# same files, in one run. Prints a Markdown table (median seconds of REPS
# rounds, ratio = insula / qemu-img; below 1.00 means insula is faster), with
# each tool's fastest and slowest round so the noise is visible.
# Not a test.
#
# Fairness on a shared machine: each timed command starts after `sync` (not
# timed), so the dirty page cache one command leaves (convert does not flush,
# like qemu-img's default -t unsafe) does not throttle the next; and the two
# tools take turns going first, round by round.
#
# usage: REPS=3 bench/img/run.sh [path/to/insula] [scratch-dir]
set -euo pipefail
INSULA=${1:-build/insula}
DIR=${2:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)/.cache/images-bench}
REPS=${REPS:-3}
mkdir -p "$DIR"
INSULA=$(realpath "$INSULA")
cd "$DIR"

# Memory on this machine (a VM itself, virtio_balloon bound) is not uniform
# in cost, most likely because free pages go back to its host after a few
# seconds and the first touch of one is then a host fault (the cause is not
# proven: touching 1 GiB in another process first did not help). Measured
# 2026-12-02: qemu-img convert
# qcow2->raw (512 MiB written to the page cache) took 1.43-1.66 s, nearly all
# system time, when run 5 s after the previous output was deleted, and
# 0.18-0.20 s right after the delete, whose freed page cache it reused; in a
# pair, the second tool got 0.36-0.48 s. And DAMON pageout evicts cold page
# cache: a cold 512 MiB input took 0.48-0.51 s vs 0.13-0.19 warm. So each
# timed convert starts the same way, untimed, right before its clock: its
# input read into the page cache, then its previous output deleted.
secs() {  # prep command (string, may be empty), command...: prints the command's wall time in seconds
  local t0 t1 prep=$1
  shift
  sync
  [ -z "$prep" ] || bash -c "$prep"
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
declare -A Q I
ROWS=()
# pair NAME QEMU-COMMAND INSULA-COMMAND [QEMU-PREP INSULA-PREP]: records both
# times; the tools take turns going first, round by round.
pair() {
  local name=$1 q i
  if [ $((ROUND % 2)) = 1 ]; then
    q=$(secs "${4:-}" bash -c "$2"); i=$(secs "${5:-}" bash -c "$3")
  else
    i=$(secs "${5:-}" bash -c "$3"); q=$(secs "${4:-}" bash -c "$2")
  fi
  [ "$ROUND" = 1 ] && ROWS+=("$name")
  Q[$name]+="$q "; I[$name]+="$i "
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
prep() { echo "cat $1 >/dev/null; rm -f $2"; }  # input, old output: the prep of a timed convert

# Convert inputs: a 1 GiB sparse raw file, half of it random data in 1 MiB
# pieces; 256 MiB of repetitive text for -c.
if [ ! -f src.raw ]; then
  truncate -s 1G src.raw
  for i in $(seq 0 2 1023); do
    dd if=/dev/urandom of=src.raw bs=1M seek=$i count=1 conv=notrunc status=none
  done
fi
if [ ! -f text.raw ]; then
  (yes "insula compares its qcow2 compression with qemu-img, line by line" || true) | head -c 256M > text.raw
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ROUND in $(seq 1 "$REPS"); do
  # qemu-img bench defaults: 75000 requests of 4 KiB, 64 in flight, sequential.
  # insula serves a raw file with cache none on io_uring by default; qemu-img
  # uses threads unless told (-i io_uring), so those rows run twice: against
  # qemu-img's default, and against qemu-img -i io_uring.
  for fmt in qcow2 raw; do
    for cache in writeback none none,io_uring; do
      [ "$cache" = none,io_uring ] && [ $fmt != raw ] && continue
      qaio=; suffix=
      [ "$cache" = none,io_uring ] && { qaio="-i io_uring"; suffix=" (qemu-img -i io_uring)"; }
      rm -f q.$fmt i.$fmt
      qemu-img create -q -f $fmt q.$fmt 1G
      "$INSULA" img create -f $fmt i.$fmt 1G >/dev/null
      for what in "read fresh:" "write fresh:-w" "write allocated:-w" "read allocated:"; do
        w=${what#*:}
        pair "bench ${what%%:*} $fmt cache=${cache%%,*}$suffix" "qemu-img bench $w $qaio -f $fmt -t ${cache%%,*} q.$fmt" \
          "$INSULA img bench $w -f $fmt -t ${cache%%,*} i.$fmt"
      done
    done
  done
  rm -f q.qcow2 i.qcow2 q.raw i.raw
  pair "convert raw->qcow2 (1 GiB, half data)" "qemu-img convert -O qcow2 src.raw q.qcow2" \
    "$INSULA img convert -O qcow2 src.raw i.qcow2" "$(prep src.raw q.qcow2)" "$(prep src.raw i.qcow2)"
  pair "convert qcow2->raw" "qemu-img convert -O raw q.qcow2 q.raw" "$INSULA img convert -O raw i.qcow2 i.raw" \
    "$(prep q.qcow2 q.raw)" "$(prep i.qcow2 i.raw)"
  cmp -s i.raw src.raw || echo "WARNING: insula qcow2->raw output differs" >&2
  pair "convert -c raw->qcow2 (256 MiB text)" "qemu-img convert -c -O qcow2 text.raw q.qcow2" \
    "$INSULA img convert -c -O qcow2 text.raw i.qcow2" "$(prep text.raw q.qcow2)" "$(prep text.raw i.qcow2)"
  pair "convert compressed qcow2->raw" "qemu-img convert -O raw q.qcow2 q.raw" "$INSULA img convert -O raw i.qcow2 i.raw" \
    "$(prep q.qcow2 q.raw)" "$(prep i.qcow2 i.raw)"
  # The outputs must match, or the timings mean nothing.
  qemu-img compare -q text.raw i.qcow2 || echo "WARNING: insula convert -c output differs" >&2
  cmp -s i.raw text.raw || echo "WARNING: insula compressed qcow2->raw output differs" >&2
done

spread() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {printf "%.2f-%.2f", a[1], a[NR]}'; }
echo "| case | qemu-img (s) | insula (s) | ratio | qemu-img min-max | insula min-max |"
echo "|---|---|---|---|---|---|"
for name in "${ROWS[@]}"; do
  q=$(echo "${Q[$name]}" | median); i=$(echo "${I[$name]}" | median)
  printf '| %s | %.3f | %.3f | %.2f | %s | %s |\n' "$name" "$q" "$i" "$(echo "$i / $q" | bc -l)" \
    "$(echo "${Q[$name]}" | spread)" "$(echo "${I[$name]}" | spread)"
done
echo
echo "load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $REPS"
