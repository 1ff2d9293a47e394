#!/usr/bin/env bash
# Direct tests of insula-runc with busybox bundles: one case per invocation
# (runtime_test.sh CASE), registered one by one in CMakeLists.txt.
source "$(dirname "$0")/lib.sh"
B=$T/bundle
make_bundle "$B"

t_lifecycle() {
  local id; new_id life; id=$ID
  args "$B" 'sleep 100'
  runc create --bundle "$B" --pid-file "$T/pid" "$id" || fail "create"
  expect_eq "$(status_of "$id")" created "status after create"
  local pid; pid=$(cat "$T/pid")
  [ -d /proc/"$pid" ] || fail "pid $pid from the pid file is not alive"
  grep -q "sleep" /proc/"$pid"/cmdline && fail "process exec'd before start"
  [ -d /sys/fs/cgroup/memory/insula/"$id" ] || [ -d /sys/fs/cgroup/insula/"$id" ] || fail "no cgroup"
  runc start "$id" || fail "start"
  sleep 0.2
  expect_eq "$(status_of "$id")" running "status after start"
  grep -q "sleep" /proc/"$pid"/cmdline || fail "process not exec'd after start"
  expect_contains "$(runc list)" "$id" "list"
  expect_contains "$(runc list --format json)" "\"id\":\"$id\"" "list json"
  expect_contains "$(runc ps --format json "$id")" "$pid" "ps json"
  runc kill "$id" KILL || fail "kill"
  sleep 0.2
  expect_eq "$(status_of "$id")" stopped "status after kill"
  runc delete "$id" || fail "delete"
  runc state "$id" 2>/dev/null && fail "state after delete"
  [ -e /proc/"$pid" ] && grep -q sleep /proc/"$pid"/cmdline 2>/dev/null && fail "process survived"
  return 0
}

t_exit_status() {
  local id; new_id exit; id=$ID
  args "$B" 'echo out; echo err >&2; exit 42'
  local out; out=$(runc run --bundle "$B" "$id" 2>&1); local rc=$?
  expect_eq "$rc" 42 "exit status"
  expect_contains "$out" out "stdout"; expect_contains "$out" err "stderr"
  runc state "$id" 2>/dev/null && fail "run left state behind"
  return 0
}

start_sleeper() {  # id
  args "$B" 'sleep 100'
  runc run --detach --bundle "$B" "$1" || fail "run --detach"
}

t_exec() {
  local id; new_id exec; id=$ID
  start_sleeper "$id"
  expect_eq "$(runc exec --env FOO=bar --cwd /tmp "$id" sh -c 'echo $FOO $(pwd)')" "bar /tmp" "exec env/cwd"
  runc exec "$id" sh -c 'exit 7'; expect_eq $? 7 "exec exit status"
  expect_eq "$(runc exec --user 1000:1001 "$id" sh -c 'echo $(id -u) $(id -g)')" "1000 1001" "exec --user"
  echo '{"args":["sh","-c","echo from-process-file"],"cwd":"/","env":["PATH=/bin"]}' > "$T/p.json"
  expect_eq "$(runc exec --process "$T/p.json" "$id")" "from-process-file" "exec --process"
  runc exec --detach --pid-file "$T/epid" "$id" sleep 50 || fail "exec --detach"
  local epid; epid=$(cat "$T/epid")
  grep -q sleep /proc/"$epid"/cmdline || fail "detached exec process $epid not running"
  expect_contains "$(runc ps --format json "$id")" "$epid" "exec'd process in the container's cgroup"
  # Same pid namespace as init: it sees pid 1.
  expect_contains "$(runc exec "$id" ps)" "sleep 100" "exec in the pid namespace"
  local out; out=$(runc exec "$id" nosuchcmd 2>&1) && fail "exec of a missing command succeeded"
  expect_contains "$out" "executable file not found" "missing command"
}

t_state_errors() {
  local out
  out=$(runc state nosuch 2>&1) && fail "state of a missing container"
  expect_contains "$out" "does not exist" "missing container"
  local id; new_id err; id=$ID
  args "$B" 'exit 0'
  runc create --bundle "$B" "$id" || fail create
  out=$(runc create --bundle "$B" "$id" 2>&1) && fail "second create"
  expect_contains "$out" "exists" "duplicate id"
  runc start "$id" || fail start
  sleep 0.3
  out=$(runc kill "$id" TERM 2>&1) && fail "kill of a stopped container"
  expect_contains "$out" "container not running" "kill stopped"
  out=$(runc start "$id" 2>&1) && fail "start of a stopped container"
  local id2; new_id err2; id2=$ID
  start_sleeper "$id2"
  out=$(runc delete "$id2" 2>&1) && fail "delete of a running container without --force"
  expect_contains "$out" "not stopped" "delete running"
  out=$(runc kill "$id2" NOSIG 2>&1) && fail "bad signal"
  expect_contains "$out" "unknown signal" "bad signal"
  out=$(runc create --bundle "$B" "bad/id" 2>&1) && fail "bad id accepted"
  return 0
}

t_pause_resume() {
  local id; new_id pause; id=$ID
  start_sleeper "$id"
  runc pause "$id" || fail pause
  expect_eq "$(status_of "$id")" paused "after pause"
  expect_contains "$(cat /sys/fs/cgroup/freezer/insula/"$id"/freezer.state)" FROZEN "freezer"
  runc resume "$id" || fail resume
  expect_eq "$(status_of "$id")" running "after resume"
  runc pause "$id"; runc delete --force "$id" || fail "delete --force of a paused container"
}

t_kill_all() {
  local id; new_id killall; id=$ID
  args "$B" 'sleep 100 & sleep 100 & sleep 100'
  runc run --detach --bundle "$B" "$id" || fail run
  count() { runc ps --format json "$id" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
  local n i
  for i in $(seq 50); do n=$(count); [ "$n" -ge 3 ] && break; sleep 0.1; done
  [ "$n" -ge 3 ] || fail "expected >= 3 processes, got $n"
  runc kill --all "$id" KILL || fail "kill --all"
  # Killed processes leave the cgroup once reaped: allow the kernel a moment under load.
  for i in $(seq 50); do n=$(count); [ "$n" = 0 ] && break; sleep 0.1; done
  expect_eq "$n" 0 "processes after kill --all"
}

t_terminal_console() {
  local id; new_id tty; id=$ID
  cfg "$B" 'c["process"]["terminal"]=True; c["process"]["args"]=["sh","-c","tty; echo cols=$(stty size)"]; c["process"]["consoleSize"]={"height":30,"width":100}'
  python3 "$(dirname "$0")/console_receiver.py" "$T/console.sock" > "$T/tty.out" &
  local recv=$!
  for _ in $(seq 50); do [ -S "$T/console.sock" ] && break; sleep 0.05; done
  runc create --bundle "$B" --console-socket "$T/console.sock" "$id" || fail "create with console socket"
  runc start "$id" || fail start
  wait $recv
  local out; out=$(cat "$T/tty.out")
  expect_contains "$out" "/dev/pts/0" "pty inside"
  expect_contains "$out" "cols=30 100" "console size"
  new_id tty2
  local out2; out2=$(runc create --bundle "$B" "$ID" 2>&1) && fail "terminal without console socket"
  expect_contains "$out2" "console socket" "terminal without console socket"
}

t_user_namespace() {
  local id; new_id userns; id=$ID
  cfg "$B" 'c["linux"]["namespaces"].append({"type":"user"}); c["linux"]["uidMappings"]=[{"containerID":0,"hostID":100000,"size":65536}]; c["linux"]["gidMappings"]=[{"containerID":0,"hostID":100000,"size":65536}]'
  args "$B" 'cat /proc/self/uid_map; id -u; sleep 100'
  runc run --detach --bundle "$B" --pid-file "$T/pid" "$id" > "$T/out" 2>&1 || { cat "$T/out"; fail "run with a user namespace"; }
  sleep 0.3
  local out; out=$(cat "$T/out")
  expect_contains "$out" "100000" "uid_map inside"
  local pid; pid=$(cat "$T/pid")
  expect_contains "$(cat /proc/"$pid"/uid_map)" "100000" "uid_map from the host"
  expect_eq "$(awk '/^Uid:/{print $2}' /proc/"$pid"/status)" 100000 "host uid of container root"
}

# Idmapped bind mounts: a host directory owned by 1000:1000 (ext4 under $T).
t_idmap_mount() {
  local id; new_id idmap; id=$ID
  local src=$T/idsrc out
  mkdir -p "$src"; touch "$src/f"; chown -R 1000:1000 "$src"; chmod 777 "$src"
  cfg "$B" 'c["mounts"].append({"destination":"/idm","type":"bind","source":"'"$src"'","options":["rbind","idmap"],"uidMappings":[{"containerID":1000,"hostID":2000,"size":1}],"gidMappings":[{"containerID":1000,"hostID":2001,"size":1}]})'
  args "$B" 'stat -c %u:%g /idm/f'
  out=$(runc run --bundle "$B" "$id" 2>&1) || fail "run with an idmapped mount: $out"
  expect_eq "$out" "2000:2001" "owner through the mount's mappings"
  # In a user namespace (root = host 100000): host 1000 mapped to 100000 shows
  # as root inside, and what root creates there is 1000's on the host.
  new_id idmap2; id=$ID
  cfg "$B" 'c["linux"]["namespaces"].append({"type":"user"}); c["linux"]["uidMappings"]=[{"containerID":0,"hostID":100000,"size":65536}]; c["linux"]["gidMappings"]=[{"containerID":0,"hostID":100000,"size":65536}]; m=c["mounts"][-1]; m["uidMappings"]=[{"containerID":1000,"hostID":100000,"size":1}]; m["gidMappings"]=[{"containerID":1000,"hostID":100000,"size":1}]'
  args "$B" 'stat -c %u:%g /idm/f; touch /idm/new && echo CREATED'
  out=$(runc run --bundle "$B" "$id" 2>&1) || fail "run with an idmapped mount in a user namespace: $out"
  echo "$out"
  expect_contains "$out" "0:0" "host 1000 is root inside"
  expect_contains "$out" "CREATED" "root writes through the mount"
  expect_eq "$(stat -c %u:%g "$src/new")" "1000:1000" "created file's owner on the host"
  # Only bind mounts can be idmapped here.
  new_id idmap3; id=$ID
  cfg "$B" 'c["mounts"].append({"destination":"/t","type":"tmpfs","source":"tmpfs","options":["idmap"]})'
  out=$(runc create --bundle "$B" "$id" 2>&1) && fail "idmapped tmpfs accepted"
  expect_contains "$out" "bind mounts only" "idmapped non-bind message"
  [ -e "$STATE/$id" ] && fail "failed create left state behind"
  return 0
}

t_cgroups_v1_limits() {
  local id; new_id cg; id=$ID
  cfg "$B" 'c["linux"]["resources"].update({"memory":{"limit":67108864,"reservation":33554432},"pids":{"limit":20},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},"blockIO":{"weight":500}})'
  args "$B" 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; sleep 100'
  runc run --detach --bundle "$B" "$id" > "$T/out" 2>&1 || { cat "$T/out"; fail run; }
  sleep 0.2
  local d=/sys/fs/cgroup
  [ -f $d/cgroup.controllers ] && skip "pure cgroup2 host: v1 limits not applicable"
  expect_eq "$(cat $d/memory/insula/"$id"/memory.limit_in_bytes)" 67108864 "memory.limit_in_bytes"
  expect_eq "$(cat $d/memory/insula/"$id"/memory.soft_limit_in_bytes)" 33554432 "soft limit"
  expect_eq "$(cat $d/pids/insula/"$id"/pids.max)" 20 "pids.max"
  expect_eq "$(cat $d/cpu/insula/"$id"/cpu.shares)" 512 "cpu.shares"
  expect_eq "$(cat $d/cpu/insula/"$id"/cpu.cfs_quota_us)" 50000 "cfs quota"
  expect_eq "$(cat $d/cpuset/insula/"$id"/cpuset.cpus)" 0 "cpuset.cpus"
  expect_contains "$(cat "$T/out")" "67108864" "memory limit seen inside through the cgroup mount"
  expect_contains "$(cat $d/devices/insula/"$id"/devices.list)" "c 1:3 rwm" "default device allow list"
  # The pids limit holds: forking past it fails inside.
  local out; out=$(runc exec "$id" sh -c 'for i in $(seq 40); do sleep 5 & done 2>&1; echo done' 2>&1)
  expect_contains "$out" "fork" "pids.max enforced"
}

t_cgroup_unified() {
  [ -d /sys/fs/cgroup/unified ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || skip "no cgroup2 mount"
  local id; new_id unified; id=$ID
  cfg "$B" 'c["linux"]["resources"]["unified"]={"cgroup.max.descendants":"5"}'
  start_sleeper "$id"
  local d=/sys/fs/cgroup/unified/insula/$id
  [ -f /sys/fs/cgroup/cgroup.controllers ] && d=/sys/fs/cgroup/insula/$id
  expect_eq "$(cat "$d"/cgroup.max.descendants)" 5 "unified key"
  grep -q "$(cat "$T/state/$id/state.json" | python3 -c 'import json,sys;print(json.load(sys.stdin)["pid"])')" "$d/cgroup.procs" || fail "init not in the cgroup2 group"
}

# A pure cgroup2 host, for real: in a private mount namespace the v1
# hierarchies are unmounted and this host's cgroup2 hierarchy is mounted at
# /sys/fs/cgroup, so the runtime sees only cgroup2. Controllers bound to v1
# (memory, cpu, pids, ...) are not available on cgroup2 here; hugetlb is not
# bound to v1 on this host, so it is the controller whose limit is checked.
t_cgroup_v2() {
  local v2=/sys/fs/cgroup/unified
  [ -f /sys/fs/cgroup/cgroup.controllers ] && v2=/sys/fs/cgroup
  [ -f "$v2/cgroup.controllers" ] || skip "no cgroup2 hierarchy"
  command -v unshare >/dev/null || skip "needs unshare"
  unshare -m --propagation private "$0" cgroup_v2_inner || fail "pure cgroup2 case"
}

t_cgroup_v2_inner() {
  local v2=/sys/fs/cgroup/unified hugetlb=
  [ -f /sys/fs/cgroup/cgroup.controllers ] && v2=/sys/fs/cgroup
  grep -qw hugetlb "$v2/cgroup.controllers" && [ -d /sys/kernel/mm/hugepages/hugepages-2048kB ] && hugetlb=1
  umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup || fail "mount cgroup2 at /sys/fs/cgroup"
  grep -q ' - cgroup ' /proc/self/mountinfo && fail "v1 hierarchies still mounted"
  local id; new_id v2; id=$ID
  # Devices: deny all, then /dev/fuse for reading only (an eBPF program on cgroup2).
  local res='{"unified":{"cgroup.max.descendants":"3"},"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"r"}]}'
  cfg "$B" "c['linux']['resources']=json.loads('$res'); c['linux']['devices']=[{'path':'/dev/fuse','type':'c','major':10,'minor':229,'fileMode':0o666}]"
  [ -n "$hugetlb" ] && cfg "$B" "c['linux']['resources']['hugepageLimits']=[{'pageSize':'2MB','limit':4194304}]"
  start_sleeper "$id"
  local d=/sys/fs/cgroup/insula/$id pid
  pid=$(runc state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  grep -qx "$pid" "$d/cgroup.procs" || fail "init $pid not in $d (clone into the cgroup)"
  expect_eq "$(cat "$d/cgroup.max.descendants")" 3 "unified key"
  [ -n "$hugetlb" ] && expect_eq "$(cat "$d/hugetlb.2MB.max")" 4194304 "hugetlb.2MB.max"
  expect_contains "$(runc ps --format json "$id")" "$pid" "ps from cgroup.procs"
  # Inside: a cgroup namespace rooted at the container's group, cgroup2 mounted.
  expect_eq "$(runc exec "$id" cat /proc/self/cgroup | grep '^0::')" "0::/" "exec joins the container's cgroup2 group"
  runc exec "$id" test -f /sys/fs/cgroup/cgroup.controllers || fail "cgroup2 not mounted in the container"
  runc exec "$id" sh -c 'exec 3<>/dev/null' || fail "default device /dev/null refused"
  runc exec "$id" sh -c 'exec 3</dev/fuse' || fail "/dev/fuse for reading refused (allowed 'r')"
  local out; out=$(runc exec "$id" sh -c 'exec 3<>/dev/fuse' 2>&1) && fail "/dev/fuse opened for writing (allowed 'r' only)"
  expect_contains "$out" "not permitted" "device filter refusal"
  runc pause "$id" || fail pause
  expect_eq "$(status_of "$id")" paused "after pause"
  expect_contains "$(cat "$d/cgroup.events")" "frozen 1" "cgroup.events after pause"
  runc resume "$id" || fail resume
  expect_eq "$(status_of "$id")" running "after resume"
  runc kill "$id" KILL; runc delete --force "$id" || fail "delete"
  [ -d "$d" ] && fail "cgroup $d left after delete"
  # A limit whose controller cgroup2 does not offer here: a clear error, nothing left.
  if ! grep -qw pids /sys/fs/cgroup/cgroup.controllers; then
    local id2; new_id v2pids; id2=$ID
    cfg "$B" "c['linux']['resources']={'pids':{'limit':10}}"
    out=$(runc run --detach --bundle "$B" "$id2" 2>&1) && fail "pids limit without the pids controller accepted"
    expect_contains "$out" "pids controller is not enabled" "missing controller message"
  fi
  return 0
}

t_update() {
  local id; new_id upd; id=$ID
  start_sleeper "$id"
  [ -d /sys/fs/cgroup/pids/insula/"$id" ] || skip "no v1 pids controller"
  echo '{"pids":{"limit":33},"memory":{"limit":100000000}}' | runc update --resources - "$id" || fail update
  expect_eq "$(cat /sys/fs/cgroup/pids/insula/"$id"/pids.max)" 33 "pids.max after update"
  runc update --pids-limit 44 "$id" || fail "update --pids-limit"
  expect_eq "$(cat /sys/fs/cgroup/pids/insula/"$id"/pids.max)" 44 "pids.max after --pids-limit"
  local out; out=$(echo '{"memory":{"limit":"x"}}' | runc update --resources - "$id" 2>&1) && fail "bad update accepted"
  expect_contains "$out" "expected a number" "bad update message"
}

t_time_namespace() {
  [ -e /proc/self/ns/time ] || skip "kernel without time namespaces"
  local id; new_id time; id=$ID
  cfg "$B" 'c["linux"]["namespaces"].append({"type":"time"}); c["linux"]["timeOffsets"]={"boottime":{"secs":31536000},"monotonic":{"secs":31536000}}'
  args "$B" 'cat /proc/uptime'
  local up; up=$(runc run --bundle "$B" "$id") || fail "run with a time namespace"
  python3 -c "import sys; sys.exit(0 if float('${up%% *}') > 31536000 else 1)" || fail "uptime $up not offset"
}

t_hooks() {
  local id; new_id hooks; id=$ID
  cfg "$B" "c['hooks']={'prestart':[{'path':'/bin/sh','args':['sh','-c','cat > $T/prestart']}],'createRuntime':[{'path':'/bin/sh','args':['sh','-c','cat > $T/createRuntime']}],'poststart':[{'path':'/bin/sh','args':['sh','-c','cat > $T/poststart']}],'poststop':[{'path':'/bin/sh','args':['sh','-c','cat > $T/poststop'],'env':['X=1']}],'startContainer':[{'path':'/bin/touch','args':['touch','/tmp/started']}]}"
  args "$B" 'exit 0'
  runc run --bundle "$B" "$id" || fail run
  for h in prestart createRuntime poststart poststop; do
    expect_contains "$(cat "$T/$h" 2>/dev/null)" "\"id\":\"$id\"" "$h hook state on stdin"
  done
  [ -e "$B/rootfs/tmp/started" ] || fail "startContainer hook did not run in the container"
  # createContainer runs in the container's namespaces: it sees the
  # container's mounts (the tmpfs on rootfs/dev), which the host does not,
  # its hostname, network and pid namespaces.
  new_id hooks2; id=$ID
  cfg "$B" "c['hostname']='ctr-host'; c['hooks']={'createContainer':[{'path':'/bin/sh','args':['sh','-c','grep -c \" $B/rootfs/dev \" /proc/self/mounts > $T/cc-mounts; hostname > $T/cc-host; { readlink /proc/self/ns/net; readlink /proc/self/ns/pid; } > $T/cc-ns']}]}"
  args "$B" 'readlink /proc/self/ns/net; readlink /proc/self/ns/pid'
  local ns; ns=$(runc run --bundle "$B" "$id") || fail "run with a createContainer hook"
  expect_eq "$(cat "$T/cc-mounts" 2>/dev/null)" 1 "createContainer hook in the container's mount namespace"
  expect_eq "$(cat "$T/cc-host" 2>/dev/null)" ctr-host "createContainer hook in the container's uts namespace"
  expect_eq "$(cat "$T/cc-ns" 2>/dev/null)" "$ns" "createContainer hook in the container's net and pid namespaces"
  expect_contains "$(cat "$T/prestart")" '"pid":' "state has the pid"
}

t_hook_timeout() {
  local id; new_id hookto; id=$ID
  cfg "$B" "c['hooks']={'createRuntime':[{'path':'/bin/sleep','args':['sleep','100'],'timeout':1}]}"
  args "$B" 'sleep 100'
  local start=$SECONDS out
  out=$(runc create --bundle "$B" "$id" 2>&1) && fail "create with a hanging hook succeeded"
  expect_contains "$out" "timed out" "hook timeout message"
  [ $((SECONDS - start)) -lt 10 ] || fail "hook timeout took $((SECONDS - start)) s"
  [ -e "$STATE/$id" ] && fail "state left behind"
  pgrep -f "sleep 100" >/dev/null && pgrep -af "sleep 100" | grep -q "$T" && fail "process left behind"
  return 0
}

t_bad_configs() {
  local id out
  declare -A cases=(
    [types]='c["process"]["args"]="sh"'
    [namespace]='c["linux"]["namespaces"].append({"type":"bogus"})'
    [relative]='c["mounts"].append({"destination":"relative/dir","type":"tmpfs","source":"tmpfs"})'
    [nomountns]='c["linux"]["namespaces"]=[n for n in c["linux"]["namespaces"] if n["type"]!="mount"]'
    [badmount]='c["mounts"].append({"destination":"/x","type":"nosuchfs","source":"none"})'
    [badsource]='c["mounts"].append({"destination":"/x","type":"bind","source":"/nonexistent/dir","options":["bind"]})'
    [cwd]='c["process"]["cwd"]="/nonexistent"'
    [seccomp]='c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_BOGUS"}'
    [seccompop]='c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_WHAT"}]}]}'
    [rlimit]='c["process"]["rlimits"]=[{"type":"RLIMIT_BOGUS","hard":1,"soft":1}]'
    [hookpath]='c["hooks"]={"prestart":[{"path":"/nonexistent/hook"}]}'
    [hostname]='c["linux"]["namespaces"]=[n for n in c["linux"]["namespaces"] if n["type"]!="uts"]'
    [cgroupspath]='c["linux"]["cgroupsPath"]="/../../escape"'
    [userns]='c["linux"]["namespaces"].append({"type":"user"})'
  )
  for name in "${!cases[@]}"; do
    rm -rf "$T/bad"; cp -a "$B" "$T/bad" 2>/dev/null || { mkdir -p "$T/bad"; cp "$B/config.json" "$T/bad/"; }
    cfg "$T/bad" "${cases[$name]}"
    new_id "bad-$name"; id=$ID
    # Output to a file: a wrongly created container would hold a pipe open.
    runc create --bundle "$T/bad" "$id" > "$T/bad.out" 2>&1 && fail "bad config '$name' accepted"
    out=$(cat "$T/bad.out")
    [ -n "$out" ] || fail "bad config '$name': no message"
    echo "$name: $out"
    [ -e "$STATE/$id" ] && fail "bad config '$name' left state behind"
    for d in /sys/fs/cgroup/*/insula/"$id"; do [ -d "$d" ] && fail "bad config '$name' left cgroup $d"; done
  done
  return 0
}

t_symlink_escape() {
  local id; new_id escape; id=$ID
  mkdir -p "$T/outside"
  ln -s ../../../../../../../../../../"$T"/outside "$B/rootfs/evil"
  cfg "$B" 'c["mounts"].append({"destination":"/evil/x","type":"tmpfs","source":"tmpfs"})'
  local out; out=$(runc create --bundle "$B" "$id" 2>&1) && fail "escaping mount accepted"
  expect_contains "$out" "escapes the rootfs" "escape message"
  [ -e "$T/outside/x" ] && fail "mount point created outside the rootfs"
  # An absolute symlink stays inside the rootfs.
  rm "$B/rootfs/evil"; ln -s /tmp "$B/rootfs/abs"
  cfg "$B" 'c["mounts"][-1]["destination"]="/abs/x"'
  args "$B" 'mount | grep -c " /tmp/x "'
  new_id escape2; id=$ID
  expect_eq "$(runc run --bundle "$B" "$id")" 1 "absolute symlink resolved in the rootfs"
}

t_masked_paths() {
  local id; new_id mask; id=$ID
  local masked=""
  for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do [ -r "$f" ] && masked="$masked $f"; done
  [ -n "$masked" ] || skip "none of the masked /proc files exists on this kernel"
  [ -d /sys/firmware ] || skip "no /sys/firmware"
  args "$B" "for f in $masked; do echo \$f=\$(head -c 100 \$f | wc -c); done; echo fw=\$(ls /sys/firmware | wc -l); echo x > /proc/sys/kernel/domainname && echo WROTE; echo 1 > /proc/sysrq-trigger && echo SYSRQ; exit 0"
  local out; out=$(runc run --bundle "$B" "$id" 2>&1)
  echo "$out"
  for f in $masked; do expect_contains "$out" "$f=0" "$f masked"; done
  expect_contains "$out" "fw=0" "/sys/firmware masked"
  case "$out" in *WROTE*|*SYSRQ*) fail "wrote to a read-only path" ;; esac
}

t_dropped_caps() {
  local id; new_id caps; id=$ID
  args "$B" 'grep CapBnd /proc/self/status; mount -t tmpfs none /tmp && echo MOUNTED; hostname evil && echo HOSTNAME; mknod /tmp/sda b 8 0 && echo MKNOD; chroot / true && echo CHROOT; exit 0'
  local out; out=$(runc run --bundle "$B" "$id" 2>&1)
  echo "$out"
  expect_contains "$out" "CapBnd:	0000000020000420" "bounding set = AUDIT_WRITE, KILL, NET_BIND_SERVICE"
  case "$out" in *MOUNTED*|*HOSTNAME*|*MKNOD*|*CHROOT*) fail "privileged operation succeeded without the capability" ;; esac
}

t_seccomp() {
  local id; new_id seccomp; id=$ID
  cfg "$B" 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13},{"names":["chmod"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":511,"op":"SCMP_CMP_EQ"}]},{"names":["fchmodat"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":511,"op":"SCMP_CMP_EQ"}]},{"names":["sethostname"],"action":"SCMP_ACT_KILL_PROCESS"}]}'
  args "$B" 'grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; touch /tmp/f; chmod 755 /tmp/f && echo CHMOD755; chmod 777 /tmp/f 2>&1 || echo CHMOD777-DENIED; exec hostname x; echo AFTER-KILL'
  local out; out=$(runc run --bundle "$B" "$id" 2>&1); local rc=$?
  echo "$out"
  expect_contains "$out" "Seccomp:	2" "filter mode"
  expect_contains "$out" "Permission denied" "mkdir -> EACCES (errnoRet 13)"
  expect_contains "$out" "CHMOD755" "chmod 755 allowed (argument filter)"
  expect_contains "$out" "CHMOD777-DENIED" "chmod 777 denied (argument filter)"
  case "$out" in *AFTER-KILL*) fail "SCMP_ACT_KILL_PROCESS did not kill" ;; esac
  expect_eq "$rc" 159 "killed by SIGSYS (128+31)"
}

# SCMP_ACT_NOTIFY: create hands the notify fd to linux.seccomp.listenerPath;
# seccomp_listener.py answers getppid (4242) and mkdir (EDQUOT).
t_seccomp_notify() {
  local id; new_id notify; id=$ID
  local sock=$T/listener.sock out rc
  notify_cfg() {  # listenerPath
    cfg "$B" 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"'"$1"'","listenerMetadata":"meta-1","syscalls":[{"names":["getppid","mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"},{"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}'
  }
  notify_cfg "$sock"
  args "$B" 'echo PPID=$PPID; mkdir /tmp/d 2>&1; [ -d /tmp/d ] || echo NO-DIR; rmdir /tmp 2>&1; echo DONE; exec sleep 100'
  python3 "$(dirname "$0")/seccomp_listener.py" "$sock" "$T/state.json" 2 & local lpid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
  runc run --detach --bundle "$B" "$id" > "$T/init.out" 2>&1 || { cat "$T/init.out"; fail "run with a notify filter"; }
  for _ in $(seq 100); do grep -q DONE "$T/init.out" && break; sleep 0.05; done
  out=$(cat "$T/init.out"); echo "$out"
  expect_contains "$out" "PPID=4242" "getppid answered by the listener"
  expect_contains "$out" "Disk quota exceeded" "mkdir failed with the listener's errno"
  expect_contains "$out" "NO-DIR" "mkdir not done"
  expect_contains "$out" "Permission denied" "the other rules still apply"
  # exec'd processes get their own filter; its fd goes to the listener too.
  out=$(runc exec "$id" sh -c 'echo PPID=$PPID; mkdir /tmp/e 2>&1; echo EXEC-DONE' 2>&1) || fail "exec: $out"
  echo "$out"
  expect_contains "$out" "PPID=4242" "exec: getppid answered by the listener"
  expect_contains "$out" "Disk quota exceeded" "exec: mkdir failed with the listener's errno"
  # An exec that fails before loading its filter reports the error (no hang).
  out=$(runc exec --cwd /nonexistent "$id" true 2>&1) && fail "exec with a bad cwd succeeded"
  expect_contains "$out" "no such file or directory" "exec error with a notify profile"
  runc delete --force "$id" || fail "delete"
  wait "$lpid" || fail "listener failed"
  python3 - "$T/state.json" "$id" <<'PY' || fail "container process states sent to the listener"
import json, sys
for n, status in ((1, "creating"), (2, "running")):
    s = json.load(open(f"{sys.argv[1]}.{n}"))
    print(s)
    assert s["fds"] == ["seccompFd"] and s["received_fds"] == 1, s
    assert s["metadata"] == "meta-1" and s["ociVersion"], s
    assert s["pid"] > 0 and s["state"]["id"] == sys.argv[2] and s["state"]["status"] == status, s
    assert (s["state"]["pid"] == s["pid"]) == (n == 1), s
PY
  # Nobody listening: create fails and leaves nothing behind.
  new_id notify2; id=$ID
  out=$(runc create --bundle "$B" "$id" 2>&1) && fail "create without a listener succeeded"
  expect_contains "$out" "seccomp listener" "no listener message"
  [ -e "$STATE/$id" ] && fail "failed create left state behind"
  # NOTIFY without listenerPath is a config error.
  cfg "$B" 'del c["linux"]["seccomp"]["listenerPath"]'
  new_id notify3; id=$ID
  out=$(runc create --bundle "$B" "$id" 2>&1) && fail "NOTIFY without listenerPath accepted"
  expect_contains "$out" "listenerPath is not set" "missing listenerPath message"
  return 0
}

t_no_new_privs() {
  local id; new_id nnp; id=$ID
  args "$B" 'grep NoNewPrivs /proc/self/status'
  expect_contains "$(runc run --bundle "$B" "$id")" "NoNewPrivs:	1" "noNewPrivileges true"
  cfg "$B" 'c["process"]["noNewPrivileges"]=False'
  new_id nnp2; id=$ID
  expect_contains "$(runc run --bundle "$B" "$id")" "NoNewPrivs:	0" "noNewPrivileges false"
  # The kernel refuses to lift the flag once set.
  args "$B" 'grep NoNewPrivs /proc/self/status'
  cfg "$B" 'c["process"]["noNewPrivileges"]=True; c["process"]["user"]={"uid":1000,"gid":1000}'
  new_id nnp3; id=$ID
  expect_contains "$(runc run --bundle "$B" "$id")" "NoNewPrivs:	1" "noNewPrivileges as a non-root user"
}

t_readonly_root() {
  local id; new_id ro; id=$ID
  cfg "$B" 'c["root"]["readonly"]=True; c["mounts"].append({"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev"]})'
  args "$B" 'touch /x && echo ROOTWRITE; touch /tmp/ok && echo TMPWRITE'
  local out; out=$(runc run --bundle "$B" "$id" 2>&1)
  case "$out" in *ROOTWRITE*) fail "wrote to a read-only root" ;; esac
  expect_contains "$out" TMPWRITE "tmpfs mount writable"
  [ -e "$B/rootfs/tmp/ok" ] && fail "tmpfs write reached the rootfs"
  return 0
}

t_delete_force() {
  local id; new_id force; id=$ID
  args "$B" 'sleep 100 & sleep 100'
  runc run --detach --pid-file "$T/pid" --bundle "$B" "$id" || fail run
  local pid; pid=$(cat "$T/pid")
  runc delete --force "$id" || fail "delete --force"
  sleep 0.1
  [ -e /proc/"$pid" ] && grep -q sleep /proc/"$pid"/cmdline 2>/dev/null && fail "process left after delete --force"
  for d in /sys/fs/cgroup/*/insula/"$id"; do [ -d "$d" ] && fail "cgroup left: $d"; done
  runc delete --force "never-existed" || fail "delete --force of a missing container"
  # A created (never started) container is deleted too.
  new_id force2; id=$ID
  runc create --bundle "$B" "$id" || fail create
  runc delete --force "$id" || fail "delete --force of a created container"
  [ -e "$STATE/$id" ] && fail "state left"
  # The runtime killed in the middle of create (during a hook): --force still cleans.
  new_id force3; id=$ID
  cfg "$B" "c['hooks']={'createRuntime':[{'path':'/bin/sleep','args':['sleep','3']}]}"
  runc create --bundle "$B" "$id" > /dev/null 2>&1 &
  local creator=$!
  sleep 0.5
  kill -9 $creator; wait $creator 2>/dev/null
  [ -d /sys/fs/cgroup/pids/insula/"$id" ] || [ -d /sys/fs/cgroup/insula/"$id" ] || fail "expected a half-made cgroup"
  runc delete --force "$id" || fail "delete --force after a killed create"
  [ -e "$STATE/$id" ] && fail "state left after a killed create"
  for d in /sys/fs/cgroup/*/insula/"$id"; do [ -d "$d" ] && fail "cgroup left after a killed create: $d"; done
  return 0
}

t_join_namespace() {
  local a; new_id joina; a=$ID
  start_sleeper "$a"
  local pid; pid=$(runc state "$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  local want; want=$(readlink /proc/"$pid"/ns/net)
  cfg "$B" "c['linux']['namespaces']=[n if n['type'] not in ('network','ipc') else dict(n, path='/proc/$pid/ns/'+('net' if n['type']=='network' else 'ipc')) for n in c['linux']['namespaces']]"
  args "$B" 'readlink /proc/self/ns/net; readlink /proc/self/ns/ipc'
  local b; new_id joinb; b=$ID
  local out; out=$(runc run --bundle "$B" "$b") || fail "run joining namespaces by path"
  expect_contains "$out" "$want" "joined the network namespace of $a"
  expect_contains "$out" "$(readlink /proc/"$pid"/ns/ipc)" "joined the ipc namespace of $a"
  [ "$(readlink /proc/self/ns/net)" = "$want" ] && fail "the test container shares the host's network namespace"
  return 0
}

t_devices_sysctl_process() {
  local id; new_id devs; id=$ID
  cfg "$B" 'c["linux"]["devices"]=[{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":384,"uid":0,"gid":0}]; c["linux"]["sysctl"]={"kernel.domainname":"example.org","net.ipv4.ip_forward":"1"}; c["process"]["oomScoreAdj"]=123; c["process"]["rlimits"]=[{"type":"RLIMIT_NOFILE","hard":512,"soft":256}]; c["process"]["user"]["umask"]=63; c["hostname"]="box"'
  args "$B" 'stat -c "%F %t %T %a" /dev/fuse /dev/null; readlink /dev/fd; readlink /dev/stdout; readlink /dev/ptmx; cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj; ulimit -n; ulimit -Hn; umask; hostname'
  local out; out=$(runc run --bundle "$B" "$id" 2>&1) || { echo "$out"; fail "run"; }
  echo "$out"
  expect_contains "$out" "character special file a e5 600" "config device /dev/fuse (10:229, 0600)"
  expect_contains "$out" "character special file 1 3 666" "default device /dev/null"
  expect_contains "$out" "/proc/self/fd" "/dev/fd symlink"
  expect_contains "$out" "/proc/self/fd/1" "/dev/stdout symlink"
  expect_contains "$out" "pts/ptmx" "/dev/ptmx symlink"
  expect_contains "$out" "example.org" "sysctl kernel.domainname"
  expect_eq "$(echo "$out" | sed -n 7p)" 1 "sysctl net.ipv4.ip_forward in the container's network namespace"
  [ "$(cat /proc/sys/kernel/domainname)" = example.org ] && fail "sysctl leaked to the host"
  expect_contains "$out" "123" "oomScoreAdj"
  expect_eq "$(echo "$out" | sed -n 9p) $(echo "$out" | sed -n 10p)" "256 512" "RLIMIT_NOFILE soft/hard"
  expect_contains "$out" "0077" "umask"
  expect_contains "$out" "box" "hostname"
}

t_features_spec() {
  local out; out=$(runc features) || fail features
  expect_contains "$out" "SCMP_ACT_ERRNO" "features seccomp"
  expect_contains "$out" "SCMP_ACT_NOTIFY" "features seccomp notify"
  expect_contains "$out" '"ridmap"' "features idmapped mounts"
  expect_contains "$out" '"time"' "features namespaces"
  mkdir -p "$T/s"; runc spec --bundle "$T/s" || fail spec
  python3 -c "import json; json.load(open('$T/s/config.json'))" || fail "spec output is not JSON"
  runc spec --bundle "$T/s" 2>/dev/null && fail "spec overwrote config.json"
  expect_contains "$("$RUNC" --version)" "insula-runc version" "--version"
}

case=${1:?usage: runtime_test.sh CASE}
declare -F "t_$case" >/dev/null || fail "no such case $case"
"t_$case" || exit 1
echo "PASS: $case"
