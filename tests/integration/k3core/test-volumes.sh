#!/bin/sh
# PersistentVolumeClaims on the in-process node: the default `local-path` StorageClass (k3s's
# local-storage) provisions a hostPath volume under <data-dir>/storage for a claim once its first
# pod is scheduled; data written by one pod is read by the next; a claim binds to a fitting
# static PersistentVolume; deleting a provisioned claim deletes its volume and directory; a pod
# whose claim does not exist waits with a clear reason; a StatefulSet's volumeClaimTemplates give
# each pod a claim that outlives it.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start
is() { [ "$($K get "$1" -o jsonpath="$2" 2>/dev/null)" = "$3" ]; }

out=$($K get storageclass)
expect_contains "$out" "local-path (default)" "storage classes"
expect_contains "$out" "rancher.io/local-path" "storage classes"
expect_contains "$out" "WaitForFirstConsumer" "storage classes"

$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
YAML
wait_for "default class on the claim" is pvc/data '{.spec.storageClassName}' local-path
sleep 1
is pvc/data '{.status.phase}' Pending || fail "claim bound before its first consumer"
wait_for "WaitForFirstConsumer event" sh -c "$K get events | grep -q WaitForFirstConsumer"

pod() { # pod NAME COMMAND: a run-once busybox pod mounting claim data at /data
    $K apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  restartPolicy: Never
  volumes: [{name: d, persistentVolumeClaim: {claimName: ${3:-data}}}]
  containers:
  - {name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, '$2'],
     volumeMounts: [{name: d, mountPath: /data}]}
YAML
}
pod writer 'echo persisted > /data/f'
wait_for "writer Succeeded" is pod/writer '{.status.phase}' Succeeded
is pvc/data '{.status.phase}' Bound || fail "claim not Bound: $($K get pvc data -o yaml)"
pv=$($K get pvc data -o jsonpath='{.spec.volumeName}')
path=$($K get pv "$pv" -o jsonpath='{.spec.hostPath.path}')
case "$path" in "$K3CORE_DATA/storage/$pv"_default_data) ;; *) fail "volume path $path" ;; esac
[ "$(cat "$path/f")" = persisted ] || fail "data not in $path"
is pv/"$pv" '{.status.phase}' Bound || fail "volume not Bound"
pod reader 'cat /data/f'
wait_for "reader Succeeded" is pod/reader '{.status.phase}' Succeeded
[ "$($K logs reader)" = persisted ] || fail "reader saw: $($K logs reader)"

# a static volume that fits is bound instead of provisioning
mkdir -p "$K3CORE_TMP/static"
$K apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolume
metadata: {name: manual-1}
spec:
  storageClassName: manual
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: $K3CORE_TMP/static}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: static}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 100Mi}}
YAML
wait_for "static claim Bound" is pvc/static '{.status.phase}' Bound
is pvc/static '{.spec.volumeName}' manual-1 || fail "bound to the wrong volume"
pod static-writer 'echo s > /data/s' static
wait_for "static-writer Succeeded" is pod/static-writer '{.status.phase}' Succeeded
[ -f "$K3CORE_TMP/static/s" ] || fail "static volume not mounted"

# a pod whose claim does not exist waits and says why
pod orphan 'true' missing
wait_for "missing claim reported" sh -c "$K get events --field-selector involvedObject.name=orphan | grep -q 'persistentvolumeclaim \"missing\" not found'"
is pod/orphan '{.status.phase}' Pending || fail "pod with a missing claim is not Pending"

# deleting the provisioned claim deletes its volume and directory (reclaimPolicy Delete)
# claims and volumes carry upstream's protection finalizers: a deleted claim that a running pod
# mounts stays (Terminating) until that pod is gone, and no new pod starts on it meanwhile
expect_contains "$($K get pvc data -o jsonpath='{.metadata.finalizers}')" kubernetes.io/pvc-protection "claim finalizers"
expect_contains "$($K get pv "$pv" -o jsonpath='{.metadata.finalizers}')" kubernetes.io/pv-protection "volume finalizers"
pod holder 'sleep 3600'
wait_for "holder Running" is pod/holder '{.status.phase}' Running
$K delete pod writer reader orphan static-writer --wait=true >/dev/null
$K delete pvc data --wait=false >/dev/null
sleep 1
[ -n "$($K get pvc data -o jsonpath='{.metadata.deletionTimestamp}')" ] || fail "a claim in use went at once"
pod late 'true'
wait_for "a pod on a terminating claim says why" sh -c "$K get events --field-selector involvedObject.name=late | grep -q 'PVC is being deleted'"
is pod/late '{.status.phase}' Pending || fail "a pod started on a terminating claim"
$K delete pod holder late --grace-period=1 --wait=true >/dev/null
wait_for "claim gone with its last pod" sh -c "! $K get pvc data"
wait_for "provisioned volume deleted" sh -c "! $K get pv $pv"
[ ! -e "$path" ] || fail "volume directory $path left behind"
$K delete pvc static >/dev/null
wait_for "static volume Released" is pv/manual-1 '{.status.phase}' Released
[ -d "$K3CORE_TMP/static" ] || fail "a Retain volume's directory was removed"

# configMap (data and binaryData), secret and downwardAPI volumes: upstream's atomic layout
# (names are symlinks into ..data), and a running pod sees updates of their sources
printf 'v1' >"$K3CORE_TMP/plain"
head -c 64 /dev/urandom >"$K3CORE_TMP/blob"
$K create configmap files --from-file=plain="$K3CORE_TMP/plain" --from-file=blob="$K3CORE_TMP/blob" >/dev/null
$K create secret generic cred --from-literal=pw=s3cret >/dev/null
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: files, labels: {stage: one}}
spec:
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    volumeMounts:
    - {name: cm, mountPath: /cm}
    - {name: sec, mountPath: /sec}
    - {name: info, mountPath: /info}
  volumes:
  - {name: cm, configMap: {name: files}}
  - {name: sec, secret: {secretName: cred, defaultMode: 0400}}
  - name: info
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
YAML
$K wait --for=condition=Ready pod/files --timeout=60s >/dev/null || fail "pod files not Ready"
[ "$($K exec files -- cat /cm/plain)" = v1 ] || fail "configMap file"
$K exec files -- cat /cm/blob | cmp - "$K3CORE_TMP/blob" || fail "configMap binaryData file"
[ "$($K exec files -- cat /sec/pw)" = s3cret ] || fail "secret file"
[ "$($K exec files -- stat -L -c %a /sec/pw)" = 400 ] || fail "secret defaultMode"
[ "$($K exec files -- readlink /cm/plain)" = ..data/plain ] || fail "configMap names are not links into ..data"
expect_contains "$($K exec files -- cat /info/labels)" 'stage="one"' "downwardAPI labels"
$K create configmap files --from-literal=plain=v2 --dry-run=client -o yaml | $K replace -f - >/dev/null
$K label pod files stage=two --overwrite >/dev/null
wait_for "configMap update seen in the pod" sh -c "[ \"\$($K exec files -- cat /cm/plain)\" = v2 ]"
$K exec files -- test ! -e /cm/blob || fail "a key removed from the configMap is still there"
wait_for "label update seen in the pod" sh -c "$K exec files -- cat /info/labels | grep -q 'stage=\"two\"'"
$K delete pod files --grace-period=1 >/dev/null

# a StatefulSet's volumeClaimTemplates: each pod gets its own claim <template>-<pod> (labels from
# the template and the selector), mounted in place of nothing else; the claim outlives its pod,
# so the recreated pod finds its data; a Secret written with stringData is read through data
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: db-pw}
stringData: {password: s3cret}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, "[ -f /data/first ] || echo $HOSTNAME > /data/first; echo $PW > /data/pw; exec sleep 3600"]
        env: [{name: PW, valueFrom: {secretKeyRef: {name: db-pw, key: password}}}]
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data, labels: {tier: storage}}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Mi}}}
YAML
$K rollout status statefulset/db --timeout=90s >/dev/null || fail "rollout of db"
is pvc/data-db-0 '{.status.phase} {.metadata.labels.app} {.metadata.labels.tier}' "Bound db storage" ||
    fail "claim data-db-0: $($K get pvc data-db-0 -o yaml)"
is pvc/data-db-1 '{.status.phase}' Bound || fail "claim data-db-1"
is pod/db-1 '{.spec.volumes[0].persistentVolumeClaim.claimName}' data-db-1 || fail "db-1 volume"
[ "$($K exec db-0 -- cat /data/first /data/pw)" = "db-0
s3cret" ] || fail "db-0 data: $($K exec db-0 -- cat /data/first /data/pw)"
[ -z "$($K get secret db-pw -o jsonpath='{.stringData}')" ] || fail "stringData stored"
$K delete pod db-0 --grace-period=1 >/dev/null
wait_for "db-0 back" sh -c "[ \"\$($K get pod db-0 -o jsonpath='{.status.phase} {.metadata.deletionTimestamp}' 2>/dev/null)\" = 'Running ' ]"
$K wait --for=condition=Ready pod/db-0 --timeout=60s >/dev/null || fail "db-0 ready again"
[ "$($K exec db-0 -- cat /data/first)" = db-0 ] || fail "db-0 lost its data"
$K delete statefulset db >/dev/null
wait_for "db pods gone" sh -c "[ -z \"\$($K get pods -l app=db -o name)\" ]"
is pvc/data-db-1 '{.status.phase}' Bound || fail "claim deleted with its StatefulSet (Retain)"
$K delete pvc data-db-0 data-db-1 >/dev/null
$K delete secret db-pw >/dev/null
echo "volumes: ok"
