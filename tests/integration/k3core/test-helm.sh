#!/bin/sh
# helm 3.17 and 4.1 (from the npm packages, cached in build/tools): install, upgrade, list and
# uninstall of a small chart without --wait. Their release Secrets travel as protobuf bodies
# (POST, PUT, and DELETE with protobuf DeleteOptions); helm 4 applies server-side.
. "$(dirname "$0")/lib.sh"
H3=$("$(dirname "$0")/get-helm.sh" 3) || fail "cannot get helm 3"
H4=$("$(dirname "$0")/get-helm.sh" 4) || fail "cannot get helm 4"
export HELM_CACHE_HOME=$K3CORE_TMP/helm/cache HELM_CONFIG_HOME=$K3CORE_TMP/helm/config
export HELM_DATA_HOME=$K3CORE_TMP/helm/data
k3core_start
K=$K133
for v in 3 4; do
    eval H=\$H$v
    rel=demo$v
    "$H" install "$rel" "$FIX/chart" >/dev/null || fail "helm $v install"
    [ "$($K get deploy "$rel-web" -o jsonpath='{.spec.replicas}')" = 1 ] ||
        fail "helm $v deployment"
    [ "$($K get cm "$rel-cfg" -o jsonpath='{.data.greeting}')" = hello ] || fail "helm $v configmap"
    "$H" upgrade "$rel" "$FIX/chart" >/dev/null || fail "helm $v upgrade"
    out=$("$H" list)
    expect_contains "$out" "$rel" "helm $v list"
    expect_contains "$(echo "$out" | grep "$rel")" "deployed" "helm $v status"
    [ "$($K get secret -l "owner=helm,name=$rel" -o name | wc -l)" = 2 ] ||
        fail "helm $v release secrets"
    "$H" uninstall "$rel" >/dev/null || fail "helm $v uninstall"
    [ -z "$($K get secret -l "owner=helm,name=$rel" -o name)" ] || fail "helm $v left its secrets"
    $K get deploy "$rel-web" >/dev/null 2>&1 && fail "helm $v left its deployment"
done
echo "helm: ok"
