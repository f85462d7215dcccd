#!/usr/bin/env python3
"""The engine's own latency, without the docker CLI (used by ci/bench.sh).

The docker CLI is a Go program that needs tens of milliseconds to start before it sends a byte,
so `docker run` measures the CLI as much as the engine. This client replays over the engine's
UNIX socket the API calls the CLI makes, in the CLI's order, and times only those:
  run:  create (AutoRemove) -> attach (hijacked) -> wait?condition=removed -> start -> attach EOF
        -> wait's answer
  exec: exec create -> exec start (hijacked) -> output EOF -> exec inspect
Each request uses a fresh connection ("Connection: close"), as cheap on a UNIX socket as reuse.

Usage: bench-api.py SOCKET RUNS EXECS EXEC_CONTAINER IMAGE; prints JSON {"run": s, "exec": s}
(median seconds).
"""
import json
import socket
import statistics
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def send(path, method, url, body=None):
    s = connect(path)
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} /v1.41{url} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\n\r\n"
    s.sendall(head.encode() + data)
    return s


def read_all(s):
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            break
        chunks.append(b)
    s.close()
    return b"".join(chunks)


def status_of(resp):
    return int(resp.split(b" ", 2)[1])


def body_json(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return json.loads(body)


def call(path, method, url, body=None, want=(200, 201, 204)):
    resp = read_all(send(path, method, url, body))
    if status_of(resp) not in want:
        sys.exit(f"bench-api: {method} {url}: {resp[:300]!r}")
    return resp


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            sys.exit(f"bench-api: connection closed before the response head: {buf!r}")
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    if status_of(head) not in (101, 200):
        sys.exit(f"bench-api: hijack refused: {head!r}")
    return rest


def run_once(path, image):
    body = {"Image": image, "Cmd": ["true"], "AttachStdout": True, "AttachStderr": True,
            "HostConfig": {"AutoRemove": True}}
    cid = body_json(call(path, "POST", "/containers/create", body))["Id"]
    att = send(path, "POST", f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    read_head(att)
    wait = send(path, "POST", f"/containers/{cid}/wait?condition=removed")
    call(path, "POST", f"/containers/{cid}/start")
    read_all(att)
    res = body_json(read_all(wait))
    if res.get("StatusCode") != 0:
        sys.exit(f"bench-api: run exited {res}")


def exec_once(path, ctr):
    body = {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True}
    eid = body_json(call(path, "POST", f"/containers/{ctr}/exec", body))["Id"]
    st = send(path, "POST", f"/exec/{eid}/start", {"Detach": False, "Tty": False})
    read_head(st)
    read_all(st)
    info = body_json(call(path, "GET", f"/exec/{eid}/json"))
    if info.get("ExitCode") != 0:
        sys.exit(f"bench-api: exec exited {info.get('ExitCode')}")


def median_time(fn, n, *args):
    fn(*args)  # warm-up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    path, runs, execs, ctr, image = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \
        sys.argv[5]
    out = {"run": median_time(run_once, runs, path, image),
           "exec": median_time(exec_once, execs, path, ctr)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
