# Resource limits, device rules, capabilities and the default seccomp profile, end to end through
# the docker CLI: the host's cgroup files carry the limits (v1 or v2, whichever this host has),
# pids.max stops a fork loop, the default device list refuses a block device, the process gets
# Docker's capability sets, seccomp refuses namespaces unless CAP_SYS_ADMIN was added, docker top
# lists the processes, and nothing is left in any hierarchy after docker rm -f.
. "$(dirname "$0")/../lib.sh"

start_dindd
. "$(dirname "$0")/../docker/containers-lib.sh"
load_busybox

V2=false
[ -f /sys/fs/cgroup/cgroup.controllers ] && V2=true

# cgfile CONTROLLER ID FILE: the file of the container's cgroup in that controller's hierarchy.
cgfile() {
    if $V2; then root=/sys/fs/cgroup; else root=/sys/fs/cgroup/$1; fi
    d=$(find "$root" -maxdepth 8 -type d -name "$2" 2>/dev/null | head -n 1)
    [ -n "$d" ] || fail "no $1 cgroup for $2"
    cat "$d/$3"
}

id=$(dk run -d --memory 64m --memory-swap 128m --pids-limit 20 --cpus 0.5 --cpu-shares 512 \
    --cpuset-cpus 0 busybox sleep 300)
if $V2; then
    [ "$(cgfile memory "$id" memory.max)" = 67108864 ] || fail "memory.max"
    [ "$(cgfile memory "$id" memory.swap.max)" = 67108864 ] || fail "memory.swap.max"
    [ "$(cgfile cpu "$id" cpu.max)" = "50000 100000" ] || fail "cpu.max"
    [ "$(cgfile cpu "$id" cpu.weight)" = 20 ] || fail "cpu.weight"
else
    [ "$(cgfile memory "$id" memory.limit_in_bytes)" = 67108864 ] || fail "memory.limit_in_bytes"
    [ "$(cgfile memory "$id" memory.memsw.limit_in_bytes)" = 134217728 ] || fail "memsw"
    [ "$(cgfile cpu "$id" cpu.cfs_quota_us)" = 50000 ] || fail "cfs_quota_us"
    [ "$(cgfile cpu "$id" cpu.shares)" = 512 ] || fail "cpu.shares"
fi
[ "$(cgfile pids "$id" pids.max)" = 20 ] || fail "pids.max"
[ "$(cgfile cpuset "$id" cpuset.cpus)" = 0 ] || fail "cpuset.cpus"
ok "limits reach the cgroup files"

dk top "$id" | grep -q "sleep 300" || fail "docker top does not list the process"
dk stats --no-stream --format '{{.MemUsage}}' "$id" | grep -q "/ 64MiB" ||
    fail "docker stats: limit not 64MiB: $(dk stats --no-stream --format '{{.MemUsage}}' "$id")"
ok "top and stats read the cgroup"

# pids.max: the 8th background sleep cannot be forked under a limit of 5
out=$(dk run --rm --pids-limit 5 busybox sh -c \
    'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo done' 2>&1 || true)
echo "$out" | grep -qi "can't fork\|resource temporarily unavailable" ||
    fail "pids-limit did not stop forks: $out"
ok "pids-limit stops forks"

# devices: the default list allows /dev/null, refuses a block device made with mknod
dk run --rm busybox sh -c 'echo x > /dev/null' || fail "/dev/null refused"
out=$(dk run --rm busybox sh -c 'mknod /tmp/blk b 7 0 && head -c1 /tmp/blk' 2>&1 || true)
echo "$out" | grep -q "Operation not permitted" || fail "block device not refused: $out"
ok "device cgroup rules"

# capabilities: Docker's 14 defaults for root, none for another user, the bounding set for
# --privileged
eff=$(dk run --rm busybox grep CapEff /proc/self/status | awk '{print $2}')
[ "$eff" = 00000000a80425fb ] || fail "default CapEff $eff"
eff=$(dk run --rm --user 1000 busybox grep CapEff /proc/self/status | awk '{print $2}')
[ "$eff" = 0000000000000000 ] || fail "non-root CapEff $eff"
bnd=$(dk run --rm --user 1000 busybox grep CapBnd /proc/self/status | awk '{print $2}')
[ "$bnd" = 00000000a80425fb ] || fail "non-root CapBnd $bnd"
mine=$(grep CapBnd /proc/self/status | awk '{print $2}')
eff=$(dk run --rm --privileged busybox grep CapEff /proc/self/status | awk '{print $2}')
[ "$eff" = "$mine" ] || fail "privileged CapEff $eff, expected our bounding set $mine"
eff=$(dk run --rm --cap-drop ALL --cap-add NET_ADMIN busybox grep CapEff /proc/self/status |
    awk '{print $2}')
[ "$eff" = 0000000000001000 ] || fail "cap-drop ALL + NET_ADMIN: $eff"
ok "capability sets"

# seccomp: unshare is refused without CAP_SYS_ADMIN, allowed with it
out=$(dk run --rm busybox unshare -u true 2>&1 || true)
echo "$out" | grep -q "Operation not permitted" || fail "unshare allowed by default: $out"
dk run --rm --cap-add SYS_ADMIN busybox unshare -u true || fail "unshare with SYS_ADMIN"
ok "default seccomp profile"

dk rm -f "$id" >/dev/null
left=$(find /sys/fs/cgroup -maxdepth 8 -type d -name "$id" 2>/dev/null | head -n 1)
[ -z "$left" ] || fail "cgroup left behind: $left"
ok "no cgroup left after rm -f"
