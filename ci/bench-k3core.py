"""k3core API benchmarks (driven by ci/bench-k3core.sh): creates per second (sequential and 8
concurrent clients, keep-alive HTTPS with the admin client certificate), watch delivery latency
(create → event on an open watch) and RSS after N objects. Prints markdown table rows."""
import http.client, json, ssl, sys, threading, time

port, tmp, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=tmp + "/ca.crt")
ctx.load_cert_chain(tmp + "/admin.crt", tmp + "/admin.key")


def conn():
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx)


def create(c, ns, name):
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                       "data": {"k": "v"}})
    c.request("POST", "/api/v1/namespaces/%s/configmaps" % ns, body,
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit("create %s: %d" % (name, r.status))


def rss_kib():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def row(name, value):
    print("| %s | %s |" % (name, value))


row("RSS idle", "%.1f MiB" % (rss_kib() / 1024))
c = conn()
create(c, "default", "warm")
n = 1000
t0 = time.monotonic()
for i in range(n):
    create(c, "default", "seq-%d" % i)
row("creates/s, 1 client", "%.0f" % (n / (time.monotonic() - t0)))

per = 250
def worker(k):
    cc = conn()
    for i in range(per):
        create(cc, "default", "par-%d-%d" % (k, i))
ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
t0 = time.monotonic()
for t in ts:
    t.start()
for t in ts:
    t.join()
row("creates/s, 8 clients", "%.0f" % (8 * per / (time.monotonic() - t0)))

# watch latency: one watch stream, timestamps taken just before each POST
wc = conn()
wc.request("GET", "/api/v1/namespaces/kube-public/configmaps?watch=true&resourceVersion=%s" % "0")
wr = wc.getresponse()
sent = {}
lat = []
def reader():
    buf = b""
    while len(lat) < 200:
        chunk = wr.fp.readline()
        if not chunk:
            return
        line = chunk.strip()
        if not line.startswith(b"{"):
            continue
        ev = json.loads(line)
        name = ev["object"]["metadata"]["name"]
        if name in sent:
            lat.append(time.monotonic() - sent[name])
rt = threading.Thread(target=reader)
rt.start()
time.sleep(0.2)
for i in range(200):
    name = "w-%d" % i
    sent[name] = time.monotonic()
    create(c, "kube-public", name)
rt.join(timeout=10)
lat.sort()
if lat:
    row("watch latency p50", "%.2f ms" % (lat[len(lat) // 2] * 1000))
    row("watch latency p99", "%.2f ms" % (lat[int(len(lat) * 0.99) - 1] * 1000))
total = 10000
for i in range(total - n - 8 * per):
    create(c, "default", "fill-%d" % i)
row("RSS with %d configmaps" % total, "%.1f MiB" % (rss_kib() / 1024))
