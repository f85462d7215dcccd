#!/bin/sh
# SPDY/3.1 streams against a busybox pod: `kubectl port-forward` with kubectl 1.27 and 1.30 (SPDY)
# and 1.33 (SPDY tunnelled in WebSocket) to busybox httpd: a GET, two concurrent GETs, a 2 MiB
# download checked by md5, and a port with nothing listening, whose error comes back on the error
# stream in kubelet's words (kubectl since 1.23 then closes the forward itself: "lost connection
# to pod"); a raw SPDY client (spdy-pf.py) shows the session itself survives; python-kubernetes
# uploads 3 MiB through its WebSocket port-forward. kubectl 1.27 exec over SPDY: output, exit
# code 3, stdin (1 MB, checked by md5, also while the process is not reading), a pty through
# script(1) with its size, typed input and exit code, attach and run --rm -i. A protocol kubectl
# does not offer gets upstream's 403.
. "$(dirname "$0")/lib.sh"
K=$K133
PF_PIDS=""
pf_cleanup() {
    for p in $PF_PIDS; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    k3core_cleanup
}
trap pf_cleanup EXIT

mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start

$K run web --image=busybox:latest --image-pull-policy=IfNotPresent -- \
    sh -c 'mkdir -p /tmp/www; echo hello-pf > /tmp/www/index.html;
           dd if=/dev/urandom of=/tmp/www/big bs=1024 count=2048 2>/dev/null;
           printf "#!/bin/sh\nhead -c 3145728 | md5sum\n" > /tmp/sum.sh; chmod +x /tmp/sum.sh;
           nc -l -p 9000 -e /tmp/sum.sh & exec httpd -f -p 80 -h /tmp/www' >/dev/null
$K wait --for=condition=Ready pod/web --timeout=60s >/dev/null || fail "web did not become Ready"
i=0
until $K exec web -- test -s /tmp/www/big 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "web never wrote /tmp/www/big"; sleep 0.2
done
BIG_MD5=$($K exec web -- md5sum /tmp/www/big | cut -d' ' -f1)

get() { curl -sf --max-time 20 "http://127.0.0.1:$1/$2"; }

# port_forward KUBECTL: forwards L1 -> 80 and L2 -> 81 (nothing listens on 81); kubectl picks
# the local ports.
port_forward() {
    PF_LOG=$K3CORE_TMP/pf.log
    $1 port-forward pod/web :80 :81 >"$PF_LOG" 2>&1 &
    PF=$!
    PF_PIDS="$PF_PIDS $PF"
    i=0
    until grep -q "Forwarding from 127.0.0.1:[0-9]* -> 81" "$PF_LOG"; do
        kill -0 $PF 2>/dev/null || fail "$1 port-forward exited: $(cat "$PF_LOG")"
        i=$((i + 1)); [ $i -lt 150 ] || fail "$1 port-forward not ready"; sleep 0.2
    done
    L1=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) -> 80$/\1/p' "$PF_LOG")
    L2=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) -> 81$/\1/p' "$PF_LOG")
}

for k in $K127 $K130 $K133; do
    port_forward "$k"
    [ "$(get "$L1" index.html)" = "hello-pf" ] || fail "$k port-forward GET"
    get "$L1" index.html >"$K3CORE_TMP/c1" &
    c1=$!
    get "$L1" index.html >"$K3CORE_TMP/c2" || fail "$k concurrent GET 2"
    wait $c1 || fail "$k concurrent GET 1"
    [ "$(cat "$K3CORE_TMP/c1" "$K3CORE_TMP/c2")" = "hello-pf
hello-pf" ] || fail "$k concurrent GETs: $(cat "$K3CORE_TMP/c1" "$K3CORE_TMP/c2")"
    md5=$(get "$L1" big | md5sum | cut -d' ' -f1)
    [ "$md5" = "$BIG_MD5" ] || fail "$k port-forward 2 MiB download: md5 $md5 != $BIG_MD5"
    # nothing listens on 81: the GET fails and the error stream names the cause
    get "$L2" index.html >/dev/null 2>&1 && fail "$k GET through a port nobody listens on worked"
    i=0
    until grep -q "connection refused" "$PF_LOG"; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "$k: no error for port 81: $(cat "$PF_LOG")"; sleep 0.2
    done
    expect_contains "$(cat "$PF_LOG")" \
        "error forwarding port 81 to pod web, uid : failed to connect to localhost:81" "$k log"
    # kubectl >= 1.23 ends the whole forward after an error; it must not hang
    i=0
    while kill -0 $PF 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "$k port-forward did not end after the error"; sleep 0.2
    done
    wait $PF 2>/dev/null || true
done

# the server survives: a new forward after the errors works
port_forward "$K127"
[ "$(get "$L1" index.html)" = "hello-pf" ] || fail "port-forward after errors"
kill $PF
wait $PF 2>/dev/null || true

# on one SPDY session (a raw client): a refused port, then a forward that works, kubelet's pairing
# for clients without requestID, and a flow-controlled 2 MiB download
k3core_curl_setup
timeout 120 /usr/bin/python3 "$(dirname "$0")/spdy-pf.py" 127.0.0.1 "$K3CORE_PORT" web \
    "$K3CORE_TMP/ca.crt" "$K3CORE_TMP/admin.crt" "$K3CORE_TMP/admin.key" || fail "spdy-pf.py"

# python-kubernetes (WebSocket v4) uploads 3 MiB faster than the pod reads it: nothing is lost
/usr/bin/python3 - "$KUBECONFIG" <<'PY' || fail "python port-forward upload"
import hashlib, os, sys
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
data = os.urandom(3 * 1024 * 1024)
pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports="9000")
s = pf.socket(9000)
s.setblocking(True)
s.sendall(data)
reply = b""
while b"\n" not in reply:
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
s.close()
pf.close()
assert reply.split()[:1] == [hashlib.md5(data).hexdigest().encode()], reply
PY

# exec and attach over SPDY with kubectl 1.27
out=$($K127 exec web -- echo hi)
[ "$out" = "hi" ] || fail "1.27 exec echo: $out"
rc=0
out=$($K127 exec web -- sh -c 'echo out; echo err >&2; exit 3' 2>&1) || rc=$?
[ "$rc" = 3 ] || fail "1.27 exec exit code: $rc: $out"
expect_contains "$out" "out" "1.27 exec stdout"
expect_contains "$out" "err" "1.27 exec stderr"
expect_contains "$out" "command terminated with exit code 3" "1.27 exec exit message"
# newer client-go over SPDY too (WebSocket disabled by kubectl's own switch)
rc=0
out=$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false $K133 exec web -- sh -c 'echo spdy133; exit 4') || rc=$?
[ "$rc" = 4 ] && [ "$out" = "spdy133" ] || fail "1.33 exec over SPDY: $rc: $out"
out=$(echo from-stdin | $K127 exec -i web -- cat)
[ "$out" = "from-stdin" ] || fail "1.27 exec -i: $out"
head -c 1000000 /dev/urandom >"$K3CORE_TMP/up"
out=$($K127 exec -i web -- md5sum <"$K3CORE_TMP/up" | cut -d' ' -f1)
[ "$out" = "$(md5sum <"$K3CORE_TMP/up" | cut -d' ' -f1)" ] || fail "1.27 exec -i 1 MB: $out"
# stdin for a process that does not read yet must not block the server: another exec (which
# lets it go on) still gets through, and nothing is lost
$K127 exec -i web -- sh -c 'while [ ! -e /tmp/go ]; do sleep 0.1; done; md5sum' \
    <"$K3CORE_TMP/up" >"$K3CORE_TMP/slow.out" 2>&1 &
slow=$!
PF_PIDS="$PF_PIDS $slow"
sleep 1
timeout 30 $K exec web -- touch /tmp/go || fail "exec while another exec's stdin is pending"
wait $slow || fail "slow stdin exec: $(cat "$K3CORE_TMP/slow.out")"
[ "$(cut -d' ' -f1 "$K3CORE_TMP/slow.out")" = "$(md5sum <"$K3CORE_TMP/up" | cut -d' ' -f1)" ] ||
    fail "slow stdin exec lost data: $(cat "$K3CORE_TMP/slow.out")"
out=$(timeout 30 script -qc "stty rows 30 cols 100; $K127 exec -it web -- sh -c 'tty; stty size'" \
    /dev/null </dev/null | tr -d '\r')
expect_contains "$out" "/dev/pts/" "1.27 exec -it tty"
expect_contains "$out" "30 100" "1.27 exec -it terminal size"
rc=0
out=$(printf 'echo typed-$((6*7))\nexit 5\n' |
    timeout 30 script -qec "$K127 exec -it web -- sh" /dev/null | tr -d '\r') || rc=$?
expect_contains "$out" "typed-42" "1.27 exec -it stdin through the pty"
expect_contains "$out" "command terminated with exit code 5" "1.27 exec -it exit"

$K run att --image=busybox:latest --image-pull-policy=IfNotPresent -- \
    sh -c 'while sleep 0.2; do echo tick; done' >/dev/null
$K wait --for=condition=Ready pod/att --timeout=60s >/dev/null || fail "att did not become Ready"
out=$(timeout 20 $K127 attach att 2>/dev/null | head -n 2 || true)
expect_contains "$out" "tick" "1.27 attach"
out=$(echo in-run | timeout 60 $K127 run rr --rm -i --restart=Never --image=busybox:latest \
    --image-pull-policy=IfNotPresent -- sh -c 'cat; echo run-out' 2>&1) || fail "1.27 run --rm -i: $out"
expect_contains "$out" "in-run" "1.27 run --rm -i"
expect_contains "$out" "run-out" "1.27 run --rm -i"
expect_not_contains "$out" "falling back to streaming logs" "1.27 run --rm -i"

# a protocol version nobody speaks: 403 with upstream's message
out=$(kcurl -X POST -H "Connection: Upgrade" -H "Upgrade: SPDY/3.1" \
    -H "X-Stream-Protocol-Version: v9.channel.k8s.io" \
    "https://127.0.0.1:$K3CORE_PORT/api/v1/namespaces/default/pods/web/exec?command=true&stdout=true")
expect_contains "$out" "unable to negotiate protocol: client supports [v9.channel.k8s.io]" "403"
expect_contains "$out" '"code":403' "403"
