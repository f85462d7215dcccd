# HEALTHCHECK: a passing check becomes healthy (inspect, ps text, ps filter, health_status
# event), a failing one becomes unhealthy with its FailingStreak and Log output, a probe that
# outlives its timeout fails with dockerd's message, stop freezes the state and start begins again
# with "starting", the state survives a dindd restart, bad options are refused, docker-py reads it.
. "$(dirname "$0")/../lib.sh"

start_dindd
. "$(dirname "$0")/containers-lib.sh"
load_busybox

# wait_health NAME STATUS: polls inspect (up to 60 s) until .State.Health.Status is STATUS.
wait_health() {
    i=0
    while [ "$(dk inspect --format '{{.State.Health.Status}}' "$1")" != "$2" ]; do
        i=$((i + 1))
        [ $i -lt 300 ] || fail "$1 never became $2: $(dk inspect --format '{{json .State.Health}}' "$1")"
        sleep 0.2
    done
}

since=$(date +%s)
dk run -d --name good --health-cmd 'echo fine' --health-interval 1s --health-retries 2 \
    busybox sleep 300 >/dev/null
# no probe ran yet: starting
[ "$(dk inspect --format '{{.State.Health.Status}}' good)" = starting ] || fail "not starting first"
dk ps --filter name=good --format '{{.Status}}' | grep -q '(health: starting)' ||
    fail "ps does not show (health: starting): $(dk ps --filter name=good --format '{{.Status}}')"
wait_health good healthy
out=$(dk inspect --format '{{(index .State.Health.Log 0).Output}}|{{(index .State.Health.Log 0).ExitCode}}' good)
[ "$out" = "fine
|0" ] || fail "health log entry: $out"
dk ps --format '{{.Names}} {{.Status}}' | grep -Eq '^good Up .* \(healthy\)$' ||
    fail "ps status: $(dk ps --format '{{.Names}} {{.Status}}')"
[ "$(dk ps --filter health=healthy --format '{{.Names}}')" = good ] || fail "filter health=healthy"
[ -z "$(dk ps --filter health=unhealthy --format '{{.Names}}')" ] || fail "filter health=unhealthy"
dk ps --filter health=bogus 2>&1 | grep -q 'Unrecognised filter value for health: bogus' ||
    fail "a bad health filter value is accepted"
ok "a passing check becomes healthy (inspect, ps, filter)"

dk run -d --name bad --health-cmd 'echo broken >&2; exit 3' --health-interval 200ms \
    --health-retries 2 busybox sleep 300 >/dev/null
wait_health bad unhealthy
streak=$(dk inspect --format '{{.State.Health.FailingStreak}}' bad)
[ "$streak" -ge 2 ] || fail "FailingStreak $streak"
out=$(dk inspect --format '{{(index .State.Health.Log 0).Output}}|{{(index .State.Health.Log 0).ExitCode}}' bad)
[ "$out" = "broken
|3" ] || fail "failing log entry: $out"
[ "$(dk ps --filter health=unhealthy --format '{{.Names}}')" = bad ] || fail "filter unhealthy"
dk ps --filter name=bad --format '{{.Status}}' | grep -q '(unhealthy)' || fail "ps unhealthy"
[ "$(dk ps --filter health=none --format '{{.Names}}')" = "" ] || fail "filter health=none"
ok "a failing check becomes unhealthy with FailingStreak and Log"

# the log keeps the last 5 probes
i=0
while [ "$(dk inspect --format '{{len .State.Health.Log}}' bad)" -lt 5 ]; do
    i=$((i + 1)); [ $i -lt 300 ] || fail "log never reached 5 entries"; sleep 0.2
done
sleep 1
[ "$(dk inspect --format '{{len .State.Health.Log}}' bad)" = 5 ] || fail "log longer than 5"
ok "the log keeps 5 entries"

# events: health_status: healthy / unhealthy
ev=$(dk events --since "$since" --until "$(($(date +%s) + 1))" --filter type=container \
    --format '{{.Actor.Attributes.name}} {{.Action}}')
echo "$ev" | grep -qx 'good health_status: healthy' || fail "no healthy event: $ev"
echo "$ev" | grep -qx 'bad health_status: unhealthy' || fail "no unhealthy event: $ev"
echo "$ev" | grep -q '^good exec_start: /bin/sh -c echo fine$' || fail "no probe exec_start event"
dk rm -f bad >/dev/null
ok "health_status events"

# a probe outliving its timeout is killed and fails with dockerd's text
dk run -d --name slow --health-cmd 'sleep 30' --health-interval 200ms --health-timeout 300ms \
    --health-retries 1 busybox sleep 300 >/dev/null
wait_health slow unhealthy
out=$(dk inspect --format '{{(index .State.Health.Log 0).Output}}|{{(index .State.Health.Log 0).ExitCode}}' slow)
[ "$out" = "Health check exceeded timeout (300ms)|-1" ] || fail "timeout entry: $out"
dk rm -f slow >/dev/null
ok "a probe past its timeout is killed and fails"

# image HEALTHCHECK NONE and no check: no Health; a command that cannot start fails
dk run -d --name plain busybox sleep 300 >/dev/null
[ "$(dk inspect --format '{{json .State.Health}}' plain)" = null ] || fail "Health without check"
[ "$(dk ps --filter health=none --format '{{.Names}}')" = plain ] || fail "filter health=none"
id=$(api POST '/containers/create?name=nocmd' -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["sleep","300"],"Healthcheck":{"Test":["CMD","/nonexistent"],"Interval":200000000,"Retries":1}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
dk start "$id" >/dev/null
wait_health nocmd unhealthy
out=$(dk inspect --format '{{(index .State.Health.Log 0).Output}}|{{(index .State.Health.Log 0).ExitCode}}' nocmd)
case $out in *'OCI runtime exec failed'*'/nonexistent'*'|-1') ;; *) fail "unstartable probe: $out" ;; esac
dk rm -f nocmd plain >/dev/null
api POST /containers/create -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"Interval":5}}' |
    grep -q 'Interval in Healthcheck cannot be less than 1ms' || fail "tiny interval accepted"
api POST /containers/create -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"Retries":-1}}' |
    grep -q 'Retries in Healthcheck cannot be negative' || fail "negative retries accepted"
ok "no check: no Health; bad options refused"

# stop keeps the last state; start begins with starting again (streak 0)
dk stop -t 1 good >/dev/null
[ "$(dk inspect --format '{{.State.Health.Status}}' good)" = healthy ] || fail "stop changed health"
n=$(dk inspect --format '{{len .State.Health.Log}}' good)
sleep 1.5
[ "$(dk inspect --format '{{len .State.Health.Log}}' good)" = "$n" ] || fail "probes after stop"
dk start good >/dev/null
[ "$(dk inspect --format '{{.State.Health.Status}}' good)" = starting ] || fail "restart: not starting"
wait_health good healthy
ok "probes stop with the container and start again with it"

# the state survives a dindd restart and the monitor resumes
stop_dindd
start_dindd
[ "$(dk inspect --format '{{.State.Health.Status}}' good)" = healthy ] || fail "health lost on restart"
n=$(dk inspect --format '{{len .State.Health.Log}}|{{(index .State.Health.Log 0).End}}' good)
i=0
while [ "$(dk inspect --format '{{len .State.Health.Log}}|{{(index .State.Health.Log 0).End}}' good)" = "$n" ]; do
    i=$((i + 1)); [ $i -lt 300 ] || fail "no probe after a dindd restart"; sleep 0.2
done
ok "health survives a dindd restart and probing resumes"

# docker-py reads it like testcontainers does
python3 - "$SOCK" <<'PY' || fail "docker-py health"
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1]).containers.get("good")
h = c.attrs["State"]["Health"]
assert h["Status"] == "healthy", h
assert h["FailingStreak"] == 0, h
assert h["Log"][-1]["ExitCode"] == 0 and h["Log"][-1]["Output"] == "fine\n", h
PY
ok "docker-py reads State.Health"

remove_all_and_check_clean
ok "clean"
