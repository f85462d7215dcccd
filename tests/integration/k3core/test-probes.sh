#!/bin/sh
# Probes and lifecycle hooks on the in-process kubelet, seen through kubectl: readiness probes
# (httpGet on busybox httpd by port name with a header, exec on a file created later) gate
# containerStatuses[].ready and the Ready/ContainersReady conditions; a liveness probe answered
# with HTTP 500 restarts the container with upstream's Unhealthy and Killing events; a startup
# probe holds liveness off and sets `started`; a tcpSocket probe on a closed port fails; a grpc
# probe is reported as unsupported; postStart writes a file the container sees (and a failing one
# gives FailedPostStartHook); preStop runs on deletion; httpGet hooks and probes over HTTPS; qosClass values; the pod's /etc/hosts,
# /etc/resolv.conf (ClusterFirst, None + dnsConfig), hostname and service variables.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images" "$K3CORE_TMP/hostdir"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start

# an HTTPS server on the node (a probe's httpGet.host) for scheme HTTPS, stopped on exit
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=probe \
    -keyout "$K3CORE_TMP/tls.key" -out "$K3CORE_TMP/tls.crt" -days 1 2>/dev/null
TLS_PORT=$(free_port)
python3 - "$TLS_PORT" "$K3CORE_TMP" <<'PY' &
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2] + "/tls-requests", "a") as f:
            f.write(self.path + "\n")
        self.send_response(503 if self.path == "/down" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2] + "/tls.crt", sys.argv[2] + "/tls.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
TLS_PID=$!
trap 'kill $TLS_PID 2>/dev/null || true; wait $TLS_PID 2>/dev/null || true; k3core_cleanup' EXIT

events() { $K get events --field-selector "involvedObject.name=$1" -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}'; }
has_event() { events "$1" | grep -qF "$2"; }
wait_for "node Ready" sh -c "$K get nodes | grep -q ' Ready '"

$K create service clusterip my-svc --tcp=80:8080 >/dev/null
svc_ip=$($K get service my-svc -o jsonpath='{.spec.clusterIP}')
[ -n "$svc_ip" ] || fail "my-svc has no clusterIP"

# Every pod is created up front so their probes run side by side.
sed -e "s|@HOSTDIR@|$K3CORE_TMP/hostdir|" -e "s|@TLSPORT@|$TLS_PORT|" <<'YAML' | $K apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    lifecycle: {preStop: {httpGet: {host: 127.0.0.1, port: @TLSPORT@, scheme: HTTPS, path: /prestop-web}}}
    readinessProbe:
      httpGet: {path: /index.html, port: http, httpHeaders: [{name: X-Probe, value: "yes"}]}
      periodSeconds: 1
  - name: gate
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    securityContext: {runAsUser: 65534}
    env: [{name: READY_FILE, value: /tmp/ready}]
    # runs as the container's user with its environment
    readinessProbe: {exec: {command: [sh, -c, 'test "$(id -u)" = 65534 && cat $READY_FILE']}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: live
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "while true; do printf 'HTTP/1.1 500 Internal Server Error\\r\\nContent-Length: 0\\r\\n\\r\\n' | nc -l -p 8081; done"]
    livenessProbe: {httpGet: {path: /healthz, port: 8081}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 1
  enableServiceLinks: false
  containers:
  - name: slow
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    startupProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 600}
    livenessProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 1}
    readinessProbe: {tcpSocket: {port: 9}, periodSeconds: 1}
  - name: grpc
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    readinessProbe: {grpc: {port: 9090}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  terminationGracePeriodSeconds: 2
  hostname: h1
  subdomain: sub
  hostAliases: [{ip: 192.0.2.1, hostnames: [alias-a, alias-b]}]
  dnsPolicy: None
  dnsConfig: {nameservers: [192.0.2.53], searches: [example.test], options: [{name: ndots, value: "2"}]}
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    lifecycle:
      postStart: {exec: {command: [sh, -c, "echo from-post-start > /tmp/hook"]}}
      preStop: {exec: {command: [sh, -c, "echo from-pre-stop > /host/prestop"]}}
    volumeMounts: [{name: host, mountPath: /host}]
    resources: {requests: {cpu: 100m, memory: 32Mi}, limits: {cpu: 100m, memory: 32Mi}}
  volumes: [{name: host, hostPath: {path: "@HOSTDIR@"}}]
---
apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  terminationGracePeriodSeconds: 1
  readinessGates: [{conditionType: example.com/gate}]
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    lifecycle: {postStart: {httpGet: {host: 127.0.0.1, port: @TLSPORT@, scheme: HTTPS, path: /poststart-gated}}}
    readinessProbe:
      httpGet: {host: 127.0.0.1, port: @TLSPORT@, scheme: HTTPS, path: /ok}
      periodSeconds: 1
    livenessProbe:
      httpGet: {host: 127.0.0.1, port: @TLSPORT@, scheme: HTTPS, path: /down}
      periodSeconds: 1
      failureThreshold: 1000
---
apiVersion: v1
kind: Pod
metadata: {name: badhook}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    lifecycle: {postStart: {exec: {command: [sh, -c, "echo nope; exit 3"]}}}
YAML

# readiness: httpd (named port, header) is ready; the exec probe holds the pod back until the
# file exists
wait_for "web httpd ready" is web '{.status.containerStatuses[?(@.name=="httpd")].ready}' true
is web '{.status.phase}' Running || fail "web not Running"
is web '{.status.containerStatuses[?(@.name=="gate")].ready}' false || fail "gate ready without its file"
is web '{.status.conditions[?(@.type=="Ready")].status}' False || fail "web Ready before gate"
out=$(jp web '{.status.conditions[?(@.type=="ContainersReady")].message}')
expect_contains "$out" "containers with unready status: [gate]" "ContainersReady message"
wait_for "Readiness probe failed event" has_event web "Readiness probe failed: cat: can't open '/tmp/ready'"
# repeated failures are one Event with a rising count, as upstream aggregates them
counts() {
    $K get events --field-selector "involvedObject.name=$1" \
        -o jsonpath='{range .items[*]}{.count} {.message}{"\n"}{end}' | grep -F "$2" | cut -d' ' -f1
}
aggregated() { [ "$(counts "$1" "$2" | wc -l)" = 1 ] && [ "$(counts "$1" "$2")" -ge 3 ]; }
wait_for "aggregated Unhealthy events" aggregated web "/tmp/ready"
out=$($K127 describe pod web)
expect_contains "$out" "http-get http://:http/index.html delay=0s timeout=1s period=1s #success=1 #failure=3" "kubectl 1.27 describe"
$K exec web -c gate -- touch /tmp/ready
$K wait --for=condition=Ready pod/web --timeout=60s >/dev/null || fail "web did not become Ready"
is web '{.status.containerStatuses[?(@.name=="gate")].started}' true || fail "gate not started"
is web '{.status.qosClass}' BestEffort || fail "web qosClass"

is web '{.status.containerStatuses[0].image}' docker.io/library/busybox:latest ||
    fail "status image: $(jp web '{.status.containerStatuses[0].image}')"
has web '{.status.containerStatuses[0].imageID}' 'sha256:' || fail "no imageID"

# a readiness gate holds Ready until its condition is True (the container's readiness is an
# HTTPS probe to the node; its liveness probe sees 503)
wait_for "gated container ready" is gated '{.status.containerStatuses[0].ready}' true
wait_for "gated ContainersReady" is gated '{.status.conditions[?(@.type=="ContainersReady")].status}' True
is gated '{.status.conditions[?(@.type=="Ready")].reason}' ReadinessGatesNotReady || fail "gated Ready reason"
expect_contains "$($K get pod gated -o wide)" "0/1" "readiness gates column"
$K patch pod gated --subresource=status -p '{"status":{"conditions":[{"type":"example.com/gate","status":"True"}]}}' >/dev/null
$K wait --for=condition=Ready pod/gated --timeout=60s >/dev/null || fail "gated did not become Ready"
expect_contains "$($K get pod gated -o wide)" "1/1" "readiness gates column"
grep -qx /poststart-gated "$K3CORE_TMP/tls-requests" || fail "postStart httpGet did not run"
wait_for "HTTPS 503" has_event gated "Liveness probe failed: HTTP probe failed with statuscode: 503"

# the pod's files and service variables
files() { $K exec "$@" -- sh -c "cat /etc/resolv.conf /etc/hosts; hostname; tr '\\0' '\\n' </proc/1/environ"; }
out=$(files web -c httpd)
expect_contains "$out" "search default.svc.cluster.local svc.cluster.local cluster.local" "resolv.conf"
expect_contains "$out" "nameserver 10.43.0.10" "resolv.conf"
expect_contains "$out" "options ndots:5" "resolv.conf"
expect_contains "$out" "# Kubernetes-managed hosts file." "/etc/hosts"
expect_contains "$out" "$(jp web '{.status.podIP}')	web" "/etc/hosts"
expect_contains "$out" "
web
" "hostname of web"
expect_contains "$out" "MY_SVC_SERVICE_HOST=$svc_ip" "service env"
expect_contains "$out" "MY_SVC_PORT_80_TCP=tcp://$svc_ip:80" "service env"
expect_contains "$out" "KUBERNETES_SERVICE_HOST=" "service env"

# liveness: HTTP 500 twice restarts the container
wait_for "live restarted" ge live '{.status.containerStatuses[0].restartCount}' 1
wait_for "Unhealthy event" has_event live "Liveness probe failed: HTTP probe failed with statuscode: 500"
wait_for "Killing event" has_event live "Container live failed liveness probe, will be restarted"

# startup: liveness is held off (it would fail at once) until the startup probe passes
wait_for "startup probe failures" aggregated slow "Startup probe failed"
is slow '{.status.containerStatuses[?(@.name=="slow")].started}' false || fail "slow started before its startup probe passed"
is slow '{.status.containerStatuses[?(@.name=="slow")].restartCount}' 0 || fail "liveness ran before startup passed"
$K exec slow -c slow -- touch /tmp/started
wait_for "slow started" is slow '{.status.containerStatuses[?(@.name=="slow")].started}' true
# tcpSocket on a closed port never gets ready; grpc is refused with a clear reason
wait_for "tcp probe event" has_event slow "Readiness probe failed: dial tcp "
events slow | grep -F "Readiness probe failed: dial tcp " | grep -qF ":9: connect: connection refused" ||
    fail "tcp probe message: $(events slow)"
wait_for "grpc probe event" has_event slow "Readiness probe errored: gRPC probes (port 9090) are not supported by this node"
is slow '{.status.conditions[?(@.type=="Ready")].status}' False || fail "slow Ready with failing probes"
is slow '{.status.containerStatuses[?(@.name=="slow")].restartCount}' 0 || fail "slow restarted after startup"

# postStart output is seen by the container; a failing postStart kills it
$K127 wait --for=condition=Ready pod/hooks --timeout=60s >/dev/null || fail "hooks not Ready"
[ "$($K exec hooks -- cat /tmp/hook)" = from-post-start ] || fail "postStart file missing"
out=$(files hooks)
expect_contains "$out" "search example.test
nameserver 192.0.2.53
options ndots:2
# Kubernetes-managed hosts file." "dnsPolicy None resolv.conf"
expect_contains "$out" "h1.sub.default.svc.cluster.local	h1" "/etc/hosts with subdomain"
expect_contains "$out" "192.0.2.1	alias-a	alias-b" "/etc/hosts hostAliases"
expect_contains "$out" "
h1
" "hostname of hooks"
out=$(files slow -c slow)
expect_contains "$out" "KUBERNETES_SERVICE_HOST=" "enableServiceLinks false"
expect_not_contains "$out" "MY_SVC" "enableServiceLinks false"
wait_for "FailedPostStartHook" has_event badhook "FailedPostStartHook"
out=$(events badhook)
expect_contains "$out" 'Exec lifecycle hook ([sh -c echo nope; exit 3]) for Container "c" in Pod "badhook_default(' "FailedPostStartHook message"
expect_contains "$out" "failed - error: command 'sh -c echo nope; exit 3' exited with 3: , message: \"nope\\n\"" "FailedPostStartHook output"
wait_for "badhook restarted" ge badhook '{.status.containerStatuses[0].restartCount}' 1

# qosClass (the server computes it, the kubelet reports the same)
is hooks '{.status.qosClass}' Guaranteed || fail "hooks qosClass: $(jp hooks '{.status.qosClass}')"
qos() {
    $K run "q$1" --image=busybox:latest --dry-run=server -o jsonpath='{.status.qosClass}' \
        --overrides="$2" -- true
}
[ "$(qos 1 '{"spec":{"containers":[{"name":"q1","image":"busybox:latest","resources":{"requests":{"memory":"10Mi"}}}]}}')" = Burstable ] ||
    fail "qosClass Burstable"
[ "$(qos 2 '{"spec":{"initContainers":[{"name":"i","image":"busybox:latest","resources":{"requests":{"cpu":"1"}}}],"containers":[{"name":"q2","image":"busybox:latest"}]}}')" = Burstable ] ||
    fail "qosClass Burstable from an init container"
[ "$(qos 3 '{"spec":{"containers":[{"name":"q3","image":"busybox:latest","resources":{"requests":{"ephemeral-storage":"1Gi"}}}]}}')" = BestEffort ] ||
    fail "qosClass ignores ephemeral-storage"

# preStop runs on deletion
$K delete pod hooks --timeout=60s >/dev/null
[ "$(cat "$K3CORE_TMP/hostdir/prestop" 2>/dev/null)" = from-pre-stop ] || fail "preStop did not run"

$K delete pod web live slow badhook gated --grace-period=1 >/dev/null
grep -qx /prestop-web "$K3CORE_TMP/tls-requests" || fail "preStop httpGet did not run"
k3core_stop
if mount | grep -q "$K3CORE_DATA"; then fail "mounts left behind: $(mount | grep "$K3CORE_DATA")"; fi
echo "ok probes"
