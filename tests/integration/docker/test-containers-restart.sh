# dindd killed with SIGKILL while containers run: after a restart `docker ps -a` shows every
# container with its true state (running ones re-adopted and still controllable, a container
# that exited meanwhile recorded as exited with its code), and restart policies apply.
. "$(dirname "$0")/../lib.sh"

start_dindd
. "$(dirname "$0")/containers-lib.sh"
load_busybox

dk run -d --name long busybox sleep 300 >/dev/null
dk run -d --name short busybox sh -c 'sleep 1; exit 7' >/dev/null
dk run -d --name always --restart always busybox sleep 300 >/dev/null
dk create --name fresh busybox true >/dev/null
dk run --name done busybox sh -c 'exit 2' || true
before=$(dk ps -a --format '{{.Names}}' | sort | tr '\n' ' ')

kill -KILL "$DINDD_PID"
wait "$DINDD_PID" 2>/dev/null || true
DINDD_PID=
sleep 2 # `short` exits while the daemon is down
start_dindd

after=$(dk ps -a --format '{{.Names}}' | sort | tr '\n' ' ')
[ "$before" = "$after" ] || fail "containers changed across the restart: '$before' → '$after'"
st() { dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$1"; }
[ "$(st long)" = "running 0" ] || fail "long: $(st long)"
[ "$(st always)" = "running 0" ] || fail "always: $(st always)"
[ "$(st short)" = "exited 7" ] || fail "short: $(st short)"
[ "$(st fresh)" = "created 0" ] || fail "fresh: $(st fresh)"
[ "$(st done)" = "exited 2" ] || fail "done: $(st done)"
ok "states after kill -9 and restart"

# re-adopted containers are still under control: stop reports the exit, wait answers
dk stop -t 1 long >/dev/null
[ "$(st long)" = "exited 137" ] || fail "stop after re-adoption: $(st long)"
dk start fresh >/dev/null
[ "$(dk wait fresh)" = 0 ] || fail "start of a container created before the restart"
ok "re-adopted containers are controllable"

remove_all_and_check_clean
ok "clean after restart test"
