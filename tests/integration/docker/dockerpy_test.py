"""docker-py (Debian python3-docker 5.0.3) against dindd: containers.run in the foreground,
ContainerError, remove=True, exec_run (demux, exit codes, 126 for a missing binary), an exec whose
output nobody reads until it has finished, put_archive/get_archive, events(since, until) and
containers.list with label filters. Run by test-dockerpy.sh: python3 dockerpy_test.py SOCKET."""
import io
import socket
import struct
import sys
import tarfile
import time

import docker

SOCK = sys.argv[1]
client = docker.DockerClient(base_url="unix://" + SOCK, timeout=120)
TAG = "dpy%d" % int(time.time() * 1000 % 1000000)
created = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def test_run_foreground():
    out = client.containers.run("busybox", ["sh", "-c", "echo hello; echo to-stderr >&2"],
                                name=TAG + "-fg", remove=True)
    check(out == b"hello\n", "containers.run returns stdout only (%r)" % out)
    left = client.containers.list(all=True, filters={"name": TAG + "-fg"})
    check(left == [], "remove=True removed the container")
    both = client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2"], stderr=True,
                                 remove=True)
    check(sorted(both.split()) == [b"a", b"b"], "stdout+stderr with stderr=True (%r)" % both)


def test_run_error():
    try:
        client.containers.run("busybox", ["sh", "-c", "echo boom >&2; exit 7"], remove=True)
    except docker.errors.ContainerError as e:
        check(e.exit_status == 7, "ContainerError carries exit status 7 (%r)" % e.exit_status)
        check(b"boom" in (e.stderr or b""), "ContainerError carries stderr (%r)" % e.stderr)
        return
    raise AssertionError("a failing command did not raise ContainerError")


def test_exec(c):
    r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    check(r.exit_code == 0 and r.output == (b"out\n", b"err\n"),
          "exec_run demux splits stdout and stderr (%r)" % (r,))
    r = c.exec_run(["sh", "-c", "exit 5"])
    check(r.exit_code == 5, "exec_run exit code 5 (%r)" % r.exit_code)
    r = c.exec_run(["sh", "-c", 'echo "$X $(pwd)"'], environment={"X": "y"}, workdir="/etc")
    check(r.output == b"y /etc\n", "exec_run env and workdir (%r)" % r.output)
    r = c.exec_run(["nosuchbinary"])
    check(r.exit_code == 126, "missing binary gives 126 (%r)" % r.exit_code)
    check(b"executable file not found" in r.output, "missing binary message (%r)" % r.output)
    r = c.exec_run("tty", tty=True)
    check(r.output.startswith(b"/dev/pts/"), "exec_run tty=True has a pty (%r)" % r.output)


def demux_frames(data):
    out = {1: b"", 2: b""}
    while len(data) >= 8:
        stream, size = data[0], struct.unpack(">I", data[4:8])[0]
        out[stream] = out.get(stream, b"") + data[8:8 + size]
        data = data[8 + size:]
    return out


def test_exec_unread(c):
    """The process must finish although nobody reads its 2 MB of output (k3d reads only after it
    has polled Running:false)."""
    api = client.api
    ex = api.exec_create(c.id, ["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' x; echo; echo done"])
    sock = api.exec_start(ex["Id"], socket=True)
    for _ in range(600):
        info = api.exec_inspect(ex["Id"])
        if not info["Running"] and info["ExitCode"] is not None:
            break
        time.sleep(0.1)
    check(not info["Running"] and info["ExitCode"] == 0,
          "exec finished with nobody reading (%r)" % {k: info[k] for k in ("Running", "ExitCode")})
    raw = sock._sock if hasattr(sock, "_sock") else sock
    raw.settimeout(60)
    data = b""
    while True:
        chunk = raw.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    out = demux_frames(data)[1]
    check(len(out) == 2000006 and out.endswith(b"x\ndone\n"),
          "all output read afterwards (%d bytes)" % len(out))


def make_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o640
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_archive(c):
    check(c.put_archive("/tmp", make_tar({"pa.txt": b"put-archive ok"})), "put_archive")
    bits, stat = c.get_archive("/tmp/pa.txt")
    check(stat["name"] == "pa.txt" and stat["size"] == 14 and stat["mode"] == 0o640,
          "get_archive stat (%r)" % stat)
    t = tarfile.open(fileobj=io.BytesIO(b"".join(bits)))
    check(t.getnames() == ["pa.txt"], "get_archive entry is the basename (%r)" % t.getnames())
    check(t.extractfile("pa.txt").read() == b"put-archive ok", "get_archive content")
    bits, stat = c.get_archive("/tmp")
    check(stat["mode"] & (1 << 31) != 0, "directory stat has Go's ModeDir bit (%r)" % stat)
    names = tarfile.open(fileobj=io.BytesIO(b"".join(bits))).getnames()
    check("tmp/pa.txt" in names, "get_archive of a directory (%r)" % names)
    r = c.exec_run(["cat", "/tmp/pa.txt"])
    check(r.output == b"put-archive ok", "the container sees the file")
    try:
        c.get_archive("/nonexistent")
        raise AssertionError("get_archive of a missing path succeeded")
    except docker.errors.NotFound as e:
        check("Could not find the file /nonexistent" in str(e), "404 for a missing path")


def test_events_and_filters():
    since = time.time() - 1
    c = client.containers.run("busybox", "sleep 1000", detach=True, labels={"dpytest": TAG})
    created.append(c)
    c.exec_run("true")
    c.kill()
    c.wait()
    until = time.time() + 1
    evs = [e for e in client.events(decode=True, since=since, until=until)
           if e.get("Type") == "container" and e.get("Actor", {}).get("ID") == c.id]
    actions = [e["Action"] for e in evs]
    for a in ("create", "start", "kill", "die"):
        check(a in actions, "event %s seen (%r)" % (a, actions))
    check(any(a.startswith("exec_create") for a in actions), "exec_create event")
    check(any(a == "exec_die" for a in actions), "exec_die event")
    check(evs[0]["Actor"]["Attributes"].get("dpytest") == TAG, "events carry labels")
    got = client.containers.list(all=True, filters={"label": "dpytest=" + TAG})
    check([x.id for x in got] == [c.id], "containers.list label filter")
    got = client.containers.list(all=True, filters={"label": ["dpytest=other"]})
    check(got == [], "label filter with no match")


def main():
    test_run_foreground()
    test_run_error()
    c = client.containers.run("busybox", "sleep 1000", detach=True, name=TAG + "-ex")
    created.append(c)
    test_exec(c)
    test_exec_unread(c)
    test_archive(c)
    test_events_and_filters()


try:
    main()
finally:
    for c in created:
        try:
            c.remove(force=True)
        except Exception:
            pass
