#!/bin/sh
# HorizontalPodAutoscalers through both served versions: kubectl 1.27's `autoscale` writes
# autoscaling/v1, 1.33's writes autoscaling/v2; both are one stored object (v2, upstream's
# storage version), converted as upstream: the CPU target ↔ targetCPUUtilizationPercentage, other
# metrics and behavior ↔ the autoscaling.alpha.kubernetes.io annotations in v1's shapes, v2's
# defaults (cpu 80% when no metric, behavior rules); a v1 update keeps the v2-only fields. The
# controller without a metrics API keeps targets within [min, max] and reports why it cannot
# compute more.
. "$(dirname "$0")/lib.sh"
k3core_start --disable-agent
v1() { $K133 get --raw "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/$1"; }
py() { python3 -c "import json,sys; o=json.load(sys.stdin); print($1)"; }

$K133 create deployment web --image=busybox >/dev/null
$K127 autoscale deployment web --max=5 --cpu-percent=50 >/dev/null
$K133 autoscale deployment web --max=3 --name web2 >/dev/null
# written as v1, read as v2
[ "$($K133 get hpa web -o jsonpath='{.apiVersion} {.spec.metrics[0].resource.name} {.spec.metrics[0].resource.target.averageUtilization} {.spec.minReplicas}')" = "autoscaling/v2 cpu 50 1" ] ||
    fail "v1 HPA read as v2: $($K133 get hpa web -o json)"
# written as v2 without a target, read as v1: the default 80%
[ "$(v1 web2 | py "o['apiVersion'], o['spec']['targetCPUUtilizationPercentage'], 'metrics' in o['spec']")" = "autoscaling/v1 80 False" ] ||
    fail "v2 HPA read as v1: $(v1 web2)"
# every v2 metric kept across a v1 round trip
$K133 apply -f - >/dev/null <<'YAML'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: multi}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 7
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}
  - type: Pods
    pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: "10"}}
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 60}
YAML
v1 multi >"$K3CORE_TMP/v1.json"
out=$(py "o['spec']['targetCPUUtilizationPercentage'], o['metadata']['annotations']['autoscaling.alpha.kubernetes.io/metrics']" <"$K3CORE_TMP/v1.json")
expect_contains "$out" '60 [{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}},{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]' "v1 view of multi"
python3 - "$K3CORE_TMP/v1.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
del o["metadata"]["resourceVersion"]
o["spec"]["maxReplicas"] = 8
json.dump(o, open(sys.argv[1], "w"))
PY
$K127 replace -f "$K3CORE_TMP/v1.json" >/dev/null
out=$($K133 get hpa multi -o json | py "json.dumps(o['spec']['metrics']), o['spec']['maxReplicas'], o['spec']['behavior']['scaleDown'], o['spec']['behavior']['scaleUp']['policies'][0], 'annotations' in o['metadata'] and 'autoscaling.alpha.kubernetes.io/metrics' in o['metadata']['annotations']")
expect_contains "$out" '"name": "memory", "target": {"averageValue": "100Mi", "type": "AverageValue"}' "memory metric after a v1 update"
expect_contains "$out" '"metric": {"name": "qps"}, "target": {"averageValue": "10", "type": "AverageValue"}' "pods metric after a v1 update"
expect_contains "$out" '"averageUtilization": 60, "type": "Utilization"' "cpu metric after a v1 update"
expect_contains "$out" " 8 " "maxReplicas from the v1 update"
expect_contains "$out" "'stabilizationWindowSeconds': 60" "behavior after a v1 update"
expect_contains "$out" "{'periodSeconds': 15, 'type': 'Pods', 'value': 4} False" "scaleUp defaults, no annotation in v2"
# the controller without a metrics API: a target below minReplicas is scaled up to it, the
# rest reports why it cannot compute a count (upstream's words when metrics-server is absent)
wait_for "web scaled to multi's minimum" sh -c "[ \"\$($K133 get deploy web -o jsonpath='{.spec.replicas}')\" = 2 ]"
wait_for "multi ScalingActive" sh -c "$K133 get hpa multi -o jsonpath='{.status.conditions[?(@.type==\"ScalingActive\")].reason}' | grep -qx FailedGetResourceMetric"
out=$($K133 get hpa multi -o jsonpath='{.status.conditions[?(@.type=="ScalingActive")].message}')
expect_contains "$out" "the HPA was unable to compute the replica count: failed to get memory usage: unable to get metrics for resource memory: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)" "multi ScalingActive message"
[ "$($K133 get hpa multi -o jsonpath='{.status.conditions[?(@.type=="AbleToScale")].reason} {.status.desiredReplicas}')" = "SucceededGetScale 2" ] ||
    fail "multi status: $($K133 get hpa multi -o jsonpath='{.status}')"
wait_for "web2 REPLICAS 2" sh -c "$K127 get hpa web2 | grep -Eq ' 1 +3 +2 '"
out=$($K133 get events --field-selector involvedObject.name=multi -o jsonpath='{.items[*].message}')
expect_contains "$out" "New size: 2; reason: Current number of replicas below Spec.MinReplicas" "SuccessfulRescale event"
# a missing target: AbleToScale False, nothing else touched
$K133 apply -f - >/dev/null <<'YAML'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ghost}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
  maxReplicas: 3
YAML
wait_for "ghost FailedGetScale" sh -c "$K133 get hpa ghost -o jsonpath='{.status.conditions[0].reason}' | grep -qx FailedGetScale"
# status written through v1 shows in v2's currentMetrics (on ghost, which the controller leaves
# alone), a watch through v1 sees v1 objects
kcurl_status() {
    k3core_curl_setup
    kcurl -X PATCH -H 'Content-Type: application/merge-patch+json' \
        "https://127.0.0.1:$K3CORE_PORT/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/ghost/status" \
        -d '{"status":{"currentReplicas":1,"desiredReplicas":2,"currentCPUUtilizationPercentage":33}}'
}
kcurl_status >/dev/null
[ "$($K133 get hpa ghost -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization} {.status.desiredReplicas}')" = "33 2" ] ||
    fail "v1 status in v2: $($K133 get hpa ghost -o json)"
out=$($K133 get --raw '/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers?watch=1&timeoutSeconds=1')
expect_contains "$out" '"apiVersion":"autoscaling/v1"' "v1 watch"
expect_contains "$out" '"targetCPUUtilizationPercentage":60' "v1 watch object"
expect_not_contains "$out" '"metrics"' "v1 watch object"

# managedFields: each entry names the version its manager wrote through (kubectl 1.27's autoscale:
# autoscaling/v1), and a write through the other version is compared with an entry in the
# entry's own version, as upstream converts: a v2 change of the cpu target takes v1's
# targetCPUUtilizationPercentage from its owner, a v2 apply of it conflicts with a v1 applier
entries() { # entries HPA: "manager apiVersion spec-fields;" per managedFields entry
    $1 get hpa "$2" -o json --show-managed-fields | py "' '.join('%s %s %s;' % (e['manager'], e['apiVersion'], ','.join(sorted(k[2:] for k in e['fieldsV1'].get('f:spec', {})))) for e in o['metadata']['managedFields'])"
}
$K127 autoscale deployment web --max=4 --cpu-percent=50 --name mf >/dev/null
$K127 get hpa mf -o yaml --show-managed-fields | grep -q "apiVersion: autoscaling/v1" ||
    fail "1.27 autoscale's entry: $($K127 get hpa mf -o yaml --show-managed-fields)"
out=$(entries "$K127" mf)
[ "$out" = "kubectl-autoscale autoscaling/v1 maxReplicas,minReplicas,scaleTargetRef,targetCPUUtilizationPercentage;" ] ||
    fail "1.27 autoscale's managedFields: $out"
$K133 patch hpa mf --type=json --field-manager v2patcher \
    -p '[{"op":"replace","path":"/spec/metrics/0/resource/target/averageUtilization","value":70}]' >/dev/null
out=$(entries "$K133" mf)
[ "$out" = "kubectl-autoscale autoscaling/v1 maxReplicas,minReplicas,scaleTargetRef; v2patcher autoscaling/v2 metrics;" ] ||
    fail "a v2 update of the cpu target, managedFields: $out"
cat >"$K3CORE_TMP/a1.yaml" <<'YAML'
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: mfa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
  targetCPUUtilizationPercentage: 40
YAML
cat >"$K3CORE_TMP/a2.yaml" <<'YAML'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: mfa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
YAML
$K133 apply --server-side --field-manager a1 -f "$K3CORE_TMP/a1.yaml" >/dev/null
out=$($K133 apply --server-side --field-manager a2 -f "$K3CORE_TMP/a2.yaml" 2>&1) &&
    fail "a v2 apply of a v1 applier's cpu target did not conflict"
expect_contains "$out" 'Apply failed with 1 conflict: conflict with "a1": .spec.targetCPUUtilizationPercentage' "v2 apply over v1"
$K133 apply --server-side --field-manager a2 --force-conflicts -f "$K3CORE_TMP/a2.yaml" >/dev/null
out=$(entries "$K133" mfa)
[ "$out" = "a1 autoscaling/v1 maxReplicas,scaleTargetRef; a2 autoscaling/v2 maxReplicas,metrics,scaleTargetRef;" ] ||
    fail "forced v2 apply, managedFields: $out"
$K133 delete hpa mf mfa >/dev/null
echo "ok: autoscaling v1/v2"
