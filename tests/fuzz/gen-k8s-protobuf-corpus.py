#!/usr/bin/python3
"""Writes seed bodies for fuzz-k8s-protobuf into tests/fuzz/corpus/k8s-protobuf/: "k8s\\0" +
runtime.Unknown envelopes shaped like client-go's (kubectl 1.33 create configmap/secret/
namespace/deployment/token/ingress, auth can-i/whoami, helm's DeleteOptions, a Pod with a volume
and probes), encoded by hand here, plus
the (lossy, escaped) BODY lines of the captured transcripts when that folder exists."""
import glob, os, re

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "k8s-protobuf")


def varint(v):
    b = bytearray()
    while v >= 0x80:
        b.append((v & 0x7F) | 0x80)
        v >>= 7
    b.append(v)
    return bytes(b)


def f(num, val):
    if isinstance(val, int):
        return varint(num << 3) + varint(val)
    if isinstance(val, str):
        val = val.encode()
    return varint(num << 3 | 2) + varint(len(val)) + val


def entry(num, k, v):
    return f(num, f(1, k) + f(2, v))


def env(api, kind, raw):
    return b"k8s\0" + f(1, f(1, api) + f(2, kind)) + f(2, raw) + f(3, "") + f(4, "")


meta = lambda name: f(1, name) + f(2, "") + f(7, 0) + f(8, b"") + entry(11, "app", "x")  # ObjectMeta
seeds = {
    "configmap": env("v1", "ConfigMap", f(1, meta("cm")) + entry(2, "a", "b") + entry(3, "bin", b"\x7fELF")),
    "secret": env("v1", "Secret", f(1, meta("s")) + entry(2, "pw", b"x") + f(3, "Opaque")),
    "namespace": env("v1", "Namespace", f(1, meta("ns")) + f(2, b"") + f(3, b"")),
    "deployment": env("apps/v1", "Deployment", f(1, meta("d")) + f(2, f(1, 2) + f(2, entry(1, "app", "d")) +
                      f(3, f(1, meta("")) + f(2, f(2, f(1, "web") + f(2, "nginx")))) +
                      f(4, f(1, "RollingUpdate") + f(2, f(1, f(1, 1) + f(3, "25%")))))),
    "tokenrequest": env("authentication.k8s.io/v1", "TokenRequest", f(1, meta("")) + f(2, f(1, "aud") + f(4, 3600))),
    "ssar": env("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                f(1, meta("")) + f(2, f(1, f(1, "default") + f(2, "create") + f(5, "pods")))),
    "ssr": env("authentication.k8s.io/v1", "SelfSubjectReview", f(1, meta(""))),
    "deleteoptions": env("v1", "DeleteOptions", f(1, 0) + f(4, "Background") + f(5, "All")),
    "time": env("v1", "Event", f(1, meta("e")) + f(7, f(1, 1700000000) + f(2, 5))),
    # inline (embedded) structs: IngressRule.ingressRuleValue, Volume.volumeSource,
    # ConfigMapVolumeSource.localObjectReference, Probe.handler
    "ingress": env("networking.k8s.io/v1", "Ingress", f(1, meta("demo")) + f(2, f(3, f(1, "foo.com") + f(2, f(1, f(
        1, f(1, "/bar") + f(2, f(4, f(1, "svc") + f(2, f(1, "") + f(2, 80)))) + f(3, "Exact"))))))),
    "pod": env("v1", "Pod", f(1, meta("p")) + f(2, f(1, f(1, "conf") + f(2, f(19, f(1, f(1, "cfg")) + f(3, 420)))) +
               f(2, f(1, "app") + f(2, "busybox") + f(10, f(1, f(2, f(1, "/healthz") + f(2, f(1, 0) + f(2, 8080)))) +
                                                          f(2, 3)) + f(11, f(1, f(1, f(1, "true"))))))),
}
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
tdir = "/work/shared/research/kubernetes-api/transcripts"
for path in sorted(glob.glob(tdir + "/*-pb-133.txt") + glob.glob(tdir + "/helm*.txt")):
    text = open(path, errors="replace").read()
    for i, m in enumerate(re.finditer(r"BODY: (k8s\\x00.*?)(?:\n    [A-Z]|\n<<<|\n>>>)", text, re.S)):
        raw = m.group(1).replace("\n", "\\n").split(" ...[")[0]
        data = re.sub(rb"\\x([0-9a-f]{2})", lambda x: bytes([int(x.group(1), 16)]), raw.encode("utf-8", "replace"))
        data = data.replace(b"\\n", b"\n")
        open(os.path.join(out, "t-%s-%d" % (os.path.basename(path)[:-4], i)), "wb").write(data[:4096])
print(len(os.listdir(out)), "seeds")
