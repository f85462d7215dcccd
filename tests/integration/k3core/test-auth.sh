#!/bin/sh
# Authentication, authorization and request errors: anonymous 401, ServiceAccount tokens
# (TokenRequest and legacy token Secrets) with RBAC, impersonation (--as, --as-group), users
# from approved CertificateSigningRequests, auth can-i/whoami (protobuf bodies from kubectl
# 1.33), kubectl 1.33 typed `create` commands (protobuf), and bad input → 400/404/413/422.
. "$(dirname "$0")/lib.sh"
k3core_start
k3core_curl_setup
base=https://127.0.0.1:$K3CORE_PORT

# anonymous → 401 Status; health stays public
code=$(curl -sk -o "$K3CORE_TMP/anon.json" -w '%{http_code}' "$base/api/v1/namespaces")
[ "$code" = 401 ] || fail "anonymous request got $code"
expect_contains "$(cat "$K3CORE_TMP/anon.json")" '"reason":"Unauthorized"'
[ "$(curl -sk "$base/healthz")" = ok ] || fail "healthz"
# single checks (kubectl get --raw /readyz/etcd): ok, 404 for an unknown one
for c in healthz/etcd livez/ping readyz/poststarthook/rbac/bootstrap-roles; do
    [ "$($K133 get --raw "/$c")" = ok ] || fail "/$c"
done
out=$($K133 get --raw /livez/nope 2>&1) && fail "/livez/nope answered: $out"

# kubectl 1.33 typed creates send protobuf bodies
K=$K133
$K create namespace pb >/dev/null
$K -n pb create configmap cm1 --from-literal=a=b --from-file=bin=/bin/true >/dev/null
[ "$($K -n pb get cm cm1 -o jsonpath='{.data.a}')" = b ] || fail "protobuf configmap data"
$K -n pb get cm cm1 -o jsonpath='{.binaryData.bin}' | base64 -d | cmp - /bin/true ||
    fail "protobuf binaryData round trip"
$K -n pb create secret generic s1 --from-literal=pw=x >/dev/null
[ "$($K -n pb get secret s1 -o jsonpath='{.data.pw}')" = eA== ] || fail "protobuf secret"
$K -n pb create deployment d1 --image=nginx --replicas=2 >/dev/null
[ "$($K -n pb get deploy d1 -o jsonpath='{.spec.replicas}')" = 2 ] || fail "protobuf deployment"
# Go's zero non-pointer scalars stay out of the object as upstream's JSON leaves them out (a
# pointer's zero stays: replicas 0), so rollout undo finds the old ReplicaSet's template again
$K -n pb create deployment d0 --image=busybox --port=80 --replicas=0 >/dev/null
out=$($K -n pb get deploy d0 -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["spec"]; t=s["template"]; c=t["spec"]["containers"][0]; print(s["replicas"], sorted(k for k in ("paused","minReadySeconds") if k in s), sorted(k for k in ("generation",) if k in t["metadata"]), sorted(k for k in ("hostNetwork","hostPID","hostIPC") if k in t["spec"]), sorted(k for k in ("stdin","stdinOnce","tty") if k in c), c["ports"])')
[ "$out" = "0 [] [] [] [] [{'containerPort': 80, 'protocol': 'TCP'}]" ] || fail "zero scalars from protobuf: $out"
$K -n pb set image deployment/d0 busybox=busybox:1.36 >/dev/null
wait_for "second ReplicaSet of d0" sh -c "[ \$($K -n pb get rs -l app=d0 -o name | wc -l) = 2 ]"
$K -n pb rollout undo deployment/d0 >/dev/null
wait_for "undo of d0 at revision 3" sh -c "[ \"\$($K -n pb get deploy d0 -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')\" = 3 ]"
[ "$($K -n pb get rs -l app=d0 -o name | wc -l)" = 2 ] || fail "rollout undo made a new ReplicaSet"
out=$($K auth can-i create pods)
[ "$out" = yes ] || fail "admin can-i: $out"
out=$($K auth whoami)
expect_contains "$out" "system:admin" "whoami"
expect_contains "$out" "system:masters" "whoami groups"

# ServiceAccount token: authenticates, RBAC decides
$K -n pb create serviceaccount bob >/dev/null
tok=$($K -n pb create token bob)
ca=$(grep certificate-authority-data "$KUBECONFIG" | awk '{print $2}')
cat >"$K3CORE_TMP/bob.yaml" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster: {certificate-authority-data: $ca, server: "$base"}
  name: c
contexts:
- context: {cluster: c, user: bob, namespace: pb}
  name: c
current-context: c
users:
- name: bob
  user: {token: "$tok"}
KC
B="$K --kubeconfig $K3CORE_TMP/bob.yaml"
# jwt_claim TOKEN EXPR: a python expression over the token's claims c
jwt_claim() {
    python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; c=json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4))); print(eval(sys.argv[2]))' "$1" "$2"
}
[ "$(jwt_claim "$tok" 'c["exp"]-c["iat"]')" = 3600 ] || fail "default token lifetime"
# a pod's token asked for the kubelet's 3607 s is extended to a year (upstream's default)
$K -n pb run holder --image=busybox --restart=Never >/dev/null
ptok=$($K -n pb create token bob --duration=3607s --bound-object-kind=Pod --bound-object-name=holder)
[ "$(jwt_claim "$ptok" 'c["exp"]-c["iat"]')" = 31536000 ] || fail "pod token not extended"
[ "$(jwt_claim "$ptok" 'c["kubernetes.io"]["warnafter"]-c["iat"]')" = 3607 ] || fail "warnafter"
[ "$(jwt_claim "$ptok" 'c["kubernetes.io"]["pod"]["name"]')" = holder ] || fail "bound pod claim"
expect_contains "$($B auth whoami)" "system:serviceaccount:pb:bob" "token whoami"
[ "$($B auth can-i list pods)" = no ] || fail "bob may list pods before any binding"
out=$($B get pods 2>&1) && fail "bob listed pods without RBAC"
expect_contains "$out" "Forbidden" "RBAC denial"
$K -n pb create rolebinding bob-view --clusterrole=view --serviceaccount=pb:bob >/dev/null
[ "$($B auth can-i list pods)" = yes ] || fail "view binding not honoured"
[ "$($B auth can-i list secrets)" = no ] || fail "view must not read secrets"
[ "$($B auth can-i list pods -n default)" = no ] || fail "rolebinding leaked to another namespace"
$B get configmaps >/dev/null || fail "bob cannot list configmaps with view"
$B auth can-i --list >/dev/null || fail "can-i --list"
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${tok}x" \
    "$base/api/v1/namespaces/pb/pods")
[ "$code" = 401 ] || fail "tampered token got $code"
$B get --raw /apis >/dev/null || fail "discovery for an authenticated ServiceAccount"
# impersonation (--as): the admin acts as bob with bob's RBAC, with the ServiceAccount's groups
for k in $K127 $K133; do
    [ "$($k auth can-i list pods -n pb --as=system:serviceaccount:pb:bob)" = yes ] ||
        fail "$k --as bob: list pods"
    [ "$($k auth can-i list secrets -n pb --as=system:serviceaccount:pb:bob)" = no ] ||
        fail "$k --as bob: list secrets"
done
out=$($K auth whoami --as=system:serviceaccount:pb:bob)
expect_contains "$out" "[system:serviceaccounts system:serviceaccounts:pb system:authenticated]" \
    "whoami --as"
out=$($K -n pb get secrets --as=system:serviceaccount:pb:bob 2>&1) && fail "--as bob read secrets"
expect_contains "$out" 'User "system:serviceaccount:pb:bob" cannot list resource "secrets"' "--as denial"
[ "$($K auth can-i get nodes --as=carol)" = no ] || fail "--as carol: get nodes"
[ "$($K auth can-i get nodes --as=carol --as-group=system:masters)" = yes ] ||
    fail "--as-group system:masters"
# bob may not impersonate anyone: 403 naming what he tried
out=$($B get pods --as=carol 2>&1) && fail "bob impersonated carol"
expect_contains "$out" 'users "carol" is forbidden: User "system:serviceaccount:pb:bob" cannot impersonate resource "users" in API group "" at the cluster scope' \
    "impersonation denial"
code=$(kcurl -o /dev/null -w '%{http_code}' -H 'Impersonate-Group: x' "$base/api/v1/namespaces")
[ "$code" = 500 ] || fail "group impersonation without a user got $code"
$K delete clusterrolebinding system:discovery >/dev/null
out=$($B get --raw /openapi/v3 2>&1) && fail "non-resource path allowed without RBAC"
expect_contains "$out" "Forbidden" "non-resource RBAC"
$K -n pb delete serviceaccount bob >/dev/null
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
    "$base/api/v1/namespaces/pb/configmaps")
[ "$code" = 401 ] || fail "token of a deleted ServiceAccount got $code"

# a user from a CertificateSigningRequest: approved, signed by the client CA, usable; a request
# with a usage the signer refuses fails with SignerValidationFailure
csr() { # NAME USAGES
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$K3CORE_TMP/$1.key" -subj "/CN=$1/O=devs" -out "$K3CORE_TMP/$1.csr" 2>/dev/null
    cat <<Y
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $1}
spec:
  request: $(base64 -w0 <"$K3CORE_TMP/$1.csr")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [$2]
Y
}
csr carol "digital signature, client auth" | $K apply -f - >/dev/null
csr dave "server auth" | $K127 apply -f - >/dev/null
$K certificate approve carol >/dev/null
$K127 certificate approve dave >/dev/null
wait_for "carol issued" sh -c "$K get csr carol | grep -q 'Approved,Issued'"
$K get csr carol -o jsonpath='{.status.certificate}' | base64 -d >"$K3CORE_TMP/carol.crt"
openssl verify -CAfile "$K3CORE_DATA/server/tls/client-ca.crt" "$K3CORE_TMP/carol.crt" >/dev/null ||
    fail "carol's certificate is not from the client CA"
out=$($K --kubeconfig /dev/null --server "$base" --certificate-authority "$K3CORE_DATA/server/tls/server-ca.crt" \
    --client-certificate "$K3CORE_TMP/carol.crt" --client-key "$K3CORE_TMP/carol.key" auth whoami)
expect_contains "$out" "carol" "whoami with the issued certificate"
expect_contains "$out" "[devs system:authenticated]" "groups of the issued certificate"
wait_for "dave failed" sh -c "$K get csr dave | grep -q 'Approved,Failed'"
[ "$($K get csr dave -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}')" = \
    "invalid usage for client certificate: server auth" ] || fail "dave's failure: $($K get csr dave -o yaml)"
[ -z "$($K get csr dave -o jsonpath='{.status.certificate}')" ] || fail "dave got a certificate"
$K delete csr carol dave >/dev/null

# legacy token Secret gets token, ca.crt and namespace
$K -n pb create serviceaccount legacy >/dev/null
$K -n pb apply -f - >/dev/null <<Y
apiVersion: v1
kind: Secret
metadata:
  name: legacy-token
  annotations: {kubernetes.io/service-account.name: legacy}
type: kubernetes.io/service-account-token
Y
ltok=$($K -n pb get secret legacy-token -o jsonpath='{.data.token}' | base64 -d)
[ -n "$ltok" ] || fail "legacy token secret not filled"
[ "$($K -n pb get secret legacy-token -o jsonpath='{.data.namespace}' | base64 -d)" = pb ] ||
    fail "legacy secret namespace"
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ltok" \
    "$base/apis/authentication.k8s.io/v1/selfsubjectreviews" -X POST \
    -H 'Content-Type: application/json' \
    -d '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}')
[ "$code" = 201 ] || fail "legacy token selfsubjectreview got $code"

# bad input
code=$(kcurl -o "$K3CORE_TMP/r.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"apiVersion":' "$base/api/v1/namespaces/pb/configmaps")
[ "$code" = 400 ] || fail "malformed JSON got $code"
code=$(kcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/yaml' \
    --data-binary 'a: [b' "$base/api/v1/namespaces/pb/configmaps")
[ "$code" = 400 ] || fail "malformed YAML got $code"
code=$(kcurl -o /dev/null -w '%{http_code}' -X POST \
    -H 'Content-Type: application/vnd.kubernetes.protobuf' --data-binary 'k8s' \
    "$base/api/v1/namespaces/pb/configmaps")
[ "$code" = 400 ] || fail "malformed protobuf got $code"
code=$(kcurl -o "$K3CORE_TMP/r.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}' \
    "$base/api/v1/namespaces/pb/configmaps")
[ "$code" = 422 ] || fail "invalid name got $code"
expect_contains "$(cat "$K3CORE_TMP/r.json")" '"causes"' "422 causes"
code=$(kcurl -o /dev/null -w '%{http_code}' "$base/apis/nope.example.com/v1/things")
[ "$code" = 404 ] || fail "unknown group got $code"
out=$($K get gizmos 2>&1) && fail "unknown kind listed"
expect_contains "$out" "gizmos" "unknown resource type"
head -c 3200000 /dev/zero | tr '\0' 'a' >"$K3CORE_TMP/big"
code=$(kcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$K3CORE_TMP/big" "$base/api/v1/namespaces/pb/configmaps")
[ "$code" = 413 ] || fail "oversized body got $code"
out=$($K -n pb create -f "$FIX/bad.yaml" 2>&1) && fail "unknown field accepted under Strict"
expect_contains "$out" "bogusField" "strict field validation"
[ "$($K -n pb get cm -o name | grep -c badcm || true)" = 0 ] || fail "bad object half-stored"
echo "auth and errors: ok"
