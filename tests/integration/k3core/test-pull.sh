#!/bin/sh
# Registry pulls by the node agent, against Debian's docker-registry on 127.0.0.1 (run it in a
# private network namespace: unshare -n). A pod whose image is only in the registry runs, with
# upstream's Pulling/Pulled events; a missing tag is ErrImagePull carrying the registry's reason,
# then ImagePullBackOff; imagePullPolicy Never refuses an absent image; registries.yaml mirrors
# serve docker.io and example.org names (the latter with auth from `configs`); and a registry
# with htpasswd auth is refused without credentials and pulled from with an imagePullSecret
# (kubernetes.io/dockerconfigjson).
. "$(dirname "$0")/lib.sh"
K=$K133
command -v docker-registry >/dev/null || fail "docker-registry is not installed (ci/deps.sh)"

# start_registry NAME PORT [htpasswd-file]: a registry on 127.0.0.1:PORT, stopped at exit.
REG_PIDS=""
start_registry() {
    cfg=$K3CORE_TMP/$1.yml
    {
        echo "version: 0.1"
        echo "log: {level: error}"
        echo "storage: {filesystem: {rootdirectory: $K3CORE_TMP/$1-data}}"
        echo "http: {addr: 127.0.0.1:$2}"
        [ -z "${3:-}" ] || echo "auth: {htpasswd: {realm: test-realm, path: $3}}"
    } >"$cfg"
    docker-registry serve "$cfg" >"$K3CORE_TMP/$1.log" 2>&1 &
    REG_PIDS="$REG_PIDS $!"
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$2/v2/"; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "registry $1 did not answer"
        sleep 0.05
    done
}
stop_registries() {
    set +e
    for p in $REG_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    k3core_cleanup
}
trap stop_registries EXIT

events() { $K get events --field-selector "involvedObject.name=$1" -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}'; }

PORT=$(free_port)
REG=127.0.0.1:$PORT
APORT=$(free_port)
AREG=127.0.0.1:$APORT
/usr/bin/python3 -W ignore -c 'import crypt; print("alice:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' \
    >"$K3CORE_TMP/htpasswd"
start_registry plain "$PORT"
start_registry auth "$APORT" "$K3CORE_TMP/htpasswd"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_TMP/bb.tar" >/dev/null
PUSH="/usr/bin/python3 $ROOT/tests/fixtures/registry-push.py $K3CORE_TMP/bb.tar"
$PUSH "http://$REG" busybox:1 >/dev/null
$PUSH "http://$REG" busybox:latest >/dev/null
$PUSH "http://$REG" mirrored/bb:2 >/dev/null
$PUSH "http://$AREG" private/bb:3 alice:s3cret >/dev/null
# docker.io is mirrored by the plain registry; example.org by the htpasswd one under another
# name (localhost), whose configs entry (keyed by the endpoint's host, as in k3s) has the auth
cat >"$K3CORE_TMP/registries.yaml" <<EOF
mirrors:
  docker.io:
    endpoint: ["http://$REG"]
  example.org:
    endpoint: ["http://localhost:$APORT"]
configs:
  "localhost:$APORT":
    auth: {username: alice, password: s3cret}
EOF
k3core_start --private-registry "$K3CORE_TMP/registries.yaml"
wait_for "node Ready" sh -c "$K get nodes | grep -q ' Ready '"

# an image only in the registry
$K run reg --image="$REG/busybox:1" -- sh -c 'echo pulled; sleep 3600' >/dev/null
$K wait --for=condition=Ready pod/reg --timeout=90s >/dev/null || fail "reg not Ready: $(events reg)"
out=$(events reg)
expect_contains "$out" "Pulling: Pulling image \"$REG/busybox:1\"" "reg events"
expect_contains "$out" "Pulled: Successfully pulled image \"$REG/busybox:1\" in " "reg events"
is reg '{.spec.containers[0].imagePullPolicy}' IfNotPresent || fail "default pull policy for a tag"

$K run again --image="$REG/busybox:1" -- sleep 3600 >/dev/null
$K wait --for=condition=Ready pod/again --timeout=90s >/dev/null || fail "again not Ready"
expect_contains "$(events again)" "Pulled: Container image \"$REG/busybox:1\" already present on machine"
expect_not_contains "$(events again)" "Pulling"

# no tag: Always (the image of busybox:1 is already here, yet it is pulled)
$K run alw --image="$REG/busybox" -- sleep 3600 >/dev/null
$K wait --for=condition=Ready pod/alw --timeout=90s >/dev/null || fail "alw not Ready: $(events alw)"
is alw '{.spec.containers[0].imagePullPolicy}' Always || fail "default pull policy without a tag"
expect_contains "$(events alw)" "Pulled: Successfully pulled image \"$REG/busybox\"" "alw events"

# a missing tag: ErrImagePull with the registry's reason, then ImagePullBackOff
$K run miss --image="$REG/busybox:nope" >/dev/null
# (reason and message read at once: ErrImagePull turns into ImagePullBackOff a sync later)
W='{.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}'
wait_for "miss ErrImagePull" is miss "$W" \
    "ErrImagePull: manifest for $REG/busybox:nope not found: manifest unknown: manifest unknown"
wait_for "miss ImagePullBackOff" is miss '{.status.containerStatuses[0].state.waiting.reason}' ImagePullBackOff
out=$(events miss)
expect_contains "$out" "Failed: Failed to pull image \"$REG/busybox:nope\": manifest for" "miss events"
expect_contains "$out" "Failed: Error: ErrImagePull" "miss events"
expect_contains "$out" "BackOff: Back-off pulling image \"$REG/busybox:nope\"" "miss events"

# Never with an absent image
$K run never --image="$REG/busybox:absent" --image-pull-policy=Never >/dev/null
wait_for "never ErrImageNeverPull" is never '{.status.containerStatuses[0].state.waiting.reason}' ErrImageNeverPull
expect_contains "$(jp never '{.status.containerStatuses[0].state.waiting.message}')" \
    "is not present with pull policy of Never"

# a docker.io name through the registries.yaml mirror
$K run mir --image=mirrored/bb:2 -- sleep 3600 >/dev/null
$K wait --for=condition=Ready pod/mir --timeout=90s >/dev/null || fail "mir not Ready: $(events mir)"
expect_contains "$(events mir)" 'Successfully pulled image "mirrored/bb:2"' "mirror events"
$K run mirauth --image=example.org/private/bb:3 -- sleep 3600 >/dev/null
$K wait --for=condition=Ready pod/mirauth --timeout=90s >/dev/null ||
    fail "mirauth not Ready: $(events mirauth)"

# htpasswd registry: refused without credentials, pulled with an imagePullSecret
$K run noauth --image="$AREG/private/bb:3" >/dev/null
wait_for "noauth ErrImagePull" has noauth "$W" "ErrImagePull: pull access denied for $AREG/private/bb"
$K create secret docker-registry regcred --docker-server="$AREG" --docker-username=alice \
    --docker-password=s3cret >/dev/null
$K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: withauth}
spec:
  imagePullSecrets: [{name: regcred}]
  containers:
  - {name: c, image: "$AREG/private/bb:3", command: [sleep, "3600"]}
EOF
$K wait --for=condition=Ready pod/withauth --timeout=90s >/dev/null ||
    fail "withauth not Ready: $(events withauth)"
echo "ok: registry pulls, ErrImagePull/ImagePullBackOff, Never, mirror, imagePullSecrets"
