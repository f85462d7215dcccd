#!/bin/sh
# Events served by core/v1 and events.k8s.io/v1 are one set (stored once, converted per version):
# an events.k8s.io Event shows in `kubectl get events` (1.27, 1.33) and `kubectl events`; a core
# Event reads back through events.k8s.io with the converted field names; field selectors on
# regarding.*; Table columns; upstream's validation wording on events.k8s.io create; watch and
# delete across the two APIs (python-kubernetes EventsV1Api, events-v1.py).
. "$(dirname "$0")/lib.sh"
k3core_start
K=$K133
$K create namespace evt >/dev/null
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)

cat >"$K3CORE_TMP/ev1.yaml" <<YAML
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: ev1, namespace: evt}
eventTime: "$NOW"
reportingController: example.com/my-operator
reportingInstance: my-operator-0
action: Reconcile
reason: Synced
type: Normal
note: synced via events.k8s.io
regarding: {kind: ConfigMap, name: cm1, namespace: evt, apiVersion: v1}
YAML
$K apply -f "$K3CORE_TMP/ev1.yaml" >/dev/null || fail "apply events.k8s.io/v1 Event"

for k in $K127 $K133; do
    out=$($k get events -n evt)
    expect_contains "$out" "synced via events.k8s.io" "$k get events"
    expect_contains "$out" "configmap/cm1" "$k get events"
done
out=$($K get event ev1 -n evt -o jsonpath='{.message}|{.involvedObject.name}|{.reportingComponent}')
[ "$out" = "synced via events.k8s.io|cm1|example.com/my-operator" ] ||
    fail "core view of an events.k8s.io Event: $out"
for k in $K127 $K133; do
    out=$($k events -n evt)
    expect_contains "$out" "synced via events.k8s.io" "$k events"
done
out=$($K127 get events.v1.events.k8s.io -n evt)
expect_contains "$out" "synced via events.k8s.io" "get events.events.k8s.io (Table)"
expect_contains "$out" "LAST SEEN" "get events.events.k8s.io (Table)"

# the series update client-go's events recorder sends, then read through core/v1
$K patch events.events.k8s.io ev1 -n evt --type merge \
    -p "{\"series\":{\"count\":2,\"lastObservedTime\":\"$NOW\"}}" >/dev/null ||
    fail "merge patch of an events.k8s.io Event"
out=$($K get event ev1 -n evt -o jsonpath='{.series.count}|{.message}')
[ "$out" = "2|synced via events.k8s.io" ] || fail "core view after events.k8s.io patch: $out"

# server-side apply through events.k8s.io, twice (the second is an update of the stored Event)
sed 's/name: ev1/name: ev2/' "$K3CORE_TMP/ev1.yaml" >"$K3CORE_TMP/ev2.yaml"
$K apply --server-side -f "$K3CORE_TMP/ev2.yaml" >/dev/null || fail "server-side apply (create)"
$K apply --server-side -f "$K3CORE_TMP/ev2.yaml" >/dev/null || fail "server-side apply (again)"
out=$($K get event ev2 -n evt -o jsonpath='{.message}|{.reportingInstance}')
[ "$out" = "synced via events.k8s.io|my-operator-0" ] || fail "core view after apply: $out"
$K delete events.events.k8s.io ev2 -n evt >/dev/null || fail "delete through events.k8s.io"

# a core Event read through events.k8s.io/v1
$K create -f - >/dev/null <<YAML || fail "create core Event"
apiVersion: v1
kind: Event
metadata: {name: core1, namespace: evt}
involvedObject: {kind: Pod, name: p1, namespace: evt}
reason: Started
message: started container
source: {component: kubelet, host: node1}
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:05Z"
count: 3
type: Normal
YAML
out=$($K get events.v1.events.k8s.io core1 -n evt -o jsonpath='{.note}|{.regarding.name}|{.deprecatedSource.component}|{.deprecatedCount}|{.deprecatedFirstTimestamp}|{.message}')
[ "$out" = "started container|p1|kubelet|3|2026-01-01T00:00:00Z|" ] ||
    fail "events.k8s.io view of a core Event: $out"
out=$($K get events.events.k8s.io -n evt --field-selector regarding.name=p1 -o name)
[ "$out" = "event.events.k8s.io/core1" ] || fail "field selector regarding.name: $out"
out=$($K get events.events.k8s.io -n evt --field-selector source=kubelet,regarding.apiVersion= -o name)
[ "$out" = "event.events.k8s.io/core1" ] || fail "field selector source (deprecatedSource): $out"
out=$($K get events -n evt --field-selector involvedObject.name=cm1 -o name)
[ "$out" = "event/ev1" ] || fail "field selector involvedObject.name: $out"

# validation as upstream words it
cat >"$K3CORE_TMP/bad.yaml" <<YAML
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: bad, namespace: evt}
type: Odd
deprecatedCount: 2
YAML
out=$($K create -f "$K3CORE_TMP/bad.yaml" 2>&1) && fail "invalid events.k8s.io Event accepted"
expect_contains "$out" 'eventTime: Required value' "validation"
expect_contains "$out" 'type: Invalid value: "": has invalid value: Odd' "validation"
expect_contains "$out" 'count: Invalid value: "": needs to be unset' "validation"
out=$($K get events -n evt -o name)
expect_not_contains "$out" "bad" "rejected Event"

# watch and delete across the APIs
$K create namespace evpy >/dev/null
/usr/bin/python3 "$(dirname "$0")/events-v1.py" evpy || fail "python-kubernetes EventsV1Api"
echo "ok"
