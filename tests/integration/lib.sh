# Shared helpers for integration tests (POSIX sh). Source it from a test:
#     . "$(dirname "$0")/../lib.sh"
#     start_dindd            # dindd on a temp socket + temp data-root; stopped by the EXIT trap
#     dk version             # the docker CLI against it
# Tests run from the repository root (run.sh cds there) as root.

set -eu

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
DINDD=${DINDD:-$REPO/build/bin/dindd}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
TEST_TMP=$(mktemp -d /tmp/k3d-dind-test.XXXXXX)
SOCK=$TEST_TMP/docker.sock
DATA_ROOT=$TEST_TMP/data
EXEC_ROOT=$TEST_TMP/exec
PIDFILE=$TEST_TMP/docker.pid
DINDD_LOG=$TEST_TMP/dindd.log
DINDD_PID=
. "$REPO/tests/integration/leftovers.sh"

# Cleanup hooks run in reverse order of registration by the EXIT trap.
CLEANUPS=
on_exit() { CLEANUPS="$*
$CLEANUPS"; }

run_cleanups() {
    rc=$?
    set +e
    printf '%s\n' "$CLEANUPS" | while IFS= read -r c; do [ -n "$c" ] && eval "$c"; done
    stop_dindd
    if [ $rc -ne 0 ] && [ -f "$DINDD_LOG" ]; then
        echo "--- dindd log (last 40 lines) ---"; tail -n 40 "$DINDD_LOG"
    fi
    reap_leftovers "$TEST_TMP"
    rm -rf "$TEST_TMP"
    exit $rc
}
trap run_cleanups EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# dk ARGS...: the docker CLI against our daemon.
dk() { "$DOCKER_CLI" -H "unix://$SOCK" "$@"; }

# api METHOD PATH [curl args...]: raw HTTP over the socket; prints the body.
api() {
    m=$1; p=$2; shift 2
    curl -sS --unix-socket "$SOCK" -X "$m" "$@" "http://localhost$p"
}

# api_status METHOD PATH [curl args...]: prints only the status code.
api_status() {
    m=$1; p=$2; shift 2
    curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$m" "$@" "http://localhost$p"
}

# start_dindd [extra flags...]: starts dindd and waits until /_ping answers.
start_dindd() {
    "$DINDD" -H "unix://$SOCK" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" \
        --pidfile "$PIDFILE" "$@" >>"$DINDD_LOG" 2>&1 &
    DINDD_PID=$!
    i=0
    while ! curl -s --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; do
        i=$((i + 1))
        kill -0 "$DINDD_PID" 2>/dev/null || { cat "$DINDD_LOG"; fail "dindd exited during start"; }
        [ $i -lt 200 ] || fail "dindd did not answer /_ping"
        sleep 0.05
    done
}

# stop_dindd: SIGTERM, wait; SIGKILL if it does not stop. Safe to call twice.
stop_dindd() {
    [ -n "$DINDD_PID" ] || return 0
    kill -TERM "$DINDD_PID" 2>/dev/null || true
    i=0
    while kill -0 "$DINDD_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$DINDD_PID" 2>/dev/null || true
    wait "$DINDD_PID" 2>/dev/null || true
    DINDD_PID=
}
