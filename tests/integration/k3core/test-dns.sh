#!/bin/sh
# Cluster DNS (CoreDNS's role): the kube-dns Service holds 10.43.0.10 as in k3s, the kubelet
# answers on that address (a /32 on the pod bridge) and pods resolve through it: busybox's own
# nslookup for full names, the libc resolver (ping) for short names through the search path.
# Checked: kubernetes.default, a ClusterIP Service, a headless Service's pod addresses and a
# StatefulSet pod by hostname, SRV of a named port, ExternalName CNAME, the schema version TXT,
# PTR of a ClusterIP, a pod A record, NXDOMAIN for a missing name, NODATA for AAAA, and a quick
# answer (not a timeout) for a name outside the cluster; TCP from the node. Stopping the server
# takes the address and the sockets with it.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start

svc() { $K get svc "$@" 2>/dev/null; }
[ "$(svc -n kube-system kube-dns -o jsonpath='{.spec.clusterIP}')" = 10.43.0.10 ] ||
    fail "kube-dns Service: $(svc -n kube-system kube-dns -o yaml)"
[ "$(svc -n kube-system kube-dns -o jsonpath='{.spec.ports[*].name}')" = "dns dns-tcp metrics" ] ||
    fail "kube-dns ports: $(svc -n kube-system kube-dns -o jsonpath='{.spec.ports}')"
[ "$(svc -n kube-system kube-dns -o jsonpath='{.metadata.labels.kubernetes\.io/name}')" = CoreDNS ] ||
    fail "kube-dns labels"
# the allocator never hands the address out, and a Service cannot take it
out=$($K create service clusterip grab --clusterip=10.43.0.10 --tcp=80 2>&1) &&
    fail "a Service took 10.43.0.10: $out"
expect_contains "$out" "already allocated" "a second Service on 10.43.0.10"

$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: hl}
spec:
  clusterIP: None
  selector: {app: hl}
  ports: [{name: tcp, port: 7000}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: example.com
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: hl}
spec:
  serviceName: hl
  replicas: 2
  selector: {matchLabels: {app: hl}}
  template:
    metadata: {labels: {app: hl}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: 'busybox:latest', imagePullPolicy: IfNotPresent, command: [sleep, '3600']}
---
apiVersion: v1
kind: Pod
metadata: {name: cli}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: 'busybox:latest', imagePullPolicy: IfNotPresent, command: [sleep, '3600']}
YAML
$K wait --for=condition=Ready pod/cli pod/hl-0 --timeout=90s >/dev/null || fail "pods not Ready"
$K wait --for=condition=Ready pod/hl-1 --timeout=90s >/dev/null || fail "hl-1 not Ready"
ip addr show dev k3c0 | grep -q 'inet 10.43.0.10/32' || fail "no 10.43.0.10/32 on k3c0: $(ip addr show dev k3c0)"
webip=$(svc web -o jsonpath='{.spec.clusterIP}')
h0=$(jp hl-0 '{.status.podIP}')
h1=$(jp hl-1 '{.status.podIP}')
cip=$(jp cli '{.status.podIP}')

ns() { $K exec cli -- nslookup "$@" 2>&1; }
# short names through the pod's search path: busybox's nslookup sends the name as given, so the
# libc resolver (ping prints the address it resolved) shows the search path at work
resolved() { $K exec cli -- ping -c 1 -W 1 "$1" 2>&1 | sed -n 's/^PING [^ ]* (\([0-9.]*\)).*/\1/p'; }
[ "$(resolved kubernetes.default)" = 10.43.0.1 ] ||
    fail "kubernetes.default via the search path: $($K exec cli -- ping -c 1 -W 1 kubernetes.default 2>&1)"
[ "$(resolved web)" = "$webip" ] || fail "web via the search path: $(resolved web)"
out=$(ns kubernetes.default.svc.cluster.local) || fail "nslookup kubernetes.default: $out"
expect_contains "$out" "Address: 10.43.0.1" "nslookup kubernetes.default.svc.cluster.local"
out=$(ns web.default.svc.cluster.local) || fail "nslookup web: $out"
expect_contains "$out" "Address: $webip" "nslookup web.default.svc.cluster.local"
out=$(ns kube-dns.kube-system.svc.cluster.local) || fail "nslookup kube-dns: $out"
expect_contains "$out" "Address: 10.43.0.10" "nslookup kube-dns.kube-system"
# headless: the ready pods' addresses, once the endpoints have them
wait_for "headless hl to list both pods" sh -c "$K exec cli -- nslookup hl.default.svc.cluster.local 2>&1 | grep -q 'Address: $h0' && $K exec cli -- nslookup hl.default.svc.cluster.local 2>&1 | grep -q 'Address: $h1'"
out=$(ns hl-1.hl.default.svc.cluster.local) || fail "nslookup hl-1.hl: $out"
expect_contains "$out" "Address: $h1" "StatefulSet pod by hostname (hl-1.hl)"
[ "$(resolved hl-0.hl)" = "$h0" ] || fail "hl-0.hl via the search path: $(resolved hl-0.hl)"
expect_not_contains "$out" "Address: $h0" "hl-1.hl"
out=$(ns -type=srv _http._tcp.web.default.svc.cluster.local) || fail "SRV: $out"
expect_contains "$out" "0 100 80 web.default.svc.cluster.local" "SRV _http._tcp.web"
out=$(ns -type=srv _tcp._tcp.hl.default.svc.cluster.local) || fail "headless SRV: $out"
expect_contains "$out" "0 100 7000 hl-0.hl.default.svc.cluster.local" "headless SRV"
out=$(ns -type=cname ext.default.svc.cluster.local) || true
expect_contains "$out" "example.com" "ExternalName CNAME"
out=$(ns -type=txt dns-version.cluster.local) || fail "dns-version TXT: $out"
expect_contains "$out" "1.1.0" "dns-version.cluster.local TXT"
out=$(ns 10.43.0.1) || fail "PTR of 10.43.0.1: $out"
expect_contains "$out" "kubernetes.default.svc.cluster.local" "PTR of 10.43.0.1"
dashed=$(echo "$cip" | tr . -)
out=$(ns "$dashed.default.pod.cluster.local") || fail "pod A record: $out"
expect_contains "$out" "Address: $cip" "pod A record $dashed"
if out=$(ns nope.default.svc.cluster.local); then fail "a missing Service resolved: $out"; fi
expect_contains "$out" "NXDOMAIN" "missing Service"
if out=$(ns -type=aaaa kubernetes.default.svc.cluster.local); then :; fi
expect_not_contains "$out" "NXDOMAIN" "AAAA of an existing Service (NODATA)"
# a name outside the cluster: forwarded upstream; offline that is a fast SERVFAIL, not a timeout
start=$(date +%s)
out=$(ns -timeout=10 example.invalid.) || true
took=$(($(date +%s) - start))
[ "$took" -lt 8 ] || fail "a non-cluster name took ${took}s: $out"
expect_not_contains "$out" "timed out" "non-cluster name"

# TCP (length-framed) from the node itself
python3 - <<'PY' || fail "DNS over TCP failed"
import socket, struct
q = struct.pack(">HHHHHH", 0x77, 0x0100, 1, 0, 0, 0)
for l in "kubernetes.default.svc.cluster.local".split("."):
    q += bytes([len(l)]) + l.encode()
q += b"\0" + struct.pack(">HH", 1, 1)
s = socket.create_connection(("10.43.0.10", 53), timeout=5)
s.sendall(struct.pack(">H", len(q)) + q)
buf = b""
while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
    chunk = s.recv(4096)
    assert chunk, "connection closed"
    buf += chunk
r = buf[2:]
assert struct.unpack(">H", r[:2])[0] == 0x77 and r[3] & 0xF == 0, r
assert struct.unpack(">H", r[6:8])[0] == 1, r
assert r[-4:] == bytes([10, 43, 0, 1]), r
PY

k3core_stop
if ip addr show 2>/dev/null | grep -q '10.43.0.10/32'; then fail "10.43.0.10/32 left after stop"; fi
if ss -lnu 2>/dev/null | grep -q '10.43.0.10:53'; then fail "a DNS socket left after stop"; fi
echo "ok dns"
