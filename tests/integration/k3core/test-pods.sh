#!/bin/sh
# Pods on the in-process node agent: the Node is Ready; a busybox pod (image from the airgap
# tarball dir) runs; exit codes, CrashLoopBackOff, a missing image, an unschedulable pod,
# graceful deletion and an OOM kill show up in status and events as upstream reports them; and
# stopping the server leaves no mount behind.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
# unknown kubelet flags and bad node flags are refused before anything starts
if out=$("$K3CORE_BIN" server --data-dir "$K3CORE_TMP/none" --kubelet-arg foo=1 2>&1); then
    fail "--kubelet-arg foo=1 accepted"
fi
expect_contains "$out" 'unsupported --kubelet-arg "foo=1"'
if out=$("$K3CORE_BIN" server --data-dir "$K3CORE_TMP/none" --node-taint bad 2>&1); then
    fail "--node-taint bad accepted"
fi
expect_contains "$out" 'invalid taint "bad"'
k3core_start --node-label team=qa --kubelet-arg max-pods=50


# the node
wait_for "node Ready" sh -c "$K get nodes | grep -q ' Ready '"
out=$($K127 get nodes --show-labels)
expect_contains "$out" "node-role.kubernetes.io/control-plane=true" "kubectl 1.27 get nodes"
expect_contains "$out" "kubernetes.io/os=linux"
expect_contains "$out" "team=qa" "--node-label"
[ "$($K get node -o jsonpath='{.items[0].status.allocatable.pods}')" = 50 ] || fail "max-pods"
[ -n "$($K get lease -n kube-node-lease -o name)" ] || fail "no node lease"
# the lease's renewTime is a MicroTime (6 fraction digits): kubectl describe node reads it
$K get lease -n kube-node-lease -o jsonpath='{.items[0].spec.renewTime}' |
    grep -Eq '^[0-9-]{10}T[0-9:]{8}\.[0-9]{6}Z$' || fail "lease renewTime not a MicroTime"
out=$($K describe node)
expect_contains "$out" "HolderIdentity:" "describe node"
expect_not_contains "$out" "Failed to get lease" "describe node"
# status.images: the airgap image, fully qualified, with its size
wait_for "node status.images" sh -c "$K get nodes -o jsonpath='{.items[0].status.images[*].names}' | grep -q 'docker.io/library/busybox:latest'"
[ "$($K get nodes -o jsonpath='{.items[0].status.images[0].sizeBytes}')" -gt 100000 ] ||
    fail "image size: $($K get nodes -o jsonpath='{.items[0].status.images}')"

# a running pod
$K run bb --image=busybox:latest --image-pull-policy=IfNotPresent -- sh -c 'echo hi; sleep 3600' >/dev/null
$K wait --for=condition=Ready pod/bb --timeout=60s >/dev/null || fail "bb did not become Ready"
is bb '{.status.phase}' Running || fail "bb not Running"
has bb '{.status.containerStatuses[0].containerID}' 'dind://' || fail "no containerID"
log=$(cat "$K3CORE_DATA"/agent/pods/default_bb_*/bb/0.log)
expect_contains "$log" "stdout F hi" "CRI log"

# env from a ConfigMap with $(VAR) expansion, an init container, the ServiceAccount files
$K create configmap cfg --from-literal=greeting=hello >/dev/null
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: full}
spec:
  restartPolicy: Never
  initContainers:
  - {name: init, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo from-init > /w/x"], volumeMounts: [{name: w, mountPath: /w}]}
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "cat /w/x; env | grep '^MSG='; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; id -u"]
    env:
    - {name: G, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
    - {name: MSG, value: "$(G) from $(POD)"}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    securityContext: {runAsUser: 65534}
    volumeMounts: [{name: w, mountPath: /w}]
  volumes: [{name: w, emptyDir: {}}]
YAML
wait_for "full Succeeded" is full '{.status.phase}' Succeeded
log=$(cat "$K3CORE_DATA"/agent/pods/default_full_*/main/0.log)
expect_contains "$log" "stdout F from-init" "init container output"
expect_contains "$log" 'stdout F MSG=hello from $(POD)' "env expansion (POD is defined after MSG)"
expect_contains "$log" "stdout F default" "serviceaccount namespace file"
expect_contains "$log" "stdout F 65534" "runAsUser"

# exit code 3 with restartPolicy Never
$K run ex --image=busybox:latest --image-pull-policy=IfNotPresent --restart=Never -- sh -c 'exit 3' >/dev/null
wait_for "ex Failed" is ex '{.status.phase}' Failed
is ex '{.status.containerStatuses[0].state.terminated.exitCode}' 3 || fail "exit code not 3"
is ex '{.status.containerStatuses[0].state.terminated.reason}' Error || fail "reason not Error"

# termination messages: the file at terminationMessagePath (also for a non-root user), and the
# log's tail with FallbackToLogsOnError
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: term}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000}
  containers:
  - {name: file, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo -n bye-file > /dev/termination-log; exit 2"]}
  - {name: logs, image: busybox:latest, imagePullPolicy: IfNotPresent, terminationMessagePolicy: FallbackToLogsOnError, command: [sh, -c, "echo line1; echo bye-log >&2; exit 1"]}
YAML
wait_for "term Failed" is term '{.status.phase}' Failed
is term '{.status.containerStatuses[?(@.name=="file")].state.terminated.message}' bye-file ||
    fail "termination message file: $(jp term '{.status.containerStatuses[0].state.terminated}')"
has term '{.status.containerStatuses[?(@.name=="logs")].state.terminated.message}' bye-log ||
    fail "FallbackToLogsOnError message: $(jp term '{.status.containerStatuses[1].state.terminated}')"

# CrashLoopBackOff with rising restarts
$K run crash --image=busybox:latest --image-pull-policy=IfNotPresent -- sh -c 'exit 1' >/dev/null
wait_for "crash CrashLoopBackOff" is crash '{.status.containerStatuses[0].state.waiting.reason}' CrashLoopBackOff
wait_for "crash restarts" ge crash '{.status.containerStatuses[0].restartCount}' 2
is crash '{.status.containerStatuses[0].lastState.terminated.exitCode}' 1 || fail "lastState"
out=$($K get events --field-selector involvedObject.name=crash)
expect_contains "$out" "BackOff" "crash events"

# a missing image
$K run noimg --image=nosuch.example/img:1 --image-pull-policy=IfNotPresent >/dev/null
wait_for "noimg ImagePullBackOff" is noimg '{.status.containerStatuses[0].state.waiting.reason}' ImagePullBackOff
out=$($K get events --field-selector involvedObject.name=noimg)
expect_contains "$out" 'Failed to pull image "nosuch.example/img:1"' "noimg events"
expect_contains "$out" "ErrImagePull" "noimg events"

# an unschedulable pod
$K run sel --image=busybox:latest --overrides='{"apiVersion":"v1","spec":{"nodeSelector":{"disk":"none"}}}' >/dev/null
wait_for "FailedScheduling" sh -c "$K get events --field-selector involvedObject.name=sel | grep -q FailedScheduling"
out=$($K get events --field-selector involvedObject.name=sel -o jsonpath='{.items[0].message}')
expect_contains "$out" "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." "FailedScheduling"
is sel '{.status.phase}' Pending || fail "sel not Pending"
is sel '{.status.conditions[0].reason}' Unschedulable || fail "sel condition"

# graceful deletion: the pod stays Terminating until its container has exited
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: grace}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "trap 'sleep 1; exit 0' TERM; while true; do sleep 0.1; done"]
YAML
$K wait --for=condition=Ready pod/grace --timeout=60s >/dev/null || fail "grace not Ready"
$K delete pod grace --wait=false >/dev/null
[ -n "$(jp grace '{.metadata.deletionTimestamp}')" ] || fail "grace deleted without a grace period"
$K wait --for=delete pod/grace --timeout=60s >/dev/null || fail "grace was not removed"

# a memory limit kills with OOMKilled
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "tail /dev/zero"]
    resources: {limits: {memory: 32Mi}}
YAML
wait_for "oom terminated" has oom '{.status.containerStatuses[0].state.terminated.reason}' OOMKilled

# a native sidecar (init container with restartPolicy Always) starts first and is gated by its
# startup probe, runs beside the main container and is stopped once that one is done: the pod
# Succeeds; other restartPolicy values on containers are refused as upstream does
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: side}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  volumes: [{name: w, emptyDir: {}}]
  initContainers:
  - name: helper
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    restartPolicy: Always
    command: [sh, -c, "sleep 1; echo from-sidecar > /w/s; trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    startupProbe: {exec: {command: [test, -f, /w/s]}, periodSeconds: 1}
    volumeMounts: [{name: w, mountPath: /w}]
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [cat, /w/s]
    volumeMounts: [{name: w, mountPath: /w}]
YAML
wait_for "side Succeeded" is side '{.status.phase}' Succeeded
[ "$($K logs side -c main)" = from-sidecar ] || fail "main ran before the sidecar started"
wait_for "sidecar stopped" has side '{.status.initContainerStatuses[0].state.terminated.reason}' Completed
if out=$($K run badrp --image=busybox:latest --overrides='{"apiVersion":"v1","spec":{"initContainers":[{"name":"i","image":"busybox:latest","restartPolicy":"Never"}]}}' 2>&1); then
    fail "initContainers restartPolicy Never accepted"
fi
expect_contains "$out" 'spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"'

# hostNetwork + hostPID: the node's interfaces, hostname and processes, the node's IP as pod IP;
# shareProcessNamespace (needs a pause container) is refused with a clear reason
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  hostPID: true
  containers:
  - {name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
YAML
$K wait --for=condition=Ready pod/hostnet --timeout=60s >/dev/null || fail "hostnet not Ready"
[ "$(jp hostnet '{.status.podIP}')" = "$(jp hostnet '{.status.hostIP}')" ] || fail "hostNetwork pod IP"
$K exec hostnet -- test -e /sys/class/net/k3c0 || fail "hostNetwork pod does not see the node's bridge"
[ "$($K exec hostnet -- hostname)" = "$(hostname)" ] || fail "hostNetwork pod hostname"
$K exec hostnet -- test -d "/proc/$K3CORE_PID" || fail "hostPID pod does not see the node's processes"
$K exec bb -- test ! -e /sys/class/net/k3c0 || fail "a normal pod sees the node's bridge"
$K run sharepid --image=busybox:latest --image-pull-policy=IfNotPresent \
    --overrides='{"apiVersion":"v1","spec":{"shareProcessNamespace":true}}' -- sleep 3600 >/dev/null
wait_for "shareProcessNamespace refused" has sharepid '{.status.containerStatuses[0].state.waiting.message}' 'shareProcessNamespace is not supported'
$K delete pod hostnet sharepid --grace-period=1 >/dev/null

# teardown leaves nothing mounted
$K delete pod bb crash --grace-period=1 >/dev/null
k3core_stop
if mount | grep -q "$K3CORE_DATA"; then fail "mounts left behind: $(mount | grep "$K3CORE_DATA")"; fi
echo "ok pods"
