#!/usr/bin/env python3
"""Writes the seed corpus of fuzz-spdy-session: client byte streams as kubectl sends them
(exec streams, port-forward pairs, data with FIN, ping, settings, window updates, resets,
goaway), header blocks compressed with the SPDY/3 dictionary like Go's spdystream. The first
byte of each file is the harness's split point. Run: tests/fuzz/gen-spdy-corpus.py OUTDIR"""
import os, re, struct, sys, zlib

src = open(os.path.join(os.path.dirname(__file__), "../../dind/lib/http/spdy-dict.c")).read()
DICT = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", src.split("[] = {")[1]))


class Client:
    def __init__(self):
        self.z = zlib.compressobj(zdict=DICT)

    def block(self, nv):
        raw = struct.pack(">I", len(nv))
        for k, v in nv:
            raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        return self.z.compress(raw) + self.z.flush(zlib.Z_SYNC_FLUSH)


def control(t, flags, payload):
    return struct.pack(">HHI", 0x8003, t, flags << 24 | len(payload)) + payload


def syn(c, sid, nv, flags=0):
    return control(1, flags, struct.pack(">IIH", sid, 0, 0) + c.block(nv))


def data(sid, d, flags=0):
    return struct.pack(">II", sid, flags << 24 | len(d)) + d


def exec_session():
    c = Client()
    out = b""
    for i, t in enumerate(["error", "stdin", "stdout", "stderr", "resize"]):
        out += syn(c, 1 + 2 * i, [("streamtype", t)])
    out += data(3, b"echo hi\n") + data(9, b'{"Width":80,"Height":24}\n') + data(3, b"", 1)
    return out


def pf_session():
    c = Client()
    out = b""
    for r in range(2):
        base = [("port", "80"), ("requestid", str(r))]
        out += syn(c, 1 + 4 * r, [("streamtype", "error")] + base, 1)
        out += syn(c, 3 + 4 * r, [("streamtype", "data")] + base)
        out += data(3 + 4 * r, b"GET / HTTP/1.0\r\n\r\n", 1)
    out += control(3, 0, struct.pack(">II", 3, 5))
    return out


def misc_session():
    c = Client()
    out = control(4, 0, struct.pack(">IBBHI", 1, 0, 0, 7, 1000))
    out += control(6, 0, struct.pack(">I", 1)) + syn(c, 1, [("streamtype", "stdout")])
    out += control(9, 0, struct.pack(">II", 1, 70000)) + control(9, 0, struct.pack(">II", 0, 9))
    out += control(8, 1, struct.pack(">I", 1) + c.block([("x", "y")]))
    out += data(1, b"R" * 10) + control(7, 0, struct.pack(">II", 1, 0))
    return out


os.makedirs(sys.argv[1], exist_ok=True)
for name, body in [("exec", exec_session()), ("portforward", pf_session()), ("misc", misc_session())]:
    for split in (0, 37):
        open(os.path.join(sys.argv[1], "%s-%d" % (name, split)), "wb").write(bytes([split]) + body)
