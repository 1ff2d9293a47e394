#!/usr/bin/env bash
# Side-by-side benchmark: `insula img bench|convert` against `qemu-img` on the
# same files, in one run. Prints a Markdown table (seconds, ratio = insula /
# qemu-img; below 1.00 means insula is faster). Not a test.
#
# usage: bench/img/run.sh [path/to/insula] [scratch-dir]
set -euo pipefail
INSULA=${1:-build/insula}
DIR=${2:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)/.cache/images-bench}
mkdir -p "$DIR"
INSULA=$(realpath "$INSULA")
cd "$DIR"

secs() {  # run a command, print its wall time in seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
row() {  # name, qemu seconds, insula seconds
  printf '| %s | %.3f | %.3f | %.2f |\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"
}

echo "| case | qemu-img (s) | insula (s) | ratio |"
echo "|---|---|---|---|"
# qemu-img bench defaults: 75000 requests of 4 KiB, 64 in flight, sequential.
for fmt in qcow2 raw; do
  for cache in writeback none; do
    rm -f q.$fmt i.$fmt
    qemu-img create -q -f $fmt q.$fmt 1G
    "$INSULA" img create -f $fmt i.$fmt 1G >/dev/null
    row "bench read fresh $fmt cache=$cache" "$(secs qemu-img bench -f $fmt -t $cache q.$fmt)" \
      "$(secs "$INSULA" img bench -f $fmt -t $cache i.$fmt)"
    row "bench write fresh $fmt cache=$cache" "$(secs qemu-img bench -w -f $fmt -t $cache q.$fmt)" \
      "$(secs "$INSULA" img bench -w -f $fmt -t $cache i.$fmt)"
    row "bench write allocated $fmt cache=$cache" "$(secs qemu-img bench -w -f $fmt -t $cache q.$fmt)" \
      "$(secs "$INSULA" img bench -w -f $fmt -t $cache i.$fmt)"
    row "bench read allocated $fmt cache=$cache" "$(secs qemu-img bench -f $fmt -t $cache q.$fmt)" \
      "$(secs "$INSULA" img bench -f $fmt -t $cache i.$fmt)"
  done
done

# Convert: a 1 GiB sparse raw file, half of it random data in 1 MiB pieces.
if [ ! -f src.raw ]; then
  truncate -s 1G src.raw
  for i in $(seq 0 2 1023); do
    dd if=/dev/urandom of=src.raw bs=1M seek=$i count=1 conv=notrunc status=none
  done
fi
# Compressible input for -c: 256 MiB of repetitive text.
if [ ! -f text.raw ]; then
  (yes "insula compares its qcow2 compression with qemu-img, line by line" || true) | head -c 256M > text.raw
fi
rm -f q.qcow2 i.qcow2 q.raw i.raw
row "convert raw->qcow2 (1 GiB, half data)" "$(secs qemu-img convert -O qcow2 src.raw q.qcow2)" \
  "$(secs "$INSULA" img convert -O qcow2 src.raw i.qcow2)"
row "convert qcow2->raw" "$(secs qemu-img convert -O raw q.qcow2 q.raw)" \
  "$(secs "$INSULA" img convert -O raw i.qcow2 i.raw)"
rm -f q.qcow2 i.qcow2
row "convert -c raw->qcow2 (256 MiB text)" "$(secs qemu-img convert -c -O qcow2 text.raw q.qcow2)" \
  "$(secs "$INSULA" img convert -c -O qcow2 text.raw i.qcow2)"
row "convert compressed qcow2->raw" "$(secs qemu-img convert -O raw q.qcow2 q.raw)" \
  "$(secs "$INSULA" img convert -O raw i.qcow2 i.raw)"
# The outputs must match, or the timings mean nothing.
qemu-img compare -q text.raw i.qcow2 || echo "WARNING: insula convert -c output differs"
cmp -s i.raw text.raw || echo "WARNING: insula qcow2->raw output differs"
