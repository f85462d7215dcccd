#!/bin/sh
# Registry traffic end to end against Debian's docker-registry (distribution 2.8) on 127.0.0.1:
# docker push of the busybox fixture, rmi, docker pull with dockerd's progress stream, run of the
# pulled image, "up to date", pull by digest, a missing tag's dockerd error (404), docker-py
# images.pull, --registry-mirror for docker.io names, a registry with htpasswd (bcrypt) auth
# (refused without credentials, docker login with a wrong and a right password, push and pull
# with them) and one with token auth behind a small token service (Docker Hub's Bearer flow).
. "$(dirname "$0")/../lib.sh"

command -v docker-registry >/dev/null || fail "docker-registry is not installed (ci/deps.sh)"
export DOCKER_CONFIG=$TEST_TMP/docker-config
mkdir -p "$DOCKER_CONFIG"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME PORT [htpasswd-file] [auth-yaml]: a registry on 127.0.0.1:PORT, stopped at
# exit.
start_registry() {
    cfg=$TEST_TMP/$1.yml
    {
        echo "version: 0.1"
        echo "log: {level: error}"
        echo "storage: {filesystem: {rootdirectory: $TEST_TMP/$1-data}}"
        echo "http: {addr: 127.0.0.1:$2}"
        [ -z "${3:-}" ] || echo "auth: {htpasswd: {realm: test-realm, path: $3}}"
        [ -z "${4:-}" ] || echo "$4"
    } >"$cfg"
    docker-registry serve "$cfg" >"$TEST_TMP/$1.log" 2>&1 &
    pid=$!
    on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$2/v2/"; do
        i=$((i + 1))
        kill -0 "$pid" 2>/dev/null || { cat "$TEST_TMP/$1.log"; fail "registry $1 exited"; }
        [ $i -lt 200 ] || fail "registry $1 did not answer"
        sleep 0.05
    done
}

PORT=$(free_port)
REG=127.0.0.1:$PORT
start_registry plain "$PORT"
start_dindd --registry-mirror "http://$REG"

FIX=$REPO/tests/fixtures/mkimage-busybox.sh
sh "$FIX" "$TEST_TMP/bb.tar" "$REG/busybox:1" >/dev/null
dk load -i "$TEST_TMP/bb.tar" >/dev/null
id=$(dk image inspect "$REG/busybox:1" --format '{{.Id}}')

# ---- push ----
out=$(dk push "$REG/busybox:1")
echo "$out" | grep -qx "The push refers to repository \[$REG/busybox\]" || fail "push header: $out"
echo "$out" | grep -q ": Pushed$" || fail "push did not push a layer: $out"
digest=$(echo "$out" | sed -n 's/^1: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
[ -n "$digest" ] || fail "push printed no digest: $out"
dk image inspect "$REG/busybox:1" --format '{{json .RepoDigests}}' | grep -q "$REG/busybox@$digest" ||
    fail "push did not record the digest in RepoDigests"
out=$(dk push "$REG/busybox:1")
echo "$out" | grep -q ": Layer already exists$" || fail "second push re-uploaded: $out"
dk tag "$REG/busybox:1" "$REG/other:1"
api POST "/v1.41/images/$REG/other/push?tag=1" -H 'X-Registry-Auth: e30=' >"$TEST_TMP/pstream"
grep -q '"status":"Pushing","progressDetail":{"current":\([0-9]*\),"total":\1}' "$TEST_TMP/pstream" ||
    fail "push stream lacks the final Pushing progress: $(cat "$TEST_TMP/pstream")"
grep -q "\"aux\":{\"Tag\":\"1\",\"Digest\":\"$digest\",\"Size\":[0-9]*}" "$TEST_TMP/pstream" ||
    fail "push stream lacks the aux message"
dk rmi "$REG/other:1" >/dev/null
dk tag "$REG/busybox:1" "$REG/library/busybox:1"
dk push "$REG/library/busybox:1" >/dev/null
ok "docker push (digest $digest)"

# ---- pull ----
dk rmi "$REG/busybox:1" "$REG/library/busybox:1" >/dev/null
out=$(dk pull "$REG/busybox:1")
for want in "1: Pulling from busybox" "Pull complete" "Digest: $digest" \
    "Status: Downloaded newer image for $REG/busybox:1"; do
    echo "$out" | grep -q "$want" || fail "pull output lacks '$want': $out"
done
[ "$(dk image inspect "$REG/busybox:1" --format '{{.Id}}')" = "$id" ] || fail "pulled another image"
dk image inspect "$REG/busybox:1" --format '{{json .RepoDigests}}' | grep -q "$REG/busybox@$digest" ||
    fail "RepoDigests lack the pulled digest"
[ "$(dk run --rm "$REG/busybox:1" echo pulled-ok)" = pulled-ok ] || fail "run of the pulled image"
out=$(dk pull "$REG/busybox:1")
echo "$out" | grep -q "Status: Image is up to date for $REG/busybox:1" || fail "up to date: $out"
ok "docker pull, run, up to date"

# The wire format: one JSON message per line ending in \r\n, per-layer progress with details.
dk rmi "$REG/busybox:1" >/dev/null
api POST "/v1.41/images/create?fromImage=$REG%2Fbusybox&tag=1" -H 'X-Registry-Auth: e30=' >"$TEST_TMP/stream"
CR=$(printf '\r')
head -n 1 "$TEST_TMP/stream" | grep -q "^{\"status\":\"Pulling from busybox\",\"id\":\"1\"}$CR\$" ||
    fail "first message: $(head -n 1 "$TEST_TMP/stream")"
grep -q '"status":"Pulling fs layer","progressDetail":{},"id":"[0-9a-f]\{12\}"' "$TEST_TMP/stream" ||
    fail "no Pulling fs layer message"
grep -q '"status":"Downloading","progressDetail":{"current":[0-9]*,"total":[0-9]*},"progress":"\[' \
    "$TEST_TMP/stream" || fail "no Downloading progress"
[ "$(grep -c "$CR\$" "$TEST_TMP/stream")" = "$(wc -l <"$TEST_TMP/stream")" ] ||
    fail "messages do not end in CRLF"
ok "pull progress stream"

# ---- by digest, localhost, missing tag ----
dk rmi "$REG/busybox:1" >/dev/null
dk pull "$REG/busybox@$digest" >/dev/null
dk image inspect "$REG/busybox@$digest" --format '{{.Id}}' | grep -qx "$id" || fail "digest pull"
[ "$(dk image inspect "$id" --format '{{len .RepoTags}}')" = 0 ] || fail "a digest pull added a tag"
dk pull "localhost:$PORT/busybox:1" >/dev/null
dk image inspect "localhost:$PORT/busybox:1" >/dev/null || fail "pull via localhost"
if err=$(dk pull "$REG/busybox:nope" 2>&1); then fail "pull of a missing tag succeeded"; fi
[ "$err" = "Error response from daemon: manifest for $REG/busybox:nope not found: manifest unknown: manifest unknown" ] ||
    fail "missing tag message: $err"
[ "$(api_status POST "/v1.41/images/create?fromImage=$REG%2Fbusybox&tag=nope")" = 404 ] ||
    fail "missing tag status"
ok "pull by digest, via localhost, missing tag (404)"

out=$(dk pull -a "$REG/busybox")
echo "$out" | grep -q "^1: Pulling from busybox" || fail "pull -a: $out"
echo "$out" | grep -q "^Status: Downloaded newer image for $REG/busybox\$" || fail "pull -a status: $out"
dk image inspect "$REG/busybox:1" >/dev/null || fail "pull -a did not tag busybox:1"
ok "pull --all-tags"

# ---- an OCI index: this machine's entry is chosen; the Digest is the index's ----
idx=$(INDEX=1 /usr/bin/python3 "$REPO/tests/fixtures/registry-push.py" "$TEST_TMP/bb.tar" "http://$REG" multi:1)
out=$(dk pull "$REG/multi:1")
echo "$out" | grep -q "Digest: $idx" || fail "index pull digest (want $idx): $out"
[ "$(dk image inspect "$REG/multi:1" --format '{{.Id}}')" = "$id" ] || fail "index pull gave another image"
if err=$(dk pull --platform linux/ppc64le "$REG/multi:1" 2>&1); then fail "pulled a missing platform"; fi
echo "$err" | grep -q "no matching manifest for linux/ppc64le in the manifest list entries" ||
    fail "missing platform: $err"
ok "OCI index with platform choice"

# ---- registry mirror for docker.io names ----
[ "$(dk info --format '{{json .RegistryConfig.Mirrors}}')" = "[\"http://$REG/\"]" ] ||
    fail "docker info mirrors: $(dk info --format '{{json .RegistryConfig.Mirrors}}')"
out=$(dk pull busybox:1)
echo "$out" | grep -q "Status: Downloaded newer image for busybox:1" || fail "mirror pull: $out"
[ "$(dk image inspect busybox:1 --format '{{.Id}}')" = "$id" ] || fail "mirror gave another image"
ok "--registry-mirror serves docker.io/library/busybox"

# ---- docker-py ----
/usr/bin/python3 - "$SOCK" "$REG" "$id" <<'EOF' || fail "docker-py images.pull"
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
img = c.images.pull(sys.argv[2] + "/busybox", tag="1")
assert img.id == sys.argv[3], img.id
assert sys.argv[2] + "/busybox:1" in img.tags, img.tags
try:
    c.images.pull(sys.argv[2] + "/busybox", tag="nope")
    raise SystemExit("pulled a missing tag")
except docker.errors.NotFound as e:
    assert "manifest unknown" in str(e), e
EOF
ok "docker-py images.pull"

# ---- a registry with htpasswd auth ----
/usr/bin/python3 -W ignore -c 'import crypt; print("alice:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' \
    >"$TEST_TMP/htpasswd"
APORT=$(free_port)
AREG=127.0.0.1:$APORT
start_registry auth "$APORT" "$TEST_TMP/htpasswd"
dk tag "$id" "$AREG/private/bb:1"
if err=$(dk push "$AREG/private/bb:1" 2>&1); then fail "push without credentials succeeded"; fi
echo "$err" | grep -q "no basic auth credentials" || fail "push without credentials: $err"
if err=$(echo wrong | dk login -u alice --password-stdin "$AREG" 2>&1); then fail "bad login succeeded"; fi
echo "$err" | grep -q "login attempt to http://$AREG/v2/ failed with status: 401 Unauthorized" ||
    fail "bad login message: $err"
echo s3cret | dk login -u alice --password-stdin "$AREG" 2>&1 | grep -q "Login Succeeded" || fail "login"
dk push "$AREG/private/bb:1" >/dev/null || fail "push with credentials"
dk rmi "$AREG/private/bb:1" >/dev/null
dk pull "$AREG/private/bb:1" >/dev/null || fail "pull with credentials"
dk logout "$AREG" >/dev/null
dk rmi "$AREG/private/bb:1" >/dev/null
if err=$(dk pull "$AREG/private/bb:1" 2>&1); then fail "pull without credentials succeeded"; fi
echo "$err" | grep -q "pull access denied for $AREG/private/bb, repository does not exist or may require 'docker login'" ||
    fail "pull without credentials: $err"
/usr/bin/python3 - "$SOCK" "$AREG" <<'EOF' || fail "docker-py pull with auth_config"
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
img = c.images.pull(sys.argv[2] + "/private/bb", tag="1",
                    auth_config={"username": "alice", "password": "s3cret"})
assert sys.argv[2] + "/private/bb:1" in img.tags, img.tags
EOF
ok "htpasswd registry: refusals, docker login, authenticated push/pull, docker-py auth_config"

# ---- a registry with token auth (Docker Hub's flow: Bearer challenge, token service) ----
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_TMP/tok.key" -out "$TEST_TMP/tok.crt" \
    -days 2 -subj /CN=test-token >/dev/null 2>&1 || fail "openssl req"
TPORT=$(free_port)
/usr/bin/python3 "$REPO/tests/fixtures/registry-token-server.py" "$TPORT" "$TEST_TMP/tok.key" \
    "$TEST_TMP/tok.crt" test-registry alice:s3cret >"$TEST_TMP/token.log" 2>&1 &
tpid=$!
on_exit "kill $tpid 2>/dev/null; wait $tpid 2>/dev/null"
i=0
until curl -s -o /dev/null "http://127.0.0.1:$TPORT/token"; do
    i=$((i + 1)); [ $i -lt 200 ] || fail "token service did not answer"; sleep 0.05
done
BPORT=$(free_port)
BREG=127.0.0.1:$BPORT
start_registry token "$BPORT" "" "auth: {token: {realm: \"http://127.0.0.1:$TPORT/token\", service: test-registry, issuer: test-issuer, rootcertbundle: $TEST_TMP/tok.crt}}"
dk tag "$id" "$BREG/public/bb:1"
dk tag "$id" "$BREG/private/bb:1"
if err=$(dk push "$BREG/public/bb:1" 2>&1); then fail "anonymous push succeeded"; fi
echo "$err" | grep -q "denied: requested access to the resource is denied" || fail "anonymous push: $err"
if err=$(echo wrong | dk login -u alice --password-stdin "$BREG" 2>&1); then fail "bad token login"; fi
echo "$err" | grep -q "unauthorized: incorrect username or password" || fail "bad token login: $err"
echo s3cret | dk login -u alice --password-stdin "$BREG" 2>&1 | grep -q "Login Succeeded" || fail "token login"
dk push "$BREG/public/bb:1" >/dev/null || fail "token push"
dk push "$BREG/private/bb:1" >/dev/null || fail "token push (private)"
dk logout "$BREG" >/dev/null
dk rmi "$BREG/public/bb:1" "$BREG/private/bb:1" >/dev/null
dk pull "$BREG/public/bb:1" >/dev/null || fail "anonymous token pull of a public repository"
if err=$(dk pull "$BREG/private/bb:1" 2>&1); then fail "anonymous pull of a private repository"; fi
[ "$err" = "Error response from daemon: pull access denied for $BREG/private/bb, repository does not exist or may require 'docker login': denied: requested access to the resource is denied" ] ||
    fail "private pull: $err"
/usr/bin/python3 - "$SOCK" "$BREG" <<'PY' || fail "docker-py login + pull with a token registry"
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
r = c.login(username="alice", password="s3cret", registry=sys.argv[2], reauth=True)
assert r["Status"] == "Login Succeeded", r
img = c.images.pull(sys.argv[2] + "/private/bb", tag="1",
                    auth_config={"username": "alice", "password": "s3cret"})
assert sys.argv[2] + "/private/bb:1" in img.tags, img.tags
PY
ok "token registry: anonymous pull, denied texts, docker login, push, docker-py login/pull"
