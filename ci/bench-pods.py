"""k3core pod benchmarks (driven by ci/bench-pods-run.sh). Talks to the API server over HTTPS with
the admin client certificate; times come from a pod watch opened before the creates, so a pod's
latency is POST sent → the first watch event that shows phase Running. Prints markdown rows."""
import base64, http.client, json, os, ssl, sys, threading, time
import yaml

port, tmp, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
NPODS = int(os.environ.get("BENCH_PODS", "100"))
NSEQ = int(os.environ.get("BENCH_SEQ", "20"))
cfg = yaml.safe_load(open(tmp + "/kc.yaml"))
for name, data in (("ca.crt", cfg["clusters"][0]["cluster"]["certificate-authority-data"]),
                   ("admin.crt", cfg["users"][0]["user"]["client-certificate-data"]),
                   ("admin.key", cfg["users"][0]["user"]["client-key-data"])):
    open(tmp + "/" + name, "wb").write(base64.b64decode(data))
ctx = ssl.create_default_context(cafile=tmp + "/ca.crt")
ctx.load_cert_chain(tmp + "/admin.crt", tmp + "/admin.key")


def conn():
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=120)


def call(c, method, path, body=None):
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else None


def pod(name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"b": "1"}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "busybox:latest",
                                     "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


class Watcher(threading.Thread):
    """One pod watch for the whole run: records the first time each pod is seen Running."""

    def __init__(self, rv):
        super().__init__(daemon=True)
        self.running = {}
        self.cond = threading.Condition()
        self.c = conn()
        self.c.request("GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + rv)
        self.r = self.c.getresponse()

    def run(self):
        while True:
            line = self.r.readline()
            if not line:
                return
            ev = json.loads(line)
            o = ev.get("object", {})
            name = o.get("metadata", {}).get("name")
            if o.get("status", {}).get("phase") == "Running":
                with self.cond:
                    self.running.setdefault(name, time.monotonic())
                    self.cond.notify_all()

    def wait(self, names, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while not all(n in self.running for n in names):
                left = end - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if n not in self.running]
                    sys.exit("pods not Running after %ds: %s" % (timeout, missing[:5]))
                self.cond.wait(left)


def rss_kib(p):
    try:
        for line in open("/proc/%d/status" % p):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def shim_rss_kib():
    """RSS of the per-container shims: every process in this benchmark's network namespace
    other than k3core and this script's own ancestry (pods have network namespaces of their own)."""
    me = os.readlink("/proc/self/ns/net")
    skip, p = {pid}, os.getpid()
    while p > 1:
        skip.add(p)
        p = int(open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[1])
    total = n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in skip:
            continue
        try:
            if os.readlink("/proc/%s/ns/net" % d) != me:
                continue
        except OSError:
            continue
        total += rss_kib(int(d))
        n += 1
    return total, n


def row(name, value, target=""):
    print("| %s | %s | %s |" % (name, value, target))


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


c = conn()
# wait for the node, then warm up: the first pod imports/unpacks the image
deadline = time.monotonic() + 60
while not call(c, "GET", "/api/v1/nodes")["items"]:
    if time.monotonic() > deadline:
        sys.exit("no node registered")
    time.sleep(0.05)
rv = call(c, "GET", "/api/v1/namespaces/default/pods")["metadata"]["resourceVersion"]
w = Watcher(rv)
w.start()
call(c, "POST", "/api/v1/namespaces/default/pods", pod("warm"))
w.wait(["warm"], 120)
call(c, "DELETE", "/api/v1/namespaces/default/pods/warm")
time.sleep(1)
rss0 = rss_kib(pid)

lat = []
for i in range(NSEQ):
    name = "seq-%d" % i
    t0 = time.monotonic()
    call(c, "POST", "/api/v1/namespaces/default/pods", pod(name))
    w.wait([name], 120)
    lat.append((w.running[name] - t0) * 1000)
row("pod create → Running, p50 (%d pods, one at a time)" % NSEQ, "%.0f ms" % pct(lat, 0.5), "< 150 ms")
row("pod create → Running, p99", "%.0f ms" % pct(lat, 0.99), "")
call(c, "DELETE", "/api/v1/namespaces/default/pods?labelSelector=b%3D1")
deadline = time.monotonic() + 120
while call(c, "GET", "/api/v1/namespaces/default/pods")["items"]:
    if time.monotonic() > deadline:
        sys.exit("pods not deleted after 120 s")
    time.sleep(0.1)

names = ["many-%d" % i for i in range(NPODS)]
t0 = time.monotonic()
for n in names:
    call(c, "POST", "/api/v1/namespaces/default/pods", pod(n))
w.wait(names, 600)
row("%d pods created at once → all Running" % NPODS, "%.1f s" % (max(w.running[n] for n in names) - t0),
    "< 10 s")
time.sleep(2)
rss100 = rss_kib(pid)
shims, nshims = shim_rss_kib()
row("k3core RSS (API server + agent), 0 pods", "%.1f MiB" % (rss0 / 1024), "")
row("k3core RSS, %d pods" % NPODS, "%.1f MiB" % (rss100 / 1024), "")
row("agent memory per pod (k3core RSS delta / %d)" % NPODS, "%.0f KiB" % ((rss100 - rss0) / NPODS),
    "< 100 KiB")
if nshims:
    row("per-container shims: %d processes" % nshims,
        "%.1f MiB (%.0f KiB each)" % (shims / 1024, shims / nshims), "")
call(c, "DELETE", "/api/v1/namespaces/default/pods?labelSelector=b%3D1")
