# Interactive and privileged containers: run -it through a pty with input echoed back, a
# --privileged container that mounts a tmpfs and creates namespaces, an OOM kill under
# --memory 16m, stats --no-stream and docker-py's run.
. "$(dirname "$0")/../lib.sh"

start_dindd
. "$(dirname "$0")/containers-lib.sh"
load_busybox

# run -it driven through a pty: what we type comes back, the exit code is the shell's
python3 - "$SOCK" "$DOCKER_CLI" <<'PY' || fail "run -it through a pty"
import os, pty, select, sys, time
sock, cli = sys.argv[1:3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(cli, [cli, "-H", "unix://" + sock, "run", "-it", "--rm", "busybox", "sh"])
buf = b""
def read_until(pat, limit=60):
    global buf
    end = time.time() + limit
    while pat not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        d = os.read(fd, 4096) if r else b""
        if not d:
            raise SystemExit("no %r in %r" % (pat, buf))
        buf += d
        if b"\x1b[6n" in d:  # busybox asks for the cursor position
            os.write(fd, b"\x1b[1;1R")
read_until(b"# ")
os.write(fd, b"echo typed-$((40+2))\r")
read_until(b"typed-42")
os.write(fd, b"exit 5\r")
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code != 5:
    raise SystemExit("exit code %d" % code)
PY
ok "run -it through a pty"

# privileged: mount and unshare work
dk run --rm --privileged busybox sh -c 'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && touch /mnt/t/x && unshare -m -p -f --mount-proc true' ||
    fail "privileged container could not mount or unshare"
set +e
dk run --rm busybox sh -c 'mount -t tmpfs none /mnt' 2>/dev/null
rc=$?
set -e
[ $rc != 0 ] || fail "an unprivileged container could mount"
ok "privileged mount + unshare"

# OOM: a memory hog under 16m is killed and inspect says so
set +e
dk run --name hog --memory 16m busybox sh -c 'x=a; while true; do x="$x$x"; done' >/dev/null 2>&1
rc=$?
set -e
[ $rc = 137 ] || fail "oom exit code: $rc"
[ "$(dk inspect -f '{{.State.OOMKilled}}' hog)" = true ] || fail "OOMKilled not set"
dk rm hog >/dev/null
ok "OOM kill reported"

# docker-py: containers.run captures output, exit codes raise
python3 - "$SOCK" <<'PY' || fail "docker-py run"
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
out = c.containers.run("busybox", ["sh", "-c", "echo py-hello"], remove=True)
assert out == b"py-hello\n", out
try:
    c.containers.run("busybox", ["sh", "-c", "exit 4"], remove=True)
    raise SystemExit("no ContainerError")
except docker.errors.ContainerError as e:
    assert e.exit_status == 4
ctr = c.containers.run("busybox", ["sleep", "30"], detach=True, labels={"app": "dpy"})
assert [x.id for x in c.containers.list(filters={"label": "app=dpy"})] == [ctr.id]
ctr.stop(timeout=0)
ctr.reload()
assert ctr.status == "exited", ctr.status
ctr.remove()
PY
ok "docker-py run, errors, list, stop"

# pause / unpause (freezer), update of limits, stats --no-stream
dk run -d --name ctl busybox sh -c 'while true; do date +%s%N > /tmp/now; sleep 0.05; done' >/dev/null
dk pause ctl >/dev/null
[ "$(dk inspect -f '{{.State.Status}} {{.State.Paused}}' ctl)" = "paused true" ] || fail "pause state"
dk ps --filter status=paused --format '{{.Names}} {{.Status}}' | grep -q '^ctl Up .* (Paused)$' || fail "ps paused: $(dk ps)"
[ "$(api_status POST /containers/ctl/pause)" = 409 ] || fail "pause of a paused container"
dk unpause ctl >/dev/null
[ "$(dk inspect -f '{{.State.Status}}' ctl)" = running ] || fail "unpause state"
dk update --memory 64m --memory-swap 128m --restart on-failure:3 ctl >/dev/null
[ "$(dk inspect -f '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}' ctl)" = "67108864 on-failure" ] ||
    fail "update: $(dk inspect -f '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}' ctl)"
stats=$(dk stats --no-stream --format '{{.Name}} {{.MemUsage}}' ctl)
printf '%s' "$stats" | grep -Eq '^ctl [0-9.]+[KMG]?i?B / 64MiB$' || fail "stats --no-stream: $stats"
ok "pause, unpause, update, stats"

remove_all_and_check_clean
ok "clean after special tests"
