#!/usr/bin/env bash
# Install, build, and boot the demo VM (`insula run` with its default guest).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
for s in scripts/prepare.d/*.sh; do [ -x "$s" ] && "$s"; done
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
exec build/insula run "$@"
