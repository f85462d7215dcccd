#!/bin/sh
# `make bench`: dindd against Debian's dockerd 20.10 + containerd + runc, in one run on this machine.
# Results: a markdown table in build/bench/results.md (also printed). Not part of `make test`.
#
# Measured per engine, with the same busybox fixture image loaded into both:
#   run     median wall time of `docker run --rm busybox true` (hyperfine, BENCH_RUNS runs)
#   cpu     daemon-side CPU per run: cpuacct.usage delta of a cgroup the daemon was started in (the
#           daemon, containerd, shims and runc inherit it; container processes are moved to their
#           own cgroups, so their CPU is not counted), divided by the number of runs
#   exec    median wall time of `docker exec CTR true` in a running container
#   rss0    idle RSS (sum of VmRSS) of every daemon-side process with no container
#   rss10   the same with 10 idle containers (`sleep`), shims listed separately
#   api     the same run and exec as API calls from a small client (ci/bench-api.py), without
#           the docker CLI: the engine's own latency
#   cli     `docker --version` (no API call at all) and `docker version` (one round trip): what
#           the CLI costs by itself, a floor under every CLI-measured row for both engines
# dockerd runs isolated: its own network namespace (`ip netns add`, entered with nsenter, not
# `ip netns exec`, which remounts /sys), its own data/exec roots and socket, --bridge=none,
# --iptables=false, and its own managed containerd under its exec root. dindd runs with its own
# data/exec roots and socket. Everything (daemons, containers, mounts, netns, cgroups, files) is
# removed on exit, also on failure or Ctrl-C. If dockerd cannot run here, the table says so and
# dindd is still measured.
#
# Env: BENCH_RUNS (default 20), BENCH_EXECS (default 30), BENCH_KEEP=1 keeps the work directory,
# BENCH_SKIP_DOCKERD=1 / BENCH_SKIP_DINDD=1 measure one engine only.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=${BENCH_RUNS:-20}
EXECS=${BENCH_EXECS:-30}
DOCKER=${DOCKER:-/usr/local/bin/docker}
OUT=build/bench
mkdir -p "$OUT"
W=$(mktemp -d /tmp/dbench.XXXXXX) # short paths: UNIX socket names are limited to 108 bytes
NS=dbench$$
CG=dbench$$
DD_PID=""
DK_PID=""
# dockerd leaves a "docker" cgroup parent in every hierarchy; remove those it created, if empty
CG_BEFORE=$(ls -d /sys/fs/cgroup/*/docker 2>/dev/null || true)
export DOCKER_CONFIG="$W/cli" # never touch the user's CLI config

log() { echo "bench: $*" >&2; }

cg_dir() { echo "/sys/fs/cgroup/$1/$CG-$2"; }

cleanup() {
    set +e
    for sock in "$W/dindd.sock" "$W/docker.sock"; do
        [ -S "$sock" ] || continue
        ids=$("$DOCKER" -H "unix://$sock" ps -aq 2>/dev/null)
        [ -n "$ids" ] && timeout 60 "$DOCKER" -H "unix://$sock" rm -f $ids >/dev/null 2>&1
    done
    for pid in $DD_PID $DK_PID; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $DD_PID $DK_PID; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    # whatever is left in our cgroups (containerd, shims) goes too
    for sub in dindd dockerd; do
        d=$(cg_dir cpuacct $sub)
        [ -f "$d/cgroup.procs" ] && xargs -r kill -KILL < "$d/cgroup.procs" 2>/dev/null
    done
    sleep 0.5
    grep -o " $W[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    for sub in dindd dockerd; do
        d=$(cg_dir cpuacct $sub)
        # dindd puts its containers' cgroups below its own: remove the subtree, deepest first
        for _ in $(seq 1 50); do
            [ -d "$d" ] || break
            find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || sleep 0.1
        done
    done
    for d in /sys/fs/cgroup/*/docker; do
        echo "$CG_BEFORE" | grep -qx "$d" || rmdir "$d" 2>/dev/null
    done
    ip netns del "$NS" 2>/dev/null
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts "$@" inside a new cpuacct cgroup named $1, output to $W/$1.log; sets STARTED_PID.
start_in_cgroup() {
    sub=$1; shift
    d=$(cg_dir cpuacct "$sub")
    mkdir -p "$d"
    sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$d" "$@" >"$W/$sub.log" 2>&1 &
    STARTED_PID=$!
}

wait_sock() {
    for _ in $(seq 1 300); do
        "$DOCKER" -H "unix://$1" version >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

cpu_ns() { cat "$(cg_dir cpuacct "$1")/cpuacct.usage"; }

# Sum of VmRSS (KiB; or of another /proc/PID/status field, $1) of the pids given on stdin.
rss_sum() {
    total=0
    while read -r p; do
        r=$(awk -v f="${1:-VmRSS}:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${r:-0}))
    done
    echo "$total"
}

cg_pids() { cat "$(cg_dir cpuacct "$1")/cgroup.procs"; }

# Pids of rt shims belonging to our dindd (their command line names our exec root).
dindd_shims() {
    for p in $(pgrep -f "dind-rt-shim" 2>/dev/null); do
        tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$W/" && echo "$p"
        grep -qs "$W/" "/proc/$p/environ" && echo "$p"
    done | sort -u
}

median_of() { # hyperfine json -> median seconds
    python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"
}

# measure LABEL SOCK CGROUP-SUB: fills $LABEL.* result files in $W
measure() {
    label=$1; sock=$2; sub=$3
    dk="$DOCKER -H unix://$sock"
    log "$label: loading the busybox fixture"
    $dk load -i "$W/busybox.tar" >/dev/null
    $dk run --rm busybox true >/dev/null # warm-up; also proves the engine works
    sleep 2 # idle: dindd gives freed heap back after a quiet second
    log "$label: idle RSS, no container"
    cg_pids "$sub" | rss_sum > "$W/$label.rss0"
    log "$label: $RUNS x docker run --rm busybox true"
    c0=$(cpu_ns "$sub")
    hyperfine -N --runs "$RUNS" --warmup 0 --export-json "$W/$label.run.json" \
        "$dk run --rm busybox true" >/dev/null 2>&1
    c1=$(cpu_ns "$sub")
    median_of "$W/$label.run.json" > "$W/$label.run"
    echo "$(( (c1 - c0) / RUNS ))" > "$W/$label.cpu"
    log "$label: $EXECS x docker exec"
    $dk run -d --name bench-exec busybox sleep 1000000 >/dev/null
    hyperfine -N --runs "$EXECS" --warmup 2 --export-json "$W/$label.exec.json" \
        "$dk exec bench-exec true" >/dev/null 2>&1
    median_of "$W/$label.exec.json" > "$W/$label.exec"
    log "$label: the same run and exec without the CLI (ci/bench-api.py)"
    python3 ci/bench-api.py "$sock" "$RUNS" "$EXECS" bench-exec busybox > "$W/$label.api.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["run"]); print(d["exec"], file=open(sys.argv[2], "w"))' \
        "$W/$label.api.json" "$W/$label.apiexec" > "$W/$label.apirun"
    hyperfine -N --runs "$EXECS" --warmup 2 --export-json "$W/$label.ver.json" "$dk version" >/dev/null 2>&1
    median_of "$W/$label.ver.json" > "$W/$label.ver"
    $dk rm -f bench-exec >/dev/null
    log "$label: idle RSS with 10 containers"
    for i in $(seq 1 10); do $dk run -d --name "bench-idle-$i" busybox sleep 1000000 >/dev/null; done
    sleep 2
    cg_pids "$sub" | rss_sum > "$W/$label.rss10"
    if [ "$label" = dindd ]; then
        dindd_shims | rss_sum > "$W/$label.shims10"
        dindd_shims | rss_sum RssAnon > "$W/$label.shimsanon10"
        echo "$DD_PID" | rss_sum > "$W/$label.daemon10"
    fi
    for i in $(seq 1 10); do $dk rm -f "bench-idle-$i" >/dev/null; done
}

start_dindd() {
    mkdir -p "$W/dindd-data" "$W/dindd-exec"
    start_in_cgroup dindd "$ROOT/build/bin/dindd" -H "unix://$W/dindd.sock" \
        --data-root "$W/dindd-data" --exec-root "$W/dindd-exec" --pidfile "$W/dindd.pid" \
        --log-level warn
    DD_PID=$STARTED_PID
    wait_sock "$W/dindd.sock" "$DD_PID"
}

# Sets DK_PID, or writes why not to $W/dockerd.note and fails.
start_dockerd() {
    command -v dockerd >/dev/null ||
        { echo "dockerd is not installed (ci/deps.sh installs docker.io)" > "$W/dockerd.note"; return 1; }
    ip netns add "$NS" 2>"$W/dockerd.note" || return 1
    ip -n "$NS" link set lo up
    mkdir -p "$W/docker-data" "$W/docker-exec"
    start_in_cgroup dockerd nsenter "--net=/run/netns/$NS" dockerd \
        -H "unix://$W/docker.sock" --data-root "$W/docker-data" --exec-root "$W/docker-exec" \
        --pidfile "$W/docker.pid" --bridge=none --iptables=false --ip-masq=false \
        --storage-driver=overlay2 --log-level=error
    DK_PID=$STARTED_PID
    if ! wait_sock "$W/docker.sock" "$DK_PID"; then
        echo "dockerd did not start: $(tail -n 3 "$W/dockerd.log" | tr '\n' ' ')" > "$W/dockerd.note"
        return 1
    fi
}

log "building the fixture image"
hyperfine -N --runs "$EXECS" --warmup 2 --export-json "$W/cli.json" "$DOCKER --version" >/dev/null 2>&1
median_of "$W/cli.json" > "$W/cli.only"
sh tests/fixtures/mkimage-busybox.sh "$W/busybox.tar" busybox:latest >/dev/null

dockerd_note=""
if [ "${BENCH_SKIP_DOCKERD:-0}" = 1 ]; then
    dockerd_note="skipped (BENCH_SKIP_DOCKERD=1)"
elif start_dockerd; then
    measure dockerd "$W/docker.sock" dockerd
    # stop dockerd before measuring dindd: both on 2 vCPUs would disturb each other
    "$DOCKER" -H "unix://$W/docker.sock" ps -aq | xargs -r "$DOCKER" -H "unix://$W/docker.sock" rm -f >/dev/null
    kill -TERM "$DK_PID"; for _ in $(seq 1 100); do kill -0 "$DK_PID" 2>/dev/null || break; sleep 0.1; done
else
    dockerd_note=$(cat "$W/dockerd.note" 2>/dev/null)
    log "dockerd unavailable: $dockerd_note"
fi
if [ "${BENCH_SKIP_DINDD:-0}" = 1 ]; then
    log "dindd skipped (BENCH_SKIP_DINDD=1)"
elif start_dindd; then
    measure dindd "$W/dindd.sock" dindd
else
    log "dindd did not start: $(tail -n 5 "$W/dindd.log")"; exit 1
fi

python3 - "$W" "$OUT/results.md" "$RUNS" "$EXECS" "$dockerd_note" <<'PY'
import os, sys
w, out, runs, execs, note = sys.argv[1:6]
def val(label, key, conv=float):
    p = os.path.join(w, f"{label}.{key}")
    return conv(open(p).read().strip()) if os.path.exists(p) else None
keys = ("run", "cpu", "exec", "rss0", "rss10", "apirun", "apiexec", "ver")
dk = {k: val("dockerd", k) for k in keys}
dd = {k: val("dindd", k) for k in keys + ("shims10", "shimsanon10", "daemon10")}
cli = val("cli", "only")
def ms(s): return "n/a" if s is None else f"{s * 1000:.1f} ms"
def cpu(ns): return "n/a" if ns is None else f"{ns / 1e6:.1f} ms"
def mib(k): return "n/a" if k is None else f"{k / 1024:.1f} MiB"
def kib(k): return "n/a" if k is None else f"{k:.0f} KiB"
def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.3f}"
def verdict(ok): return "n/a" if ok is None else ("met" if ok else "NOT met")
def target(a, b, frac):
    return None if a is None or b is None else a <= b * frac
rows = [
    ("`docker run --rm busybox true`, median", ms(dk["run"]), ms(dd["run"]), ratio(dd["run"], dk["run"]),
     "≤ 1/10 of dockerd", verdict(target(dd["run"], dk["run"], 0.1))),
    ("daemon-side CPU per run", cpu(dk["cpu"]), cpu(dd["cpu"]), ratio(dd["cpu"], dk["cpu"]),
     "≤ 1/10 of dockerd", verdict(target(dd["cpu"], dk["cpu"], 0.1))),
    ("`docker exec CTR true`, median", ms(dk["exec"]), ms(dd["exec"]), ratio(dd["exec"], dk["exec"]),
     "≤ 1/3 of dockerd", verdict(target(dd["exec"], dk["exec"], 1 / 3))),
    ("idle RSS, 0 containers", mib(dk["rss0"]), mib(dd["rss0"]), ratio(dd["rss0"], dk["rss0"]),
     "dindd < 8 MiB", verdict(None if dd["rss0"] is None else dd["rss0"] < 8 * 1024)),
    ("idle RSS, 10 containers (all daemon-side processes)", mib(dk["rss10"]), mib(dd["rss10"]),
     ratio(dd["rss10"], dk["rss10"]), "", ""),
    ("  of which dindd itself / its 10 shims", "", f"{mib(dd['daemon10'])} / {mib(dd['shims10'])}", "", "", ""),
    ("  one shim: VmRSS / private (RssAnon; the rest is the static binary's page cache, shared)", "",
     f"{mib(None if dd['shims10'] is None else dd['shims10'] / 10)} / "
     f"{kib(None if dd['shimsanon10'] is None else dd['shimsanon10'] / 10)}", "", "", ""),
    ("engine only: the run's API calls without the CLI (ci/bench-api.py), median", ms(dk["apirun"]),
     ms(dd["apirun"]), ratio(dd["apirun"], dk["apirun"]), "", ""),
    ("engine only: the exec's API calls without the CLI, median", ms(dk["apiexec"]), ms(dd["apiexec"]),
     ratio(dd["apiexec"], dk["apiexec"]), "", ""),
    ("docker CLI, one API round trip (`docker version`), median", ms(dk["ver"]), ms(dd["ver"]),
     ratio(dd["ver"], dk["ver"]), "", ""),
    ("docker CLI alone, no API call (`docker --version`), median", ms(cli), ms(cli), "", "", ""),
]
lines = ["# dindd vs dockerd 20.10 (`make bench`)", "",
         f"{runs} runs, {execs} execs per engine, on {os.uname().nodename} ({os.cpu_count()} CPUs).", ""]
if note:
    lines += [f"**dockerd could not be measured here:** {note}", ""]
lines += ["| measure | dockerd + containerd + runc | dindd | dindd / dockerd | target | result |",
          "|---|---|---|---|---|---|"]
lines += ["| " + " | ".join(r) + " |" for r in rows]
if cli is not None and dk["run"] is not None:
    lines += ["", f"The docker CLI alone (`docker --version`, no API call) takes {ms(cli)}, "
              f"{cli / (dk['run'] * 0.1) * 100:.0f}% of the run target",
              f"(1/10 of dockerd's run = {ms(dk['run'] * 0.1)}) before any engine does anything; the "
              "engine-only rows", "measure the same API calls from a small client."]
lines += ["", "CPU is the cpuacct usage of a cgroup each daemon was started in (daemon, containerd, shims,",
          "runc). dockerd moves containers to /docker/<id>, outside it; dindd keeps its containers'",
          "cgroups below its own, so dindd's figure also includes the containers' own CPU (conservative). RSS is the sum of VmRSS of the processes in that",
          "cgroup (shared pages counted once per process)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
