#!/bin/sh
# Everyday CI workflows across kubectl versions that the per-area suites do not cover: node
# maintenance — PodDisruptionBudget status (minAvailable, maxUnavailable as a percentage of the
# controller's scale), `kubectl drain` held back by a budget (the Eviction API's 429), finishing
# after `uncordon`, the one-budget rule of the eviction subresource; the apiserver proxy's
# clear error; a rollout past its progress deadline.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start
wait_for "node Ready" sh -c "$K get nodes | grep -q ' Ready '"
node=$($K get nodes -o jsonpath='{.items[0].metadata.name}')
pdb() { $K get pdb "$1" -o jsonpath="$2" 2>/dev/null; }
running() { $K get pods -l app=pd --field-selector=status.phase=Running -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}x{{end}}{{end}}' | wc -c; }

$K apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: pd}
spec:
  replicas: 3
  selector: {matchLabels: {app: pd}}
  template:
    metadata: {labels: {app: pd}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]
YAML
$K rollout status deployment/pd --timeout=90s >/dev/null || fail "rollout of pd"

# ---- budgets ----
$K create pdb pd-min --selector=app=pd --min-available=2 >/dev/null
wait_for "pd-min status" sh -c "[ \"\$($K get pdb pd-min -o jsonpath='{.status.currentHealthy}/{.status.desiredHealthy}/{.status.expectedPods}/{.status.disruptionsAllowed}')\" = 3/2/3/1 ]"
[ "$(pdb pd-min '{.status.conditions[0].type}={.status.conditions[0].status}/{.status.conditions[0].reason}')" = DisruptionAllowed=True/SufficientPods ] ||
    fail "pd-min condition: $(pdb pd-min '{.status}')"
out=$($K127 get pdb pd-min)
expect_contains "$out" "pd-min   2               N/A               1" "kubectl 1.27 get pdb"
# a percentage counts against the Deployment's replicas (rounded up): 3 - ceil(0.34*3) = 1
$K create pdb pd-pct --selector=app=pd --max-unavailable=34% >/dev/null
wait_for "pd-pct status" sh -c "[ \"\$($K get pdb pd-pct -o jsonpath='{.status.desiredHealthy}/{.status.expectedPods}/{.status.disruptionsAllowed}')\" = 1/3/2 ]"
# two budgets over one pod: the eviction subresource refuses (500, as upstream)
p=$($K get pods -l app=pd -o jsonpath='{.items[0].metadata.name}')
printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"%s"}}' "$p" >"$K3CORE_TMP/ev.json"
out=$($K create --raw "/api/v1/namespaces/default/pods/$p/eviction" -f "$K3CORE_TMP/ev.json" 2>&1) &&
    fail "eviction with two budgets succeeded"
expect_contains "$out" "This pod has more than one PodDisruptionBudget" "two budgets"
[ "$(running)" = 3 ] || fail "a pod went despite the refused eviction"
$K delete pdb pd-pct >/dev/null

# ---- drain: one pod may go; its replacement cannot start on the cordoned node, so the budget
# holds the other two and drain gives up at its timeout ----
out=$($K127 drain "$node" --ignore-daemonsets --pod-selector=app=pd --timeout=15s 2>&1) &&
    fail "drain past the budget: $out"
expect_contains "$out" "Cannot evict pod as it would violate the pod's disruption budget." "drain 1.27"
expect_contains "$out" "evicted" "drain evicted one pod"
[ "$(running)" = 2 ] || fail "pods left running after the blocked drain: $(running)"
[ "$(pdb pd-min '{.status.disruptionsAllowed}')" = 0 ] || fail "pd-min allowed after drain"
p=$($K get pods -l app=pd --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}')
printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"%s"}}' "$p" >"$K3CORE_TMP/ev.json"
out=$($K create --raw "/api/v1/namespaces/default/pods/$p/eviction" -f "$K3CORE_TMP/ev.json" 2>&1) &&
    fail "eviction past the budget succeeded"
expect_contains "$out" "TooManyRequests" "eviction 429"
# uncordon: the replacement runs, the budget allows one again
$K uncordon "$node" >/dev/null
wait_for "pd back to 3" sh -c "[ \"\$($K get deploy pd -o jsonpath='{.status.availableReplicas}')\" = 3 ]"
wait_for "pd-min allows one again" sh -c "[ \"\$($K get pdb pd-min -o jsonpath='{.status.disruptionsAllowed}')\" = 1 ]"
# without a budget kubectl 1.33 drains the node; the pods come back after uncordon
$K delete pdb pd-min >/dev/null
$K drain "$node" --ignore-daemonsets --pod-selector=app=pd --timeout=60s >/dev/null 2>&1 ||
    fail "drain without a budget"
[ "$(running)" = 0 ] || fail "pods running after the drain"
$K uncordon "$node" >/dev/null
$K rollout status deployment/pd --timeout=90s >/dev/null || fail "pd after uncordon"

# a rollout that cannot finish: rollout status fails at progressDeadlineSeconds, and the
# deployment stays ProgressDeadlineExceeded (it flapped back to "progressing")
$K create deployment stuck --image=busybox:does-not-exist >/dev/null
$K patch deployment stuck -p '{"spec":{"progressDeadlineSeconds":4}}' >/dev/null
out=$($K127 rollout status deployment/stuck --timeout=60s 2>&1) && fail "rollout of stuck finished"
expect_contains "$out" 'deployment "stuck" exceeded its progress deadline' "rollout status 1.27"
sleep 6
[ "$($K get deploy stuck -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason}')" = ProgressDeadlineExceeded ] ||
    fail "stuck: $($K get deploy stuck -o jsonpath='{.status.conditions}')"
out=$($K rollout status deployment/stuck --timeout=20s 2>&1) && fail "rollout of stuck finished"
expect_contains "$out" 'deployment "stuck" exceeded its progress deadline' "rollout status 1.33"
$K delete deployment stuck >/dev/null

# the apiserver proxy (pods|services|nodes/NAME/proxy/...) is not there yet: a clear 503, never
# the object itself
p=$($K get pods -l app=pd -o jsonpath='{.items[0].metadata.name}')
for path in "namespaces/default/pods/$p/proxy/" "namespaces/default/pods/$p:80/proxy/x" \
    "namespaces/default/services/kubernetes:443/proxy/" "nodes/$node/proxy/healthz"; do
    out=$($K get --raw "/api/v1/$path" 2>&1) && fail "proxy $path answered: $out"
    expect_contains "$out" "ServiceUnavailable" "proxy $path"
done
$K delete deployment pd >/dev/null
echo "workflows: ok"
