# Shared helpers for k3core integration tests (sourced by test-*.sh with `sh`).
# k3core_start: starts `k3core server` on a free port with a temporary data dir and kubeconfig;
# the EXIT trap stops it and removes the temp dir, even when a test fails.
# Exports KUBECONFIG, K3CORE_PORT, K3CORE_DATA, K3CORE_TMP; kubectl binaries as K127 K130 K133;
# wait_for, and jp/is/has/ge to read pod fields with the test's $K.
set -eu
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
K3CORE_BIN=${K3CORE_BIN:-$ROOT/build/bin/k3core}
FIX=$ROOT/tests/fixtures/k8s
KDIR=/usr/lib/google-cloud-sdk/bin
K127=$KDIR/kubectl.1.27
K130=$KDIR/kubectl.1.30
K133=$KDIR/kubectl.1.33
K3CORE_TMP=$(mktemp -d /tmp/k3core-test.XXXXXX)
K3CORE_DATA=$K3CORE_TMP/data
export KUBECONFIG=$K3CORE_TMP/kubeconfig.yaml
K3CORE_PID=""
. "$ROOT/tests/integration/leftovers.sh"

k3core_cleanup() {
    if [ -n "$K3CORE_PID" ]; then
        kill "$K3CORE_PID" 2>/dev/null || true
        wait "$K3CORE_PID" 2>/dev/null || true
    fi
    reap_leftovers "$K3CORE_TMP"
    rm -rf "$K3CORE_TMP"
}
trap k3core_cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*" >&2
    [ -f "$K3CORE_TMP/server.log" ] && tail -n 20 "$K3CORE_TMP/server.log" >&2
    exit 1
}

# expect_contains TEXT NEEDLE [what]
expect_contains() {
    case "$1" in *"$2"*) ;; *) fail "${3:-output} does not contain '$2': $1" ;; esac
}
expect_not_contains() {
    case "$1" in *"$2"*) fail "${3:-output} contains '$2': $1" ;; *) ;; esac
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# k3core_start [extra flags...]: starts the server (reusing K3CORE_DATA and K3CORE_PORT when set)
# and waits until /readyz answers.
k3core_start() {
    K3CORE_PORT=${K3CORE_PORT:-$(free_port)}
    "$K3CORE_BIN" server --data-dir "$K3CORE_DATA" --https-listen-port "$K3CORE_PORT" \
        --bind-address 127.0.0.1 --write-kubeconfig "$KUBECONFIG" --disable traefik "$@" \
        >>"$K3CORE_TMP/server.log" 2>&1 &
    K3CORE_PID=$!
    i=0
    while ! curl -sfk "https://127.0.0.1:$K3CORE_PORT/readyz" >/dev/null 2>&1; do
        kill -0 "$K3CORE_PID" 2>/dev/null || fail "k3core server exited during start"
        i=$((i + 1))
        [ $i -lt 300 ] || fail "k3core server did not become ready"
        sleep 0.1
    done
    [ -s "$KUBECONFIG" ] || fail "no kubeconfig written"
}

k3core_stop() {
    kill "$K3CORE_PID"
    wait "$K3CORE_PID" || fail "k3core server did not exit cleanly on SIGTERM"
    K3CORE_PID=""
}

# curl against the API with the admin client certificate from the kubeconfig.
k3core_curl_setup() {
    python3 - "$KUBECONFIG" "$K3CORE_TMP" <<'PY'
import base64, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
out = sys.argv[2]
c = cfg["clusters"][0]["cluster"]["certificate-authority-data"]
u = cfg["users"][0]["user"]
for name, data in (("ca.crt", c), ("admin.crt", u["client-certificate-data"]),
                   ("admin.key", u["client-key-data"])):
    open(out + "/" + name, "wb").write(base64.b64decode(data))
PY
}
kcurl() {
    curl -sS --cacert "$K3CORE_TMP/ca.crt" --cert "$K3CORE_TMP/admin.crt" \
        --key "$K3CORE_TMP/admin.key" "$@"
}

# list_rv KUBECTL PATH: the resourceVersion of a list (kubectl -o jsonpath cannot show it).
list_rv() {
    $1 get --raw "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])'
}

# wait_for WHAT CMD...: polls CMD every 0.2 s until it succeeds (2 minutes at most), else fails
# naming WHAT.
wait_for() {
    what=$1
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 600 ] || fail "timed out waiting for $what"
        sleep 0.2
    done
}
# jp POD JSONPATH: a pod's field ($K is the test's kubectl); is / has / ge compare it.
jp() { $K get pod "$1" -o jsonpath="$2" 2>/dev/null; }
is() { [ "$(jp "$1" "$2")" = "$3" ]; }
has() { case "$(jp "$1" "$2")" in *"$3"*) return 0 ;; esac; return 1; }
ge() { [ "$(jp "$1" "$2")" -ge "$3" ] 2>/dev/null; }
