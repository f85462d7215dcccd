#!/bin/sh
# Ephemeral containers (`kubectl debug`): added through pods/ephemeralcontainers to a running
# pod, started once in the pod's namespaces (with --target in the target container's process
# namespace), shown in ephemeralContainerStatuses, reachable by logs and attach (kubectl 1.27
# over SPDY, 1.33 over WebSocket), never restarted, stopped with the pod; the API refuses them
# on create, with probes, and their removal or change, as upstream words it.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start
k3core_curl_setup


$K run app --image=busybox:latest --image-pull-policy=IfNotPresent -- \
    sh -c 'exec sleep 3602' >/dev/null
$K wait --for=condition=Ready pod/app --timeout=60s >/dev/null || fail "app did not become Ready"

# a debug container in the target's process namespace sees its processes
$K debug app --image=busybox:latest --image-pull-policy=IfNotPresent -c dbg --target=app -- \
    sh -c 'ps -o pid,args; echo dbg-done' >/dev/null
wait_for "dbg terminated" is app '{.status.ephemeralContainerStatuses[0].state.terminated.exitCode}' 0
out=$($K logs app -c dbg)
expect_contains "$out" "dbg-done" "logs of the debug container"
expect_contains "$out" "sleep 3602" "ps in the target's process namespace"
is app '{.status.ephemeralContainerStatuses[0].name}' dbg || fail "ephemeral status name"
is app '{.status.ephemeralContainerStatuses[0].restartCount}' 0 || fail "dbg restarted"
is app '{.status.phase}' Running || fail "app not Running after debug"
is app '{.spec.ephemeralContainers[0].terminationMessagePolicy}' File || fail "ephemeral defaults"

# without --target it has its own process namespace but the pod's network
$K debug app --image=busybox:latest --image-pull-policy=IfNotPresent -c own -- \
    sh -c 'ps -o pid,args; hostname' >/dev/null
wait_for "own terminated" is app '{.status.ephemeralContainerStatuses[1].state.terminated.exitCode}' 0
out=$($K logs app -c own)
expect_not_contains "$out" "sleep 3602" "ps without --target"
expect_contains "$out" "app" "hostname of the pod"

# interactive debug: stdin reaches the debug container (SPDY with 1.27, WebSocket with 1.33)
for k in $K127 $K133; do
    n=dbg-$(basename "$k" | tr -d .)
    out=$(printf 'echo hello-from-%s\nexit\n' "$n" |
        timeout 60 $k debug -i app --image=busybox:latest --image-pull-policy=IfNotPresent \
            -c "$n" -- sh 2>&1) || true
    expect_contains "$out" "hello-from-$n" "$k debug -i"
done

# the API: not on create, no probes, no removal or change
out=$($K apply -f - 2>&1 <<'YAML' || true
apiVersion: v1
kind: Pod
metadata: {name: eph-create}
spec:
  containers: [{name: c, image: busybox:latest}]
  ephemeralContainers: [{name: e, image: busybox:latest}]
YAML
)
expect_contains "$out" "spec.ephemeralContainers: Forbidden: cannot be set on create" "create"
base=https://127.0.0.1:$K3CORE_PORT/api/v1/namespaces/default/pods/app/ephemeralcontainers
out=$(kcurl -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' "$base" -d \
    '{"spec":{"ephemeralContainers":[{"name":"probed","image":"busybox:latest","readinessProbe":{"exec":{"command":["true"]}}}]}}')
expect_contains "$out" "spec.ephemeralContainers[4].readinessProbe: Forbidden: cannot be set for an Ephemeral Container" "probe"
out=$(kcurl -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' "$base" -d \
    '{"spec":{"ephemeralContainers":[{"name":"tgt","image":"busybox:latest","targetContainerName":"nope"}]}}')
expect_contains "$out" 'targetContainerName: Not found: \"nope\"' "target"
out=$(kcurl -X PATCH -H 'Content-Type: application/json-patch+json' "$base" -d \
    '[{"op":"remove","path":"/spec/ephemeralContainers/0"}]')
expect_contains "$out" 'existing ephemeral containers \"dbg\" may not be removed' "removal"
out=$(kcurl -X PATCH -H 'Content-Type: application/json-patch+json' "$base" -d \
    '[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"other"}]')
expect_contains "$out" 'existing ephemeral containers \"dbg\" may not be changed' "change"
# a pod update neither adds nor drops them
$K label pod app touched=yes >/dev/null
[ "$(jp app '{.spec.ephemeralContainers[*].name}')" = "dbg own dbg-kubectl127 dbg-kubectl133" ] ||
    fail "ephemeral containers after a pod update: $(jp app '{.spec.ephemeralContainers[*].name}')"

# a long-running debug container is stopped with the pod
$K debug app --image=busybox:latest --image-pull-policy=IfNotPresent -c long -- sleep 3601 >/dev/null
wait_for "long running" sh -c "$K get pod app -o jsonpath='{.status.ephemeralContainerStatuses[*].state.running}' | grep -q startedAt"
$K delete pod app --timeout=60s >/dev/null || fail "deleting the debugged pod"
if ps -eo args | grep -v grep | grep -q '^sleep 360[12]$'; then
    fail "a container process survived the pod"
fi
echo "ok: ephemeral containers"
