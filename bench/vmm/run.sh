#!/usr/bin/env bash
# VMM start-to-exit, exit-path and memory benchmarks, side by side in one run:
# bare KVM_RUN loop (the physical limit), insula, QEMU microvm.
# Usage: bench/vmm/run.sh [BUILD_DIR]   (needs hyperfine and qemu-system-x86)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
G=$B/bench/vmm
INSULA=$B/insula
QEMU=(qemu-system-x86_64 -M microvm -accel kvm -nodefaults -no-user-config -nographic -m 128M -serial stdio
      -device isa-debug-exit,iobase=0xf4,iosize=4)
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
export HELLO=$G/hello_pvh.elf PORTS=$G/port_writes_pvh.elf
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "## start-to-exit wall time, PVH guest printing one line (hyperfine, 30 runs)"
hyperfine -N -w 3 -r 30 -i --export-json "$tmp/hello.json" \
  -n bare "$G/bare_kvm $HELLO" \
  -n insula "$INSULA run --kernel $HELLO --memory 128M" \
  -n qemu "${QEMU[*]} -kernel $HELLO" >/dev/null 2>&1
echo "## 200000 port writes to an unused port (hyperfine, 5 runs)"
hyperfine -N -w 1 -r 5 -i --export-json "$tmp/ports.json" \
  -n bare "$G/bare_kvm $PORTS" \
  -n insula "$INSULA run --kernel $PORTS --memory 128M" \
  -n qemu "${QEMU[*]} -kernel $PORTS" >/dev/null 2>&1

rss() {  # peak RSS in KiB of a command
  /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
}
python3 - "$tmp/hello.json" "$tmp/ports.json" <<'PY'
import json, sys
for path, title in zip(sys.argv[1:], ["hello (start to exit)", "200k port writes"]):
    r = {x["command"]: x for x in json.load(open(path))["results"]}
    bare, ins, q = r["bare"]["median"], r["insula"]["median"], r["qemu"]["median"]
    print(f"| {title} | bare {bare*1000:.1f} ms | insula {ins*1000:.1f} ms | qemu {q*1000:.1f} ms "
          f"| insula/qemu {ins/q:.2f} | insula/bare {ins/bare:.2f} |")
PY
echo "## peak RSS (KiB): insula 128M guest, insula 1G guest, qemu 128M guest"
echo "| insula 128M | $(rss "$INSULA" run --kernel "$HELLO" --memory 128M) |"
echo "| insula 1G   | $(rss "$INSULA" run --kernel "$HELLO" --memory 1G) |"
echo "| qemu 128M   | $(rss "${QEMU[@]}" -kernel "$HELLO") |"
