# Helpers for the nested-tier test scripts (sourced). Each test is a script that
# exits 0 (pass), 1 (fail) or 77 (skip: a prerequisite is really absent).
set -euo pipefail
nested_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$nested_dir/../.." && pwd)
appliance=$repo_root/.cache/appliance
testhost=$nested_dir/testhost

# --file arguments for `testhost run`: the appliance, and QEMU with its firmware.
appliance_files=(--file "$appliance/vmlinux" --file "$appliance/vmlinuz" --file "$appliance/initramfs.cpio.gz")
qemu_files=(--file /usr/bin/qemu-system-x86_64 --file /usr/share/qemu --file /usr/share/seabios)

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (deps/nested.txt: qemu-system-x86)"
# The assets come from Debian packages; fetch them if setup has not run yet.
"$repo_root/scripts/prepare.d/20-debian-kernel.sh" >&2
"$repo_root/scripts/prepare.d/30-appliance.sh" >&2

# expect OUTPUT_FILE REGEX WHAT: fails with the output shown unless a line matches.
expect() {
  tr -d '\r' <"$1" | grep -qE -- "$2" || { echo "---- output:" >&2; cat "$1" >&2; fail "$3 (no line matching '$2')"; }
}

# Kernel arguments for Linux guests of QEMU TCG (TSC rate; see testhost).
tcg_args=$("$testhost" tsc-args)

# b64 TEXT: the form the appliance's insula.run= parameter takes.
b64() { printf '%s' "$1" | base64 -w0; }
