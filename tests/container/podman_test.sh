#!/usr/bin/env bash
# podman driving insula-runc (podman_test.sh CASE). Podman's storage lives in
# a temporary --root/--runroot and is removed at the end; the image is a
# busybox-static rootfs imported with `podman import` (no registry).
source "$(dirname "$0")/lib.sh"
command -v podman >/dev/null || skip "needs podman"
command -v conmon >/dev/null || [ -x /usr/libexec/podman/conmon ] || skip "needs conmon"

PM=(podman --root "$T/pm-root" --runroot "$T/pm-run" --storage-driver vfs --cgroup-manager cgroupfs
    --events-backend file --runtime "$RUNC")
pm() { "${PM[@]}" "$@"; }
pm_cleanup() {
  pm rm -a -f -t 0 >/dev/null 2>&1
  pm rmi -a -f >/dev/null 2>&1
  grep -o " $T[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
}
trap 'pm_cleanup; cleanup' EXIT

mkdir -p "$T/img/bin" "$T/img/etc" "$T/img/tmp"
cp "$BUSYBOX" "$T/img/bin/busybox"
for c in $("$BUSYBOX" --list); do [ "$c" = busybox ] || ln -sf busybox "$T/img/bin/$c"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$T/img/etc/passwd"
echo 'root:x:0:' > "$T/img/etc/group"
tar -C "$T/img" -cf "$T/img.tar" .
pm import "$T/img.tar" localhost/insula-busybox:test >/dev/null || fail "podman import"
IMG=localhost/insula-busybox:test
RUN=(--network none)

t_run_exit_status() {
  local out; out=$(pm run --rm "${RUN[@]}" $IMG sh -c 'echo hello; exit 42'); local rc=$?
  expect_eq "$rc" 42 "exit status through podman"
  expect_contains "$out" hello "output"
  pm run --rm "${RUN[@]}" $IMG true || fail "true"
  out=$(pm run --rm "${RUN[@]}" $IMG nosuchcmd 2>&1) && fail "missing command succeeded"
  expect_contains "$out" "not found" "missing command message"
  return 0
}

t_exec() {
  pm run -d --name ex "${RUN[@]}" $IMG sleep 1000 >/dev/null || fail "run -d"
  expect_eq "$(pm exec ex sh -c 'echo in-exec')" in-exec "podman exec"
  pm exec ex sh -c 'exit 9'; expect_eq $? 9 "podman exec exit status"
  expect_eq "$(pm exec -e A=b ex sh -c 'echo $A')" b "podman exec -e"
  expect_eq "$(pm exec -u 1000 ex id -u)" 1000 "podman exec -u"
  expect_contains "$(pm top ex 2>&1 || pm exec ex ps)" "sleep 1000" "processes"
}

t_stop() {
  pm run -d --name st "${RUN[@]}" $IMG sh -c 'trap "exit 3" TERM; while true; do sleep 0.1; done' >/dev/null || fail "run -d"
  sleep 0.5
  pm stop -t 10 st >/dev/null || fail "podman stop"
  expect_eq "$(pm inspect st --format '{{.State.Status}} {{.State.ExitCode}}')" "exited 3" "stopped by SIGTERM"
  pm run -d --name st2 "${RUN[@]}" $IMG sleep 1000 >/dev/null || fail "run -d"
  pm stop -t 1 st2 >/dev/null || fail "podman stop (SIGKILL fallback)"
  expect_eq "$(pm inspect st2 --format '{{.State.Status}}')" exited "stopped by SIGKILL"
  pm rm st st2 >/dev/null || fail "podman rm"
}

t_pause_unpause() {
  pm run -d --name pa "${RUN[@]}" $IMG sleep 1000 >/dev/null || fail "run -d"
  pm pause pa >/dev/null || fail "podman pause"
  expect_eq "$(pm inspect pa --format '{{.State.Status}}')" paused "after pause"
  pm unpause pa >/dev/null || fail "podman unpause"
  expect_eq "$(pm inspect pa --format '{{.State.Status}}')" running "after unpause"
  expect_eq "$(pm exec pa echo alive)" alive "exec after unpause"
}

t_tty() {
  local out; out=$(pm run --rm -t "${RUN[@]}" $IMG sh -c 'tty; exit 5' < /dev/null 2>/dev/null); local rc=$?
  expect_eq "$rc" 5 "exit status with -t"
  expect_contains "$out" "/dev/pts/0" "terminal inside"
  pm run -d --name tt "${RUN[@]}" $IMG sleep 1000 >/dev/null || fail "run -d"
  out=$(pm exec -t tt tty < /dev/null 2>/dev/null)
  expect_contains "$out" "/dev/pts/" "podman exec -t"
}

t_memory_pids_limit() {
  local out
  out=$(pm run --rm "${RUN[@]}" --memory 64m --pids-limit 30 $IMG sh -c \
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max') || fail "run with limits"
  expect_contains "$out" 67108864 "--memory"
  expect_contains "$out" 30 "--pids-limit"
  out=$(pm run --rm "${RUN[@]}" --pids-limit 10 $IMG sh -c 'for i in $(seq 30); do sleep 5 & done 2>&1; echo end' 2>&1)
  expect_contains "$out" "fork" "pids limit enforced"
}

case=${1:?usage: podman_test.sh CASE}
declare -F "t_$case" >/dev/null || fail "no such case $case"
"t_$case" || exit 1
echo "PASS: $case"
