#!/bin/sh
# Streaming subresources of pods against a busybox pod on the in-process agent: logs (plain,
# tail, timestamps, follow ending with the container), exec over WebSocket with kubectl 1.30 and
# 1.33 (output, exit code 3, stdin), attach, python-kubernetes' v4 exec with stdin and exit code,
# and the Status errors for a missing pod and an ambiguous container.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start

$K run bb --image=busybox:latest --image-pull-policy=IfNotPresent -- \
    sh -c 'echo one; echo two; mkdir -p /tmp/www; echo hello-pf > /tmp/www/index.html;
           httpd -p 8080 -h /tmp/www; exec sleep 3600' >/dev/null
$K wait --for=condition=Ready pod/bb --timeout=60s >/dev/null || fail "bb did not become Ready"

# logs
out=$($K logs bb)
expect_contains "$out" "one" "logs"
expect_contains "$out" "two" "logs"
[ "$($K logs bb --tail=1)" = "two" ] || fail "logs --tail=1"
out=$($K127 logs bb --timestamps --tail=1)
expect_contains "$out" "Z two" "logs --timestamps"
out=$($K logs nope 2>&1 || true)
expect_contains "$out" 'pods "nope" not found' "logs of a missing pod"

# logs -f ends when the container ends
$K run fin --image=busybox:latest --image-pull-policy=IfNotPresent --restart=Never -- \
    sh -c 'sleep 2; echo done-now' >/dev/null
$K wait --for=condition=Ready pod/fin --timeout=60s >/dev/null || true
out=$($K logs -f fin)
expect_contains "$out" "done-now" "logs -f"

# an exec'd command runs with the container's environment, user and working directory, as a
# container runtime's exec does (kubectl 1.27 over SPDY, 1.33 over WebSocket)
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: envp}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    workingDir: /tmp
    env: [{name: GREETING, value: hello-env}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    securityContext: {runAsUser: 1234}
YAML
$K wait --for=condition=Ready pod/envp --timeout=60s >/dev/null || fail "envp did not become Ready"
for k in $K127 $K133; do
    out=$($k exec envp -- sh -c 'echo "$GREETING $POD $HOSTNAME $(id -u) $(pwd)"; env | grep -c ^KUBERNETES_SERVICE_HOST=')
    [ "$out" = "hello-env envp envp 1234 /tmp
1" ] || fail "$k exec environment: $out"
done
$K delete pod envp --wait=false >/dev/null

# exec over WebSocket (1.30, 1.33)
for k in $K130 $K133; do
    out=$($k exec bb -- echo hi)
    [ "$out" = "hi" ] || fail "$k exec echo: $out"
    rc=0
    $k exec bb -- sh -c 'exit 3' 2>/dev/null || rc=$?
    [ "$rc" = 3 ] || fail "$k exec exit code: $rc"
    out=$(echo from-stdin | $k exec -i bb -- cat)
    [ "$out" = "from-stdin" ] || fail "$k exec -i: $out"
done
out=$($K exec bb -- sh -c 'echo err >&2' 2>&1)
expect_contains "$out" "err" "exec stderr"

# attach (WebSocket) and run --rm -i, which attaches to the new pod
$K run att --image=busybox:latest --image-pull-policy=IfNotPresent -- \
    sh -c 'while sleep 0.2; do echo tick; done' >/dev/null
$K wait --for=condition=Ready pod/att --timeout=60s >/dev/null || fail "att did not become Ready"
out=$(timeout 20 $K attach att 2>/dev/null | head -n 2 || true)
expect_contains "$out" "tick" "attach"
out=$(echo in-run | timeout 60 $K run rr --rm -i --restart=Never --image=busybox:latest \
    --image-pull-policy=IfNotPresent -- sh -c 'cat; echo run-out' 2>&1 || true)
expect_contains "$out" "run-out" "run --rm -i"

# python-kubernetes: v4 exec with stdin and the exit code
/usr/bin/python3 - "$KUBECONFIG" <<'PY' || fail "python exec"
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
r = stream(api.connect_get_namespaced_pod_exec, "bb", "default", command=["sh", "-c", "cat; exit 4"],
           stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
r.write_stdin("py-in\n")
out = ""
while r.is_open():
    r.update(timeout=5)
    out += r.read_stdout()
    if r.returncode is not None or "py-in" in out:
        r.update(timeout=5)
        break
r.close()
assert "py-in" in out, out
r = stream(api.connect_get_namespaced_pod_exec, "bb", "default", command=["sh", "-c", "exit 4"],
           stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
r.run_forever(timeout=30)
assert r.returncode == 4, r.returncode
PY

# python-kubernetes port-forward (WebSocket v4) to busybox httpd inside the pod
/usr/bin/python3 - "$KUBECONFIG" <<'PY' || fail "python port-forward"
import sys
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
pf = portforward(api.connect_get_namespaced_pod_portforward, "bb", "default", ports="8080")
s = pf.socket(8080)
s.setblocking(True)
s.sendall(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
s.close()
assert b"hello-pf" in data, data
err = pf.error(8080)
assert err is None, err
pf.close()
PY

# a two-container pod: logs without -c is a 400 naming the containers
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  containers:
  - {name: a, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo from-a; exec sleep 3600"]}
  - {name: b, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "exec sleep 3600"]}
YAML
$K wait --for=condition=Ready pod/two --timeout=60s >/dev/null || fail "two did not become Ready"
out=$($K get --raw /api/v1/namespaces/default/pods/two/log 2>&1 || true)
expect_contains "$out" "a container name must be specified for pod two, choose one of: [a b]" "logs two"
[ "$($K logs two -c a)" = "from-a" ] || fail "logs -c a"
