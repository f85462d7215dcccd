#!/usr/bin/env python3
"""Starts a server command and times it to its first `GET /readyz` 200 over HTTPS.

Usage: readyz-time.py PORT LOG -- CMD...  Prints "<milliseconds> <pid>" and leaves the server
running. The clock starts just before the exec and polls every millisecond with an already-built
TLS context, so the number is the server's, not the poller's (a curl process per attempt costs
tens of milliseconds)."""
import http.client
import ssl
import subprocess
import sys
import time

port, log = int(sys.argv[1]), sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
out = open(log, "ab")
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=out, stderr=out)
while True:
    if p.poll() is not None:
        sys.exit("server exited with %d during start" % p.returncode)
    try:
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=1)
        c.request("GET", "/readyz")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    if time.monotonic() - t0 > 30:
        sys.exit("server not ready after 30 s")
    time.sleep(0.001)
print("%.0f %d" % ((time.monotonic() - t0) * 1000, p.pid))
