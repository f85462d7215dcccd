# Container lifecycle with the docker CLI: run --rm with output, exit codes, run -d + logs -f +
# stop, inspect, ps filters, rename, kill + wait, restart policy, top, events since/until, bad
# input, and at the end no mount or cgroup left behind.
. "$(dirname "$0")/../lib.sh"

start_dindd
. "$(dirname "$0")/containers-lib.sh"
load_busybox

# run --rm: output on both streams, exit code passed through, container gone afterwards
out=$(dk run --rm busybox sh -c 'echo hello; echo err >&2' 2>"$TEST_TMP/stderr")
[ "$out" = hello ] || fail "run --rm stdout: $out"
[ "$(cat "$TEST_TMP/stderr")" = err ] || fail "run --rm stderr: $(cat "$TEST_TMP/stderr")"
ok "run --rm output on both streams"
set +e
dk run --rm busybox sh -c 'exit 3'
rc=$?
set -e
[ $rc = 3 ] || fail "exit code: $rc"
[ -z "$(dk ps -aq)" ] || fail "run --rm left a container: $(dk ps -a)"
ok "run exit code 3, removed"

# a missing binary: start fails with the runtime's text, exit code 127
set +e
out=$(dk run --name nobin busybox /no/such/binary 2>&1)
rc=$?
set -e
[ $rc = 127 ] || fail "missing binary exit code: $rc ($out)"
printf '%s' "$out" | grep -q "no/such/binary" || fail "missing binary message: $out"
[ "$(dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' nobin)" = "exited 127" ] ||
    fail "missing binary state: $(dk inspect -f '{{json .State}}' nobin)"
dk rm nobin >/dev/null
ok "missing binary: 127"

# run -d, logs, logs -f ends when the container stops, stop
id=$(dk run -d --name web -l app=web -e FOO=bar busybox sh -c 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done')
[ ${#id} = 64 ] || fail "run -d id: $id"
i=0
until dk logs web 2>/dev/null | grep -q started; do i=$((i + 1)); [ $i -lt 100 ] || fail "no log"; sleep 0.1; done
[ "$(dk inspect -f '{{.State.Status}} {{.Name}} {{.Config.Hostname}}' web)" = "running /web $(echo "$id" | cut -c1-12)" ] ||
    fail "inspect: $(dk inspect -f '{{.State.Status}} {{.Name}} {{.Config.Hostname}}' web)"
dk inspect -f '{{json .Config.Env}}' web | grep -q 'FOO=bar' || fail "env not in inspect"
[ "$(dk inspect -f '{{.State.FinishedAt}}' web)" = "0001-01-01T00:00:00Z" ] || fail "FinishedAt"
dk logs -f web >"$TEST_TMP/follow.out" 2>&1 &
follow=$!
dk stop web >/dev/null
wait $follow || fail "logs -f did not end cleanly"
grep -q bye "$TEST_TMP/follow.out" || fail "logs -f missed the last line: $(cat "$TEST_TMP/follow.out")"
[ "$(dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' web)" = "exited 0" ] || fail "stop state"
[ "$(api_status POST /containers/web/stop)" = 304 ] || fail "stop of a stopped container is not 304"
ok "run -d, logs -f, stop"

# logs --timestamps and --tail
dk logs --timestamps --tail 1 web | grep -Eq '^20[0-9-]+T[0-9:.]+Z bye$' || fail "logs -t --tail 1: $(dk logs -t --tail 1 web)"
ok "logs --timestamps --tail"

# ps filters: label, name (regex), status
dk run -d --name other -l app=db busybox sleep 300 >/dev/null
[ "$(dk ps -q --filter label=app=db | wc -l)" = 1 ] || fail "ps label filter"
[ "$(dk ps -aq --filter label=app=web | wc -l)" = 1 ] || fail "ps -a label filter"
[ "$(dk ps -aq --filter 'name=^/?web$' | wc -l)" = 1 ] || fail "ps name regex filter"
[ "$(dk ps -aq --filter status=exited | wc -l)" = 1 ] || fail "ps status filter"
[ "$(dk ps -q | wc -l)" = 1 ] || fail "ps shows only running containers"
dk ps --format '{{.Names}} {{.Status}}' | grep -Eq '^other Up ' || fail "ps status text: $(dk ps)"
dk ps -a --format '{{.Names}} {{.Status}}' | grep -Eq '^web Exited \(0\) ' || fail "ps exited text: $(dk ps -a)"
python3 - "$SOCK" <<'PY' || fail "docker-py list filter form"
import json, socket, sys, urllib.parse
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
q = urllib.parse.quote(json.dumps({"label": ["app=db"]}))
s.sendall(f"GET /v1.41/containers/json?all=1&filters={q} HTTP/1.0\r\n\r\n".encode())
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
body = json.loads(data.split(b"\r\n\r\n", 1)[1])
assert len(body) == 1 and body[0]["Names"] == ["/other"], body
PY
ok "ps filters"

# restart: a new process, the restart event
s0=$(dk inspect -f '{{.State.StartedAt}}' other)
t0=$(date +%s)
dk restart -t 1 other >/dev/null
[ "$(dk inspect -f '{{.State.Status}}' other)" = running ] || fail "restart state"
[ "$(dk inspect -f '{{.State.StartedAt}}' other)" != "$s0" ] || fail "restart did not start a new process"
dk events --since "$t0" --until "$(($(date +%s) + 1))" --filter container=other --filter event=restart \
    --format '{{.Action}}' | grep -qx restart || fail "no restart event"
ok "restart"

# top
dk top other | grep -q "sleep 300" || fail "top: $(dk top other)"
ok "top"

# rename, conflicts, bad names
dk rename other db1
[ "$(dk inspect -f '{{.Name}}' db1)" = /db1 ] || fail "rename"
dk create --name db1 busybox true >/dev/null 2>"$TEST_TMP/err" && fail "name conflict accepted"
grep -q 'Conflict. The container name "/db1" is already in use' "$TEST_TMP/err" || fail "conflict text: $(cat "$TEST_TMP/err")"
dk create --name 'bad name' busybox true >/dev/null 2>"$TEST_TMP/err" && fail "bad name accepted"
grep -q 'Invalid container name (bad name)' "$TEST_TMP/err" || fail "bad name text: $(cat "$TEST_TMP/err")"
ok "rename and name errors"

# kill → wait prints 137; kill of a stopped container is 409; bad signal 400
dk kill db1 >/dev/null
[ "$(dk wait db1)" = 137 ] || fail "wait after kill"
[ "$(api_status POST /containers/db1/kill)" = 409 ] || fail "kill of a stopped container"
dk start db1 >/dev/null
[ "$(api_status POST '/containers/db1/kill?signal=BOGUS')" = 400 ] || fail "bad signal status"
api POST '/containers/db1/kill?signal=BOGUS' | grep -qF '{"message":"Invalid signal: BOGUS"}' || fail "bad signal text"
[ "$(api_status POST /containers/db1/start)" = 304 ] || fail "start of a running container is not 304"
[ "$(api_status DELETE /containers/db1)" = 409 ] || fail "rm of a running container"
dk rm -f db1 >/dev/null
[ "$(api_status GET /containers/db1/json)" = 404 ] || fail "removed container still there"
ok "kill, wait, errors"

# restart policy on-failure:2 → exits 3 times in all
dk run -d --name flaky --restart on-failure:2 busybox sh -c 'exit 1' >/dev/null
i=0
until [ "$(dk inspect -f '{{.State.Status}} {{.RestartCount}}' flaky)" = "exited 2" ]; do
    i=$((i + 1)); [ $i -lt 200 ] || fail "restart policy: $(dk inspect -f '{{.State.Status}} {{.RestartCount}}' flaky)"; sleep 0.1
done
dk rm flaky >/dev/null
ok "restart policy on-failure:2"

# attach to a running container: live output, then the stream ends when it exits; the exit
# code comes back; logs=1&stream=0 replays the history only
mkdir -p "$TEST_TMP/go"
dk run -d --name att -v "$TEST_TMP/go:/go" busybox sh -c 'echo one; while [ ! -f /go/flag ]; do sleep 0.05; done; echo two; exit 4' >/dev/null
t0=$(date +%s)
set +e
dk attach att >"$TEST_TMP/attach.out" 2>&1 &
att=$!
set -e
# the attach event tells us the stream is connected before we let the container go on
until dk events --since "$t0" --until "$(($(date +%s) + 1))" --filter container=att --filter event=attach --format '{{.Action}}' | grep -q attach; do sleep 0.1; done
touch "$TEST_TMP/go/flag"
set +e
wait $att
rc=$?
set -e
[ "$(cat "$TEST_TMP/attach.out")" = two ] || fail "attach output: $(cat "$TEST_TMP/attach.out")"
[ $rc = 4 ] || fail "attach exit code: $rc"
python3 - "$SOCK" <<'PY' || fail "attach logs=1 stream=0"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"POST /v1.41/containers/att/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\n"
          b"Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
head, body = data.split(b"\r\n\r\n", 1)
assert head.startswith(b"HTTP/1.1 101 UPGRADED"), head
frames = []
while body:
    n = int.from_bytes(body[4:8], "big"); frames.append((body[0], body[8:8 + n])); body = body[8 + n:]
assert frames == [(1, b"one\n"), (1, b"two\n")], frames
PY
dk rm att >/dev/null
ok "attach: live output, exit code, logs replay"

# events with since/until: the create/start/die/destroy of a run --rm
t0=$(date +%s)
dk run --rm --name evt busybox true
t1=$(($(date +%s) + 1))
ev=$(dk events --since "$t0" --until "$t1" --filter container=evt --format '{{.Action}}' | tr '\n' ' ')
for a in create attach start die destroy; do
    printf '%s' "$ev" | grep -qw "$a" || fail "events lack $a: $ev"
done
ok "events since/until"

# bad input: malformed JSON, no command; nothing half-created
n0=$(dk ps -aq | wc -l)
[ "$(api_status POST /containers/create -H 'Content-Type: application/json' -d '{"Image":')" = 400 ] || fail "malformed JSON status"
api POST /containers/create -H 'Content-Type: application/json' -d '{"Image":' | grep -q '"message":"invalid JSON' || fail "malformed JSON message"
api POST /containers/create -H 'Content-Type: application/json' -d '{"Image":"busybox","Entrypoint":[""]}' |
    grep -qF '{"message":"No command specified"}' || fail "no command"
[ "$(api_status POST /containers/create -H 'Content-Type: application/json' -d '{"Image":"nosuch:1"}')" = 404 ] || fail "missing image status"
api POST /containers/create -d '{"Image":"nosuch:1","Cmd":["true"]}' | grep -qF '{"message":"No such image: nosuch:1"}' || fail "missing image text"
[ "$(dk ps -aq | wc -l)" = "$n0" ] || fail "a failed create left a container"
[ "$(ls "$DATA_ROOT/containers" | wc -l)" = "$n0" ] || fail "a failed create left a directory"
ok "bad input changes nothing"

remove_all_and_check_clean
ok "no mounts or cgroups left"
