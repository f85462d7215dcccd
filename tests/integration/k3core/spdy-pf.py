"""A minimal SPDY/3.1 client for pods/portforward, to check what kubectl hides (it closes the
whole forward after any error): on ONE session, a refused port gets kubelet's error on its error
stream and the session keeps serving; a client without requestID headers gets kubelet's
stream-id pairing; a client that does flow control (WINDOW_UPDATE) still receives everything.
Usage: spdy-pf.py HOST PORT POD CA CERT KEY. Exits non-zero with a message on failure."""
import os, re, socket, ssl, struct, sys, zlib

host, port, pod, ca, cert, key = sys.argv[1:7]
src = open(os.path.join(os.path.dirname(__file__), "../../../dind/lib/http/spdy-dict.c")).read()
DICT = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", src.split("[] = {")[1]))


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
sock = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=20), server_hostname=host)
sock.sendall(("POST /api/v1/namespaces/default/pods/%s/portforward HTTP/1.1\r\nHost: %s\r\n"
              "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
              "X-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n"
              % (pod, host)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += sock.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
check(head.startswith(b"HTTP/1.1 101"), "101 expected: %r" % head)
check(b"X-Stream-Protocol-Version: portforward.k8s.io" in head, "negotiated version: %r" % head)
zc, zd = zlib.compressobj(zdict=DICT), zlib.decompressobj(zdict=DICT)


def send_syn(sid, nv, flags=0):
    raw = struct.pack(">I", len(nv))
    for k, v in nv:
        raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
    block = zc.compress(raw) + zc.flush(zlib.Z_SYNC_FLUSH)
    p = struct.pack(">IIH", sid, 0, 0) + block
    sock.sendall(struct.pack(">HHI", 0x8003, 1, flags << 24 | len(p)) + p)


def send_data(sid, d, flags=0):
    sock.sendall(struct.pack(">II", sid, flags << 24 | len(d)) + d)


def frame():
    global buf
    while len(buf) < 8 or len(buf) < 8 + (struct.unpack(">I", buf[4:8])[0] & 0xffffff):
        chunk = sock.recv(65536)
        check(chunk, "connection closed by the server")
        buf += chunk
    w0, w1 = struct.unpack(">II", buf[:8])
    n = w1 & 0xffffff
    f, buf = (w0, w1 >> 24, buf[8:8 + n]), buf[8 + n:]
    if w0 & 0x80000000 and w0 & 0xffff == 2:
        zd.decompress(f[2][4:])  # keep the SYN_REPLY header stream in step
    return f


def collect(ids, until_fin, flow=False):
    """Reads frames until every stream in until_fin got its FIN; returns data per stream."""
    got, fins = {i: b"" for i in ids}, set()
    while not until_fin <= fins:
        w0, flags, p = frame()
        if w0 & 0x80000000:
            t = w0 & 0xffff
            check(t in (2, 9), "unexpected control frame %d" % t)
            continue
        got[w0] = got.get(w0, b"") + p
        if flow and p:
            for sid in (w0, 0):  # stream and session (SPDY/3.1) windows
                sock.sendall(struct.pack(">HHIII", 0x8003, 9, 8, sid, len(p)))
        if flags & 1:
            fins.add(w0)
    return got


# a refused port: kubelet's message on the error stream, then both streams end
send_syn(1, [("streamtype", "error"), ("port", "81"), ("requestid", "0")], 1)
send_syn(3, [("streamtype", "data"), ("port", "81"), ("requestid", "0")])
got = collect([1, 3], {1, 3})
check(b"error forwarding port 81 to pod " + pod.encode() in got[1], "error stream: %r" % got[1])
check(b"connection refused" in got[1], "error stream cause: %r" % got[1])
# the same session keeps working; this client sends no requestID (stream-id pairing)
send_syn(5, [("streamtype", "error"), ("port", "80")], 1)
send_syn(7, [("streamtype", "data"), ("port", "80")])
send_data(7, b"GET /index.html HTTP/1.0\r\n\r\n", 1)
got = collect([5, 7], {5, 7})
check(b"hello-pf" in got[7], "GET on the same session: %r" % got[7])
check(got[5] == b"", "no error for port 80: %r" % got[5])
# a flow-controlled client: the window is enforced and reopened by our WINDOW_UPDATEs
sock.sendall(struct.pack(">HHIII", 0x8003, 9, 8, 0, 1))  # session window +1: flow control on
send_syn(9, [("streamtype", "error"), ("port", "80"), ("requestid", "2")], 1)
send_syn(11, [("streamtype", "data"), ("port", "80"), ("requestid", "2")])
send_data(11, b"GET /big HTTP/1.0\r\n\r\n", 1)
got = collect([9, 11], {9, 11}, flow=True)
check(len(got[11]) > 2 * 1024 * 1024, "2 MiB under flow control: %d bytes" % len(got[11]))
sock.close()
