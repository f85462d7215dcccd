#!/bin/sh
# k3core as a node inside a privileged dindd container (the appliance layout: nested namespaces
# and cgroups): a node image built from this build (tests/fixtures/mkimage-k3node.sh) runs
# `k3core server`; its Node is Ready, a pod runs and logs, exec returns the exit code, a memory
# limit OOM-kills inside the nesting, and with no volume for the data dir (overlayfs, which cannot
# hold container layers) pods still run, from the engine's image store shared read-only. Removing the node container leaves no mount or cgroup.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../docker/containers-lib.sh"
K=/usr/lib/google-cloud-sdk/bin/kubectl.1.33
start_dindd
load_busybox
sh "$REPO/tests/fixtures/mkimage-k3node.sh" "$TEST_TMP/k3node.tar" >/dev/null
dk import "$TEST_TMP/k3node.tar" k3node:test >/dev/null
mkdir -p "$TEST_TMP/vol/agent/images"
cp "$FIXTURE_TAR" "$TEST_TMP/vol/agent/images/busybox.tar"

# node_start NAME [docker run flags...]: a node container running `k3core server`
node_start() {
    n=$1
    shift
    dk run -d --privileged --name "$n" "$@" k3node:test \
        k3core server --data-dir /var/lib/k3core --write-kubeconfig /kc.yaml >/dev/null
    i=0
    until dk exec "$n" test -s /kc.yaml 2>/dev/null; do
        [ "$(dk inspect -f '{{.State.Running}}' "$n")" = true ] ||
            { dk logs "$n" 2>&1 | tail -20; fail "node $n exited"; }
        i=$((i + 1))
        [ $i -lt 300 ] || { dk logs "$n" 2>&1 | tail -20; fail "node $n wrote no kubeconfig"; }
        sleep 0.1
    done
    dk cp "$n:/kc.yaml" "$TEST_TMP/$n.yaml"
    # the node container has a network namespace of its own: reach its API from inside it
    NODE_PID=$(dk inspect -f '{{.State.Pid}}' "$n")
}
kc() { nsenter -t "$NODE_PID" -n "$K" --kubeconfig "$TEST_TMP/$NODE.yaml" "$@"; }
wait_for() {
    what=$1
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 300 ] || { dk logs "$NODE" 2>&1 | tail -20; fail "timed out waiting for $what"; }
        sleep 0.2
    done
}
phase_is() { [ "$(kc get pod "$1" -o jsonpath='{.status.phase}')" = "$2" ]; }

NODE=node1
node_start $NODE -v "$TEST_TMP/vol:/var/lib/k3core"
wait_for "node Ready" sh -c "$(command -v nsenter) -t $NODE_PID -n $K --kubeconfig $TEST_TMP/$NODE.yaml get nodes | grep -q ' Ready '"
kc run bb --image=busybox:latest --image-pull-policy=IfNotPresent -- sh -c 'echo hi-from-nested; sleep 3600' >/dev/null
wait_for "pod bb Running" phase_is bb Running
out=$(kc logs bb)
[ "$out" = "hi-from-nested" ] || fail "logs: $out"
rc=0
out=$(kc exec bb -- sh -c 'echo in-pod; exit 3' 2>&1) || rc=$?
[ $rc = 3 ] || fail "exec exit code $rc: $out"
case "$out" in *in-pod*) ;; *) fail "exec output: $out" ;; esac
ok "pod runs, logs and execs inside a dindd container"

kc apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: oom
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'x=$(head -c 100000000 /dev/zero | tr "\0" a); echo survived']
    resources: {limits: {memory: 16Mi}}
YAML
wait_for "pod oom Failed" phase_is oom Failed
reason=$(kc get pod oom -o jsonpath='{.status.containerStatuses[0].state.terminated.reason}')
[ "$reason" = OOMKilled ] || fail "oom pod reason: $reason"
ok "memory limit OOM-kills in the nested cgroup"
dk rm -f $NODE >/dev/null

# no volume for the data dir: it is on the container's overlayfs root; no airgap tarball either:
# the engine's image store is shared read-only (--image-store), as in the appliance, so the
# engine's images run with pull policy Never, also one tagged after the node started
NODE=node2
node_start $NODE -v "$DATA_ROOT/image:/var/lib/engine-images:ro" -e K3CORE_IMAGE_STORE=/var/lib/engine-images
wait_for "node2 Ready" sh -c "$(command -v nsenter) -t $NODE_PID -n $K --kubeconfig $TEST_TMP/$NODE.yaml get nodes | grep -q ' Ready '"
kc run bb --image=busybox:latest --image-pull-policy=Never -- sh -c 'echo on-overlay; sleep 3600' >/dev/null
wait_for "pod bb Running on an overlayfs data dir" phase_is bb Running
dk logs $NODE 2>&1 | grep -q 'is on overlayfs' || fail "no warning about the overlayfs data dir"
ok "pods run with the data dir on overlayfs (tmpfs for their layers, with a warning)"
dk tag busybox:latest later/img:v1
kc run later --image=later/img:v1 --image-pull-policy=Never -- sh -c 'echo shared; sleep 3600' >/dev/null
wait_for "pod later Running from the shared store" phase_is later Running
kc get events --field-selector involvedObject.name=later | grep -q 'already present on machine' ||
    fail "no Pulled event for the shared image"
ok "the engine's images are used from its store, shared read-only (no import)"
dk rm -f $NODE >/dev/null
remove_all_and_check_clean
ok "no mount or cgroup left"
