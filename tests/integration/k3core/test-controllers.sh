#!/bin/sh
# Workload controllers against `k3core server` with its in-process agent: a Deployment of busybox
# pods rolls out (kubectl rollout status), rolls to a new ReplicaSet on `set env`/`set image`,
# rolls back with `rollout undo`, scales, and takes its ReplicaSets and pods along when deleted;
# a Job runs to completion with parallelism (kubectl wait --for=condition=complete) and a failing
# one stops at BackoffLimitExceeded; a CronJob runs a missed schedule; a Service gets Endpoints
# and an EndpointSlice with the pod IPs; a StatefulSet creates db-0, db-1 in order and scales
# down from the top; a DaemonSet puts one pod on the node unless its nodeSelector excludes it.
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start

count() { $K get "$@" -o name 2>/dev/null | wc -l; }
is_count() { n=$1; shift; [ "$(count "$@")" -eq "$n" ]; }
jpath() { $K get "$1" -o jsonpath="$2" 2>/dev/null; }

wait_for "node Ready" sh -c "$K get nodes | grep -q ' Ready '"

# Jobs, a CronJob, a StatefulSet, DaemonSets and a Recreate Deployment start now and are checked after the Deployment
$K apply -f - >/dev/null <<'YAML'
apiVersion: batch/v1
kind: Job
metadata: {name: three}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["true"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "exit 3"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  completionMode: Indexed
  completions: 3
  parallelism: 3
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, 'test "$(hostname)" = "idx-$JOB_COMPLETION_INDEX"']}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: onfail}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "exit 3"]}]
YAML
$K apply -f - >/dev/null <<'YAML'
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["true"]}]
YAML
$K apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}
YAML
$K apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nowhere}
spec:
  selector: {matchLabels: {app: nowhere}}
  template:
    metadata: {labels: {app: nowhere}}
    spec:
      nodeSelector: {disk: none}
      containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent}]
YAML
$K apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: re}
spec:
  replicas: 1
  revisionHistoryLimit: 0
  strategy: {type: Recreate}
  selector: {matchLabels: {app: re}}
  template:
    metadata: {labels: {app: re}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}
YAML
past=$(date -u -d '-3 min' +%Y-%m-%dT%H:%M:00Z)
$K patch cronjob tick --subresource=status --type=merge -p "{\"status\":{\"lastScheduleTime\":\"$past\"}}" >/dev/null

# ---- Deployment: rollout, new ReplicaSet, undo, scale, delete ----
$K apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: "50%"}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"],
         ports: [{name: http, containerPort: 8080}]}
YAML
$K rollout status deployment/web --timeout=90s >/dev/null || fail "rollout of web did not finish"
out=$($K get deployment web)
expect_contains "$out" "2/2" "kubectl get deployment"
rs1=$($K get rs -l app=web -o jsonpath='{.items[0].metadata.name}')
hash=$($K get rs "$rs1" -o jsonpath='{.metadata.labels.pod-template-hash}')
[ "$rs1" = "web-$hash" ] || fail "ReplicaSet $rs1 is not web-<pod-template-hash> ($hash)"
[ "$(jpath rs/$rs1 '{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = 1 ] ||
    fail "revision annotation of $rs1"
[ "$(jpath rs/$rs1 '{.status.readyReplicas}')" = 2 ] || fail "readyReplicas of $rs1"
pods=$($K get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].name}{"\n"}{end}')
expect_contains "$pods" "$rs1-" "pod names"
expect_contains "$pods" " $rs1" "pod owners"
ev=$($K get events --field-selector involvedObject.name=$rs1 -o jsonpath='{.items[*].message}')
expect_contains "$ev" "Created pod: $rs1-" "ReplicaSet events"
ev=$($K get events --field-selector involvedObject.name=web,involvedObject.kind=Deployment -o jsonpath='{.items[*].message}')
expect_contains "$ev" "Scaled up replica set $rs1 from 0 to 2" "Deployment events"
out=$($K get deployment web -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason}')
[ "$out" = NewReplicaSetAvailable ] || fail "Progressing reason $out"

$K set image deployment/web c=docker.io/library/busybox:latest >/dev/null
$K set env deployment/web GREETING=hi >/dev/null
$K rollout status deployment/web --timeout=90s >/dev/null || fail "rollout after set image/env"
wait_for "old pods of $rs1 gone" is_count 0 pods -l pod-template-hash=$hash
[ "$(jpath rs/$rs1 '{.spec.replicas}')" = 0 ] || fail "old ReplicaSet not scaled to 0"
[ "$(jpath deployment/web '{.metadata.annotations.deployment\.kubernetes\.io/revision}')" -ge 2 ] ||
    fail "deployment revision after set image/env"
out=$($K get pods -l app=web -o jsonpath='{.items[*].spec.containers[0].env[0].value}')
[ "$out" = "hi hi" ] || fail "pods after set env: $out"
# a change-cause annotated after the rollout reaches the current ReplicaSet: rollout history
# shows it (kubectl 1.27 and 1.33)
$K annotate deployment/web kubernetes.io/change-cause="set image and env" >/dev/null
for k in $K127 $K133; do
    wait_for "$k rollout history CHANGE-CAUSE" sh -c "$k rollout history deployment/web | grep -Eq '^[0-9]+ +set image and env'"
done
out=$($K rollout history deployment/web)
expect_contains "$out" "2 " "rollout history"
$K rollout undo deployment/web --to-revision=1 >/dev/null || fail "rollout undo"
$K rollout status deployment/web --timeout=90s >/dev/null || fail "rollout after undo"
[ "$(jpath rs/$rs1 '{.spec.replicas}')" = 2 ] || fail "undo did not bring back $rs1"
rev=$(jpath rs/$rs1 '{.metadata.annotations.deployment\.kubernetes\.io/revision}')
[ "$rev" -ge 3 ] || fail "undo did not bump the revision of $rs1 ($rev)"
wait_for "only $rs1 pods" sh -c "[ \$($K get pods -l app=web -o name | wc -l) -eq 2 ] && [ \$($K get pods -l pod-template-hash=$hash -o name | wc -l) -eq 2 ]"

$K scale deployment/web --replicas=3 >/dev/null
$K rollout status deployment/web --timeout=90s >/dev/null || fail "scale up to 3"
[ "$(jpath deployment/web '{.status.availableReplicas}')" = 3 ] || fail "3 available"
$K127 scale deployment/web --replicas=1 >/dev/null || fail "kubectl 1.27 scale"
wait_for "scale down to 1" sh -c "[ \$($K get pods -l app=web --field-selector=status.phase=Running -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}x{{end}}{{end}}') = x ]"
$K127 rollout status deployment/web --timeout=60s >/dev/null || fail "kubectl 1.27 rollout status"

# Recreate: the old ReplicaSet is scaled down to 0 and a new one rolled out; the old one is
# deleted (revisionHistoryLimit 0); a paused deployment waits for resume
$K rollout status deployment/re --timeout=90s >/dev/null || fail "rollout of re"
$K set env deployment/re X=1 >/dev/null
$K rollout status deployment/re --timeout=90s >/dev/null || fail "Recreate rollout of re"
ev=$($K get events --field-selector involvedObject.name=re,involvedObject.kind=Deployment -o jsonpath='{range .items[*]}{.message}{"\n"}{end}')
expect_contains "$ev" "Scaled down replica set re-" "Recreate events"
wait_for "old ReplicaSet of re deleted (revisionHistoryLimit 0)" is_count 1 rs -l app=re
# paused: a template change waits for resume
$K rollout pause deployment/re >/dev/null
$K set env deployment/re X=2 >/dev/null
wait_for "re Progressing DeploymentPaused" sh -c "$K get deploy re -o jsonpath='{.status.conditions[?(@.type==\"Progressing\")].reason}' | grep -qx DeploymentPaused"
is_count 1 rs -l app=re || fail "paused deployment re made a new ReplicaSet"
$K rollout resume deployment/re >/dev/null
$K rollout status deployment/re --timeout=90s >/dev/null || fail "rollout of re after resume"
[ "$($K get pods -l app=re -o jsonpath='{.items[*].spec.containers[0].env[0].value}')" = 2 ] ||
    fail "re pods after resume"
$K delete deployment re >/dev/null

# ---- Service endpoints ----
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
YAML
ip=$($K get pods -l app=web -o jsonpath='{.items[0].status.podIP}')
wait_for "endpoints of web" sh -c "$K get endpoints web -o jsonpath='{.subsets[0].addresses[*].ip}' | grep -qx '$ip'"
out=$($K get endpoints web)
expect_contains "$out" "$ip:8080" "kubectl get endpoints"
out=$($K get endpointslices -l kubernetes.io/service-name=web -o jsonpath='{.items[0].endpoints[0].addresses[0]} {.items[0].ports[0].port}')
[ "$out" = "$ip 8080" ] || fail "EndpointSlice of web: $out"
[ "$(jpath endpoints/web '{.metadata.labels.endpoints\.kubernetes\.io/managed-by}')" = endpoint-controller ] ||
    fail "managed-by label on Endpoints"
# an unnamed port (kubectl expose): the slice port's name is "" as upstream writes it, which
# kubectl 1.33 describe dereferences (it crashed on a missing name)
$K expose deployment web --name=webx --port=81 --target-port=8080 >/dev/null
wait_for "slice of webx" sh -c "$K get endpointslices -l kubernetes.io/service-name=webx -o jsonpath='{.items[0].endpoints[0].addresses[0]}' | grep -qx '$ip'"
[ "$($K get endpointslices -l kubernetes.io/service-name=webx -o jsonpath='{.items[0].ports[0].name}')" = "" ] ||
    fail "slice port name of webx"
$K get endpointslices -l kubernetes.io/service-name=webx -o json | grep -q '"name": ""' ||
    fail "no empty slice port name for webx"
for k in $K127 $K130 $K133; do
    out=$($k describe service webx 2>&1) || fail "$k describe service webx: $out"
    expect_contains "$out" "$ip:8080" "$k describe service webx"
done
$K delete service webx >/dev/null

$K delete deployment web --wait=false >/dev/null
wait_for "ReplicaSets of web gone" is_count 0 rs -l app=web
wait_for "pods of web gone" is_count 0 pods -l app=web
wait_for "endpoints of web emptied" sh -c "[ -z \"\$($K get endpoints web -o jsonpath='{.subsets}')\" ]"
$K delete service web >/dev/null
wait_for "endpoints of web deleted" sh -c "! $K get endpoints web"

# ---- Jobs ----
$K wait --for=condition=complete job/three --timeout=90s >/dev/null || fail "job three did not complete"
[ "$(jpath job/three '{.status.succeeded}')" = 3 ] || fail "succeeded of job three"
[ -n "$(jpath job/three '{.status.completionTime}')" ] || fail "completionTime of job three"
is_count 3 pods -l batch.kubernetes.io/job-name=three || fail "job three should have 3 pods"
[ "$(jpath job/three '{.spec.template.metadata.labels.batch\.kubernetes\.io/job-name}')" = three ] ||
    fail "job-name label in the template of job three"
out=$($K get job three)
expect_contains "$out" "3/3" "kubectl get job"
$K wait --for=condition=failed job/bad --timeout=90s >/dev/null || fail "job bad did not fail"
out=$(jpath job/bad '{.status.conditions[?(@.type=="Failed")].reason}')
[ "$out" = BackoffLimitExceeded ] || fail "job bad failed with $out"
[ "$(jpath job/bad '{.status.failed}')" = 1 ] || fail "failed count of job bad"
# Indexed: each pod knows its index (hostname and JOB_COMPLETION_INDEX agree, or it fails)
$K wait --for=condition=complete job/idx --timeout=90s >/dev/null || fail "indexed job idx"
[ "$(jpath job/idx '{.status.completedIndexes} {.status.failed}')" = "0-2 0" ] ||
    fail "completedIndexes of idx: $(jpath job/idx '{.status}')"
# OnFailure: container restarts count against backoffLimit
$K wait --for=condition=failed job/onfail --timeout=90s >/dev/null || fail "job onfail did not fail"
out=$(jpath job/onfail '{.status.conditions[?(@.type=="Failed")].reason}')
[ "$out" = BackoffLimitExceeded ] || fail "job onfail failed with $out"
$K delete job three bad onfail idx >/dev/null
wait_for "job pods gone" is_count 0 pods -l 'batch.kubernetes.io/job-name in (three,bad,onfail,idx)'

# ---- CronJob: a bad schedule is refused; a missed run (lastScheduleTime in the past) starts ----
if out=$($K create cronjob nope --image=busybox:latest --schedule='61 * * * *' 2>&1); then
    fail "schedule '61 * * * *' accepted"
fi
expect_contains "$out" 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59)'
wait_for "a job of cronjob tick" sh -c "$K get jobs -o jsonpath='{.items[*].metadata.ownerReferences[0].name}' | grep -q tick"
job=$($K get jobs -o jsonpath='{.items[0].metadata.name}')
expect_contains "$job" "tick-" "CronJob's job name"
$K wait --for=condition=complete "job/$job" --timeout=60s >/dev/null || fail "job $job of tick"
wait_for "lastSuccessfulTime of tick" sh -c "[ -n \"\$($K get cronjob tick -o jsonpath='{.status.lastSuccessfulTime}')\" ]"
[ "$(jpath cronjob/tick '{.status.lastScheduleTime}')" != "$past" ] || fail "lastScheduleTime not moved"
$K delete cronjob tick >/dev/null
wait_for "jobs of tick gone" is_count 0 jobs

# ---- StatefulSet: ordered pods db-0, db-1; scale down removes the highest ordinal ----
$K rollout status statefulset/db --timeout=90s >/dev/null || fail "rollout of statefulset db"
[ "$(jpath pod/db-0 '{.spec.hostname}.{.spec.subdomain}')" = db-0.db ] || fail "hostname of db-0"
[ "$(jpath pod/db-1 '{.metadata.labels.apps\.kubernetes\.io/pod-index}')" = 1 ] || fail "pod-index"
t0=$(jpath pod/db-0 '{.metadata.creationTimestamp}')
t1=$(jpath pod/db-1 '{.metadata.creationTimestamp}')
[ "$(jpath pod/db-1 '{.status.conditions[?(@.type=="Ready")].status}')" = True ] || fail "db-1 Ready"
ev=$($K get events --field-selector involvedObject.name=db -o jsonpath='{.items[*].message}')
expect_contains "$ev" "create Pod db-1 in StatefulSet db successful" "StatefulSet events"
out=$($K rollout history statefulset/db)
expect_contains "$out" "1 " "rollout history of statefulset db"
$K scale statefulset db --replicas=1 >/dev/null
wait_for "db-1 gone" sh -c "! $K get pod db-1"
$K get pod db-0 >/dev/null || fail "db-0 went away on scale down"
[ "$(jpath statefulset/db '{.status.replicas}')" = 1 ] || fail "status.replicas of db"
$K delete statefulset db >/dev/null
wait_for "pods of db gone" is_count 0 pods -l app=db

# ---- DaemonSet: one pod on the node; none where the nodeSelector does not match ----
$K rollout status daemonset/agent --timeout=90s >/dev/null || fail "rollout of daemonset agent"
out=$($K get pods -l app=agent -o jsonpath='{.items[*].spec.nodeName}')
[ "$out" = vm ] || fail "daemonset agent pods on: $out"
[ "$(jpath ds/agent '{.status.desiredNumberScheduled} {.status.numberReady}')" = "1 1" ] ||
    fail "status of daemonset agent"
[ "$(jpath ds/nowhere '{.status.desiredNumberScheduled}')" = 0 ] || fail "nowhere desired"
$K set env daemonset/agent X=1 >/dev/null
$K rollout status daemonset/agent --timeout=90s >/dev/null || fail "rollout of agent after set env"
[ "$($K get pods -l app=agent -o jsonpath='{.items[*].spec.containers[0].env[0].value}')" = 1 ] ||
    fail "agent pod not replaced after set env"
$K rollout undo daemonset/agent >/dev/null || fail "rollout undo daemonset/agent"
$K rollout status daemonset/agent --timeout=90s >/dev/null || fail "rollout of agent after undo"
wait_for "agent back at revision 3 without X" sh -c "[ -z \"\$($K get pods -l app=agent -o jsonpath='{.items[*].spec.containers[0].env}')\" ] && $K rollout history daemonset/agent | grep -q '^3 '"

is_count 0 pods -l app=nowhere || fail "daemonset nowhere has pods"
$K delete ds agent nowhere >/dev/null
wait_for "pods of agent gone" is_count 0 pods -l app=agent

k3core_stop
echo "ok"
