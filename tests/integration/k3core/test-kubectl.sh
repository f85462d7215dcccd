#!/bin/sh
# kubectl 1.27, 1.30 and 1.33 against one k3core server: discovery, Table output, output formats,
# create/apply (client- and server-side), replace conflicts, the three patch types, label,
# annotate, scale, delete -l, wait, explain, diff, server dry-run, a CRD with custom resources, and
# kubectl 1.33's protobuf bodies for `create ingress|deployment|cronjob|job`.
. "$(dirname "$0")/lib.sh"
k3core_start

suite() {
    K=$1
    ns=$2
    echo "== $($K version --client 2>/dev/null | head -1) in namespace $ns"
    $K create namespace "$ns" >/dev/null
    kn="$K -n $ns"

    out=$($K api-resources)
    expect_contains "$out" "deployments" "api-resources"
    expect_contains "$out" "deploy" "api-resources short names"
    expect_contains "$(echo "$out" | grep '^pods ')" "true" "pods are namespaced"

    out=$($kn create -f "$FIX/app.yaml")
    expect_contains "$out" "deployment.apps/web created"
    out=$($kn create -f "$FIX/app.yaml" 2>&1) && fail "second create succeeded"
    expect_contains "$out" "AlreadyExists"

    out=$($kn get deployments)
    expect_contains "$out" "NAME   READY   UP-TO-DATE   AVAILABLE   AGE" "deployment columns"
    expect_contains "$out" "web    0/2" "deployment row"
    out=$($kn get services)
    expect_contains "$out" "TYPE        CLUSTER-IP" "service columns"
    expect_contains "$out" "80/TCP" "service ports"
    out=$($kn get deploy -o wide)
    expect_contains "$out" "nginx:1.25" "wide images column"
    [ "$($kn get deploy web -o jsonpath='{.spec.replicas}')" = 2 ] || fail "jsonpath replicas"
    [ "$($kn get deploy web -o name)" = "deployment.apps/web" ] || fail "-o name"
    $kn get deploy web -o yaml | grep -q "resourceVersion:" || fail "-o yaml lacks resourceVersion"
    $kn get deploy web -o json | grep -q '"uid"' || fail "-o json lacks uid"

    $kn create configmap zz --from-literal=k=v >/dev/null
    $kn create configmap aa --from-literal=k=v >/dev/null
    out=$($kn get cm --sort-by=.metadata.name -o name | tr '\n' ' ')
    expect_contains "$out" "configmap/aa configmap/kube-root-ca.crt configmap/zz" "--sort-by"
    out=$($kn get cm)
    expect_contains "$out" "DATA" "configmap columns"

    # apply: new, unchanged, changed; server-side apply conflict and force
    $kn apply -f "$FIX/app.yaml" >/dev/null 2>&1 || true
    out=$($kn apply -f "$FIX/app.yaml")
    expect_contains "$out" "deployment.apps/web unchanged" "second apply"
    out=$($kn apply -f "$FIX/app2.yaml")
    expect_contains "$out" "deployment.apps/web configured" "apply after a change"
    [ "$($kn get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}')" = \
        "nginx:1.26" ] || fail "applied image"
    out=$($kn apply --server-side -f "$FIX/app.yaml" 2>&1) && fail "SSA conflict not reported"
    expect_contains "$out" "conflict" "server-side apply conflict"
    out=$($kn apply --server-side --force-conflicts -f "$FIX/app.yaml")
    expect_contains "$out" "serverside-applied" "server-side apply with --force-conflicts"
    [ "$($kn get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}')" = \
        "nginx:1.25" ] || fail "forced SSA image"

    # replace with a stale resourceVersion
    $kn get cm aa -o yaml >"$K3CORE_TMP/aa.yaml"
    $kn label cm aa touched=yes >/dev/null
    out=$($kn replace -f "$K3CORE_TMP/aa.yaml" 2>&1) && fail "stale replace succeeded"
    expect_contains "$out" "the object has been modified" "stale replace"

    # the three patch types, label, annotate, scale
    $kn patch deploy web -p '{"spec":{"replicas":3}}' >/dev/null
    $kn patch deploy web --type=merge -p '{"metadata":{"labels":{"m":"1"}}}' >/dev/null
    $kn patch deploy web --type=json -p '[{"op":"replace","path":"/spec/replicas","value":4}]' \
        >/dev/null
    [ "$($kn get deploy web -o jsonpath='{.spec.replicas}/{.metadata.labels.m}')" = "4/1" ] ||
        fail "patches"
    $kn label deploy web tier=front >/dev/null
    $kn annotate deploy web note=hi >/dev/null
    $kn scale deploy web --replicas=1 >/dev/null
    [ "$($kn get deploy web -o jsonpath='{.spec.replicas} {.metadata.labels.tier} {.metadata.annotations.note}')" = \
        "1 front hi" ] || fail "label/annotate/scale"
    out=$($kn get deploy --show-labels)
    expect_contains "$out" "tier=front" "--show-labels"

    # wait, dry-run, diff, explain
    $kn wait --for=jsonpath='{.spec.replicas}'=1 deploy/web --timeout=20s >/dev/null
    out=$($kn create configmap dry --from-literal=a=b --dry-run=server -o name)
    expect_contains "$out" "configmap/dry" "server dry-run"
    $kn get cm dry >/dev/null 2>&1 && fail "dry-run object was stored"
    set +e
    $kn diff -f "$FIX/app2.yaml" >"$K3CORE_TMP/diff.out" 2>&1
    rc=$?
    set -e
    [ $rc = 1 ] || fail "diff exit code $rc: $(cat "$K3CORE_TMP/diff.out")"
    grep -q "nginx:1.26" "$K3CORE_TMP/diff.out" || fail "diff output"
    out=$($K explain deployment.spec.replicas)
    expect_contains "$out" "replicas" "explain"

    # delete by label
    $kn delete cm -l touched=yes >/dev/null
    $kn get cm aa >/dev/null 2>&1 && fail "delete -l left the configmap"
    out=$($kn get cm nope 2>&1) && fail "get of a missing object succeeded"
    expect_contains "$out" 'configmaps "nope" not found'
    $kn delete -f "$FIX/app.yaml" >/dev/null
}

suite "$K127" ns127
suite "$K130" ns130
suite "$K133" ns133

# a CRD and its custom resources (1.33), with printer columns
$K133 apply -f "$FIX/crd.yaml" >/dev/null
out=$($K133 wait --for=condition=Established crd/widgets.example.com --timeout=10s)
expect_contains "$out" "condition met" "CRD Established"
out=$($K133 apply -f "$FIX/widget.yaml")
expect_contains "$out" "widget.example.com/w1 created"
out=$($K133 apply -f "$FIX/widget.yaml")
expect_contains "$out" "unchanged" "CR apply twice"
out=$($K133 get wd)
expect_contains "$out" "SIZE" "CRD printer column"
expect_contains "$out" "w1" "custom resource listed"
out=$($K127 get widgets -o jsonpath='{.items[0].spec.size}')
[ "$out" = 3 ] || fail "custom resource read by 1.27: $out"
$K133 delete widget w1 >/dev/null

# custom columns, edit through an EDITOR script, and a watch that ends by timeoutSeconds
$K133 -n ns133 create configmap ed --from-literal=v=old >/dev/null
out=$($K133 -n ns133 get cm ed -o custom-columns=N:.metadata.name,V:.data.v)
expect_contains "$(echo "$out" | tr -s " ")" "ed old" "custom columns"
cat >"$K3CORE_TMP/editor.sh" <<'ED'
#!/bin/sh
sed -i 's/v: old/v: new/' "$1"
ED
chmod +x "$K3CORE_TMP/editor.sh"
EDITOR=$K3CORE_TMP/editor.sh $K133 -n ns133 edit cm ed >/dev/null
[ "$($K133 -n ns133 get cm ed -o jsonpath='{.data.v}')" = new ] || fail "edit"
rv=$(list_rv "$K133" /api/v1/namespaces/ns133/configmaps)
$K133 -n ns133 label cm ed watched=1 >/dev/null
out=$($K133 -n ns133 get --raw \
    "/api/v1/namespaces/ns133/configmaps?watch=true&resourceVersion=$rv&timeoutSeconds=1")
expect_contains "$out" '"type":"MODIFIED"' "watch from a resourceVersion"
expect_not_contains "$out" '"type":"ADDED"' "watch from a resourceVersion"
# kubectl get -w (Table rows streamed with the watch events), with 1.27 and 1.33
for k in "$K127" "$K133"; do
    $k -n ns133 get cm -w --output-watch-events --request-timeout=4s >"$K3CORE_TMP/w.out" 2>&1 &
    wpid=$!
    i=0
    until grep -q ' ed ' "$K3CORE_TMP/w.out" 2>/dev/null || [ $i -ge 100 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    name=watched-${k##*.}
    $K133 -n ns133 create configmap "$name" >/dev/null
    i=0
    until grep -q "ADDED.*$name" "$K3CORE_TMP/w.out" 2>/dev/null || [ $i -ge 100 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    kill $wpid 2>/dev/null || true
    wait $wpid 2>/dev/null || true
    expect_contains "$(cat "$K3CORE_TMP/w.out")" "ADDED" "$k get -w"
    grep -q "ADDED.*$name" "$K3CORE_TMP/w.out" || fail "$k get -w missed the new configmap: $(cat "$K3CORE_TMP/w.out")"
done

# kubectl 1.33 sends protobuf bodies for built-in kinds with `create <kind>`; inline (embedded)
# structs such as IngressRule.ingressRuleValue must land at the outer level of the stored object
pb_create() {
    out=$($K133 -n ns133 -v=8 create "$@" 2>&1) || fail "create $*: $out"
    expect_contains "$out" "Content-Type: application/vnd.kubernetes.protobuf" "create $1 protobuf"
}
pb_create ingress demo --rule="foo.com/bar=svc:80"
out=$($K133 -n ns133 get ingress demo -o jsonpath='{.spec.rules[0].host} {.spec.rules[0].http.paths[0].path} {.spec.rules[0].http.paths[0].pathType} {.spec.rules[0].http.paths[0].backend.service.name}:{.spec.rules[0].http.paths[0].backend.service.port.number}')
[ "$out" = "foo.com /bar Exact svc:80" ] || fail "ingress rule from protobuf: $out"
$K133 -n ns133 get ingress demo -o json | grep -q ingressRuleValue && fail "ingressRuleValue stored"
[ "$($K133 -n ns133 get ingress demo -o jsonpath='{.status}')" = '{"loadBalancer":{}}' ] ||
    fail "ingress status as upstream: $($K133 -n ns133 get ingress demo -o jsonpath='{.status}')"
pb_create ingress demo2 --default-backend=def:8080 --rule="bar.com/*=svc2:http,tls=cert1"
out=$($K133 -n ns133 get ingress demo2 -o jsonpath='{.spec.defaultBackend.service.name}:{.spec.defaultBackend.service.port.number} {.spec.rules[0].host}{.spec.rules[0].http.paths[0].path} {.spec.rules[0].http.paths[0].pathType} {.spec.rules[0].http.paths[0].backend.service.port.name} {.spec.tls[0].secretName}')
[ "$out" = "def:8080 bar.com/ Prefix http cert1" ] || fail "ingress 2 from protobuf: $out"
expect_contains "$($K133 -n ns133 get ingress)" "bar.com" "ingress hosts column"
pb_create deployment pbd --image=nginx:1.25 --replicas=2 --port=80
out=$($K133 -n ns133 get deploy pbd -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.selector.matchLabels.app}')
[ "$out" = "2 nginx:1.25 80 pbd" ] || fail "deployment from protobuf: $out"
pb_create cronjob pbc --image=busybox:latest --schedule='*/5 * * * *' -- echo hi
out=$($K133 -n ns133 get cronjob pbc -o jsonpath='{.spec.schedule} {.spec.jobTemplate.spec.template.spec.containers[0].command[1]} {.spec.jobTemplate.spec.template.spec.restartPolicy}')
[ "$out" = "*/5 * * * * hi OnFailure" ] || fail "cronjob from protobuf: $out"
pb_create job pbj --image=busybox:latest -- echo hi
out=$($K133 -n ns133 get job pbj -o jsonpath='{.spec.template.spec.containers[0].command[0]} {.spec.template.spec.restartPolicy}')
[ "$out" = "echo Never" ] || fail "job from protobuf: $out"
pb_create job pbj2 --from=cronjob/pbc
out=$($K133 -n ns133 get job pbj2 -o jsonpath='{.metadata.ownerReferences[0].name} {.spec.template.spec.containers[0].image}')
[ "$out" = "pbc busybox:latest" ] || fail "job from cronjob (protobuf): $out"
$K133 -n ns133 delete ingress demo demo2 >/dev/null
$K133 -n ns133 delete deploy pbd >/dev/null
# the jobs first: pbj2 is owned by pbc, and the garbage collector may remove it once pbc is gone
$K133 -n ns133 delete job pbj pbj2 >/dev/null
$K133 -n ns133 delete cronjob pbc >/dev/null

# quantities are stored in upstream's canonical form (a YAML number becomes a string)
out=$($K133 create --dry-run=server -o jsonpath='{.spec.containers[0].resources.limits.cpu} {.spec.containers[0].resources.limits.memory} {.spec.containers[0].resources.requests.cpu}' -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: qty, namespace: ns133}
spec:
  containers:
  - name: c
    image: busybox
    resources:
      limits: {cpu: 1000m, memory: 0.5Gi}
      requests: {cpu: 0.25}
YAML
)
[ "$out" = "1 512Mi 250m" ] || fail "canonical quantities: $out"

# server-side apply by several managers, as upstream's structured merge: fields are compared
# leaf by leaf (a second applier touching one container field does not conflict over the
# others), defaulted fields belong to nobody, a co-owner of equal values is recorded, a field
# its last applier drops is removed and defaulted again, an update without ?fieldManager is
# recorded under the User-Agent's name, a scale write as subresource "scale"
ssa() { $K133 -n ns133 apply --server-side --field-manager "$@" 2>&1; }
owned() { # owned MANAGER: the field paths that manager's managedFields entry lists
    $K133 -n ns133 get deploy ssa -o json --show-managed-fields | python3 -c '
import json, sys
def walk(node, path):
    for k, v in sorted(node.items()):
        if k == ".":
            continue
        p = path + "." + k[2:] if k[0] == "f" else path + "[" + k[2:] + "]"
        if v and set(v) != {"."}:
            walk(v, p)
        else:
            print(p)
for e in json.load(sys.stdin)["metadata"]["managedFields"]:
    if e["manager"] == sys.argv[1]:
        walk(e["fieldsV1"], "")' "$1" | tr '\n' ' '
}
cat >"$K3CORE_TMP/ssa1.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: ssa}
spec:
  replicas: 2
  selector: {matchLabels: {app: ssa}}
  template:
    metadata: {labels: {app: ssa}}
    spec:
      containers: [{name: c, image: "busybox:1.36"}]
YAML
cat >"$K3CORE_TMP/ssa2.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: ssa}
spec:
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
  template:
    spec:
      containers: [{name: c, imagePullPolicy: Always}]
YAML
head -5 "$K3CORE_TMP/ssa2.yaml" >"$K3CORE_TMP/ssa2b.yaml"
out=$(ssa m1 -f "$K3CORE_TMP/ssa1.yaml") || fail "SSA m1: $out"
out=$(ssa m2 -f "$K3CORE_TMP/ssa2.yaml") || fail "SSA m2 over defaulted fields: $out"
get_ssa() { $K133 -n ns133 get deploy ssa -o jsonpath="$1"; }
[ "$(get_ssa '{.spec.strategy.rollingUpdate.maxSurge} {.spec.strategy.rollingUpdate.maxUnavailable} {.spec.template.spec.containers[0].imagePullPolicy}')" = "1 25% Always" ] ||
    fail "m2's apply: $(get_ssa '{.spec}')"
rv=$(get_ssa '{.metadata.resourceVersion}')
out=$(ssa m1 -f "$K3CORE_TMP/ssa1.yaml") || fail "SSA m1 again: $out"
[ "$(get_ssa '{.metadata.resourceVersion} {.spec.template.spec.containers[0].imagePullPolicy}')" = "$rv Always" ] ||
    fail "m1's unchanged re-apply wrote or reverted: $(get_ssa '{.metadata.resourceVersion} {.spec}')"
[ "$(owned m1)" = '.spec.replicas .spec.selector.matchLabels.app .spec.template.metadata.labels.app .spec.template.spec.containers[{"name":"c"}].image .spec.template.spec.containers[{"name":"c"}].name ' ] ||
    fail "m1 owns: $(owned m1)"
[ "$(owned m2)" = '.spec.strategy.rollingUpdate.maxSurge .spec.strategy.type .spec.template.spec.containers[{"name":"c"}].imagePullPolicy .spec.template.spec.containers[{"name":"c"}].name ' ] ||
    fail "m2 owns: $(owned m2)"
sed 's/Always/Never/' "$K3CORE_TMP/ssa2.yaml" >"$K3CORE_TMP/ssa3.yaml"
out=$(ssa m3 -f "$K3CORE_TMP/ssa3.yaml") && fail "SSA m3 took m2's fields without a conflict"
# (equal strategy values are shared with m2, not conflicts)
expect_contains "$out" 'Apply failed with 1 conflict: conflict with "m2": .spec.template.spec.containers[name="c"].imagePullPolicy' "m3's conflict"
out=$(ssa m2 -f "$K3CORE_TMP/ssa2b.yaml") || fail "SSA m2 without the container: $out"
[ "$(get_ssa '{.spec.template.spec.containers[0].imagePullPolicy} {.spec.strategy.rollingUpdate.maxSurge}')" = "IfNotPresent 1" ] ||
    fail "a dropped field is defaulted again: $(get_ssa '{.spec}')"
out=$(ssa m4 -f "$K3CORE_TMP/ssa1.yaml") || fail "SSA m4 co-owning equal values: $out"
[ "$(owned m4)" = "$(owned m1)" ] || fail "m4 co-owns: $(owned m4)"
$K133 -n ns133 scale deploy ssa --replicas=3 >/dev/null
[ "$(owned kubectl.1.33)" = ".spec.replicas " ] || fail "scale's manager owns: $(owned kubectl.1.33)"
out=$($K133 -n ns133 get deploy ssa --show-managed-fields \
    -o jsonpath='{.metadata.managedFields[?(@.manager=="kubectl.1.33")].subresource}')
[ "$out" = scale ] || fail "scale entry: $out"
out=$(ssa m1 -f "$K3CORE_TMP/ssa1.yaml") && fail "SSA m1 over the scaled replicas without a conflict"
expect_contains "$out" 'Apply failed with 1 conflict: conflict with "kubectl.1.33" with subresource "scale" using apps/v1: .spec.replicas' "m1's conflict"
$K133 -n ns133 delete deploy ssa >/dev/null
# componentstatuses (deprecated, still used as a health check): all healthy, with the warning
for k in $K127 $K133; do
    out=$($k get componentstatuses 2>&1)
    expect_contains "$out" "Warning: v1 ComponentStatus is deprecated in v1.19+" "$k get cs"
    expect_contains "$out" "scheduler            Healthy   ok" "$k get cs"
    expect_contains "$out" "controller-manager   Healthy   ok" "$k get cs"
    expect_contains "$out" 'etcd-0               Healthy   {"health":"true","reason":""}' "$k get cs"
done
out=$($K133 get cs nope 2>&1) && fail "componentstatus nope found"
expect_contains "$out" 'componentstatuses "nope" not found' "get cs nope"

# namespaces that finish terminating
$K133 delete namespace ns127 --timeout=60s >/dev/null
$K133 get namespace ns127 >/dev/null 2>&1 && fail "namespace ns127 still present"
echo "kubectl suites: ok"
