#!/bin/sh
# Restart: SIGTERM exits cleanly; the second start reuses the certificates and kubeconfig
# credentials, every object survives and resourceVersions keep increasing; watches pick up
# from a resourceVersion taken before the restart; unknown flags are refused.
. "$(dirname "$0")/lib.sh"
out=$("$K3CORE_BIN" server --no-such-flag 2>&1) && fail "unknown flag accepted"
expect_contains "$out" "no-such-flag"
out=$(env -u K3S_URL "$K3CORE_BIN" agent 2>&1) && fail "agent ran without --server"
expect_contains "$out" "--server (K3S_URL) is required"

k3core_start
K=$K133
ls "$K3CORE_DATA/server/tls/server-ca.crt" "$K3CORE_DATA/server/tls/client-ca.crt" \
    "$K3CORE_DATA/server/tls/serving-kube-apiserver.crt" >/dev/null || fail "k3s tls layout"
$K create namespace keep >/dev/null
for i in 1 2 3 4 5; do $K -n keep create configmap "c$i" --from-literal=i="$i" >/dev/null; done
$K -n keep apply -f "$FIX/app.yaml" >/dev/null
rv1=$($K -n keep get cm c5 -o jsonpath='{.metadata.resourceVersion}')
lrv=$(list_rv "$K" /api/v1/namespaces/keep/configmaps)
ca1=$(cat "$K3CORE_DATA/server/tls/server-ca.crt")
k3core_stop

k3core_start
[ "$(cat "$K3CORE_DATA/server/tls/server-ca.crt")" = "$ca1" ] || fail "CA regenerated"
[ "$($K -n keep get cm -o name | grep -c '^configmap/c')" = 5 ] || fail "configmaps lost"
[ "$($K -n keep get cm c5 -o jsonpath='{.metadata.resourceVersion}')" = "$rv1" ] ||
    fail "resourceVersion changed across restart"
[ "$($K -n keep get deploy web -o jsonpath='{.spec.replicas}')" = 2 ] || fail "deployment lost"
$K -n keep create configmap after >/dev/null
rv2=$($K -n keep get cm after -o jsonpath='{.metadata.resourceVersion}')
[ "$rv2" -gt "$rv1" ] || fail "resourceVersion went backwards: $rv2 <= $rv1"
# a watch from the pre-restart list RV sees the later create
k3core_curl_setup
kcurl -N "https://127.0.0.1:$K3CORE_PORT/api/v1/namespaces/keep/configmaps?watch=true&resourceVersion=$lrv&timeoutSeconds=1" \
    >"$K3CORE_TMP/watch.out"
grep -q '"type":"ADDED".*"name":"after"' "$K3CORE_TMP/watch.out" || fail "watch after restart"
[ "$(grep -c '"type"' "$K3CORE_TMP/watch.out")" = 1 ] || fail "watch replayed more than the change"
out=$($K -n keep apply -f "$FIX/app.yaml")
expect_contains "$out" "unchanged" "apply after restart"
echo "restart: ok"
