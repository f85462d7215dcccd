# System endpoints with real clients: docker version/info, raw /_ping headers, the API version
# prefix, unsupported features, bad input (malformed JSON, oversized headers), docker-py ping,
# and a clean shutdown that removes the socket and the pidfile.
. "$(dirname "$0")/../lib.sh"

# Flags: dockerd's names; unknown ones and fd:// are refused with a clear message.
"$DINDD" --version | grep -q "^Docker version " || fail "--version"
"$DINDD" --help | grep -q -- "--data-root" || fail "--help"
if "$DINDD" --bogus 2>"$TEST_TMP/err"; then fail "unknown flag accepted"; fi
grep -q "unknown flag: --bogus" "$TEST_TMP/err" || fail "unknown flag message: $(cat "$TEST_TMP/err")"
if "$DINDD" -H fd:// 2>"$TEST_TMP/err"; then fail "fd:// accepted"; fi
grep -q "fd://.*not supported" "$TEST_TMP/err" || fail "fd:// message"
ok "flags"

port=$((20000 + $$ % 20000))
start_dindd --debug -H "tcp://127.0.0.1:$port"

out=$(dk version --format '{{.Server.APIVersion}} {{.Server.Os}}')
[ "$out" = "1.41 linux" ] || fail "docker version: $out"
ok "docker version"

out=$("$DOCKER_CLI" -H "tcp://127.0.0.1:$port" version --format '{{.Server.APIVersion}}')
[ "$out" = "1.41" ] || fail "docker version over tcp: $out"
ok "tcp listener"

out=$(dk info --format '{{.NCPU}} {{.OSType}} {{.Driver}} {{.DockerRootDir}}')
[ "$out" = "$(nproc) linux overlay2 $DATA_ROOT" ] || fail "docker info: $out"
dk info | grep -q "Cgroup Version: [12]" || fail "docker info: no cgroup version"
ok "docker info"

hdrs=$(curl -sSI --unix-socket "$SOCK" http://localhost/_ping | tr -d '\r')
for h in "HTTP/1.1 200 OK" "Api-Version: 1.41" "Ostype: linux" "Docker-Experimental: false" \
         "Cache-Control: no-cache, no-store, must-revalidate" "Pragma: no-cache" "Content-Length: 0"; do
    printf '%s\n' "$hdrs" | grep -qx "$h" || fail "HEAD /_ping lacks '$h': $hdrs"
done
printf '%s\n' "$hdrs" | grep -q "^Server: Docker/.* (linux)$" || fail "no Server header"
printf '%s\n' "$hdrs" | grep -q "^Date: " || fail "no Date header"
[ "$(api GET /_ping)" = OK ] || fail "GET /_ping body"
[ "$(api GET /v1.41/_ping)" = OK ] || fail "GET /v1.41/_ping body"
ok "/_ping headers"

[ "$(api_status GET /v1.44/version)" = 400 ] || fail "too-new version status"
api GET /v1.44/version | grep -qF '{"message":"client version 1.44 is too new. Maximum supported API version is 1.41"}' \
    || fail "too-new version message"
[ "$(api_status GET /v1.24/version)" = 200 ] || fail "v1.24 refused"
[ "$(api_status GET /v1.23/version)" = 400 ] || fail "v1.23 accepted"
api GET /version | grep -q '"ApiVersion":"1.41"' || fail "unversioned /version"
ok "version prefix"

[ "$(api_status GET /v1.41/swarm)" = 503 ] || fail "swarm status"
api GET /v1.41/services | grep -q "This node is not a swarm manager" || fail "swarm message"
[ "$(api_status GET /v1.41/plugins/nosuch/json)" = 404 ] || fail "plugin status"
[ "$(api_status GET /v1.41/nosuchendpoint)" = 404 ] || fail "unknown path"
[ "$(api GET /v1.41/nosuchendpoint)" = '{"message":"page not found"}' ] || fail "unknown path body"
[ "$(api_status POST /v1.41/build)" = 501 ] || fail "build status"
ok "unsupported features"

# Bad input: swarm init parses its JSON body before refusing (as dockerd does).
st=$(api_status POST /v1.41/swarm/init -H 'Content-Type: application/json' -d '{bad')
[ "$st" = 400 ] || fail "malformed JSON status: $st"
api POST /v1.41/swarm/init -H 'Content-Type: application/json' -d '{bad' | grep -q '"message":"invalid JSON' \
    || fail "malformed JSON message"
ok "malformed JSON → 400"

st=$(/usr/bin/python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1100000 + b"\r\n\r\n")
except OSError:
    pass
print(s.recv(4096).split(b" ")[1].decode())
PY
)
[ "$st" = 431 ] || fail "oversized header: $st"
ok "oversized header → 431"

/usr/bin/python3 - "$SOCK" <<'PY' || fail "docker-py ping"
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
assert c.ping() is True
v = c.version()
assert v["ApiVersion"] == "1.41", v
info = c.info()
assert info["OSType"] == "linux" and info["NCPU"] > 0, info
PY
ok "docker-py ping/version/info"

grep -q 'Calling GET /v1.41/info' "$DINDD_LOG" || fail "debug log has no request trace"

# A second daemon on the same pidfile refuses to start (dockerd's rule).
if "$DINDD" -H "unix://$TEST_TMP/other.sock" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" \
        --pidfile "$PIDFILE" 2>"$TEST_TMP/err"; then fail "second daemon started"; fi
grep -q "pid file found" "$TEST_TMP/err" || fail "pidfile message: $(cat "$TEST_TMP/err")"
[ -e "$PIDFILE" ] || fail "the failed start removed the live daemon's pidfile"
ok "pidfile guard"

pid=$DINDD_PID
stop_dindd
kill -0 "$pid" 2>/dev/null && fail "dindd still running after SIGTERM"
[ ! -e "$SOCK" ] || fail "socket left behind"
[ ! -e "$PIDFILE" ] || fail "pidfile left behind"
ok "clean shutdown"
