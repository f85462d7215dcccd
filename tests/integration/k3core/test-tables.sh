#!/bin/sh
# `kubectl get` tables of the kinds beyond pods and workloads: one object each of HPAs, PDBs,
# network policies, resource quotas, endpoint slices, pod templates, RCs, controller revisions,
# roles and (cluster) role bindings, limit ranges, priority classes, runtime classes, ingress
# classes, CSI drivers and nodes, volume attachments, flow control, admission policies and
# webhooks, CSRs and APIServices, created with kubectl 1.33; each header line is compared
# exactly and each row cell by cell (ages as a pattern), -o wide for bindings and RCs, and
# kubectl 1.27 reads the HPA and role binding tables.
. "$(dirname "$0")/lib.sh"
k3core_start
K=$K133
kn="$K -n tables"

# check_table OUTPUT HEADER ROW-NAME CELLS: the header line is HEADER exactly; the row whose
# first cell is ROW-NAME has CELLS ("|"-separated; "~age" matches an age such as 5s, "~date" an
# RFC 3339 time), cells cut at the header's column starts.
check_table() {
    python3 - "$1" "$2" "$3" "$4" <<'PY' || fail "$K get: table of $3"
import re, sys
out, header, name, cells = sys.argv[1:5]
lines = out.split("\n")
if lines[0] != header:
    sys.exit("header %r, expected %r" % (lines[0], header))
starts = [m.start() for m in re.finditer(r"\S+( \S+)*", header)]
rows = [l for l in lines[1:] if l.split(" ", 1)[0] == name]
if len(rows) != 1:
    sys.exit("no row %s in %r" % (name, out))
got = [rows[0][a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
want = cells.split("|")
pats = {"~age": r"[0-9]+[smh]", "~date": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"}
ok = len(got) == len(want) and all(
    re.fullmatch(pats[w], g) if w in pats else g == w for g, w in zip(got, want))
if not ok:
    sys.exit("row %r, expected %r" % (got, want))
PY
}

$K create namespace tables >/dev/null
$kn create -f "$FIX/tables.yaml" >/dev/null
$K create -f "$FIX/tables-cluster.yaml" >/dev/null

out=$($kn get hpa)
H="NAME          REFERENCE        TARGETS                                                   MINPODS   MAXPODS   REPLICAS   AGE"
check_table "$out" "$H" hpa-default "hpa-default|Deployment/web|cpu: <unknown>/80%|1|3|0|~age"
check_table "$out" "$H" hpa-multi \
    "hpa-multi|StatefulSet/db|cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more...|2|10|0|~age"
out=$($K127 -n tables get hpa)
check_table "$out" "$H" hpa-default "hpa-default|Deployment/web|cpu: <unknown>/80%|1|3|0|~age"
# an autoscaling/v1 HPA written by kubectl 1.27, read by 1.33
$K127 -n tables create -f - >/dev/null <<YAML
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: hpa-v1}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
  targetCPUUtilizationPercentage: 60
YAML
out=$($kn get hpa hpa-v1)
check_table "$out" "NAME     REFERENCE        TARGETS              MINPODS   MAXPODS   REPLICAS   AGE" \
    hpa-v1 "hpa-v1|Deployment/web|cpu: <unknown>/60%|1|4|0|~age"

out=$($kn get pdb)
H="NAME      MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE"
check_table "$out" "$H" pdb-min "pdb-min|1|N/A|0|~age"
check_table "$out" "$H" pdb-max "pdb-max|N/A|25%|0|~age"

out=$($kn get networkpolicies)
H="NAME     POD-SELECTOR                      AGE"
check_table "$out" "$H" np-web "np-web|app=web,!canary,tier in (be,fe)|~age"
check_table "$out" "$H" np-all "np-all|<none>|~age"

$kn patch quota quota --subresource=status --type=merge -p '{"status":{"hard":{"requests.cpu":"1",
    "requests.memory":"1Gi","limits.cpu":"2","pods":"10"},"used":{"requests.cpu":"500m","pods":"3"}}}' \
    >/dev/null
out=$($kn get quota)
H="NAME    REQUEST                                                    LIMIT             AGE"
check_table "$out" "$H" quota \
    "quota|pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi|limits.cpu: 0/2|~age"

out=$($kn get endpointslices es-web)
H="NAME     ADDRESSTYPE   PORTS      ENDPOINTS                                AGE"
check_table "$out" "$H" es-web "es-web|IPv4|80,https|10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...|~age"

out=$($kn get podtemplates)
check_table "$out" "NAME   CONTAINERS   IMAGES                    POD LABELS" pt \
    "pt|web,side|nginx:1.25,busybox:1.36|a=1,b=2"

out=$($kn get rc -o wide)
check_table "$out" "NAME   DESIRED   CURRENT   READY   AGE   CONTAINERS   IMAGES       SELECTOR" rc \
    "rc|0|0|0|~age|web|nginx:1.25|app=rc"

$kn create configmap owner >/dev/null
uid=$($kn get cm owner -o jsonpath='{.metadata.uid}')
$kn create -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: cr1
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: $uid, controller: true}]
revision: 3
YAML
out=$($kn get controllerrevisions)
check_table "$out" "NAME   CONTROLLER        REVISION   AGE" cr1 "cr1|configmap/owner|3|~age"

# no printer upstream: NAME and CREATED AT
$kn create role r1 --verb=get --resource=pods >/dev/null
check_table "$($kn get roles)" "NAME   CREATED AT" r1 "r1|~date"
check_table "$($kn get limitranges)" "NAME     CREATED AT" limits "limits|~date"
$kn create serviceaccount sa1 >/dev/null
$kn create rolebinding rb1 --role=r1 --user=alice --user=bob --group=devs \
    --serviceaccount=tables:sa1 >/dev/null
H="NAME   ROLE      AGE   USERS        GROUPS   SERVICEACCOUNTS"
check_table "$($kn get rolebindings -o wide)" "$H" rb1 "rb1|Role/r1|~age|alice, bob|devs|tables/sa1"
check_table "$($K127 -n tables get rolebindings -o wide)" "$H" rb1 \
    "rb1|Role/r1|~age|alice, bob|devs|tables/sa1"
check_table "$($kn get rolebindings)" "NAME   ROLE      AGE" rb1 "rb1|Role/r1|~age"
$K create clusterrolebinding tables-crb --clusterrole=view --group=g1 >/dev/null
out=$($K get clusterrolebinding tables-crb -o wide)
check_table "$out" "NAME         ROLE               AGE   USERS   GROUPS   SERVICEACCOUNTS" \
    tables-crb "tables-crb|ClusterRole/view|~age||g1|"

out=$($K get priorityclass tables-high)
check_table "$out" "NAME          VALUE   GLOBAL-DEFAULT   AGE   PREEMPTIONPOLICY" tables-high \
    "tables-high|1000|false|~age|PreemptLowerPriority"
check_table "$($K get runtimeclass tables-rc)" "NAME        HANDLER   AGE" tables-rc \
    "tables-rc|runc|~age"
out=$($K get ingressclass tables-ic)
check_table "$out" "NAME        CONTROLLER            PARAMETERS                             AGE" \
    tables-ic "tables-ic|example.com/ingress|IngressParameters.k8s.example.com/p1|~age"
out=$($K get csidriver tables.csi.example.com)
H="NAME                     ATTACHREQUIRED   PODINFOONMOUNT   STORAGECAPACITY   TOKENREQUESTS   REQUIRESREPUBLISH   MODES        AGE"
check_table "$out" "$H" tables.csi.example.com \
    "tables.csi.example.com|true|false|false|<unset>|false|Persistent|~age"
check_table "$($K get csinode tables-node)" "NAME          DRIVERS   AGE" tables-node \
    "tables-node|1|~age"
out=$($K get volumeattachment tables-va)
check_table "$out" "NAME        ATTACHER                 PV    NODE    ATTACHED   AGE" tables-va \
    "tables-va|tables.csi.example.com|pv1|node1|false|~age"
out=$($K get prioritylevelconfiguration tables-pl)
H="NAME        TYPE      NOMINALCONCURRENCYSHARES   QUEUES   HANDSIZE   QUEUELENGTHLIMIT   AGE"
check_table "$out" "$H" tables-pl "tables-pl|Limited|5|16|4|20|~age"
out=$($K get flowschema tables-fs)
H="NAME        PRIORITYLEVEL   MATCHINGPRECEDENCE   DISTINGUISHERMETHOD   AGE   MISSINGPL"
check_table "$out" "$H" tables-fs "tables-fs|tables-pl|500|ByUser|~age|?"
# the cells above read stored values: upstream's SetDefaults_* run at every write, so -o json,
# dry-run and server-side apply show them too
spec_of() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[sys.argv[1]], sort_keys=True))' "$1"; }
out=$($K get csidriver tables.csi.example.com -o json | spec_of spec)
[ "$out" = '{"attachRequired": true, "fsGroupPolicy": "ReadWriteOnceWithFSType", "podInfoOnMount": false, "requiresRepublish": false, "seLinuxMount": false, "storageCapacity": false, "volumeLifecycleModes": ["Persistent"]}' ] ||
    fail "stored CSIDriver defaults: $out"
[ "$($K get priorityclass tables-high -o jsonpath='{.preemptionPolicy}')" = PreemptLowerPriority ] ||
    fail "stored PriorityClass default: $($K get priorityclass tables-high -o yaml)"
cat >"$K3CORE_TMP/pl-def.yaml" <<'YAML'
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: tables-pl-def}
spec:
  type: Limited
  limited: {limitResponse: {type: Queue, queuing: {}}}
YAML
out=$($K create --dry-run=server -o json -f "$K3CORE_TMP/pl-def.yaml" | spec_of spec)
[ "$out" = '{"limited": {"lendablePercent": 0, "limitResponse": {"queuing": {"handSize": 8, "queueLengthLimit": 50, "queues": 64}, "type": "Queue"}, "nominalConcurrencyShares": 30}, "type": "Limited"}' ] ||
    fail "PriorityLevelConfiguration defaults in a dry run: $out"
$K apply --server-side -f "$K3CORE_TMP/pl-def.yaml" >/dev/null
check_table "$($K get prioritylevelconfiguration tables-pl-def)" \
    "NAME            TYPE      NOMINALCONCURRENCYSHARES   QUEUES   HANDSIZE   QUEUELENGTHLIMIT   AGE" \
    tables-pl-def "tables-pl-def|Limited|30|64|8|50|~age"
$K apply --server-side -f - >/dev/null <<'YAML'
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: tables-fs-def}
spec:
  priorityLevelConfiguration: {name: tables-pl-def}
YAML
[ "$($K get flowschema tables-fs-def -o jsonpath='{.spec.matchingPrecedence}')" = 1000 ] ||
    fail "stored FlowSchema default: $($K get flowschema tables-fs-def -o yaml)"
check_table "$($K get flowschema tables-fs-def)" \
    "NAME            PRIORITYLEVEL   MATCHINGPRECEDENCE   DISTINGUISHERMETHOD   AGE   MISSINGPL" \
    tables-fs-def "tables-fs-def|tables-pl-def|1000|<none>|~age|?"
$K delete flowschema tables-fs-def >/dev/null
$K delete prioritylevelconfiguration tables-pl-def >/dev/null
out=$($K get validatingadmissionpolicy tables-vap)
check_table "$out" "NAME         VALIDATIONS   PARAMKIND      AGE" tables-vap \
    "tables-vap|1|v1/ConfigMap|~age"
out=$($K get validatingadmissionpolicybinding tables-vapb)
check_table "$out" "NAME          POLICYNAME   PARAMREF        AGE" tables-vapb \
    "tables-vapb|tables-vap|tables/params|~age"
out=$($K get validatingwebhookconfiguration tables-vwc)
check_table "$out" "NAME         WEBHOOKS   AGE" tables-vwc "tables-vwc|1|~age"
out=$($K get apiservice v1.tables.example.com)
check_table "$out" "NAME                    SERVICE   AVAILABLE   AGE" v1.tables.example.com \
    "v1.tables.example.com|Local|Unknown|~age"

# a CSR names its requestor and shows its approval
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=tables-user \
    -keyout "$K3CORE_TMP/csr.key" -out "$K3CORE_TMP/csr.pem" 2>/dev/null
$K create -f - >/dev/null <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: tables-csr}
spec:
  request: $(base64 -w0 "$K3CORE_TMP/csr.pem")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  username: forged
  usages: [client auth]
YAML
H="NAME         AGE   SIGNERNAME                            REQUESTOR      REQUESTEDDURATION   CONDITION"
check_table "$($K get csr tables-csr)" "$H" tables-csr \
    "tables-csr|~age|kubernetes.io/kube-apiserver-client|system:admin|24h|Pending"
$K certificate approve tables-csr >/dev/null
check_table "$($K get csr tables-csr)" "$H" tables-csr \
    "tables-csr|~age|kubernetes.io/kube-apiserver-client|system:admin|24h|Approved"

$K delete -f "$FIX/tables-cluster.yaml" >/dev/null
$K delete csr tables-csr >/dev/null
$K delete clusterrolebinding tables-crb >/dev/null
$K delete namespace tables --timeout=60s >/dev/null
echo "tables: ok"
